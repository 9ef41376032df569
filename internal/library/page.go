package library

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/selfcheck"
)

// pageCSP lets the pages load their own stylesheets, icon and the
// self-check's one script, and post the self-check's form to this origin,
// and nothing else: no inline script, no other origin.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

//go:embed assets
var assetFS embed.FS

type asset struct {
	body        []byte
	contentType string
}

type pages struct {
	tmpl   *template.Template
	assets map[string]asset
}

func (p *pages) init() error {
	t, err := citizenweb.Parse("library.html", template.FuncMap{
		"yuan": yuan,
		"date": func(s string) string {
			d, err := time.Parse(time.DateOnly, s)
			if err != nil {
				return s
			}
			return dateWords(d)
		},
		"state": func(s string) string { return stateWords[s] },
		"fid":   fieldID,
	}, assetFS, "assets/library.html")
	if err != nil {
		return fmt.Errorf("library: template: %w", err)
	}
	p.tmpl = t
	lib, err := assetFS.ReadFile("assets/library.css")
	if err != nil {
		return fmt.Errorf("library: %w", err)
	}
	js, err := assetFS.ReadFile("assets/check.js")
	if err != nil {
		return fmt.Errorf("library: %w", err)
	}
	p.assets = map[string]asset{
		"library.css": {lib, "text/css; charset=utf-8"},
		"check.js":    {js, "text/javascript; charset=utf-8"},
	}
	return nil
}

