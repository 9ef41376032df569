package store

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestSaveTiming logs what one pipeline transaction of 500 events costs:
// lock, the four reads, Save (profiles, events, watermarks, 100 new matches
// with a notice each) and commit. Run with -v to see the figures.
func TestSaveTiming(t *testing.T) {
	s := openStore(t)
	const n, rounds = 500, 6
	keys := make([]SubjectKey, n)
	for i := range keys {
		keys[i] = subject(t, "resident", fmt.Sprintf("p_%08d", i))
	}
	var saves, txs []time.Duration
	for r := range rounds {
		at := time.Now()
		b := &Batch{}
		ids := make([]string, n)
		for i, k := range keys {
			ids[i] = fmt.Sprintf("%s/e-%d-%d", t.Name(), r, i)
			b.Profiles = append(b.Profiles, Profile{Key: k, Data: residentJSON(k.ID, r, i), Version: int64(r + 1)})
			b.Events = append(b.Events, AppliedEvent{EventID: ids[i], Key: k, Source: "jinbao", OccurredAt: at})
			b.Watermarks = append(b.Watermarks, Watermark{Key: k, Source: "jinbao", OccurredAt: at})
			if i%5 == 0 {
				m := newMatch(k, fmt.Sprintf("policy-%d", r), Notice{Channel: "wechat", Fallback: []string{"sms"}, Status: "pending", DueAt: at})
				b.Matches = append(b.Matches, m)
			}
		}
		var save time.Duration
		start := time.Now()
		inTx(t, s, func(tx *Tx) error {
			if err := tx.LockSubjects(t.Context(), keys); err != nil {
				return err
			}
			if _, err := tx.AppliedEvents(t.Context(), ids); err != nil {
				return err
			}
			if _, err := tx.Profiles(t.Context(), keys); err != nil {
				return err
			}
			if _, err := tx.Watermarks(t.Context(), keys); err != nil {
				return err
			}
			if _, err := tx.Matches(t.Context(), keys); err != nil {
				return err
			}
			saveStart := time.Now()
			inserted, err := tx.Save(t.Context(), b)
			save = time.Since(saveStart)
			if err == nil && inserted != n/5 {
				t.Errorf("round %d: inserted %d matches, want %d", r, inserted, n/5)
			}
			return err
		})
		txs = append(txs, time.Since(start))
		saves = append(saves, save)
	}
	var loaded map[SubjectKey]Profile
	inTx(t, s, func(tx *Tx) (err error) {
		loaded, err = tx.Profiles(t.Context(), keys)
		return err
	})
	if len(loaded) != n {
		t.Fatalf("loaded %d profiles, want %d", len(loaded), n)
	}
	for i, k := range keys {
		assertJSONEqual(t, loaded[k].Data, residentJSON(k.ID, rounds-1, i))
	}
	// Round 0 inserts every profile; later rounds update them, as in steady state.
	t.Logf("500 events: Save insert round %v; update rounds Save median %v, whole transaction median %v (%.0f events/s in one stream)",
		saves[0].Round(time.Microsecond), median(saves[1:]).Round(time.Microsecond), median(txs[1:]).Round(time.Microsecond),
		float64(n)/median(txs[1:]).Seconds())
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// residentJSON is a realistic resident profile of about 1 KB.
func residentJSON(id string, r, i int) []byte {
	return fmt.Appendf(nil, `{"person_id":%q,"gender":"F","birth_date":"1999-04-12",
"hukou":{"type":"urban","region_code":"310101","is_local":true},"residence_region_code":"310104",
"education":{"level":"bachelor","is_full_time":true,"is_regular_college":true,"graduation_date":"2025-06-30"},
"employment":{"status":"unemployed_registered","last_separation":{"date":"2025-12-01","reason":"involuntary"},
"unemployment_registration":{"registered":true,"date":"2025-12-10"}},
"insurance":{"pension":{"scheme":"employee","status":"suspended","cumulative_months":%d,"last_paid_month":"2025-11"},
"unemployment":{"status":"suspended","cumulative_months":14,"last_paid_month":"2025-11"},"medical":{"status":"active"}},
"skill_certificates":[{"occupation_code":"4-04-05-01","occupation_name":"电工","level":"intermediate","issue_date":"2024-03-01"}],
"benefits_received":[{"policy_id":"unemployment-benefit","granted_on":"2026-01-05","amount":2175}],
"contact":{"mobile":"138%08d"},"channels":{"wechat":{"openid":"oWx_%024d","followed":true},"sms":{"enabled":true}},
"consent":{"personalized_push":true}}`, id, 12+r, i, i)
}
