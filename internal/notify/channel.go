package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Channel sends a notice to a recipient through one provider.
//
// Send must be safe for concurrent use and should return within ctx's
// deadline. Its error should be a *SendError so that the dispatcher can
// classify it; any other error is taken as retryable with reason unknown
// (timeout when ctx ran out).
type Channel interface {
	Name() string
	Send(ctx context.Context, n *Notice, to Recipient) (Result, error)
}

// IdempotentChannel is a Channel whose provider drops a repeated send of the
// same notice id within DedupWindow (WeChat's client_msg_id: 10 minutes).
// Reconciliation may resend such a notice inside the window.
type IdempotentChannel interface {
	Channel
	DedupWindow() time.Duration
}

// Deduper is an IdempotentChannel whose provider drops repeats of some
// notices only: WeChat drops a repeated template message by client_msg_id,
// but a subscribe message (bizsend) has no such id, and a repeat reaches
// the user twice.
type Deduper interface {
	Dedups(n *Notice) bool
}

// dedups reports whether the provider behind c drops a repeat of n within
// its DedupWindow.
func dedups(c Channel, n *Notice) bool {
	if _, ok := c.(IdempotentChannel); !ok {
		return false
	}
	if dd, ok := c.(Deduper); ok {
		return dd.Dedups(n)
	}
	return true
}

// LookupChannel is a Channel whose provider can be asked what became of an
// earlier send whose answer was lost, such as by a crash between the call
// and its recording. The SMS providers can (Aliyun QuerySendDetails by
// OutId, Tencent PullSmsSendStatusByPhoneNumber by SessionContext, both
// carrying the notice id); WeChat cannot.
type LookupChannel interface {
	Channel
	// Lookup asks the provider whether it accepted notice n for to in a
	// call made at or after since. An error means the provider could not be
	// asked (retry later), never that the notice was not sent.
	Lookup(ctx context.Context, n *Notice, to Recipient, since time.Time) (Lookup, error)
}

// Lookup is a provider's word on one earlier send.
type Lookup struct {
	// Found: the provider accepted the notice; ProviderMsgID is its id.
	Found         bool
	ProviderMsgID string
	// Delivered, when Found, is the delivery status the provider already
	// knows: nil while it knows none.
	Delivered *bool
}

// Result is a provider's answer to a successful send.
type Result struct {
	ProviderMsgID string
}

// Reason is why a notice was not sent (yet). The values form a fixed set,
// fit for metric labels and the outbox's reason columns; never an error
// string.
type Reason string

// Reasons of provider failures.
const (
	ReasonTimeout         Reason = "timeout"
	ReasonRateLimited     Reason = "rate_limited"
	ReasonQuota           Reason = "quota"
	ReasonUnreachableUser Reason = "unreachable_user" // not following, invalid openid, refused subscription
	ReasonBlocked         Reason = "blocked"          // the user blocked the account
	ReasonConfig          Reason = "config"           // credentials, template: needs an operator
	ReasonServerError     Reason = "server_error"
	ReasonBadRequest      Reason = "bad_request"
	ReasonUnknown         Reason = "unknown"
)

// Reasons of the dispatcher's own decisions.
const (
	ReasonOptedOut       Reason = "opted_out"
	ReasonNoConsent      Reason = "no_consent"
	ReasonUnreachable    Reason = "unreachable" // no channel left that reaches the subject
	ReasonQuietHours     Reason = "quiet_hours"
	ReasonFrequencyCap   Reason = "frequency_cap"
	ReasonUnknownOutcome Reason = "unknown_outcome" // a crash between sending and the answer
	ReasonNotFound       Reason = "not_found"       // the provider, asked, has no record of the call
	ReasonLookupFailed   Reason = "lookup_failed"   // the provider could not be asked for MaxLookupAge
	ReasonMaxAttempts    Reason = "max_attempts"
	ReasonMaxAge         Reason = "max_age"
	ReasonNoChannel      Reason = "no_channel" // the row names a channel the dispatcher lacks
	ReasonRepealed       Reason = "repealed"   // the policy was repealed before the notice went out
	ReasonExpired        Reason = "expired"    // the policy's valid_until passed before the notice went out
)

// SendError is a classified send failure. Exactly one of Retry, Permanent
// and Quota is usually set; none means a failure that needs an operator
// (configuration), which fails the notice without fallback.
type SendError struct {
	Reason    Reason
	Retry     bool // try again later with backoff
	Permanent bool // this channel will never reach the recipient: fall back
	Quota     bool // the channel's quota is spent: defer to tomorrow
	// Ambiguous: the call may have reached the provider, and its answer was
	// lost (a timeout). Unless the provider drops repeats, the notice is
	// not resent blindly: a LookupChannel is asked, others become unknown.
	Ambiguous bool
	Err       error
}

func (e *SendError) Error() string {
	if e.Err == nil {
		return "send: " + string(e.Reason)
	}
	return fmt.Sprintf("send: %s: %v", e.Reason, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// classify turns any send error into a *SendError.
func classify(err error) *SendError {
	var se *SendError
	if errors.As(err, &se) {
		if se.Reason == ReasonTimeout && !se.Ambiguous {
			c := *se
			c.Ambiguous = true
			return &c
		}
		return se
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &SendError{Reason: ReasonTimeout, Retry: true, Ambiguous: true, Err: err}
	}
	return &SendError{Reason: ReasonUnknown, Retry: true, Err: err}
}

// ChannelFunc adapts a function to a Channel named ChannelName.
type ChannelFunc struct {
	ChannelName string
	F           func(ctx context.Context, n *Notice, to Recipient) (Result, error)
}

// Name implements the Channel interface.
func (c ChannelFunc) Name() string { return c.ChannelName }

// Send implements the Channel interface.
func (c ChannelFunc) Send(ctx context.Context, n *Notice, to Recipient) (Result, error) {
	return c.F(ctx, n, to)
}
