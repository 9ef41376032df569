package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/policypush/policypush/internal/ingest"
)

// TestOfficerTokensOpenTheConsole: the console takes the same tokens as
// the API, each with its role, and revoking an officer through the API
// closes both to their token and ends their console sessions.
func TestOfficerTokensOpenTheConsole(t *testing.T) {
	e := newEnv(t)
	s := e.start(ingest.Hooks{})
	addr := <-s.addr
	do := func(method, path, token string, body any) (int, []byte) {
		t.Helper()
		var r *bytes.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		} else {
			r = bytes.NewReader(nil)
		}
		req, _ := http.NewRequest(method, "http://"+addr+path, r)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		return resp.StatusCode, buf.Bytes()
	}
	admin := e.cfg.AdminToken.Value()
	code, body := do("POST", "/api/officers", admin, map[string]string{"name": "zhang.viewer", "role": "viewer"})
	if code != http.StatusCreated {
		t.Fatalf("add officer: %d %s", code, body)
	}
	var added struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &added); err != nil || added.Token == "" {
		t.Fatalf("add officer answered %s (%v), want a token", body, err)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/console/data.json", http.StatusOK},
		{"GET", "/api/policies", http.StatusOK},
		{"POST", "/api/rules/reload", http.StatusForbidden}, // a viewer's token
	} {
		if code, body := do(c.method, c.path, added.Token, nil); code != c.want {
			t.Errorf("viewer %s %s = %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	if e.count(`SELECT count(*) FROM audit_log WHERE action LIKE 'officer%' AND actor = 'admin-token'`) != 1 {
		t.Error("adding the officer left no audit row")
	}
	if code, body := do("DELETE", "/api/officers/zhang.viewer", admin, nil); code/100 != 2 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	for _, path := range []string{"/console/data.json", "/api/policies"} {
		if code, _ := do("GET", path, added.Token, nil); code != http.StatusUnauthorized {
			t.Errorf("revoked officer GET %s = %d, want 401", path, code)
		}
	}
}
