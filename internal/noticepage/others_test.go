package noticepage_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/noticepage"
)

// TestNoticeJSONOthersAbsolute: others[].link in GET
// /public/notices/{token} is an absolute URL under POLICYPUSH_PUBLIC_URL
// when it is set — an outside app (a mini-program, the city's app) shows
// it away from this origin, where a bare /n/… path leads nowhere — and the
// path alone when it is not. The HTML page, served from this origin, keeps
// its relative links, also after the JSON was served from the same views.
func TestNoticeJSONOthersAbsolute(t *testing.T) {
	fake := newPageFake(pageViews)
	for _, tc := range []struct {
		name, publicURL string
		want            []string
	}{
		{"configured", "https://rs.sz.gov.cn", []string{"https://rs.sz.gov.cn/n/tok-other-1", "https://rs.sz.gov.cn/n/tok-other-2"}},
		{"under a path, trailing slash", "https://www.sz.gov.cn/rs/", []string{"https://www.sz.gov.cn/rs/n/tok-other-1", "https://www.sz.gov.cn/rs/n/tok-other-2"}},
		{"not configured", "", []string{"/n/tok-other-1", "/n/tok-other-2"}},
	} {
		mux := http.NewServeMux()
		noticepage.NewAPI(fake, noticepage.APIOptions{PublicURL: tc.publicURL, Log: slog.New(slog.DiscardHandler)}).Register(mux)
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/public/notices/tok-others", nil))
		var v struct {
			Others []struct{ Link, Title string } `json:"others"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s (%v)", tc.name, w.Code, w.Body, err)
		}
		var got []string
		for _, o := range v.Others {
			got = append(got, o.Link)
		}
		if !slices.Equal(got, tc.want) || v.Others[0].Title != "就业困难人员社会保险补贴" {
			t.Errorf("%s: others %+v, want links %q", tc.name, v.Others, tc.want)
		}
	}

	p, err := noticepage.NewPage(fake, noticepage.PageOptions{PublicURL: "https://rs.sz.gov.cn", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.Register(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/n/tok-others", nil))
	body := w.Body.String()
	if w.Code != http.StatusOK || !strings.Contains(body, `<a href="/n/tok-other-1">`) || strings.Contains(body, "https://rs.sz.gov.cn/n/") {
		t.Errorf("the page: %d; want its others linked by path, /n/tok-other-1:\n%s", w.Code, body)
	}
}
