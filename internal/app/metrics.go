package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the pipeline's Prometheus metrics. Every label value comes
// from a fixed set: subject types, outcomes, and the ids of the policies
// in rules/.
type metrics struct {
	events       *prometheus.CounterVec
	dlq          prometheus.Counter
	batchSize    prometheus.Histogram
	batchSeconds prometheus.Histogram
	latency      prometheus.Histogram
	matches      *prometheus.CounterVec
	lapsed       *prometheus.CounterVec
	released     *prometheus.CounterVec
	outbox       prometheus.Gauge
	oldestDue    prometheus.Gauge
	rulesLoaded  prometheus.Gauge
	reloadOK     prometheus.Gauge
	reloadTime   prometheus.Gauge
	sweepChunks  prometheus.Gauge
	unknown      prometheus.Gauge
}

func newMetrics(r prometheus.Registerer, lag func() float64) *metrics {
	f := promauto.With(r)
	m := &metrics{
		events: f.NewCounterVec(prometheus.CounterOpts{
			Name: "policypush_events_consumed_total",
			Help: "Profile events consumed, by subject type and outcome (applied, duplicate, stale, invalid).",
		}, []string{"subject_type", "outcome"}),
		dlq: f.NewCounter(prometheus.CounterOpts{
			Name: "policypush_dlq_messages_total",
			Help: "Messages written to the dead-letter queue.",
		}),
		batchSize: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "policypush_batch_size",
			Help:    "Messages per consumed batch.",
			Buckets: []float64{1, 10, 50, 100, 250, 500, 1000, 2500},
		}),
		batchSeconds: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "policypush_batch_duration_seconds",
			Help:    "Time to handle a batch, from the start of its transaction to the offset commit.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "policypush_event_latency_seconds",
			Help:    "Time from an event's Kafka timestamp to the commit of its effects (match and outbox rows).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		matches: f.NewCounterVec(prometheus.CounterOpts{
			Name: "policypush_matches_total",
			Help: "New (subject, policy) matches, by policy.",
		}, []string{"policy"}),
		lapsed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "policypush_matches_lapsed_total",
			Help: "Matches whose subject stopped qualifying, by policy.",
		}, []string{"policy"}),
		released: f.NewCounterVec(prometheus.CounterOpts{
			Name: "policypush_notices_released_total",
			Help: "Notices that waited for a channel or for consent and were queued when a later profile event (or a sweep) brought it, by policy.",
		}, []string{"policy"}),
		outbox: f.NewGauge(prometheus.GaugeOpts{
			Name: "policypush_outbox_pending",
			Help: "Outbox rows waiting to be sent.",
		}),
		oldestDue: f.NewGauge(prometheus.GaugeOpts{
			Name: "policypush_outbox_oldest_due_age_seconds",
			Help: "How long the longest-waiting due notice has been due (0 when none is); a growing value is a stuck or overloaded dispatcher.",
		}),
		rulesLoaded: f.NewGauge(prometheus.GaugeOpts{
			Name: "policypush_rules_loaded",
			Help: "Policies in the rule set in force.",
		}),
	}
	m.reloadOK = f.NewGauge(prometheus.GaugeOpts{
		Name: "policypush_rules_last_reload_successful",
		Help: "1 if the last rule (re)load succeeded, 0 if it failed and the previous set kept serving.",
	})
	m.reloadTime = f.NewGauge(prometheus.GaugeOpts{
		Name: "policypush_rules_last_reload_timestamp_seconds",
		Help: "When the rules were last (re)loaded or a reload was attempted, in Unix seconds.",
	})
	m.sweepChunks = f.NewGauge(prometheus.GaugeOpts{
		Name: "policypush_sweep_chunks_remaining",
		Help: "Chunks of running backfills and time sweeps not done yet, over all replicas.",
	})
	m.unknown = f.NewGauge(prometheus.GaugeOpts{
		Name: "policypush_outbox_unknown",
		Help: "Notices whose provider call may or may not have got through and that nobody could settle (status unknown), over all replicas.",
	})
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "policypush_consumer_lag",
		Help: "Messages of the profile-events topic not yet consumed by this process.",
	}, lag)
	return m
}

// Event implements match.Observer.
func (m *metrics) Event(subjectType, outcome string) {
	m.events.WithLabelValues(subjectType, outcome).Inc()
}

// Matched implements match.Observer.
func (m *metrics) Matched(policyID string) { m.matches.WithLabelValues(policyID).Inc() }

// Lapsed implements match.Observer.
func (m *metrics) Lapsed(policyID string) { m.lapsed.WithLabelValues(policyID).Inc() }

// Released implements match.Observer.
func (m *metrics) Released(policyID string) { m.released.WithLabelValues(policyID).Inc() }

// sweepMetrics counts sweep work.
type sweepMetrics struct {
	planned   *prometheus.CounterVec
	chunks    *prometheus.CounterVec
	profiles  *prometheus.CounterVec
	matched   *prometheus.CounterVec
	cancelled *prometheus.CounterVec
}

// newSweepMetrics counts sweeps; cancelled is the delivery metrics'
// counter of cancelled notices, which sweeps add to.
func newSweepMetrics(r prometheus.Registerer, cancelled *prometheus.CounterVec) *sweepMetrics {
	f := promauto.With(r)
	return &sweepMetrics{
		planned: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_sweeps_planned_total",
			Help: "Sweeps planned, by kind (backfill, time)."}, []string{"kind"}),
		chunks: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_sweep_chunks_total",
			Help: "Sweep chunks done by this process, by kind."}, []string{"kind"}),
		profiles: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_sweep_profiles_total",
			Help: "Profiles re-evaluated by sweeps in this process, by kind."}, []string{"kind"}),
		matched: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_sweep_matches_total",
			Help: "New matches made by sweeps in this process, by kind."}, []string{"kind"}),
		cancelled: cancelled,
	}
}

func (m *sweepMetrics) Planned(kind string) { m.planned.WithLabelValues(kind).Inc() }

func (m *sweepMetrics) Chunk(kind string, profiles, matched int) {
	m.chunks.WithLabelValues(kind).Inc()
	m.profiles.WithLabelValues(kind).Add(float64(profiles))
	m.matched.WithLabelValues(kind).Add(float64(matched))
}

func (m *sweepMetrics) Cancelled(reason string, n int64) {
	m.cancelled.WithLabelValues(reason).Add(float64(n))
}
