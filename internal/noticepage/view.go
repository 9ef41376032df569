// Package noticepage serves what a notice's link opens (CONTRACTS §7): the
// citizen's page /n/{token}, which says why the person was chosen and what
// to do next, with three answers (确认申领 / 信息有误 / 不再接收), and the
// same as JSON under /public/notices/{token} for outside apps.
//
// The token in the link is the credential. The package holds no state of
// its own: what a token opens and what an answer changes is the Notices
// implementation's (the app's, over the store).
package noticepage

import (
	"context"
	"errors"
)

// View is one notice as its page and GET /public/notices/{token} show it.
// Its JSON is CONTRACTS §7's; keep every name. No contact data and no
// value of a sensitive field is in it.
type View struct {
	PolicyID      string      `json:"policy_id"`
	PolicyVersion int         `json:"policy_version"`
	Title         string      `json:"title"`
	Department    string      `json:"department"`
	Source        Source      `json:"source"`
	Result        string      `json:"result"` // eligible or unknown
	Conditions    []Condition `json:"conditions"`
	Amount        *float64    `json:"amount"`     // null: not estimated
	DataAsOf      string      `json:"data_as_of"` // YYYY-MM-DD, Asia/Shanghai
	Apply         Apply       `json:"apply"`
	// Status is the notice's case: notified, opened, claimed, disputed,
	// declined, approved, rejected, granted, lapsed (CONTRACTS §8).
	Status  string   `json:"status"`
	Actions []string `json:"actions"` // of claim, dispute, stop: what may still be done
	// Reason is, for a rejected case only, the officer's reason, written
	// for the person (an addition to §7: absent otherwise).
	Reason string `json:"reason,omitempty"`
	// Others are the same person's other open notices (a digest's page
	// lists them all).
	Others []Other `json:"others"`

	// Not in the JSON: for the page.
	SubjectType string `json:"-"` // resident or enterprise
	// Owner names the notice's subject, the same for all of the
	// subject's notices and never shown: a WeChat sign-in is bound to it,
	// so that it covers the person's other notices too.
	Owner string `json:"-"`
	// Automatic says, for apply.mode automatic (免申即享), what happens
	// without any action and when, in plain words.
	Automatic string `json:"-"`
}

// Source is the policy document.
type Source struct {
	Doc string `json:"doc"`
	URL string `json:"url,omitempty"`
}

// Condition is one condition's name and verdict: true, false or unknown.
type Condition struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"`
}

// Apply is what the person does next.
type Apply struct {
	Mode      string   `json:"mode"` // apply, confirm or automatic
	How       string   `json:"how,omitempty"`
	URL       string   `json:"url,omitempty"`
	Materials []string `json:"materials,omitempty"`
	Deadline  string   `json:"deadline,omitempty"` // YYYY-MM-DD
	Office    string   `json:"office,omitempty"`
	Confirm   string   `json:"confirm,omitempty"` // what mode confirm asks the person to confirm
}

// Other is another open notice of the same person.
type Other struct {
	// Link is the other notice's page, /n/{token}; the JSON makes it
	// absolute under POLICYPUSH_PUBLIC_URL when that is set (APIOptions).
	Link  string `json:"link"`
	Title string `json:"title"`
}

// The answers of CONTRACTS §7.
const (
	ActionClaim   = "claim"
	ActionDispute = "dispute"
	ActionStop    = "stop"
)

// Stop scopes.
const (
	StopPolicy = "policy" // this policy only
	StopAll    = "all"    // every proactive notice (consent off)
)

// ErrNotFound is the answer to a token that is unknown or expired: the
// two look the same from outside.
var ErrNotFound = errors.New("noticepage: unknown or expired token")

// Notices is what the page reads and what its answers change; the app
// implements it over the store. Every answer is idempotent: answering
// again changes nothing and returns what the first answer returned.
type Notices interface {
	// View returns the notice of token, or ErrNotFound.
	View(ctx context.Context, token string) (View, error)
	// Claim records 确认申领; confirmed is the checkbox of mode confirm.
	// It returns the case's status afterwards (claimed, or later).
	Claim(ctx context.Context, token string, confirmed bool) (status string, err error)
	// Dispute records 信息有误 for the named conditions, with an optional
	// note, as a correction request to the sources of the fields those
	// conditions read; it returns the request's id.
	Dispute(ctx context.Context, token string, conditions []string, note string) (correctionID int64, err error)
	// Stop records 不再接收 for scope (StopPolicy or StopAll) as an
	// opt-out from the source page, and cancels what waits to be sent.
	Stop(ctx context.Context, token, scope string) error
}

// InputError is an answer the request got wrong (an unknown condition, a
// note too long, a missing confirmation); its message is for the person
// and says what to change.
type InputError struct{ Message string }

func (e *InputError) Error() string { return e.Message }
