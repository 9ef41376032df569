package publicity

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
)

// pageCSP is the citizens' pages' strict policy (the library's, less the
// self-check's script, which this page has none of; the notice page's and
// the consultations' exactly): the page loads its own stylesheets and icon
// from this origin and nothing else, runs no script, and is framed by no one.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// cssPath is the page's own stylesheet. It is under /public/assets, next
// to the shared one, because a path under /policies/ would clash in the
// router with /policies/{id}/publicity and the library's /policies/{id}.
const cssPath = citizenweb.Prefix + "publicity.css"

//go:embed assets
var pageFS embed.FS

// page is the parsed template and the stylesheet of the 公示 page.
type page struct {
	tmpl *template.Template
	css  []byte
}

func newPage() (*page, error) {
	t, err := citizenweb.Parse("page.html", template.FuncMap{
		"yuan": func(a *float64) string {
			if a == nil {
				return "—"
			}
			return formatYuan(*a)
		},
		"total": formatYuan,
		"date":  cnDate,
		"css":   func() string { return cssPath },
	}, pageFS, "assets/page.html")
	if err != nil {
		return nil, fmt.Errorf("publicity: page template: %w", err)
	}
	css, err := pageFS.ReadFile("assets/page.css")
	if err != nil {
		return nil, fmt.Errorf("publicity: %w", err)
	}
	return &page{tmpl: t, css: css}, nil
}

// pageData fills the templates "list" and "problem".
type pageData struct {
	List
	PageTitle string
	Message   string // "problem" only
}

// render writes the template name with the headers of the citizens' pages.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, d pageData) {
	var buf bytes.Buffer
	if err := h.page.tmpl.ExecuteTemplate(&buf, name, d); err != nil {
		h.log.ErrorContext(r.Context(), "publicity page: render", "template", name, "err", err)
		code, buf = http.StatusInternalServerError, bytes.Buffer{}
		buf.WriteString("暂时无法显示，请稍后再试。咨询电话 " + citizenweb.Hotline + "\n")
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", pageCSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	if code == http.StatusOK {
		hd.Set("Cache-Control", "public, max-age=60") // as the JSON: the list changes with approvals only
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
}

func (h *Handler) serveCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.page.css))
}

// cnDate writes YYYY-MM-DD as 2026年12月14日, and anything else as it is.
func cnDate(s string) string {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%d年%d月%d日", d.Year(), d.Month(), d.Day())
}

func writeJSON(w http.ResponseWriter, v any) {
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// formatYuan writes an amount with thousands separators and at most two
// decimals: 38,640.5.
func formatYuan(a float64) string {
	s := strconv.FormatFloat(a, 'f', 2, 64)
	s = strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if frac != "" {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}
