package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/console"
	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

// ruleSet holds the rule set in force. A reload lints and compiles the
// whole directory and swaps the new set in at once; a directory with any
// problem leaves the old set serving.
type ruleSet struct {
	dir     string
	parse   rules.ParseOptions // what lint checks against: the public URL {{link}} counts by
	cur     atomic.Pointer[rules.Set]
	mu      sync.Mutex // one reload at a time
	st      *store.Store
	match   match.Config
	now     func() time.Time
	log     *slog.Logger
	m       *metrics
	swapped func() // called after a successful reload
	last    reloadState
}

// loaded records a (re)load attempt.
func (r *ruleSet) loaded(at time.Time, ok bool) {
	r.last.mu.Lock()
	r.last.at, r.last.ok = at, ok
	r.last.mu.Unlock()
	r.m.reloadTime.Set(float64(at.Unix()))
	if ok {
		r.m.reloadOK.Set(1)
	} else {
		r.m.reloadOK.Set(0)
	}
}

func (r *ruleSet) state() console.RulesState {
	r.last.mu.Lock()
	defer r.last.mu.Unlock()
	return console.RulesState{Loaded: len(r.cur.Load().Policies()), LastReload: r.last.at, LastReloadOK: r.last.ok}
}

var _ adminapi.Rules = (*ruleSet)(nil)

// Reload implements adminapi.Rules.
func (r *ruleSet) Reload(ctx context.Context) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set, err := ruledir.LoadWith(r.dir, r.parse)
	status := http.StatusUnprocessableEntity
	if err == nil {
		err = publish(ctx, r.st, set)
		if _, changed := errors.AsType[rules.Errors](err); err != nil && !changed {
			status = http.StatusServiceUnavailable // the database: try again
		}
	}
	if err != nil {
		r.loaded(time.Now(), false)
		r.log.ErrorContext(ctx, "rules not reloaded; the old set keeps serving", "dir", r.dir, "err", err)
		return 0, &adminapi.Error{Status: status,
			Message: fmt.Sprintf("rules not reloaded; the old set keeps serving:\n%v", err)}
	}
	r.cur.Store(set)
	r.loaded(time.Now(), true)
	r.m.rulesLoaded.Set(float64(len(set.Policies())))
	r.log.InfoContext(ctx, "rules reloaded", "dir", r.dir, "policies", len(set.Policies()))
	if r.swapped != nil {
		r.swapped()
	}
	return len(set.Policies()), nil
}

// publish records the meaning of each published policy of set the first
// time its (id, version) is seen. It refuses, with rules.Errors naming each
// file and saying to bump version, a set in which a policy changed meaning
// under a version already published: a backfill is keyed by id@version,
// so the change would reach no one who newly qualifies.
func publish(ctx context.Context, st *store.Store, set *rules.Set) error {
	var ms []store.Meaning
	for _, p := range set.Policies() {
		if rules.Published(p.Rule) {
			ms = append(ms, store.Meaning{PolicyID: p.ID, Version: p.Version, Hash: rules.MeaningHash(p.Rule)})
		}
	}
	changed, err := st.RecordMeanings(ctx, ms)
	if err != nil {
		return fmt.Errorf("check the policies' meaning against the database: %w", err)
	}
	if len(changed) == 0 {
		return nil
	}
	es := make(rules.Errors, 0, len(changed))
	for _, c := range changed {
		es = append(es, rules.MeaningChanged(set.Policy(c.PolicyID).Rule, c.Hash))
	}
	return es.Sorted()
}

// Policies implements adminapi.Rules.
func (r *ruleSet) Policies() []adminapi.Policy {
	set := r.cur.Load()
	at := set.At(r.now())
	var out []adminapi.Policy
	for _, p := range set.Policies() {
		out = append(out, adminapi.Policy{ID: p.ID, Version: p.Version, Title: p.Title, Subject: string(p.Subject),
			Status: string(p.Status), InForce: p.Applies(at), Automatic: p.NextSteps().Mode == rules.ApplyAutomatic})
	}
	return out
}

// Preview implements adminapi.Rules: a policy of the rule directory as it
// is on disk (drafts included), or a draft file compiled with the
// directory's other rules.
func (r *ruleSet) Preview(ctx context.Context, id string, draft []byte) (sweep.Report, error) {
	d, err := ruledir.ReadWith(r.dir, r.parse)
	if err != nil {
		return sweep.Report{}, err
	}
	rs := d.Rules
	if draft != nil {
		rule, err := rules.ParseRuleWith("draft.yaml", draft, r.parse)
		if err != nil {
			return sweep.Report{}, &adminapi.Error{Status: http.StatusBadRequest, Message: err.Error()}
		}
		id = rule.ID
		kept := rs[:0:0]
		for _, x := range rs {
			if x.ID != id {
				kept = append(kept, x)
			}
		}
		rs = append(kept, rule)
	}
	set, err := rules.Compile(rs)
	if err != nil {
		return sweep.Report{}, &adminapi.Error{Status: http.StatusBadRequest, Message: err.Error()}
	}
	p := set.Policy(id)
	if p == nil {
		return sweep.Report{}, &adminapi.Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no policy %q in %s", id, r.dir)}
	}
	return sweep.Preview(ctx, r.st, set, p, r.match, r.now())
}
