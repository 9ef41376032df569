// Package console serves the read-only console page at / : what a policy
// officer looks at instead of the admin API's JSON. It shows each policy's
// funnel (matched → sent → delivered → clicked), delivery health by channel,
// the outbox and dead-letter backlog, the last rule reload and the sweeps'
// progress, and refreshes itself every five seconds from
// /console/data.json.
//
// Only signed-in officers see it: the app wraps the Handler in
// internal/signin's guard, and the page's header shows who is signed in,
// with a logout button.
//
// The page, its script and its stylesheet are embedded, so the console
// works offline and needs nothing but this binary. The page loads nothing
// from elsewhere, and the Content-Security-Policy it is served with forbids
// it to, as well as inline scripts and styles.
package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"
)

// Source gives the console its numbers; the app implements it.
type Source interface {
	Snapshot(ctx context.Context) (Snapshot, error)
}

// Snapshot is everything the page shows, as of GeneratedAt.
type Snapshot struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Policies    []PolicyFunnel  `json:"policies"`
	Channels    []ChannelHealth `json:"channels"`
	Backlog     Backlog         `json:"backlog"`
	Rules       RulesState      `json:"rules"`
	Sweeps      []SweepProgress `json:"sweeps"`
}

// PolicyFunnel is one policy and what became of its matches' notices,
// summed over the channels.
type PolicyFunnel struct {
	ID         string `json:"id"`
	Title      string `json:"title"`
	Subject    string `json:"subject"` // resident or enterprise
	Status     string `json:"status"`  // draft, active or repealed
	InForce    bool   `json:"in_force"`
	Matched    int64  `json:"matched"`
	Waiting    int64  `json:"waiting"`
	Sent       int64  `json:"sent"` // delivered ones included
	Delivered  int64  `json:"delivered"`
	Clicked    int64  `json:"clicked"`
	Failed     int64  `json:"failed"`
	Suppressed int64  `json:"suppressed"`
	Cancelled  int64  `json:"cancelled"`
	// The answers on the notice page, per match: 确认申领, 信息有误 (a
	// correction request sent to the data's source) and 不再接收. Counts
	// only, nothing about who.
	Claimed  int64 `json:"claimed"`
	Disputed int64 `json:"disputed"`
	Stopped  int64 `json:"stopped"`
	// Notices no channel reaches yet, and notices the subject has not
	// consented to: they go out when a later profile event brings either.
	WaitingForChannel int64 `json:"waiting_for_channel"`
	WaitingForConsent int64 `json:"waiting_for_consent"`
}

// ChannelHealth is one channel's (wechat, sms) delivery counts.
type ChannelHealth struct {
	Channel    string `json:"channel"`
	Sent       int64  `json:"sent"` // delivered ones included
	Delivered  int64  `json:"delivered"`
	Failed     int64  `json:"failed"`
	Waiting    int64  `json:"waiting"`
	Suppressed int64  `json:"suppressed"`
	Fallbacks  int64  `json:"fallbacks"` // notices this channel refused for good and passed on
}

// Backlog is what is waiting to be sent, and what gave up.
type Backlog struct {
	OutboxWaiting    int64   `json:"outbox_waiting"`
	OldestDueSeconds float64 `json:"oldest_due_seconds"` // how long the oldest due notice has waited; 0 when none
	DLQMessages      int64   `json:"dlq_messages"`
	// UnknownOutcome counts notices whose provider call may or may not have
	// got through, and that nobody could settle: an officer decides, and
	// POST /api/notices/requeue resends them.
	UnknownOutcome int64 `json:"unknown_outcome"`
}

// RulesState is the rule set in force and how its last reload went.
type RulesState struct {
	Loaded       int       `json:"loaded"`
	LastReload   time.Time `json:"last_reload"` // zero: never reloaded since start
	LastReloadOK bool      `json:"last_reload_ok"`
}

// SweepProgress is one sweep (a backfill or a periodic re-check).
type SweepProgress struct {
	ID          int64  `json:"id"`
	Kind        string `json:"kind"`         // backfill or time
	SubjectType string `json:"subject_type"` // resident or enterprise
	Status      string `json:"status"`       // running or done
	DoneChunks  int    `json:"done_chunks"`
	TotalChunks int    `json:"total_chunks"`
	Profiles    int64  `json:"profiles"`
	Matched     int64  `json:"matched"`
}

// csp lets the page load its own script, stylesheet and data and nothing
// else: no inline code, no other origin, no framing, and no form but to
// this origin (the logout button of internal/signin).
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed assets
var assetFS embed.FS

// asset is an embedded file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the console. Register it as
//
//	mux.Handle("GET /{$}", h)
//	mux.Handle("GET /console/", h)
type Handler struct {
	src    Source
	log    *slog.Logger
	now    func() time.Time
	page   asset
	assets map[string]asset // by path under /console/
}

// New returns the console over src; log (nil: slog.Default) receives the
// errors of src.
func New(src Source, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{src: src, log: log, now: time.Now, assets: map[string]asset{}}
	// The assets are compiled in, so reading them fails only if the embed
	// directive and this code disagree: a programming error.
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := asset{body: body, contentType: contentType(p), etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		name := strings.TrimPrefix(p, "assets/")
		if name == "index.html" {
			h.page = a
			return nil
		}
		h.assets[name] = a
		return nil
	})
	if err != nil {
		panic(fmt.Errorf("console: embedded assets: %w", err))
	}
	return h
}

// contentType is set by hand rather than from the mime package, whose
// answer for .js depends on the machine's /etc/mime.types.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	default:
		return "application/octet-stream"
	}
}

// ServeHTTP serves / (the page), /console/data.json and the assets under
// /console/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	switch p := r.URL.Path; {
	case p == "/":
		serveAsset(w, r, "index.html", h.page)
	case p == "/console/data.json":
		h.serveData(w, r)
	case strings.HasPrefix(p, "/console/"):
		name := strings.TrimPrefix(p, "/console/")
		a, ok := h.assets[name]
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		serveAsset(w, r, name, a)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
	}
}

// serveAsset answers conditional requests by ETag: the asset paths carry no
// version, so browsers must revalidate to pick up a new binary's page.
func serveAsset(w http.ResponseWriter, r *http.Request, name string, a asset) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}

func (h *Handler) serveData(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, err := h.src.Snapshot(r.Context())
	if err != nil {
		// The cause (a database error, say) goes to the log, not to the
		// browser; the page says that the data is stale.
		h.log.ErrorContext(r.Context(), "console: snapshot", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "console data unavailable, try again later"})
		return
	}
	if s.GeneratedAt.IsZero() {
		s.GeneratedAt = h.now()
	}
	// Empty lists go out as [] rather than null, so that the page and
	// other readers need not tell the two apart.
	if s.Policies == nil {
		s.Policies = []PolicyFunnel{}
	}
	if s.Channels == nil {
		s.Channels = []ChannelHealth{}
	}
	if s.Sweeps == nil {
		s.Sweeps = []SweepProgress{}
	}
	// Encoded before any byte is written, so that a value JSON cannot hold
	// (a NaN age, say) still gets an error status.
	body, err := json.Marshal(s)
	if err != nil {
		h.log.ErrorContext(r.Context(), "console: encode snapshot", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "console data unavailable, try again later"})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n')) // the client went away: nothing to do
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}
