package funnel

import (
	"testing"
	"time"

	"github.com/policypush/policypush/internal/store"
)

func TestBuild(t *testing.T) {
	d1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	c := func(p, src string, d time.Time, step string, n int, amount float64) store.FunnelCount {
		return store.FunnelCount{PolicyID: p, Source: src, Day: d, Step: step, Cases: n, Amount: amount}
	}
	counts := []store.FunnelCount{
		c("a", "event", d1, "matched", 80, 0), c("a", "sweep", d1, "matched", 20, 0),
		c("a", "event", d1, "sent", 100, 0), c("a", "event", d2, "opened", 50, 0),
		c("a", "event", d2, "claimed", 25, 0), c("a", "event", d2, "approved", 20, 0),
		c("a", "event", d2, "granted", 10, 15000), c("a", "event", d2, "disputed", 1, 0),
		c("b", "event", d1, "matched", 100, 0), c("b", "event", d1, "sent", 100, 0), c("b", "event", d1, "disputed", 1, 0),
		c("bad", "event", d1, "matched", 100, 0), c("bad", "event", d1, "sent", 100, 0), c("bad", "event", d1, "stopped", 30, 0),
		c("few", "event", d1, "sent", 5, 0), c("few", "event", d1, "stopped", 5, 0),
		// 免申即享: 40 found, 2 claimed (and approved at once), 30 paid, 28 of them without a claim.
		c("auto", "event", d1, "matched", 40, 0), c("auto", "event", d1, "sent", 40, 0), c("auto", "event", d1, "claimed", 2, 0),
		c("auto", "event", d1, "approved", 2, 0), c("auto", "event", d2, "granted", 30, 3000), c("auto", "event", d2, "granted_unclaimed", 28, 0),
		// 金保 paid 2 of a review policy's cases without a claim.
		c("b", "event", d1, "claimed", 10, 0), c("b", "event", d1, "approved", 8, 0), c("b", "event", d2, "granted", 6, 600), c("b", "event", d2, "granted_unclaimed", 2, 0),
	}
	reports := Build(counts, map[string]float64{"a": 36}, func(id string) bool { return id == "auto" })
	if len(reports) != 5 || reports[0].PolicyID != "a" || reports[1].PolicyID != "auto" {
		t.Fatalf("reports %+v", reports)
	}
	a, auto, b := reports[0], reports[1], reports[2]
	if a.Steps != (Steps{Matched: 100, Sent: 100, Opened: 50, Claimed: 25, Approved: 20, Granted: 10}) {
		t.Errorf("steps %+v", a.Steps)
	}
	if a.Conversions["sent"] != 1 || a.Conversions["claimed"] != 0.5 || a.Conversions["granted"] != 0.5 || a.GrantedBase != 20 || a.Automatic {
		t.Errorf("conversions %v", a.Conversions)
	}
	if _, ok := a.Conversions["opened"]; ok { // delivered is 0
		t.Errorf("a conversion from 0: %v", a.Conversions)
	}
	if a.GrantedAmount != 15000 || a.MedianMatchToGrantHours == nil || *a.MedianMatchToGrantHours != 36 {
		t.Errorf("amount %v median %v", a.GrantedAmount, a.MedianMatchToGrantHours)
	}
	if a.DisputesPer1000 != 10 || a.Sources["sweep"].Matched != 20 || a.Sources["event"].Matched != 80 {
		t.Errorf("disputes/1000 %v sources %+v", a.DisputesPer1000, a.Sources)
	}
	if len(a.Days) != 2 || a.Days[0].Day != "2026-12-01" || a.Days[1].Steps.Granted != 10 || a.Days[1].GrantedAmount != 15000 {
		t.Errorf("days %+v", a.Days)
	}
	// Grants without a claim are counted apart, and granted is measured
	// against what could be paid: for 免申即享 the cases found (30 of 40,
	// not 30 of 2 approved), otherwise the approved and the grants that
	// skipped the claim (6 of 8+2, not 6 of 8).
	if auto.Steps.Granted != 30 || auto.Steps.GrantedUnclaimed != 28 || !auto.Automatic || auto.GrantedBase != 40 || auto.Conversions["granted"] != 0.75 {
		t.Errorf("免申即享: steps %+v automatic %v base %d conversions %v", auto.Steps, auto.Automatic, auto.GrantedBase, auto.Conversions)
	}
	if auto.Days[0].GrantedBase != 40 || auto.Days[1].GrantedBase != 0 || auto.Days[1].Steps.GrantedUnclaimed != 28 {
		t.Errorf("免申即享 days %+v", auto.Days)
	}
	if b.Steps.Granted != 6 || b.Steps.GrantedUnclaimed != 2 || b.GrantedBase != 10 || b.Conversions["granted"] != 0.6 {
		t.Errorf("unclaimed grants of a claim policy: steps %+v base %d conversions %v", b.Steps, b.GrantedBase, b.Conversions)
	}
	for _, r := range reports {
		for step, c := range r.Conversions {
			if c > 1 {
				t.Errorf("%s: conversion %s = %v, above 100%%", r.PolicyID, step, c)
			}
		}
		want := r.PolicyID == "bad" // 300 stops per 1000; few has too few notices
		if r.Flagged != want {
			t.Errorf("%s flagged %v (%s), want %v", r.PolicyID, r.Flagged, r.FlagReason, want)
		}
	}
	tot := Total(reports, nil)
	if tot.Steps.Matched != 340 || tot.Steps.Sent != 345 || tot.Stops != 35 || tot.GrantedAmount != 18600 || len(tot.Days) != 2 {
		t.Errorf("total %+v", tot)
	}
	// The total's base sums the policies': 20 + 40 + 10.
	if tot.Steps.Granted != 46 || tot.Steps.GrantedUnclaimed != 30 || tot.GrantedBase != 70 || tot.Conversions["granted"] != round(46.0/70) ||
		tot.Days[0].GrantedBase != 40+8 || tot.Days[1].GrantedBase != 20+2 {
		t.Errorf("total steps %+v base %d conversions %v days %+v", tot.Steps, tot.GrantedBase, tot.Conversions, tot.Days)
	}
}
