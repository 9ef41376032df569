package notify

import "time"

// Outcome is the result of one provider call, or the dispatcher's decision
// about a notice. The values form a fixed set, fit for metric labels.
type Outcome string

// Outcomes, recorded in notice_attempts and reported to the Observer.
const (
	OutcomeSent     Outcome = "sent"
	OutcomeRetry    Outcome = "retry"    // a retryable failure; the notice waits with backoff
	OutcomeFallback Outcome = "fallback" // a permanent failure; the next channel takes the notice
	OutcomeFailed   Outcome = "failed"   // a permanent failure with no channel left, or configuration
	OutcomeDeferred Outcome = "deferred" // the provider's quota is spent
	OutcomeDead     Outcome = "dead"     // a retryable failure with no attempts or age left
	OutcomeUnknown  Outcome = "unknown"  // reconciled: the answer never came
)

// Observer receives the dispatcher's events, with labels from fixed sets.
// The caller maps them to metrics. Methods are called concurrently.
type Observer interface {
	// Attempted is called after every provider call: notifications by
	// channel and result; failures by channel and reason (reason is ""
	// when the outcome is sent).
	Attempted(channel string, outcome Outcome, reason Reason, latency time.Duration)
	Suppressed(channel string, reason Reason)
	// Cancelled is called for a notice whose policy was withdrawn
	// (repealed, expired) before it went out.
	Cancelled(channel string, reason Reason)
	Deferred(channel string, reason Reason)
	FellBack(from, to string, reason Reason)
	Dead(channel string, reason Reason)
	Reconciled(channel string, outcome Outcome)
}

// NopObserver ignores every event.
type NopObserver struct{}

// Attempted implements the Observer interface.
func (NopObserver) Attempted(string, Outcome, Reason, time.Duration) {}

// Suppressed implements the Observer interface.
func (NopObserver) Suppressed(string, Reason) {}

// Cancelled implements the Observer interface.
func (NopObserver) Cancelled(string, Reason) {}

// Deferred implements the Observer interface.
func (NopObserver) Deferred(string, Reason) {}

// FellBack implements the Observer interface.
func (NopObserver) FellBack(string, string, Reason) {}

// Dead implements the Observer interface.
func (NopObserver) Dead(string, Reason) {}

// Reconciled implements the Observer interface.
func (NopObserver) Reconciled(string, Outcome) {}
