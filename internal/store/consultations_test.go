package store

import (
	"strings"
	"testing"
	"time"
)

// TestCommentModerationAudited: a comment is stored pending; the database
// itself refuses a text over 2000 characters; moderation changes the
// comment and writes its audit row together, and when the audit row
// cannot be written (an entry without an actor) the comment is left as it
// was; the public stats count every comment and show only the adopted
// visible ones.
func TestCommentModerationAudited(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	policy := t.Name()
	at := time.Date(2026, 12, 10, 10, 0, 0, 0, time.UTC)
	add := func(text string) (int64, error) {
		return s.AddComment(ctx, Comment{PolicyID: policy, PolicyVersion: 1, CreatedAt: at, Name: "王", Text: text})
	}
	a, err := add("一")
	if err != nil {
		t.Fatal(err)
	}
	b, err := add("二")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := add(strings.Repeat("长", 2001)); err == nil {
		t.Error("the database took a 2001-character comment")
	}
	entry := func(action string) AuditEntry {
		return AuditEntry{At: at, Actor: "li", ActorRole: "publisher", Action: action}
	}
	visible, hidden, yes := CommentVisible, CommentHidden, true
	reply := "已采纳"
	if _, err := s.ModerateComment(ctx, a, Moderation{Status: &visible}, at, entry("comment.moderate")); err != nil {
		t.Fatal(err)
	}
	c, err := s.ModerateComment(ctx, a, Moderation{Adopted: &yes, Reply: &reply}, at, entry("comment.adopt"))
	if err != nil || c.Status != CommentVisible || !c.Adopted || c.Reply != reply || c.ModeratedBy != "li" {
		t.Fatalf("after adoption %+v %v", c, err)
	}
	if _, err := s.ModerateComment(ctx, b, Moderation{Adopted: &yes}, at, entry("comment.adopt")); err != nil {
		t.Fatal(err)
	}
	// The fault: an audit row that cannot be written.
	if _, err := s.ModerateComment(ctx, b, Moderation{Status: &hidden}, at, AuditEntry{At: at, ActorRole: "reviewer", Action: "comment.moderate"}); err == nil {
		t.Fatal("moderation without an actor went through")
	}
	if got, err := s.Comment(ctx, b); err != nil || got.Status != CommentPending {
		t.Errorf("after the failed audit the comment is %+v (%v), want it still pending", got, err)
	}
	if _, err := s.ModerateComment(ctx, 1<<60, Moderation{Status: &hidden}, at, entry("comment.moderate")); err != ErrNotFound {
		t.Errorf("an unknown comment: %v, want ErrNotFound", err)
	}
	var rows int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE policy_id = $1`, policy).Scan(&rows); err != nil || rows != 3 {
		t.Errorf("%d audit rows (%v), want 3: one per change made", rows, err)
	}
	st, err := s.CommentStats(ctx, policy)
	if err != nil {
		t.Fatal(err)
	}
	if st.Received != 2 || st.Adopted != 2 || len(st.Shown) != 1 || st.Shown[0].ID != a {
		t.Errorf("stats %+v: want 2 received, 2 adopted, only the visible one shown", st)
	}
}
