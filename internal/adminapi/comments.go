package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/store"
)

// CommentStore is what moderating the comments on drafts out for comment
// needs (issue 15); *store.Store implements it.
type CommentStore interface {
	Comments(ctx context.Context, policyID string) ([]store.Comment, error)
	ModerateComment(ctx context.Context, id int64, m store.Moderation, at time.Time, e store.AuditEntry) (store.Comment, error)
}

var _ CommentStore = (*store.Store)(nil)

// The audit actions of moderation.
const (
	ActionCommentModerate = "comment.moderate"
	ActionCommentAdopt    = "comment.adopt"
)

// MaxReplyRunes bounds the bureau's note on an adopted comment.
const MaxReplyRunes = 2000

// SetComments serves the comment routes from cs; without it they answer
// 404. Call it before Register.
func (h *Handler) SetComments(cs CommentStore) { h.comments = cs }

func (h *Handler) commentStore() (CommentStore, error) {
	if h.comments == nil {
		return nil, &Error{Status: http.StatusNotFound, Message: "consultation comments are not served here"}
	}
	return h.comments, nil
}

// listComments is GET /api/consultations/{id}/comments: every comment on
// the draft, pending ones included, oldest first.
func (h *Handler) listComments(w http.ResponseWriter, r *http.Request, _ officer.Officer) error {
	cs, err := h.commentStore()
	if err != nil {
		return err
	}
	out, err := cs.Comments(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if out == nil {
		out = []store.Comment{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"comments": out})
	return nil
}

func commentID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest("comment id %q is not a positive number", r.PathValue("id"))
	}
	return id, nil
}

// moderateComment is POST /api/comments/{id}/moderate with
// {"status": "visible"|"hidden"}: whether its text may be published.
func (h *Handler) moderateComment(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	var body struct {
		Status string `json:"status"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Status != store.CommentVisible && body.Status != store.CommentHidden {
		return badRequest("status must be %q or %q", store.CommentVisible, store.CommentHidden)
	}
	return h.applyModeration(w, r, who, ActionCommentModerate, store.Moderation{Status: &body.Status})
}

// adoptComment is POST /api/comments/{id}/adopt with {"adopted": bool,
// "reply": "…"}: marking a comment adopted is the bureau's decision on
// the draft, so it needs a publisher.
func (h *Handler) adoptComment(w http.ResponseWriter, r *http.Request, who officer.Officer) error {
	var body struct {
		Adopted *bool   `json:"adopted"`
		Reply   *string `json:"reply"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if body.Adopted == nil {
		return badRequest(`the body needs "adopted": true or false`)
	}
	if body.Reply != nil && utf8.RuneCountInString(*body.Reply) > MaxReplyRunes {
		return badRequest("reply is longer than %d characters", MaxReplyRunes)
	}
	return h.applyModeration(w, r, who, ActionCommentAdopt, store.Moderation{Adopted: body.Adopted, Reply: body.Reply})
}

func (h *Handler) applyModeration(w http.ResponseWriter, r *http.Request, who officer.Officer, action string, m store.Moderation) error {
	cs, err := h.commentStore()
	if err != nil {
		return err
	}
	id, err := commentID(r)
	if err != nil {
		return err
	}
	c, err := cs.ModerateComment(r.Context(), id, m, h.now(), h.entry(who, action))
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no comment %d", id)}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
