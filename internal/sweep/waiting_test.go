package sweep

import (
	"testing"
	"time"

	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// A notice that waited while its policy did not hold yet goes out when a
// time sweep finds the policy holding and a channel reaching the subject;
// before, the sweep leaves it waiting.
func TestTimeSweepReleasesWaiting(t *testing.T) {
	w := newWorld(t)
	const policy = "resident-pension-age60-reminder"
	k := store.SubjectKey{Type: "resident", ID: "r_waiting"}
	b := store.Batch{
		// Reachable now (the fixture has WeChat and a mobile), but the
		// reminder holds only from the next day.
		Profiles: []store.Profile{{Key: k, Data: resident(k.ID, "1967-01-28"), Version: 1}},
		Matches: []store.NewMatch{{
			Match: store.Match{Key: k, PolicyID: policy, PolicyVersion: w.set.Load().Policy(policy).Version, Result: "eligible",
				Explanation: []byte(`{}`), EvaluatedAt: day},
			Notices: []store.Notice{{Channel: "wechat", Status: "waiting", Reason: "unreachable", DueAt: day}},
		}},
	}
	if err := w.st.InTx(t.Context(), func(tx *store.Tx) error { _, err := tx.Save(t.Context(), &b); return err }); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		t.Helper()
		var s string
		if err := w.st.Pool().QueryRow(t.Context(), `SELECT o.status || ':' || o.channel FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE m.subject_id = $1`, k.ID).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := w.sweeps(100, 1)
	if _, err := s.Plan(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if got := status(); got != "waiting:wechat" {
		t.Fatalf("before the policy holds: %s, want waiting", got)
	}
	w.setClock(time.Date(2026, 11, 28, 0, 5, 0, 0, rules.Shanghai))
	if _, err := s.Plan(t.Context()); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if got := status(); got != "pending:wechat" {
		t.Errorf("after the time sweep: %s, want pending", got)
	}
}
