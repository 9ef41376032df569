package library_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCheckFormNumbers: the /check form's number answers that
// strconv.ParseFloat takes but JSON cannot carry (NaN, Inf, Infinity) are
// refused like any other bad number, 400 with the field's message; they
// used to make the whole profile vanish, so that the page answered 200
// as if nothing had been answered at all.
func TestCheckFormNumbers(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "Infinity", "-1", "1e400", "abc"} {
		form := url.Values{"subject": {"enterprise"}, "f:size_class": {"small"}, "f:ui.premium_paid_last_year": {v}}
		resp, err := http.PostForm(srv.URL+"/check", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "请填写不小于0的数字") {
			t.Errorf("%q: %d, want 400 saying 请填写不小于0的数字", v, resp.StatusCode)
		}
	}
	form := url.Values{"subject": {"enterprise"}, "f:size_class": {"small"}, "f:ui.premium_paid_last_year": {"64400.5"}}
	resp, err := http.PostForm(srv.URL+"/check", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `value="64400.5"`) {
		t.Errorf("a good number: %d", resp.StatusCode)
	}
}
