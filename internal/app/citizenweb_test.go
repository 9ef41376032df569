package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
)

var (
	frameHeader = regexp.MustCompile(`(?s)<header class="top">.*?</header>`)
	frameFooter = regexp.MustCompile(`(?s)<footer class="foot">.*?</footer>`)
	frameLinks  = regexp.MustCompile(`<link rel="stylesheet" href="([^"]*)">`)
	frameNav    = regexp.MustCompile(`<a href="([^"]*)"( aria-current="page")?>([^<]*)</a>`)
	frameInline = regexp.MustCompile(`(?i)<style|\sstyle=|<script(?:\s+[^>]*)?>[^<]`)
)

// TestCitizenPagesShareOneFrame opens every citizen's page of the real
// service — the notice page, the library's list and a policy's page, the
// self-check, the consultations' list and a draft's page — and checks that
// each carries the same header with the same navigation (政策库, 政策自查,
// 征求意见, the current one marked), the same footer with the hotline and
// that page's privacy line, and links the one shared stylesheet, which the
// service serves, cached for good, with no inline style or script.
func TestCitizenPagesShareOneFrame(t *testing.T) {
	e := newEnv(t)
	fake := &fakeWeChat{unfollowed: map[string]bool{}}
	api := httptest.NewServer(fake)
	defer api.Close()
	dir := answerRules(t)
	// And a draft out for comment, with the calendar its window needs.
	const draft = "skill-upgrade-subsidy-2027"
	for _, f := range []string{"employment/" + draft + ".yaml", "calendar.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "rules", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.cfg.RulesDir = dir
	e.cfg.WeChatAppID, e.cfg.WeChatSecret, e.cfg.WeChatAPIBase = "wx_test_app", "test-secret-value", api.URL
	e.cfg.WeChatToken = "callback-token"
	e.cfg.QuietHours.On = false
	var c clock // the draft's window is open
	c.set(time.Date(2026, 12, 10, 10, 0, 0, 0, rules.Shanghai))
	e.clock = c.now

	s := e.start(ingest.Hooks{})
	e.produce(answerPerson("p_frame", "oFrame_person_000001"))
	e.waitFor("a sent notice", func() bool { return e.countOr("SELECT count(*) FROM outbox WHERE status IN ('sent', 'delivered')") > 0 })
	var token string
	if err := e.db.QueryRow(t.Context(), "SELECT click_token FROM outbox WHERE status IN ('sent', 'delivered') LIMIT 1").Scan(&token); err != nil {
		t.Fatal(err)
	}
	base := "http://" + <-s.addr

	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}

	// The navigation as the issue asks for it, written out here rather than
	// taken from citizenweb.
	nav := [][2]string{{"/policies", "政策库"}, {"/check", "政策自查"}, {"/consultations", "征求意见"}}
	pages := []struct {
		name, path, current, css, privacy string
	}{
		{"notice", "/n/" + token, "", "/n/assets/page.css", "链接仅供您本人使用"},
		{"library", "/policies", "/policies", "/check/assets/library.css", "不保存您在自查中填写的任何内容"},
		{"policy", "/policies/answer-one", "/policies", "/check/assets/library.css", "不保存您在自查中填写的任何内容"},
		{"check", "/check", "/check", "/check/assets/library.css", "不保存您在自查中填写的任何内容"},
		{"consultations", "/consultations", "/consultations", "/consultations/assets/page.css", "本站不记录您的网络地址"},
		{"draft", "/consultations/" + draft, "/consultations", "/consultations/assets/page.css", "本站不记录您的网络地址"},
		// 公示 of a policy with no approved case yet: an empty list.
		{"publicity", "/policies/answer-one/publicity", "/policies", "/public/assets/publicity.css", "个人不公示姓名和证件号码"},
	}
	var firstHeader, firstName string
	for _, p := range pages {
		resp, body := get(p.path)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: GET %s: %d", p.name, p.path, resp.StatusCode)
			continue
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q, want style-src 'self' and nothing inline", p.name, csp)
		}
		if m := frameInline.FindString(body); m != "" {
			t.Errorf("%s: inline style or script %q, which the CSP blocks", p.name, m)
		}

		header := frameHeader.FindString(body)
		if header == "" {
			t.Errorf("%s: no <header class=\"top\">", p.name)
			continue
		}
		links := frameNav.FindAllStringSubmatch(header, -1)
		if len(links) != len(nav) {
			t.Errorf("%s: the header's navigation has %d links, want %d: %s", p.name, len(links), len(nav), header)
			continue
		}
		for i, l := range links {
			if l[1] != nav[i][0] || l[3] != nav[i][1] {
				t.Errorf("%s: navigation link %d is %s %q, want %s %q", p.name, i, l[1], l[3], nav[i][0], nav[i][1])
			}
			if cur := l[2] != ""; cur != (l[1] == p.current) {
				t.Errorf("%s: %s marked current: %v, want %v", p.name, l[1], cur, l[1] == p.current)
			}
		}
		// Apart from which link is current, the header is the same everywhere.
		plain := strings.ReplaceAll(header, ` aria-current="page"`, "")
		if firstHeader == "" {
			firstHeader, firstName = plain, p.name
		} else if plain != firstHeader {
			t.Errorf("%s's header differs from %s's:\n%s\n%s", p.name, firstName, plain, firstHeader)
		}

		foot := frameFooter.FindString(body)
		if !strings.Contains(foot, `咨询电话 <a class="tel" href="tel:12333">12333</a>`) || !strings.Contains(foot, p.privacy) {
			t.Errorf("%s: the footer lacks the hotline or %q: %s", p.name, p.privacy, foot)
		}

		var sheets []string
		for _, m := range frameLinks.FindAllStringSubmatch(body, -1) {
			sheets = append(sheets, m[1])
		}
		if len(sheets) != 2 || sheets[0] != citizenweb.StylesheetPath() || sheets[1] != p.css {
			t.Errorf("%s links the stylesheets %q, want the shared %s, then %s", p.name, sheets, citizenweb.StylesheetPath(), p.css)
		}
	}

	// The one stylesheet is served, under a name that changes with it, so
	// that it may be cached for good.
	if !regexp.MustCompile(`^/public/assets/site\.[0-9a-f]{12}\.css$`).MatchString(citizenweb.StylesheetPath()) {
		t.Errorf("the stylesheet is at %s, not under a content hash", citizenweb.StylesheetPath())
	}
	resp, css := get(citizenweb.StylesheetPath())
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(css, ".nav a") {
		t.Errorf("GET %s: %d %q %q, %d bytes", citizenweb.StylesheetPath(), resp.StatusCode,
			resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), len(css))
	}
}
