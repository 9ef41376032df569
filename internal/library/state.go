package library

import (
	"time"

	"github.com/policypush/policypush/internal/rules"
)

// The states of a policy in the public library (CONTRACTS §9).
const (
	InForce      = "in_force"
	NotYet       = "not_yet"
	Expired      = "expired"
	Repealed     = "repealed"
	Consultation = "consultation"
)

// stateWords are the states in the words of the bureau's own notices.
var stateWords = map[string]string{
	InForce: "现行有效", NotYet: "尚未生效", Expired: "已失效", Repealed: "已废止", Consultation: "征求意见中",
}

// States lists the states in the order the filter offers them.
var States = []string{InForce, NotYet, Expired, Repealed, Consultation}

// State is r's state at now, and whether the public may see it at all: a
// draft is shown only while it is out for comment.
func State(r *rules.Rule, now time.Time) (string, bool) {
	now = now.In(rules.Shanghai)
	switch r.Status {
	case rules.Repealed:
		return Repealed, true
	case rules.Draft:
		if r.InConsultation(now) {
			return Consultation, true
		}
		return "", false
	}
	switch {
	case now.Before(r.ValidFrom):
		return NotYet, true
	case r.ValidUntil != nil && !now.Before(r.ValidUntil.AddDate(0, 0, 1)):
		return Expired, true
	}
	return InForce, true
}
