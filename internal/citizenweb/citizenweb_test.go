package citizenweb_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/citizenweb"
)

// TestSiteAssets checks that the shared stylesheet and icon are served
// under names that carry their content's hash, cached for good, and that
// no other name under the prefix answers.
func TestSiteAssets(t *testing.T) {
	mux := http.NewServeMux()
	citizenweb.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	css, err := os.ReadFile("assets/site.css")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(css)
	want := citizenweb.Prefix + "site." + hex.EncodeToString(sum[:6]) + ".css"
	if got := citizenweb.StylesheetPath(); got != want {
		t.Fatalf("StylesheetPath() = %s, want %s", got, want)
	}
	resp, err := http.Get(srv.URL + want)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		resp.Header.Get("X-Content-Type-Options") != "nosniff" || !bytes.Equal(body, css) {
		t.Errorf("GET %s: %d %v, %d bytes", want, resp.StatusCode, resp.Header, len(body))
	}
	for _, path := range []string{citizenweb.Prefix + "site.css", citizenweb.Prefix + "site.000000000000.css", citizenweb.Prefix + "favicon.svg"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestSiteCSSIsSelfContained checks that the stylesheet loads nothing from
// elsewhere, which the pages' CSP would block and a citizen's network may
// not reach.
func TestSiteCSSIsSelfContained(t *testing.T) {
	css, err := os.ReadFile("assets/site.css")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?i)@import|url\(|@font-face`).Find(css); m != nil {
		t.Errorf("site.css loads something: %q", m)
	}
}

// TestParse renders a page over the base: the page's blocks replace the
// base's, the navigation marks the current entry alone, and the icon and
// stylesheet are the hashed ones.
func TestParse(t *testing.T) {
	tmpl, err := citizenweb.Parse("page.html", nil, os.DirFS("testdata"), "page.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, private := range []bool{true, false} {
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, "page", map[string]any{"Title": "测试页", "Private": private}); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		for _, want := range []string{
			`<html lang="zh-CN">`,
			`<title>测试页 · 人社政策</title>`,
			`<link rel="stylesheet" href="` + citizenweb.StylesheetPath() + `">` + "\n" + `<link rel="stylesheet" href="/x/assets/page.css">`,
			`<a class="skip" href="#main">跳到正文</a>`,
			`<nav class="nav" aria-label="栏目"><a href="/policies">政策库</a><a href="/check" aria-current="page">政策自查</a><a href="/consultations">征求意见</a></nav>`,
			`咨询电话 <a class="tel" href="tel:12333">12333</a>`,
		} {
			if !strings.Contains(got, want) {
				t.Errorf("private=%v: the page lacks %s:\n%s", private, want, got)
			}
		}
		if !regexp.MustCompile(`<link rel="icon" href="/public/assets/favicon\.[0-9a-f]{12}\.svg"`).MatchString(got) {
			t.Errorf("no hashed icon:\n%s", got)
		}
		if strings.Contains(got, "本页的隐私说明") != private {
			t.Errorf("private=%v: the privacy block:\n%s", private, got)
		}
	}
}

// TestTooManyRequestsPage: the rate limit's page for a citizen's browser
// is a 429 in the shared frame (header, navigation, footer with the
// hotline, the shared stylesheet), says in plain words to try again in a
// minute or call 12333, loads nothing from elsewhere and is not cached;
// HEAD gets the headers alone.
func TestTooManyRequestsPage(t *testing.T) {
	h := citizenweb.TooManyRequests()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/n/x", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" ||
		rec.Header().Get("Cache-Control") != "no-store" || !strings.HasPrefix(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("%d %v, want 429, HTML, no-store and a strict CSP", rec.Code, rec.Header())
	}
	for _, want := range []string{
		`<html lang="zh-CN">`,
		`<title>访问过于频繁 · 人社政策</title>`,
		`<link rel="stylesheet" href="` + citizenweb.StylesheetPath() + `">`,
		`<header class="top">`,
		`<nav class="nav" aria-label="栏目"><a href="/policies">政策库</a><a href="/check">政策自查</a><a href="/consultations">征求意见</a></nav>`,
		"一分钟后",
		`<a class="tel" href="tel:12333">12333</a>`,
		`<footer class="foot">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
		t.Errorf("the page has inline script or style:\n%s", body)
	}
	head := httptest.NewRecorder()
	h.ServeHTTP(head, httptest.NewRequest(http.MethodHead, "/n/x", nil))
	if head.Code != http.StatusTooManyRequests || head.Body.Len() != 0 {
		t.Errorf("HEAD: %d with %d bytes, want 429 and no body", head.Code, head.Body.Len())
	}
}
