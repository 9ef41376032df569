// Package citizenweb is the frame the citizens' pages share — the notice
// page, the policy library, the self-check, the consultations: one header
// with the site's navigation, one footer, one stylesheet for the shared
// parts, so that a citizen moving between them sees one site.
//
// A page package parses its own templates over the base with Parse, calls
// {{template "head" (head "标题" "policies")}} and {{template "foot" .}},
// and links its own stylesheet, if any, in the block "css". The app serves
// the stylesheet and icon once, with Register.
package citizenweb

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Hotline is the number every citizen's page gives.
const Hotline = "12333"

// Prefix is where the shared assets are served. It is under /public, which
// the public listener serves, and not under /policies, /check or
// /consultations, whose patterns ({id}, {id}/publicity) it would clash with.
const Prefix = "/public/assets/"

// Nav keys: the second argument of the template function head, which
// marks that entry of the navigation as the current page.
const (
	NavPolicies      = "policies"
	NavCheck         = "check"
	NavConsultations = "consultations"
)

//go:embed assets
var assetFS embed.FS

// NavItem is one entry of the header's navigation.
type NavItem struct{ Key, Path, Label string }

// Nav is the header's navigation, in order.
func Nav() []NavItem {
	return []NavItem{
		{NavPolicies, "/policies", "政策库"},
		{NavCheck, "/check", "政策自查"},
		{NavConsultations, "/consultations", "征求意见"},
	}
}

// Head is the dot of the template "head".
type Head struct {
	Title string
	Nav   string // the current entry's key; "" marks none
}

type asset struct {
	path, contentType string
	body              []byte
}

// assets returns the shared stylesheet and icon, each named by a hash of
// its content so that it can be cached for good and a new release still
// reaches every browser at once.
func assets() (css, icon asset) {
	return named("site.css", "text/css; charset=utf-8"), named("favicon.svg", "image/svg+xml")
}

func named(name, contentType string) asset {
	body, err := assetFS.ReadFile("assets/" + name)
	if err != nil {
		panic("citizenweb: " + name + " is not embedded") // a build error, not a runtime one
	}
	sum := sha256.Sum256(body)
	ext := path.Ext(name)
	return asset{path: Prefix + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:6]) + ext,
		contentType: contentType, body: body}
}

// StylesheetPath is the shared stylesheet's path, with its content hash.
func StylesheetPath() string { css, _ := assets(); return css.path }

// Parse returns a template named name: the base (head, foot) with funcs and
// head, siteCSS, siteIcon, navItems and hotline, then the page's templates
// in fsys that patterns match, which may redefine the blocks meta, css and
// privacy.
func Parse(name string, funcs template.FuncMap, fsys fs.FS, patterns ...string) (*template.Template, error) {
	css, icon := assets()
	t := template.New(name).Funcs(funcs).Funcs(template.FuncMap{
		"head":     func(title, nav string) Head { return Head{Title: title, Nav: nav} },
		"siteCSS":  func() string { return css.path },
		"siteIcon": func() string { return icon.path },
		"navItems": Nav,
		"hotline":  func() string { return Hotline },
	})
	t, err := t.ParseFS(assetFS, "assets/base.html")
	if err != nil {
		return nil, fmt.Errorf("citizenweb: base template: %w", err)
	}
	if t, err = t.ParseFS(fsys, patterns...); err != nil {
		return nil, fmt.Errorf("citizenweb: %s: %w", name, err)
	}
	return t, nil
}

// Register serves the shared stylesheet and icon at their hashed paths.
func Register(mux *http.ServeMux) {
	css, icon := assets()
	for _, a := range []asset{css, icon} {
		mux.HandleFunc("GET "+a.path, func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Type", a.contentType)
			h.Set("X-Content-Type-Options", "nosniff")
			// The name changes with the content: keep it for a year.
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
		})
	}
}
