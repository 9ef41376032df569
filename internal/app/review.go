package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/console"
	"github.com/policypush/policypush/internal/funnel"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/signin"
	"github.com/policypush/policypush/internal/store"
)

var _ console.ReviewSource = (*reviewSource)(nil)

// reviewSource gives the console's case pages the store's cases, with
// explanations redacted as the admin API redacts them, and takes the
// officers' decisions with their audit rows.
type reviewSource struct {
	st    *store.Store
	set   *atomic.Pointer[rules.Set]
	marks *profile.Marks
	now   func() time.Time
}

func (s *reviewSource) ReviewPolicies() []console.ReviewPolicy {
	set := s.set.Load()
	if set == nil {
		return nil
	}
	var out []console.ReviewPolicy
	for _, p := range set.Policies() {
		out = append(out, console.ReviewPolicy{ID: p.ID, Title: p.Title, Domain: p.Domain, Review: p.Review})
	}
	return out
}

func (s *reviewSource) Cases(ctx context.Context, f store.CaseFilter) ([]store.Case, error) {
	cs, err := s.st.Cases(ctx, f)
	if err != nil {
		return nil, err
	}
	for i := range cs {
		if len(cs[i].Explanation) == 0 {
			continue
		}
		if cs[i].Explanation, err = rules.Redact(cs[i].Explanation, s.marks); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

func (s *reviewSource) Decide(ctx context.Context, who console.Officer, ids []int64, approve bool, reason string) ([]store.Case, error) {
	action := adminapi.ActionCaseApprove
	if !approve {
		action = adminapi.ActionCaseReject
	}
	e := store.AuditEntry{At: s.now(), Actor: who.Name, ActorRole: who.Role, Action: action}
	return s.st.DecideCases(ctx, store.Decision{IDs: ids, Approve: approve, Officer: who.Name, Reason: reason, At: s.now()}, e)
}

func (s *reviewSource) Disputes(ctx context.Context) ([]store.DisputeSource, error) {
	return s.st.Disputes(ctx, "", 200)
}

func (s *reviewSource) Funnel(ctx context.Context) (*funnel.Report, []*funnel.Report, error) {
	r, err := adminapi.Funnel(ctx, s.st, "", s.now(), automaticIn(s.set))
	if err != nil {
		return nil, nil, err
	}
	return r.Total, r.Policies, nil
}

// reviewPages are the console's case pages behind the sign-in's form
// guard: viewers read, reviewers decide.
func reviewPages(st *store.Store, set *atomic.Pointer[rules.Set], now func() time.Time, gate *signin.Service, log *slog.Logger) (map[string]http.Handler, error) {
	marks, err := profile.LoadMarks()
	if err != nil {
		return nil, err
	}
	v := console.NewReview(&reviewSource{st: st, set: set, marks: marks, now: now}, console.ReviewOptions{
		Who: func(ctx context.Context) (console.Officer, bool) {
			id, ok := signin.FromContext(ctx)
			return console.Officer{Name: id.Name, Role: id.Role}, ok
		},
		CSRF: signin.CSRFFromContext,
		Log:  log,
		Now:  now,
	})
	read, decide := v.Pages()
	out := map[string]http.Handler{}
	for p, h := range read {
		out[p] = gate.ProtectForms("viewer", h)
	}
	for p, h := range decide {
		out[p] = gate.ProtectForms("reviewer", h)
	}
	return out, nil
}
