package match

import (
	"fmt"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// withMatches is the subjects of keys that have a match: only they can
// have a notice waiting, so a batch of new subjects costs no query.
func withMatches(keys []store.SubjectKey, existing map[store.SubjectKey]map[string]store.MatchState) []store.SubjectKey {
	var out []store.SubjectKey
	for _, k := range keys {
		if len(existing[k]) > 0 {
			out = append(out, k)
		}
	}
	return out
}

// reroute routes the subject's waiting notices again, with its profile as
// it is now, and appends to b what becomes of them. A notice goes out, due
// now, when a channel reaches the subject and its policy still holds: in
// force at at, and its match still notifiable under the current rules. A
// policy that no longer applies leaves the notice waiting; the sweeps
// cancel it when the policy is repealed or expires.
//
// It runs in the transaction that applies the event, so the notice is
// queued exactly when the event is recorded as applied: a replay of the
// event is a duplicate and reroutes nothing.
func (j judge) reroute(ev *rules.Evaluator, at *rules.Instant, now time.Time, k store.SubjectKey, data []byte,
	waiting []store.WaitingNotice, b *store.Batch) error {
	if len(waiting) == 0 {
		return nil
	}
	subject, err := profile.DecodeValid(profile.Kind(k.Type), data) // validated when applied
	if err != nil {
		return fmt.Errorf("decode profile %s/%s: %w", k.Type, k.ID, err)
	}
	return j.rerouteSubject(ev, at, now, k, subject, waiting, b)
}

// rerouteSubject is reroute for a decoded profile. It appends only to
// b.Rerouted.
func (j judge) rerouteSubject(ev *rules.Evaluator, at *rules.Instant, now time.Time, k store.SubjectKey, subject any,
	waiting []store.WaitingNotice, b *store.Batch) error {
	if len(waiting) == 0 {
		return nil
	}
	set := ev.Set()
	in, err := set.Prepare(subject)
	if err != nil {
		return err
	}
	to := notify.RecipientOf(subject)
	for _, w := range waiting {
		pol := set.Policy(w.PolicyID)
		if pol == nil || string(pol.Subject) != k.Type || !pol.Applies(at) {
			continue
		}
		if !pol.Notifies(ev.Evaluate(pol, in, at).Result) {
			continue
		}
		ch, fallback, reason := Route(to, j.cfg.ChannelsOf(pol), j.cfg.WeChatEnabled)
		switch {
		case reason == "":
			b.Rerouted = append(b.Rerouted, store.Rerouted{ID: w.ID, PolicyID: pol.ID, Status: "pending", Channel: ch, Fallback: fallback, DueAt: now})
		case reason != w.Reason: // still waiting, for something else now
			b.Rerouted = append(b.Rerouted, store.Rerouted{ID: w.ID, PolicyID: pol.ID, Status: "waiting", Reason: reason})
		}
	}
	return nil
}

// released counts, once b is committed, the waiting notices it queued.
func released(obs Observer, b *store.Batch) {
	for _, r := range b.Rerouted {
		if r.Status == "pending" {
			obs.Released(r.PolicyID)
		}
	}
}
