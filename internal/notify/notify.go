// Package notify turns outbox rows into notices. Its Dispatcher claims due
// rows, applies the sending policies (consent and opt-out, quiet hours, the
// per-subject frequency cap, per-channel rate limits), calls a Channel,
// and records the outcome: sent, retried with backoff, fallen back to the
// next channel, deferred, suppressed, failed or dead.
//
// It deliberately stays narrow: it knows no provider (the WeChat and SMS
// channels live in their own packages, beside the log channel here), no
// profile format (a caller-supplied Resolver gives the recipient) and no
// metrics library (an Observer receives bounded labels).
package notify

import (
	"context"
	"slices"
	"time"
)

// Notice is one outbox row being sent, with what its message is built from.
type Notice struct {
	ID            int64 // the outbox id; providers get it as client_msg_id / OutId
	MatchID       int64
	SubjectType   string
	SubjectID     string
	PolicyID      string
	PolicyVersion int
	Result        string // eligible or unknown
	Amount        *float64
	Channel       string
	Fallback      []string
	Attempts      int // provider calls made before this one
	CreatedAt     time.Time
	ClickToken    string // the notice's link is /r/{ClickToken}
	SubjectName   string // the enterprise's name at send time, for {{subject.name}}; "" for residents
	// Members, when set, makes the notice a digest: one message for the
	// notices Members, of one subject, oldest first. The digest's ID is
	// the digest id (the client_msg_id / OutId that names the message), its
	// other fields are those of Members[0], whose ClickToken is its link.
	Members []*Notice
}

// Recipient is how a subject can be reached, as its profile says at send
// time. A nil pointer is unknown, which is not false.
type Recipient struct {
	Name       string // an enterprise's name; messages address it
	OpenID     string
	Mobile     string
	Followed   *bool    // channels.wechat.followed
	SMSEnabled *bool    // channels.sms.enabled
	OptOut     []string // consent.opt_out_channels
	Consent    *bool    // consent.personalized_push
}

// Channel names with reachability rules (CONTRACTS.md §3).
const (
	WeChat = "wechat"
	SMS    = "sms"
)

// Reaches reports whether the recipient can be reached on channel, by
// CONTRACTS.md §3; opt-outs are checked separately.
func (r Recipient) Reaches(channel string) bool {
	switch channel {
	case WeChat:
		return r.OpenID != "" && (r.Followed == nil || *r.Followed)
	case SMS:
		return r.Mobile != "" && (r.SMSEnabled == nil || *r.SMSEnabled)
	}
	return false
}

// OptedOut reports whether the recipient opted out of channel.
func (r Recipient) OptedOut(channel string) bool { return slices.Contains(r.OptOut, channel) }

// Resolver gives a subject's recipient from its stored profile. It returns
// ErrNoRecipient when the subject has no profile.
type Resolver interface {
	Resolve(ctx context.Context, subjectType, subjectID string) (Recipient, error)
}

// ResolverFunc adapts a function to a Resolver.
type ResolverFunc func(ctx context.Context, subjectType, subjectID string) (Recipient, error)

// Resolve implements the Resolver interface.
func (f ResolverFunc) Resolve(ctx context.Context, subjectType, subjectID string) (Recipient, error) {
	return f(ctx, subjectType, subjectID)
}
