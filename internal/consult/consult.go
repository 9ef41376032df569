// Package consult publishes drafts out for comment (决策预公开, CONTRACTS §9):
// a rule with status draft and a consultation window is listed on
// /consultations and /public/consultations during that window, with its
// conditions and an estimate of whom it would reach in the stored
// population, and takes the public's comments. After the window its page
// shows how many comments were received and the adopted ones.
//
// The estimate is the admin preview's count (sweep.Preview), made in the
// background by Run and cached per policy version, so that a page view
// costs no scan. Comments are rate-limited per client apart from the
// public rate limit; the client's address is used for that in memory and
// never stored.
package consult

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

// The bounds of a comment, in characters; the database holds to them too.
const (
	MaxTextRunes = 2000
	MaxNameRunes = 40
)

// Store is what consultations read and write; *store.Store implements it.
type Store interface {
	sweep.PreviewStore
	AddComment(ctx context.Context, c store.Comment) (int64, error)
	CommentStats(ctx context.Context, policyID string) (store.CommentStats, error)
}

var _ Store = (*store.Store)(nil)

// Rules gives the rule set in force (drafts included).
type Rules interface {
	Load() *rules.Set
}

// Config configures New.
type Config struct {
	Now func() time.Time // default time.Now
	Log *slog.Logger     // default slog.Default()
	// Match routes the estimate's notices as matching would.
	Match match.Config
	// Budget bounds one estimate, as POLICYPUSH_PREVIEW_BUDGET bounds an
	// admin preview; 0: one minute.
	Budget time.Duration
	// Refresh is how often the estimates are made again; 0: one hour.
	Refresh time.Duration
	// CommentRate is how many comments one client may post per
	// CommentPeriod (POLICYPUSH_COMMENT_RATE); 0 turns the limit off.
	CommentRate   int
	CommentPeriod time.Duration
	// TrustedProxies name the client in X-Forwarded-For, as for the
	// public rate limit.
	TrustedProxies []netip.Prefix
	// PublicURL (POLICYPUSH_PUBLIC_URL): when https://, the form's CSRF
	// cookie is Secure.
	PublicURL string
	// Registry, when set, gets the counter of comments the per-client
	// limit refused (policypush_comments_rate_limited_total).
	Registry prometheus.Registerer
}

// Service serves the consultations.
type Service struct {
	st      Store
	rules   Rules
	cfg     Config
	limiter *limiter
	refused prometheus.Counter // comments refused by the limiter
	page    *page

	wake chan struct{}
	mu   sync.Mutex
	est  map[string]Estimate // by id@version
}

// New returns the service.
func New(st Store, rs Rules, cfg Config) (*Service, error) {
	if st == nil || rs == nil {
		return nil, errors.New("consult: a store and rules are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Budget <= 0 {
		cfg.Budget = time.Minute
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Hour
	}
	s := &Service{st: st, rules: rs, cfg: cfg, wake: make(chan struct{}, 1), est: map[string]Estimate{}}
	s.limiter = newLimiter(cfg.CommentRate, cfg.CommentPeriod, cfg.Now)
	// Its own metric, not a label on policypush_http_rate_limited_total:
	// the dashboards and alerts read that one as it is.
	s.refused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "policypush_comments_rate_limited_total",
		Help: "Comments on consultations refused with 429, as JSON or from the form, because their client exceeded POLICYPUSH_COMMENT_RATE.",
	})
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(s.refused); err != nil {
			return nil, fmt.Errorf("consult: register the comment limit's metric: %w", err)
		}
	}
	p, err := newPage(s, strings.HasPrefix(strings.ToLower(cfg.PublicURL), "https://"))
	if err != nil {
		return nil, err
	}
	s.page = p
	return s, nil
}

// Register mounts the JSON and HTML routes on mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /public/consultations", s.listJSON)
	mux.HandleFunc("GET /public/consultations/{id}", s.oneJSON)
	mux.HandleFunc("POST /public/consultations/{id}/comments", s.commentJSON)
	s.page.register(mux)
}

// Draft is a draft with a consultation, as the public sees it.
type Draft struct {
	Policy *rules.Policy
	Open   bool // within its window now
	Closed bool // its window has ended
}

// drafts returns the drafts with a consultation that has begun, by
// window start then id; open ones are listed, closed ones show results.
func (s *Service) drafts(now time.Time) []Draft {
	set := s.rules.Load()
	if set == nil {
		return nil
	}
	var out []Draft
	for _, p := range set.Policies() {
		if d, ok := draftOf(p, now); ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Policy.Consultation, out[j].Policy.Consultation
		if !a.From.Equal(b.From) {
			return a.From.After(b.From)
		}
		return out[i].Policy.ID < out[j].Policy.ID
	})
	return out
}

func draftOf(p *rules.Policy, now time.Time) (Draft, bool) {
	c := p.Consultation
	if p.Status != rules.Draft || c == nil || now.In(rules.Shanghai).Before(c.From) {
		return Draft{}, false // not public before its window
	}
	open := p.InConsultation(now)
	return Draft{Policy: p, Open: open, Closed: !open}, true
}

// draft finds id among the drafts whose consultation has begun.
func (s *Service) draft(id string, now time.Time) (Draft, bool) {
	set := s.rules.Load()
	if set == nil {
		return Draft{}, false
	}
	p := set.Policy(id)
	if p == nil {
		return Draft{}, false
	}
	return draftOf(p, now)
}

// InputError is a comment the person must correct; Message says how.
type InputError struct{ Message string }

func (e *InputError) Error() string { return e.Message }

// Errors of Comment other than an InputError.
var (
	ErrNotFound = errors.New("no such draft out for comment")
	ErrClosed   = errors.New("the consultation has ended")
)

// RateLimitedError is a comment refused by the per-client limit.
type RateLimitedError struct{ Retry time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many comments from this address: try again in %s", e.Retry.Round(time.Second))
}

// Comment checks and stores a comment on draft id from client, and
// returns its id. The client is counted against the rate limit only once
// the comment is valid, so that a person who must shorten their text is
// not refused for it.
func (s *Service) Comment(ctx context.Context, id, name, text string, client netip.Addr) (int64, error) {
	now := s.cfg.Now()
	d, ok := s.draft(id, now)
	switch {
	case !ok:
		return 0, ErrNotFound
	case d.Closed:
		return 0, ErrClosed
	}
	name, text = clean(name), strings.TrimSpace(cleanText(text))
	switch {
	case text == "":
		return 0, &InputError{Message: "请填写意见内容。"}
	case utf8.RuneCountInString(text) > MaxTextRunes:
		return 0, &InputError{Message: fmt.Sprintf("意见内容最多 %d 字，请删减后再提交。", MaxTextRunes)}
	case utf8.RuneCountInString(name) > MaxNameRunes:
		return 0, &InputError{Message: fmt.Sprintf("署名最多 %d 字。", MaxNameRunes)}
	}
	if ok, retry := s.limiter.allow(client); !ok {
		s.refused.Inc()
		return 0, &RateLimitedError{Retry: retry}
	}
	return s.st.AddComment(ctx, store.Comment{PolicyID: d.Policy.ID, PolicyVersion: d.Policy.Version,
		CreatedAt: now, Name: name, Text: text})
}

// clean trims a one-line value and drops control characters.
func clean(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s))
}

// cleanText is clean for a text of several lines: line breaks stay.
func cleanText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' {
			return r
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}
