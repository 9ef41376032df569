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
	}
	reports := Build(counts, map[string]float64{"a": 36})
	if len(reports) != 4 || reports[0].PolicyID != "a" {
		t.Fatalf("reports %+v", reports)
	}
	a := reports[0]
	if a.Steps != (Steps{Matched: 100, Sent: 100, Opened: 50, Claimed: 25, Approved: 20, Granted: 10}) {
		t.Errorf("steps %+v", a.Steps)
	}
	if a.Conversions["sent"] != 1 || a.Conversions["claimed"] != 0.5 || a.Conversions["granted"] != 0.5 {
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
	for _, r := range reports {
		want := r.PolicyID == "bad" // 300 stops per 1000; few has too few notices
		if r.Flagged != want {
			t.Errorf("%s flagged %v (%s), want %v", r.PolicyID, r.Flagged, r.FlagReason, want)
		}
	}
	tot := Total(reports, nil)
	if tot.Steps.Matched != 300 || tot.Steps.Sent != 305 || tot.Stops != 35 || tot.GrantedAmount != 15000 || len(tot.Days) != 2 {
		t.Errorf("total %+v", tot)
	}
}
