package noticepage

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/policypush/policypush/internal/citizenweb"
)

// The page's form fields and cookie.
const (
	// CSRFCookie holds the double-submit token that the page's forms
	// carry in their hidden field csrf.
	CSRFCookie = "policypush_notice_csrf"
	csrfTTL    = 7 * 24 * time.Hour
	// pageNoteMax bounds 信息有误's note, in characters, in the form
	// (maxlength) and when it is posted: the JSON answer's bound.
	pageNoteMax = MaxNoteRunes
	// maxPageForm bounds an answer's form: a few condition names, a note
	// of pageNoteMax characters and the CSRF token.
	maxPageForm = 32 << 10
)

// pageCSP lets the page load its own stylesheet and icon and post its
// forms to this origin, and nothing else: no script at all.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// PageOptions configures NewPage.
type PageOptions struct {
	// PublicURL is where citizens reach the service
	// (POLICYPUSH_PUBLIC_URL): when it is https://, the CSRF cookie is
	// Secure even though TLS ends at a proxy in front.
	PublicURL string
	Log       *slog.Logger // nil: slog.Default()
	// WeChat, when set, turns on WeChat sign-in for visitors inside
	// WeChat (wechat.go); nil: the token alone opens the page everywhere.
	WeChat *WeChatOptions
}

// Page serves the citizen's notice page /n/{token} and its three form
// answers. It works without JavaScript: the answers are plain HTML forms,
// posted and then redirected back (post/redirect/get).
type Page struct {
	notices Notices
	secure  bool
	log     *slog.Logger
	cop     *http.CrossOriginProtection
	tmpl    *template.Template
	assets  map[string]pageAsset
	wx      *wechatSignIn // nil: no WeChat sign-in
}

//go:embed assets
var pageFS embed.FS

type pageAsset struct {
	body        []byte
	contentType string
}

// NewPage returns the notice page over n.
func NewPage(n Notices, opts PageOptions) (*Page, error) {
	if n == nil {
		return nil, errors.New("noticepage: a Notices is required")
	}
	p := &Page{
		notices: n,
		secure:  strings.HasPrefix(strings.ToLower(opts.PublicURL), "https://"),
		log:     opts.Log,
		cop:     http.NewCrossOriginProtection(),
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if opts.WeChat != nil {
		wx, err := newWeChatSignIn(opts.WeChat, opts.PublicURL)
		if err != nil {
			return nil, err
		}
		p.wx = wx
	}
	tmpl, err := citizenweb.Parse("page.html", pageFuncs, pageFS, "assets/page.html")
	if err != nil {
		return nil, fmt.Errorf("noticepage: page template: %w", err)
	}
	p.tmpl = tmpl
	css, err := pageFS.ReadFile("assets/page.css")
	if err != nil {
		return nil, fmt.Errorf("noticepage: %w", err)
	}
	p.assets = map[string]pageAsset{"page.css": {body: css, contentType: "text/css; charset=utf-8"}}
	return p, nil
}

// Register mounts the page's routes on mux.
func (p *Page) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /n/{token}", p.show)
	mux.HandleFunc("POST /n/{token}/claim", p.claim)
	mux.HandleFunc("POST /n/{token}/dispute", p.dispute)
	mux.HandleFunc("POST /n/{token}/stop", p.stop)
	mux.HandleFunc("GET /n/assets/{asset}", p.asset)
}

// pageData fills the template "notice".
type pageData struct {
	View  View
	Token string // for the forms' actions
	CSRF  string
	// Done is the answer just given (claim, dispute, stop), from ?done=,
	// and Scope the stop's (policy or all).
	Done  string
	Scope string
	// Status is the banner of View.Status when no answer was just given.
	Status *pageStatus
	// Form is the answer whose input was wrong, with Error saying why and
	// the values to show again.
	Form    string
	Error   string
	Ticked  map[string]bool
	Note    string
	NoteMax int
	Hotline string
	Private bool // the footer says the page holds no contact data
	// Public: only the policy's public part is shown (WeChat sign-in did
	// not verify the visitor), with PublicNote saying why and Retry
	// offering to sign in again.
	Public     bool
	PublicNote string
	Retry      bool
}

