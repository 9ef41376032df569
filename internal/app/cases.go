package app

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/publicity"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// newPublicity serves the 公示 lists of the policies of the set in force.
func newPublicity(st *store.Store, set *atomic.Pointer[rules.Set], days int, now func() time.Time, log *slog.Logger) (*publicity.Handler, error) {
	return publicity.New(st, func(id string) (publicity.Policy, bool) {
		s := set.Load()
		if s == nil {
			return publicity.Policy{}, false
		}
		p := s.Policy(id)
		if p == nil {
			return publicity.Policy{}, false
		}
		return publicity.Policy{ID: p.ID, Title: p.Title, Department: p.Department, Subject: string(p.Subject), Calendar: s.Calendar()}, true
	}, days, now, log)
}

// funnelMetrics export the case funnel (CONTRACTS §8) as gauges. Their
// labels come from fixed sets: the step, the domain of the policy (the
// four of CONTRACTS §3, or "unknown" for a policy no longer in the set)
// and the source (event, backfill, time or sweep); never a policy's or a subject's id.
type funnelMetrics struct {
	cases   *prometheus.GaugeVec
	granted *prometheus.GaugeVec
	answers *prometheus.GaugeVec
}

func newFunnelMetrics(r prometheus.Registerer) *funnelMetrics {
	f := promauto.With(r)
	return &funnelMetrics{
		cases: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "policypush_funnel_cases",
			Help: "Cases that ever reached each funnel step (matched, sent, delivered, opened, claimed, approved, granted; granted_unclaimed counts the granted never claimed, 免申即享), by policy domain and by the source of the match (event, backfill, time; sweep for matches older sweeps made).",
		}, []string{"domain", "source", "step"}),
		granted: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "policypush_funnel_granted_yuan",
			Help: "Amount granted (元) to cases, as benefits_received events told, by policy domain.",
		}, []string{"domain"}),
		answers: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "policypush_funnel_answers",
			Help: "Cases disputed (信息有误) or stopped (不再接收) on the notice page, by policy domain.",
		}, []string{"domain", "answer"}),
	}
}

// refresh sets the gauges from the database.
func (m *funnelMetrics) refresh(ctx context.Context, st adminapi.FunnelStore, set *atomic.Pointer[rules.Set], now time.Time) error {
	reps, err := adminapi.Funnel(ctx, st, "", now, automaticIn(set))
	if err != nil {
		return err
	}
	domainOf := func(id string) string {
		if s := set.Load(); s != nil {
			if p := s.Policy(id); p != nil && p.Domain != "" {
				return p.Domain
			}
		}
		return "unknown"
	}
	type key struct{ domain, source, step string }
	cases := map[key]float64{}
	granted := map[string]float64{}
	answers := map[[2]string]float64{}
	for _, r := range reps.Policies {
		d := domainOf(r.PolicyID)
		for src, steps := range r.Sources {
			for _, step := range slices.Concat(store.FunnelSteps, []string{store.StepGrantedUnclaimed}) {
				cases[key{d, src, step}] += float64(steps.Get(step))
			}
		}
		granted[d] += r.GrantedAmount
		answers[[2]string{d, "disputed"}] += float64(r.Disputes)
		answers[[2]string{d, "stopped"}] += float64(r.Stops)
	}
	m.cases.Reset()
	m.granted.Reset()
	m.answers.Reset()
	for k, v := range cases {
		m.cases.WithLabelValues(k.domain, k.source, k.step).Set(v)
	}
	for d, v := range granted {
		m.granted.WithLabelValues(d).Set(v)
	}
	for k, v := range answers {
		m.answers.WithLabelValues(k[0], k[1]).Set(v)
	}
	return nil
}

// automaticIn says whether a policy of the set in force is 免申即享
// (apply.mode automatic), for the funnel's granted conversion; a policy
// no longer in the set is not.
func automaticIn(set *atomic.Pointer[rules.Set]) func(string) bool {
	return func(id string) bool {
		s := set.Load()
		if s == nil {
			return false
		}
		p := s.Policy(id)
		return p != nil && p.NextSteps().Mode == rules.ApplyAutomatic
	}
}

// run refreshes the gauges every period until ctx ends.
func (m *funnelMetrics) run(ctx context.Context, st adminapi.FunnelStore, set *atomic.Pointer[rules.Set], now func() time.Time, period time.Duration, log *slog.Logger) error {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := m.refresh(ctx, st, set, now()); err != nil && ctx.Err() == nil {
			log.Warn("funnel metrics", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
