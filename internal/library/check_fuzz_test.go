package library_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/library"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/selfcheck"
)

// FuzzCheckJSON: whatever body POST /public/check is sent, it answers 200
// with results, or 400 or 413 with {"error"}; never a 5xx, never a panic,
// and it logs nothing of what it was sent. Run it with
// go test -fuzz FuzzCheckJSON ./internal/library/.
func FuzzCheckJSON(f *testing.F) {
	for _, seed := range []string{
		`{"subject_type":"resident","profile":{},"at":"2026-06-01"}`,
		`{"subject_type":"enterprise","profile":{"size_class":"small","ui":{"paid_full_months":48}}}`,
		`{"subject_type":"resident","profile":{"hukou":{"is_local":true},"skill_certificates":[{"level":"senior","issue_date":"2026-01-02"}]}}`,
		`{"subject_type":"resident","profile":{"benefits_received":[{"policy_id":"x","granted_on":"2026-01-01","amount":1e3}]}}`,
		`{"subject_type":"resident","profile":{"disability":{"has_certificate":true,"level":"2"}},"at":"2100-12-31"}`,
		`{"subject_type":"resident","profile":{"contact":{"mobile":"13800000000"}}}`,
		`{"subject_type":"resident","profile":null}`,
		`{"subject_type":"resident","profile":{"birth_date":"1987-03-04","insurance":{"unemployment":{"cumulative_months":12}}}}`,
		`[]`, `null`, `{}`, `{"at":""}`,
	} {
		f.Add([]byte(seed))
	}
	v, err := profile.NewValidator()
	if err != nil {
		f.Fatal(err)
	}
	dict, err := selfcheck.LoadDictionary()
	if err != nil {
		f.Fatal(err)
	}
	seg, err := library.NewSegmenter()
	if err != nil {
		f.Fatal(err)
	}
	set := catalogue(f)
	logs := &bytes.Buffer{}
	l, err := library.New(library.Options{
		Rules: func() *rules.Set { return set }, Checker: selfcheck.New(v, dict), Fields: dict, Seg: seg,
		Now: func() time.Time { return testNow }, Log: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	l.Register(mux)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/public/check", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		start := time.Now()
		mux.ServeHTTP(rec, req)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("%s for %q", d, body)
		}
		switch rec.Code {
		case http.StatusOK:
			var resp struct {
				Results []json.RawMessage `json:"results"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.Results == nil {
				t.Fatalf("200 %.300s: not a result", rec.Body)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d %.300s: not {\"error\"}", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("%d %.300s for %q", rec.Code, rec.Body, body)
		}
		if logs.Len() > 0 {
			t.Fatalf("the self-check logged %q", logs)
		}
	})
}
