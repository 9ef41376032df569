package store

import (
	"time"

	"github.com/policypush/policypush/internal/rules"
)

// SubjectKey names a subject: Type is "resident" or "enterprise", ID is the
// person_id or the uscc.
type SubjectKey struct{ Type, ID string }

// Profile is a subject's stored profile. Data is the whole profile JSON,
// personal fields included; the store seals those on the way in.
type Profile struct {
	Key     SubjectKey
	Data    []byte
	Version int64
}

// AppliedEvent records that an event has been applied.
type AppliedEvent struct {
	EventID    string
	Key        SubjectKey
	Source     string
	OccurredAt time.Time
}

// Watermark is the latest occurred_at applied from one source to a subject.
type Watermark struct {
	Key        SubjectKey
	Source     string
	OccurredAt time.Time
}

// Match is a subject found eligible (or possibly eligible: Result "unknown")
// for a policy. It needs an explanation: Explanation (JSON), or Form and
// Values, a compact record of the form (rules.Evaluator.AppendCompact),
// which is a twentieth of the bytes and is rendered as the JSON when read.
// Amount and EventID are optional (nil, "").
type Match struct {
	Key           SubjectKey
	PolicyID      string
	PolicyVersion int
	Result        string
	Explanation   []byte
	Form          rules.Form
	Values        []byte
	Amount        *float64
	EvaluatedAt   time.Time
	EventID       string
}

// Notice is an outbox row to create with a match. Status is "pending", or
// "waiting" or "suppressed" with a Reason; Fallback lists the channels to
// try next.
type Notice struct {
	Channel  string
	Fallback []string
	Status   string
	Reason   string
	DueAt    time.Time
}

// NewMatch is a match and the notices to send if it is new.
type NewMatch struct {
	Match   Match
	Notices []Notice
}

// MatchState is the stored state of a match. Status is "active" or "lapsed".
type MatchState struct {
	ID            int64
	PolicyID      string
	PolicyVersion int
	Status        string
}

// PolicyRef names a subject's match for one policy.
type PolicyRef struct {
	Key      SubjectKey
	PolicyID string
}

// Batch is everything one transaction writes; see Tx.Save.
type Batch struct {
	Profiles   []Profile      // upserted; a later entry for the same subject wins
	Events     []AppliedEvent // inserted; ids already present are ignored
	Watermarks []Watermark    // upserted; the later occurred_at wins
	Matches    []NewMatch     // inserted unless the (subject, policy) pair exists; notices only with new matches
	Lapsed     []PolicyRef    // active → lapsed
	Revived    []PolicyRef    // lapsed → active, without notices
	Grants     []Grant        // benefits_received: the pair's case granted, unless it is already
	Rerouted   []Rerouted     // waiting notices routed again; rows no longer waiting are left alone
	// FieldSources are, per applied event in order, the fields it changed:
	// recorded as set by its source, and fixing the open correction
	// requests to that source about them.
	FieldSources []FieldSources
}

// FieldSources are the profile fields (dotted leaf paths) one event from
// Source changed.
type FieldSources struct {
	Key    SubjectKey
	Source string
	Paths  []string
}
