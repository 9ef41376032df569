package consult

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/httpapi"
)

// CSRFCookie holds the double-submit token that the comment form carries
// in its hidden field csrf.
const CSRFCookie = "policypush_consult_csrf"

const (
	csrfTTL = 24 * time.Hour
	maxForm = 32 << 10
)

// pageCSP lets the pages load their own stylesheet and post their form to
// this origin, and nothing else: no script at all.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

//go:embed assets
var assets embed.FS

type page struct {
	s      *Service
	secure bool
	cop    *http.CrossOriginProtection
	tmpl   *template.Template
	css    []byte
}

var funcs = template.FuncMap{
	"cndate": func(t time.Time) string {
		t = t.In(time.FixedZone("CST", 8*3600))
		return fmt.Sprintf("%d年%d月%d日", t.Year(), t.Month(), t.Day())
	},
	"path": func(id string) string { return "/consultations/" + url.PathEscape(id) },
}

func newPage(s *Service, secure bool) (*page, error) {
	tmpl, err := citizenweb.Parse("page.html", funcs, assets, "assets/page.html")
	if err != nil {
		return nil, fmt.Errorf("consult: page template: %w", err)
	}
	css, err := assets.ReadFile("assets/page.css")
	if err != nil {
		return nil, fmt.Errorf("consult: %w", err)
	}
	return &page{s: s, secure: secure, cop: http.NewCrossOriginProtection(), tmpl: tmpl, css: css}, nil
}

func (p *page) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /consultations", p.list)
	mux.HandleFunc("GET /consultations/{$}", p.list)
	mux.HandleFunc("GET /consultations/assets/page.css", p.asset)
	mux.HandleFunc("GET /consultations/{id}", p.show)
	mux.HandleFunc("POST /consultations/{id}/comments", p.comment)
}

// listData fills the template "list".
type listData struct {
	Open, Closed []itemView
}

// itemView is one draft as a page shows it.
type itemView struct {
	ID, Title, Department string
	From, Until           time.Time
	Subject               string // 居民 or 企业
	Estimate              *Estimate
}

// showData fills the template "show".
type showData struct {
	Item                 itemView
	Description          string
	SourceDoc, SourceURL string
	ValidFrom            time.Time
	ValidUntil           *time.Time
	Open                 bool
	Conditions           []string
	Stats                *commentsOut
	CSRF                 string
	Done                 bool
	Error                string
	Name, Text           string
	MaxText, MaxName     int
}

func (p *page) view(d Draft) itemView {
	pol := d.Policy
	v := itemView{ID: pol.ID, Title: pol.Title, Department: pol.Department,
		From: pol.Consultation.From, Until: pol.Consultation.Until, Subject: "居民"}
	if pol.Subject == "enterprise" {
		v.Subject = "企业"
	}
	if e, ok := p.s.estimate(pol); ok {
		v.Estimate = &e
	}
	return v
}

func (p *page) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

func (p *page) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.s.cfg.Log.Error("consult: render", "template", name, "err", err)
		code, buf = http.StatusInternalServerError, bytes.Buffer{}
		buf.WriteString("内部错误，请稍后再试。咨询电话 " + citizenweb.Hotline + "\n")
	}
	p.headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
}

func (p *page) problem(w http.ResponseWriter, code int, title, msg, back string) {
	p.render(w, code, "problem", map[string]string{"Title": title, "Message": msg, "Back": back, "Hotline": citizenweb.Hotline})
}

func (p *page) asset(w http.ResponseWriter, r *http.Request) {
	p.headers(w)
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(p.css))
}

func (p *page) list(w http.ResponseWriter, r *http.Request) {
	var d listData
	for _, x := range p.s.drafts(p.s.cfg.Now()) {
		if x.Open {
			d.Open = append(d.Open, p.view(x))
		} else {
			d.Closed = append(d.Closed, p.view(x))
		}
	}
	p.render(w, http.StatusOK, "list", d)
}

func (p *page) show(w http.ResponseWriter, r *http.Request) {
	p.showWith(w, r, http.StatusOK, showData{Done: r.URL.Query().Get("done") == "1"})
}