// problemData fills the template "problem": a page that says what went
// wrong and what to do.
type problemData struct {
	Title   string
	Message string
	Back    string // a link back to the notice, if any
	Hotline string
	Private bool
}

type pageStatus struct {
	Title, Text string
}

// pageStatuses are the banners of a case's pageStatuses (CONTRACTS §8) after the
// person answered, or once the bureau decided.
var pageStatuses = map[string]pageStatus{
	"claimed":  {"已申领", "我们已收到您的申领，经办机构会尽快处理。如需补充材料，请按下方办理方式办理。"},
	"disputed": {"已提交更正", "我们已把您反馈的问题转给提供数据的部门核实。核实更正后，会重新判断您是否符合条件。"},
	"declined": {"已停止接收", "您不会再收到这项政策的推送消息。"},
	"approved": {"已审核通过", "您的申领已通过审核，将按规定发放。"},
	"rejected": {"未通过审核", "经办机构审核后，您的这次申领没有通过。"},
	"granted":  {"已发放", "已按规定发放，请留意到账情况。"},
	// lapsed: the subject no longer qualifies, before any decision
	// (CONTRACTS §8) — not a deadline. The page adds what to do if the
	// data is wrong.
	"lapsed": {"已不符合条件", "根据有关部门最新提供的信息，您已不再符合这项政策的条件，本次无需办理。"},
}

// laterThanClaim are the statuses a claim may lead to at once or later.
var laterThanClaim = map[string]bool{"approved": true, "rejected": true, "granted": true, "lapsed": true}

// doneStatus says what an answer just given changed and what happens next.
func doneStatus(action, scope, mode string) pageStatus {
	switch action {
	case ActionClaim:
		if mode == "confirm" {
			return pageStatus{"已申领", "我们已收到您的确认。经办机构核对后将直接办理，您无需再提交申请；结果会另行通知您。"}
		}
		return pageStatus{"已申领", "我们已记录您的申领。请按下方办理方式，在截止日期前完成办理。"}
	case ActionDispute:
		return pageStatus{"已提交更正", "我们已把您反馈的问题转给提供数据的部门核实。核实更正后，会重新判断您是否符合条件。"}
	case ActionStop:
		if scope == StopAll {
			return pageStatus{"已停止接收", "您不会再收到任何主动推送的政策消息。已在排队的消息也已取消。"}
		}
		return pageStatus{"已停止接收", "您不会再收到这项政策的推送消息。已在排队的消息也已取消。"}
	}
	return pageStatus{}
}

var pageFuncs = template.FuncMap{
	"verdict": func(v string) string {
		switch v {
		case "true":
			return "符合"
		case "false":
			return "不符合"
		}
		return "暂无数据"
	},
	"verdictClass": func(v string) string {
		switch v {
		case "true", "false":
			return v
		}
		return "unknown"
	},
	"amount":     formatYuan,
	"date":       formatCNDate,
	"has":        slices.Contains[[]string],
	"done":       doneStatus,
	"automatic":  automaticNote,
	"actionPath": func(token, action string) string { return "/n/" + url.PathEscape(token) + "/" + action },
	"pagePath":   func(token string) string { return "/n/" + url.PathEscape(token) },
}

