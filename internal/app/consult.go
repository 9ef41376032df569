package app

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/policypush/policypush/internal/console"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/signin"
	"github.com/policypush/policypush/internal/store"
)

// commentSource gives the console's moderation page the drafts with a
// consultation and their comments.
type commentSource struct {
	*store.Store
	rules *atomic.Pointer[rules.Set]
	now   func() time.Time
}

var _ console.CommentSource = (*commentSource)(nil)

// CommentDrafts implements console.CommentSource: every draft with a
// consultation in the rule set in force, open or not yet or past.
func (c *commentSource) CommentDrafts() []console.CommentDraft {
	var out []console.CommentDraft
	set := c.rules.Load()
	if set == nil {
		return nil
	}
	for _, p := range set.Policies() {
		if p.Status != rules.Draft || p.Consultation == nil {
			continue
		}
		out = append(out, console.CommentDraft{ID: p.ID, Title: p.Title, From: p.Consultation.From,
			Until: p.Consultation.Until, Open: p.InConsultation(c.now())})
	}
	return out
}

// signedIn is console.Who over internal/signin's guard.
func signedIn(ctx context.Context) (string, string, bool) {
	id, ok := signin.FromContext(ctx)
	return id.Name, id.Role, ok
}