func (p *page) showWith(w http.ResponseWriter, r *http.Request, code int, sd showData) {
	d, ok := p.s.draft(r.PathValue("id"), p.s.cfg.Now())
	if !ok {
		p.problem(w, http.StatusNotFound, "未找到征求意见稿",
			"没有找到这份征求意见稿，它可能尚未公开。请返回征求意见列表查看。", "/consultations")
		return
	}
	det, err := p.s.detail(r, d)
	if err != nil {
		p.s.cfg.Log.ErrorContext(r.Context(), "consult: read comments", "err", err)
		p.problem(w, http.StatusServiceUnavailable, "暂时无法打开", "系统暂时无法处理您的请求，请稍后再试。", "/consultations")
		return
	}
	pol := d.Policy
	sd.Item = p.view(d)
	sd.Description, sd.SourceDoc, sd.SourceURL = pol.Description, pol.Source.Doc, pol.Source.URL
	sd.ValidFrom, sd.ValidUntil, sd.Open, sd.Stats = pol.ValidFrom, pol.ValidUntil, d.Open, det.Comments
	for _, c := range pol.Conditions {
		sd.Conditions = append(sd.Conditions, c.Name)
	}
	sd.MaxText, sd.MaxName = MaxTextRunes, MaxNameRunes
	if d.Open {
		sd.CSRF = p.csrf(w, r)
	}
	p.render(w, code, "show", sd)
}

// csrf returns the form's double-submit token, from the request's cookie
// or new (then set as a cookie).
func (p *page) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(CSRFCookie); err == nil && validCSRF(c.Value) {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: CSRFCookie, Value: v, Path: "/consultations/", MaxAge: int(csrfTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.secure || r.TLS != nil,
	})
	return v
}

func validCSRF(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

func (p *page) comment(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	back := "/consultations/" + url.PathEscape(id)
	if err := p.cop.Check(r); err != nil {
		p.problem(w, http.StatusForbidden, "请求被拒绝", "这个请求不是从本站页面发出的，已被拒绝。请返回页面后重新提交。", back)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.problem(w, http.StatusBadRequest, "请求无效", "表单无法读取，请返回页面重试。", back)
		return
	}
	c, err := r.Cookie(CSRFCookie)
	if err != nil || !validCSRF(c.Value) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		p.problem(w, http.StatusForbidden, "页面已过期", "页面已过期或不是从本站打开的，您的意见没有提交。请返回页面后重新提交。", back)
		return
	}
	name, text := r.PostForm.Get("name"), r.PostForm.Get("text")
	_, err = p.s.Comment(r.Context(), id, name, text, httpapi.ClientIP(r, p.s.cfg.TrustedProxies))
	var in *InputError
	var rl *RateLimitedError
	switch {
	case err == nil:
		p.headers(w)
		http.Redirect(w, r, back+"?done=1#comment", http.StatusSeeOther)
	case errors.Is(err, ErrNotFound):
		p.problem(w, http.StatusNotFound, "未找到征求意见稿", "没有找到这份征求意见稿。", "/consultations")
	case errors.Is(err, ErrClosed):
		p.problem(w, http.StatusConflict, "征求意见已结束", "这份草案的征求意见期已结束，不再接收意见。", back)
	case errors.As(err, &in):
		p.showWith(w, r, http.StatusBadRequest, showData{Error: in.Message, Name: name, Text: text})
	case errors.As(err, &rl):
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.Retry.Seconds()))))
		p.problem(w, http.StatusTooManyRequests, "提交过于频繁",
			fmt.Sprintf("同一网络提交意见过于频繁，请约 %d 分钟后再试。", int(math.Ceil(rl.Retry.Minutes()))), back)
	default:
		p.s.cfg.Log.ErrorContext(r.Context(), "consult: store a comment", "err", err)
		p.problem(w, http.StatusServiceUnavailable, "暂时无法提交", "系统暂时无法保存您的意见，请稍后再试。", back)
	}
}
