package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/store"
)

// CommentDraft is a draft with a consultation, as the moderation page
// lists it.
type CommentDraft struct {
	ID, Title   string
	From, Until time.Time
	Open        bool
}

// CommentSource is what the moderation page reads and changes; the app
// implements it over the rule set and *store.Store.
type CommentSource interface {
	CommentDrafts() []CommentDraft
	Comments(ctx context.Context, policyID string) ([]store.Comment, error)
	ModerateComment(ctx context.Context, id int64, m store.Moderation, at time.Time, e store.AuditEntry) (store.Comment, error)
}

// Who says who is signed in and with which role (viewer, reviewer,
// publisher, admin), from a request's context; the app gives
// internal/signin's.
type Who func(ctx context.Context) (name, role string, ok bool)

// The audit actions of the moderation page, the same as the admin API's.
const (
	auditModerate = "comment.moderate"
	auditAdopt    = "comment.adopt"
)

//go:embed templates/comments.html
var commentsFS embed.FS

// Comments serves the moderation of comments on drafts out for comment
// (issue 15): GET /console/comments lists the drafts and one draft's
// comments; POST /console/comments/{id} makes a comment visible or hidden
// (a reviewer) or marks it adopted (a publisher, since adopting is the
// bureau's decision on the draft). Each change is audited with the
// officer's name and role. Register it behind the sign-in's form guard
// (signin's ProtectForms) with role reviewer: its forms carry the
// session's CSRF token, which csrf returns, as every console form does.
type Comments struct {
	src  CommentSource
	who  Who
	csrf func(ctx context.Context) string
	log  *slog.Logger
	now  func() time.Time
	cop  *http.CrossOriginProtection
	tmpl *template.Template
}

// NewComments returns the moderation page.
func NewComments(src CommentSource, who Who, csrf func(ctx context.Context) string, log *slog.Logger, now func() time.Time) (*Comments, error) {
	if log == nil {
		log = slog.Default()
	}
	tmpl, err := template.New("comments.html").Funcs(template.FuncMap{
		"day":  func(t time.Time) string { return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02") },
		"when": func(t time.Time) string { return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04") },
	}).ParseFS(commentsFS, "templates/comments.html")
	if err != nil {
		return nil, err
	}
	return &Comments{src: src, who: who, csrf: csrf, log: log, now: now, cop: http.NewCrossOriginProtection(), tmpl: tmpl}, nil
}

type commentsData struct {
	Drafts   []CommentDraft
	Selected *CommentDraft
	Comments []store.Comment
	Name     string
	Role     string
	CanAdopt bool
	CSRF     string
	Done     string
}

// allows reports whether role allows what need does, in internal/officer's
// order (viewer < reviewer < publisher < admin); an unknown role allows
// nothing.
func allows(role string, need officer.Role) bool {
	r, err := officer.ParseRole(role)
	return err == nil && r.Allows(need)
}

func (c *Comments) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// ServeHTTP serves GET /console/comments and POST /console/comments/{id}.
func (c *Comments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, role, ok := c.who(r.Context())
	if !ok || !allows(role, officer.Reviewer) {
		c.headers(w)
		http.Error(w, "your role does not allow this", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodPost {
		c.post(w, r, name, role)
		return
	}
	d := commentsData{Drafts: c.src.CommentDrafts(), Name: name, Role: role, CanAdopt: allows(role, officer.Publisher),
		CSRF: c.csrf(r.Context()), Done: r.URL.Query().Get("done")}
	id := r.URL.Query().Get("policy")
	for i := range d.Drafts {
		if d.Drafts[i].ID == id || (id == "" && i == 0) {
			d.Selected = &d.Drafts[i]
			break
		}
	}
	if d.Selected != nil {
		var err error
		if d.Comments, err = c.src.Comments(r.Context(), d.Selected.ID); err != nil {
			c.log.ErrorContext(r.Context(), "console: read comments", "err", err)
			c.headers(w)
			http.Error(w, "暂时无法读取意见，请稍后再试。", http.StatusServiceUnavailable)
			return
		}
	}
	var buf bytes.Buffer
	if err := c.tmpl.Execute(&buf, d); err != nil {
		c.log.ErrorContext(r.Context(), "console: render comments", "err", err)
		c.headers(w)
		http.Error(w, "内部错误", http.StatusInternalServerError)
		return
	}
	c.headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
}

func (c *Comments) post(w http.ResponseWriter, r *http.Request, name, role string) {
	c.headers(w)
	if err := c.cop.Check(r); err != nil {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	// The guard has checked the token already; checking again here keeps
	// the page safe if it is ever registered without that guard.
	if want := c.csrf(r.Context()); want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(r.PostForm.Get("csrf"))) != 1 {
		http.Error(w, "页面已过期，请刷新后重试。", http.StatusForbidden)
		return
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/console/comments/"), 10, 64)
	if err != nil || id < 1 {
		http.Error(w, "no such comment", http.StatusNotFound)
		return
	}
	var m store.Moderation
	action := auditModerate
	switch a := r.PostForm.Get("action"); a {
	case store.CommentVisible, store.CommentHidden:
		m.Status = &a
	case "adopt", "unadopt":
		if !allows(role, officer.Publisher) {
			http.Error(w, "marking a comment adopted needs role publisher", http.StatusForbidden)
			return
		}
		adopted := a == "adopt"
		m.Adopted, action = &adopted, auditAdopt
		if reply := strings.TrimSpace(r.PostForm.Get("reply")); adopted && reply != "" {
			if utf8.RuneCountInString(reply) > 2000 {
				http.Error(w, "采纳说明最多2000字", http.StatusBadRequest)
				return
			}
			m.Reply = &reply
		}
	default:
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	now := c.now()
	got, err := c.src.ModerateComment(r.Context(), id, m, now,
		store.AuditEntry{At: now, Actor: name, ActorRole: role, Action: action})
	if errors.Is(err, store.ErrNotFound) {
		http.Error(w, "no such comment", http.StatusNotFound)
		return
	}
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: moderate a comment", "err", err)
		http.Error(w, "暂时无法保存，请稍后再试。", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/console/comments?policy="+url.QueryEscape(got.PolicyID)+"&done="+strconv.FormatInt(id, 10)+"#c"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}
