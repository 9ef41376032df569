package library_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestCheckJSONBoundaries: every body POST /public/check cannot evaluate
// as sent gets a clear 4xx with {"error"}: a body over the bound 413 (as
// httpapi.LimitBodies answers, not 400), a key the contract does not name
// or data after the object 400 (a misspelt "profle" or "date" would
// otherwise be evaluated silently as an empty profile or as today), an
// `at` outside the years a rule can speak of 400, and never a 5xx.
func TestCheckJSONBoundaries(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	huge := `{"subject_type":"resident","profile":{"name":"` + strings.Repeat("x", 70<<10) + `"}}`
	deep := `{"subject_type":"resident","profile":{"x":` + strings.Repeat(`[`, 20000) + strings.Repeat(`]`, 20000) + `}}`
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"well formed", `{"subject_type":"resident","profile":{},"at":"2026-06-01"}`, 200},
		{"no at", `{"subject_type":"resident"}`, 200},
		{"huge", huge, http.StatusRequestEntityTooLarge},
		{"deeply nested", deep, 400},
		{"misspelt profile", `{"subject_type":"resident","profle":{"hukou":{"is_local":true}}}`, 400},
		{"misspelt at", `{"subject_type":"resident","date":"2026-06-01"}`, 400},
		{"data after the object", `{"subject_type":"resident"} {"subject_type":"enterprise"}`, 400},
		{"garbage after the object", `{"subject_type":"resident"}x`, 400},
		{"at far ahead", `{"subject_type":"resident","at":"9999-12-31"}`, 400},
		{"at far back", `{"subject_type":"resident","at":"0001-01-01"}`, 400},
		{"at not a date", `{"subject_type":"resident","at":"2026-02-30"}`, 400},
		{"at a number", `{"subject_type":"resident","at":20260601}`, 400},
		{"subject_type a number", `{"subject_type":1}`, 400},
		{"subject_type unknown", `{"subject_type":"household"}`, 400},
		{"profile an array", `{"subject_type":"resident","profile":[]}`, 400},
		{"unknown profile field", `{"subject_type":"resident","profile":{"shoe_size":42}}`, 400},
		{"wrong type in profile", `{"subject_type":"resident","profile":{"birth_date":19870304}}`, 400},
		{"a date far ahead in profile", `{"subject_type":"resident","profile":{"birth_date":"9999-99-99"}}`, 400},
		{"empty", ``, 400},
		{"null", `null`, 400},
	} {
		resp, err := http.Post(srv.URL+"/public/check", "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d %.200s, want %d", tc.name, resp.StatusCode, b, tc.want)
			continue
		}
		if tc.want == 200 {
			continue
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
			t.Errorf("%s: body %.200s, want {\"error\": …}", tc.name, b)
		}
	}
}

// TestCheckJSONMediaType: the Content-Type is read as a media type, whose
// type and subtype are case-insensitive (RFC 9110 §8.3.1), as the notice
// and comment endpoints read it: Application/JSON is JSON; anything that
// is not application/json is 415.
func TestCheckJSONMediaType(t *testing.T) {
	srv := newServer(t, catalogue(t), nil)
	for ct, want := range map[string]int{
		"application/json":                200,
		"application/json; charset=utf-8": 200,
		"Application/JSON":                200,
		"APPLICATION/JSON;charset=UTF-8":  200,
		"application/jsonx":               http.StatusUnsupportedMediaType,
		"application/json-seq":            http.StatusUnsupportedMediaType,
		"text/plain":                      http.StatusUnsupportedMediaType,
		"":                                http.StatusUnsupportedMediaType,
	} {
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/public/check", strings.NewReader(`{"subject_type":"resident"}`))
		if err != nil {
			t.Fatal(err)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Content-Type %q: %d, want %d", ct, resp.StatusCode, want)
		}
	}
}