// yuan writes an amount of yuan as 2,000 or 1,234.5.
func yuan(a float64) string {
	s := strconv.FormatFloat(a, 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// fieldID is the HTML id of a form field's input.
func fieldID(path string) string {
	return "f-" + strings.NewReplacer(".", "-", "[]", "").Replace(path)
}

func (l *Library) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := l.page.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		l.o.Log.Error("library: render", "template", name, "err", err)
		code, buf = http.StatusInternalServerError, bytes.Buffer{}
		buf.WriteString("内部错误，请稍后再试。咨询电话 " + citizenweb.Hotline + "\n")
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (l *Library) asset(w http.ResponseWriter, r *http.Request) {
	a, ok := l.page.assets[r.PathValue("asset")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// option is one choice of a select.
type option struct {
	Value, Label string
	Selected     bool
}

type listData struct {
	Title   string
	Q       string
	Domain  []option
	Subject []option
	State   []option
	Filter  bool // a search or a filter is applied
	Hits    []Summary
	Groups  []group
	Count   int
	Hotline string
}

type group struct {
	ID, Title string
	Subjects  []subgroup
}

type subgroup struct {
	ID, Title string
	Policies  []Summary
}

func options(values []string, words map[string]string, selected, all string) []option {
	out := []option{{Value: "", Label: all, Selected: selected == ""}}
	for _, v := range values {
		out = append(out, option{Value: v, Label: words[v], Selected: v == selected})
	}
	return out
}

func (l *Library) listPage(w http.ResponseWriter, r *http.Request) {
	set, now := l.o.Rules(), l.o.Now()
	q := r.URL.Query()
	text := strings.TrimSpace(q.Get("q"))
	if r := []rune(text); len(r) > maxQuery {
		text = string(r[:maxQuery])
	}
	domain, subject, state := q.Get("domain"), q.Get("subject"), q.Get("state")
	d := listData{Title: "政策库", Q: text, Hotline: citizenweb.Hotline,
		Domain:  options(Domains, domainWords, domain, "全部领域"),
		Subject: options([]string{"resident", "enterprise"}, subjectWords, subject, "个人和企业"),
		State:   options(States, stateWords, state, "全部状态"),
		Filter:  text != "" || domain != "" || subject != "" || state != ""}
	q.Set("q", text)
	found := l.find(set, now, q)
	d.Count = len(found)
	if text != "" {
		d.Hits = found
	} else {
		for _, dom := range Domains {
			g := group{ID: "d-" + dom, Title: domainWords[dom]}
			for _, sub := range []string{"resident", "enterprise"} {
				sg := subgroup{ID: "d-" + dom + "-" + sub, Title: subjectWords[sub]}
				for _, s := range found {
					if s.Domain == dom && s.Subject == sub {
						sg.Policies = append(sg.Policies, s)
					}
				}
				if len(sg.Policies) > 0 {
					g.Subjects = append(g.Subjects, sg)
				}
			}
			if len(g.Subjects) > 0 {
				d.Groups = append(d.Groups, g)
			}
		}
	}
	l.render(w, http.StatusOK, "list", d)
}

type policyData struct {
	Title    string
	D        Detail
	Banner   string
	Window   string
	Subject  string
	Domain   string
	Notified string // "" when not known
	Hotline  string
}

func (l *Library) policyPage(w http.ResponseWriter, r *http.Request) {
	d, ok := l.detail(l.o.Rules(), r.PathValue("id"), l.o.Now())
	if !ok {
		l.render(w, http.StatusNotFound, "missing", map[string]string{"Title": "没有找到这项政策", "Hotline": citizenweb.Hotline})
		return
	}
	pd := policyData{Title: d.Title, D: d, Banner: stateBanner(d.rule, d.State), Window: windowWords(d.rule),
		Subject: subjectWords[d.Subject], Domain: domainWords[d.Domain], Hotline: citizenweb.Hotline}
	if n := l.notified(r.Context()); n != nil {
		unit, who := "位居民", "居民"
		if d.Subject == "enterprise" {
			unit, who = "家企业", "企业"
		}
		// An aggregate only, and a small one not exactly: a count of
		// one or two would point at someone.
		switch c := n[d.ID]; {
		case c == 0:
			pd.Notified = "尚未向" + who + "推送过这项政策。"
		case c < 10:
			pd.Notified = "已向不足 10 " + unit + "推送过这项政策。"
		default:
			pd.Notified = "已向 " + yuan(float64(c)) + " " + unit + "推送过这项政策。"
		}
	}
	l.render(w, http.StatusOK, "policy", pd)
}

// question is one field of the self-check's form.
type question struct {
	Path, ID, Label, Help, Type string
	Value                       string   // as typed
	Values                      []string // multi
	Choices                     []option
	Items                       []question // a list's fields
	None                        bool       // a list: 没有 is ticked
	Next                        bool       // the next question to answer
}

type checkData struct {
	Title      string
	Subject    string
	Subjects   []option
	Questions  []question
	Asked      bool // the form was sent
	Error      string
	Eligible   []checkResult
	Unknown    []checkResult
	Ineligible []checkResult
	Next       *question
	Hotline    string
}

type checkResult struct {
	selfcheck.Result
	Asks []question // the questions that would decide it
	How  string
}

// formValue is the form's name of a field.
func formValue(path string) string { return "f:" + path }

func (l *Library) checkPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	set, now := l.o.Rules(), l.o.Now()
	var form url.Values
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxCheckBody)
		if err := r.ParseForm(); err != nil {
			l.render(w, http.StatusBadRequest, "missing", map[string]string{"Title": "表单无法读取，请返回重试", "Hotline": citizenweb.Hotline})
			return
		}
		form = r.PostForm
	} else {
		form = url.Values{}
	}
	subject := r.URL.Query().Get("subject")
	if s := form.Get("subject"); s != "" {
		subject = s
	}
	if subject != "enterprise" {
		subject = "resident"
	}
	kind := profile.Kind(subject)
	d := checkData{Title: "政策自查", Subject: subject, Hotline: citizenweb.Hotline, Asked: r.Method == http.MethodPost,
		Subjects: options([]string{"resident", "enterprise"}, map[string]string{"resident": "我是个人", "enterprise": "我代表企业"}, subject, "")[1:]}
	paths := l.o.Checker.Asked(set, kind, now)
	byPath := map[string]*question{}
	var titles []option
	for _, p := range set.Policies() {
		if _, shown := State(p.Rule, now); shown && p.Subject == kind {
			titles = append(titles, option{Value: p.ID, Label: p.Title})
		}
	}
	for _, path := range paths {
		f := l.o.Fields.Field(kind, path)
		if f == nil {
			continue // TestFieldDictionaryCoversRules keeps this from happening
		}
		q := question{Path: path, ID: fieldID(path), Label: f.Label, Help: f.Help, Type: f.Type,
			Value: strings.TrimSpace(form.Get(formValue(path))), Values: form[formValue(path)]}
		cs := f.Choices
		if f.Policies {
			cs = nil
			for _, t := range titles {
				cs = append(cs, selfcheck.Choice{Value: t.Value, Label: t.Label})
			}
		}
		for _, c := range cs {
			q.Choices = append(q.Choices, option{Value: c.Value, Label: c.Label,
				Selected: q.Value == c.Value || slices.Contains(q.Values, c.Value)})
		}
		if f.Type == selfcheck.TypeList {
			q.None = q.Value == "none"
		}
		if l := selfcheck.ListOf(path); l != "" {
			if parent := byPath[l]; parent != nil {
				parent.Items = append(parent.Items, q)
				continue
			}
		}
		d.Questions = append(d.Questions, q)
		byPath[path] = &d.Questions[len(d.Questions)-1]
	}
	if !d.Asked {
		l.render(w, http.StatusOK, "check", d)
		return
	}
	doc, err := formProfile(d.Questions)
	if err == nil {
		var raw []byte
		raw, err = json.Marshal(doc)
		if err != nil {
			// Not evaluated as an empty profile: that would answer as if
			// nothing had been answered.
			err = &selfcheck.InputError{Message: "表单无法读取，请检查填写的内容后重试。"}
		} else {
			var resp selfcheck.Response
			resp, err = l.o.Checker.Check(set, kind, raw, now)
			if err == nil {
				d.fill(resp, l.o.Fields, kind)
			}
		}
	}
	if err != nil {
		if in, ok := errors.AsType[*selfcheck.InputError](err); ok {
			d.Error = in.Message
			l.render(w, http.StatusBadRequest, "check", d)
			return
		}
		l.o.Log.ErrorContext(r.Context(), "library: self-check failed")
		d.Error = "系统暂时无法完成自查，请稍后再试。"
		l.render(w, http.StatusServiceUnavailable, "check", d)
		return
	}
	l.render(w, http.StatusOK, "check", d)
}

// fill sorts the results into the page's three groups and marks the next
// question.
func (d *checkData) fill(resp selfcheck.Response, dict *selfcheck.Dictionary, kind profile.Kind) {
	ask := func(path string) question {
		q := question{Path: path, ID: fieldID(path), Label: path}
		if f := dict.Field(kind, path); f != nil {
			q.Label = f.Label
		}
		return q
	}
	for _, r := range resp.Results {
		cr := checkResult{Result: r}
		if r.Policy != nil {
			cr.How = r.Policy.NextSteps().How
		}
		for _, a := range r.Ask {
			cr.Asks = append(cr.Asks, ask(a))
		}
		switch r.Result {
		case "eligible":
			d.Eligible = append(d.Eligible, cr)
		case "unknown":
			d.Unknown = append(d.Unknown, cr)
		default:
			d.Ineligible = append(d.Ineligible, cr)
		}
	}
	if resp.NextQuestion != "" {
		q := ask(resp.NextQuestion)
		d.Next = &q
		for i := range d.Questions {
			if d.Questions[i].Path == resp.NextQuestion {
				d.Questions[i].Next = true
			}
			for j := range d.Questions[i].Items {
				if d.Questions[i].Items[j].Path == resp.NextQuestion {
					d.Questions[i].Items[j].Next = true
				}
			}
		}
	}
}

// formProfile builds the partial profile the form's answers give; an
// unanswered question is left out (unknown).
func formProfile(qs []question) (map[string]any, error) {
	doc := map[string]any{}
	var put func(q question) error
	put = func(q question) error {
		if q.Type == selfcheck.TypeList {
			if q.None {
				selfcheck.Put(doc, q.Path, []any{})
				return nil
			}
			for _, it := range q.Items {
				if err := put(it); err != nil {
					return err
				}
			}
			return nil
		}
		if q.Type == selfcheck.TypeMulti {
			var vs []any
			for _, v := range q.Values {
				if v == "none" {
					vs = []any{}
					break
				}
				vs = append(vs, v)
			}
			if vs != nil {
				selfcheck.Put(doc, q.Path, vs)
			}
			return nil
		}
		v := q.Value
		if v == "" {
			return nil
		}
		switch q.Type {
		case selfcheck.TypeBool:
			switch v {
			case "true":
				selfcheck.Put(doc, q.Path, true)
			case "false":
				selfcheck.Put(doc, q.Path, false)
			}
		case selfcheck.TypeInt:
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return &selfcheck.InputError{Message: "“" + q.Label + "”请填写不小于0的整数。"}
			}
			selfcheck.Put(doc, q.Path, n)
		case selfcheck.TypeNumber:
			n, err := strconv.ParseFloat(v, 64)
			// NaN and ±Inf parse, but JSON cannot carry them.
			if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
				return &selfcheck.InputError{Message: "“" + q.Label + "”请填写不小于0的数字。"}
			}
			selfcheck.Put(doc, q.Path, n)
		case selfcheck.TypeDate:
			if _, err := time.Parse(time.DateOnly, v); err != nil {
				return &selfcheck.InputError{Message: "“" + q.Label + "”请按 2024-01-31 的格式填写日期。"}
			}
			selfcheck.Put(doc, q.Path, v)
		case selfcheck.TypeMonth:
			if _, err := time.Parse("2006-01", v); err != nil {
				return &selfcheck.InputError{Message: "“" + q.Label + "”请按 2024-01 的格式填写年月。"}
			}
			selfcheck.Put(doc, q.Path, v)
		default:
			selfcheck.Put(doc, q.Path, v)
		}
		return nil
	}
	for _, q := range qs {
		if err := put(q); err != nil {
			return nil, err
		}
	}
	return doc, nil
}