// formatYuan writes an amount of yuan as 2,000 or 1,234.50.
func formatYuan(a float64) string {
	s := strconv.FormatFloat(a, 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "00" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// formatCNDate writes YYYY-MM-DD as 2026年11月30日, and anything else as it is.
func formatCNDate(s string) string {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%d年%d月%d日", d.Year(), d.Month(), d.Day())
}

// automaticNote says what happens without any action for a policy paid
// without application (免申即享).
func automaticNote(v View) string {
	if v.Automatic != "" {
		return v.Automatic
	}
	if v.Apply.Deadline != "" {
		return "这项政策免申即享：您无需提交申请，也无需做任何操作。经办机构将在" +
			formatCNDate(v.Apply.Deadline) + "前按规定直接为您办理。"
	}
	return "这项政策免申即享：您无需提交申请，也无需做任何操作，经办机构将按规定直接为您办理。"
}

func (p *Page) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	// The token is in the URL: no other site may learn it.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func (p *Page) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("noticepage: render", "template", name, "err", err)
		code, buf = http.StatusInternalServerError, bytes.Buffer{}
		buf.WriteString("内部错误，请稍后再试。咨询电话 " + citizenweb.Hotline + "\n")
	}
	p.headers(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
}

func (p *Page) problem(w http.ResponseWriter, code int, title, msg, back string) {
	p.render(w, code, "problem", problemData{Title: title, Message: msg, Back: back, Hotline: citizenweb.Hotline})
}

// notFound is the one answer to a token that is unknown or expired.
func (p *Page) notFound(w http.ResponseWriter) {
	p.problem(w, http.StatusNotFound, "链接无效或已过期",
		"这个链接无效或已过期。如需了解可办理的政策，请拨打咨询电话 "+citizenweb.Hotline+"，或前往当地人社部门咨询。", "")
}

// failed answers an error of Notices other than ErrNotFound and an
// InputError. The token is never logged: it is the credential.
func (p *Page) failed(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.log.ErrorContext(r.Context(), "noticepage: "+what, "err", err)
	p.problem(w, http.StatusServiceUnavailable, "暂时无法打开",
		"系统暂时无法处理您的请求，请稍后再试。如有急事，请拨打咨询电话 "+citizenweb.Hotline+"。", "")
}

func (p *Page) asset(w http.ResponseWriter, r *http.Request) {
	p.headers(w)
	a, ok := p.assets[r.PathValue("asset")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// csrf returns the forms' double-submit token, from the request's cookie
// or new (then set as a cookie).
func (p *Page) csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(CSRFCookie); err == nil && validCSRF(c.Value) {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name: CSRFCookie, Value: v, Path: "/n/", MaxAge: int(csrfTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: p.secure || r.TLS != nil,
	})
	return v
}

// validCSRF reports whether v has the form csrf gives it.
func validCSRF(v string) bool {
	if len(v) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

func (p *Page) show(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	v, ok := p.view(w, r, token)
	if !ok {
		return
	}
	acc, ok := p.signIn(w, r, token, v)
	if !ok {
		return
	}
	if !acc.personal {
		p.render(w, http.StatusOK, "notice", pageData{View: v.public(), Token: token, Hotline: citizenweb.Hotline, Private: true,
			Public: true, PublicNote: acc.note, Retry: acc.retry})
		return
	}
	d := pageData{View: v, Token: token, CSRF: p.csrf(w, r), NoteMax: pageNoteMax, Hotline: citizenweb.Hotline, Private: true}
	q := r.URL.Query()
	switch a := q.Get("done"); a {
	case ActionClaim, ActionDispute, ActionStop:
		d.Done = a
		if d.Scope = q.Get("scope"); d.Scope != StopAll {
			d.Scope = StopPolicy
		}
	}
	if d.Done == ActionClaim && laterThanClaim[v.Status] {
		// The claim went through at once (no review held it): the
		// case's own status says more than 已申领.
		d.Done = ""
	}
	if s, ok := pageStatuses[v.Status]; ok && d.Done == "" {
		d.Status = &s
	}
	p.render(w, http.StatusOK, "notice", d)
}

// answer checks an answer's request and reads its form; it has answered
// when it returns false.
func (p *Page) answer(w http.ResponseWriter, r *http.Request) bool {
	back := "/n/" + url.PathEscape(r.PathValue("token"))
	if err := p.cop.Check(r); err != nil {
		p.problem(w, http.StatusForbidden, "请求被拒绝",
			"这个请求不是从本页面发出的，已被拒绝。请重新打开通知中的链接后再操作。", back)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPageForm)
	if err := r.ParseForm(); err != nil {
		p.problem(w, http.StatusBadRequest, "请求无效", "表单无法读取，请返回页面重试。", back)
		return false
	}
	c, err := r.Cookie(CSRFCookie)
	got := r.PostForm.Get("csrf")
	if err != nil || !validCSRF(c.Value) || subtle.ConstantTimeCompare([]byte(c.Value), []byte(got)) != 1 {
		p.problem(w, http.StatusForbidden, "页面已过期",
			"页面已过期或不是从本站打开的，您的操作没有提交。请返回页面后重新操作。", back)
		return false
	}
	return p.mayAnswer(w, r, r.PathValue("token"))
}

// answered handles what an answer's call to Notices returned: on success
// it redirects back to the page (303), saying what was done.
func (p *Page) answered(w http.ResponseWriter, r *http.Request, action, query string, err error, again pageData) {
	token := r.PathValue("token")
	var in *InputError
	switch {
	case err == nil:
		p.headers(w)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/n/"+url.PathEscape(token)+"?done="+query, http.StatusSeeOther)
	case errors.Is(err, ErrNotFound):
		p.notFound(w)
	case errors.As(err, &in):
		p.again(w, r, action, in.Message, again)
	default:
		p.failed(w, r, action, err)
	}
}

// view reads token's notice, or answers the request itself (404 for an
// unknown or expired token, 503 for a failure) and reports false.
func (p *Page) view(w http.ResponseWriter, r *http.Request, token string) (View, bool) {
	v, err := p.notices.View(r.Context(), token)
	switch {
	case errors.Is(err, ErrNotFound):
		p.notFound(w)
		return View{}, false
	case err != nil:
		p.failed(w, r, "view", err)
		return View{}, false
	}
	return v, true
}

// again shows the page once more with msg next to the form of action.
func (p *Page) again(w http.ResponseWriter, r *http.Request, action, msg string, d pageData) {
	token := r.PathValue("token")
	v, ok := p.view(w, r, token)
	if !ok {
		return
	}
	d.View, d.Token, d.Form, d.Error = v, token, action, msg
	d.CSRF = p.csrf(w, r)
	d.NoteMax, d.Hotline, d.Private = pageNoteMax, citizenweb.Hotline, true
	if s, ok := pageStatuses[v.Status]; ok {
		d.Status = &s
	}
	p.render(w, http.StatusBadRequest, "notice", d)
}

func (p *Page) claim(w http.ResponseWriter, r *http.Request) {
	if !p.answer(w, r) {
		return
	}
	_, err := p.notices.Claim(r.Context(), r.PathValue("token"), r.PostForm.Get("confirm") != "")
	p.answered(w, r, ActionClaim, ActionClaim, err, pageData{})
}

func (p *Page) dispute(w http.ResponseWriter, r *http.Request) {
	if !p.answer(w, r) {
		return
	}
	conds := r.PostForm["condition"]
	note := strings.TrimSpace(r.PostForm.Get("note"))
	again := pageData{Ticked: map[string]bool{}, Note: note}
	for _, c := range conds {
		again.Ticked[c] = true
	}
	var err error
	switch {
	case len(conds) == 0:
		err = &InputError{Message: "请至少勾选一项有误的信息。"}
	case utf8.RuneCountInString(note) > pageNoteMax:
		err = &InputError{Message: fmt.Sprintf("补充说明最多 %d 字，请删减后再提交。", pageNoteMax)}
	default:
		_, err = p.notices.Dispute(r.Context(), r.PathValue("token"), conds, note)
	}
	p.answered(w, r, ActionDispute, ActionDispute, err, again)
}

func (p *Page) stop(w http.ResponseWriter, r *http.Request) {
	if !p.answer(w, r) {
		return
	}
	scope := r.PostForm.Get("scope")
	var err error
	if scope != StopPolicy && scope != StopAll {
		err = &InputError{Message: "请选择不再接收的范围。"}
	} else {
		err = p.notices.Stop(r.Context(), r.PathValue("token"), scope)
	}
	p.answered(w, r, ActionStop, ActionStop+"&scope="+scope, err, pageData{})
}
