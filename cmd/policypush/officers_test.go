package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/officer"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

type noRules struct{}

func (noRules) Policies() []adminapi.Policy         { return nil }
func (noRules) Reload(context.Context) (int, error) { return 0, nil }
func (noRules) Preview(context.Context, string, []byte) (sweep.Report, error) {
	return sweep.Report{}, nil
}

// TestOfficersCLI: officers add prints a token that the API takes, with
// its role; list shows the accounts and no hash; revoke makes the token
// 401. Each change leaves an audit row by "cli".
func TestOfficersCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := t.Context()
	dbURL := pgtest.NewDatabase(t)
	getenv := func(k string) string {
		if k == "POLICYPUSH_DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	officers := func(args ...string) (string, string, error) {
		var out, errOut bytes.Buffer
		err := runOfficers(ctx, args, getenv, &out, &errOut)
		return out.String(), errOut.String(), err
	}
	// The dispatch from policypush itself; with no command, nothing is
	// opened.
	var usage bytes.Buffer
	if err := run(ctx, []string{"officers"}, &usage); !errors.Is(err, errUsage) || !strings.Contains(usage.String(), "officers add NAME --role ROLE") {
		t.Fatalf("policypush officers: %v, %s", err, usage.String())
	}

	// Before migrate, the error says so.
	if _, _, err := officers("list"); err == nil || !strings.Contains(err.Error(), "policypush migrate") {
		t.Fatalf("list before migrate: %v", err)
	}
	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	out, _, err := officers("add", "wang.li", "--role", "publisher")
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(out)
	if !officer.LooksLikeToken(tok) || strings.Count(out, "\n") != 1 {
		t.Fatalf("add printed %q, want the token alone", out)
	}
	if _, _, err := officers("add", "--role", "viewer", "zhang"); err != nil {
		t.Fatalf("flags before the name: %v", err)
	}
	for _, bad := range [][]string{
		{"add", "wang.li", "--role", "viewer"}, // taken
		{"add", "li si", "--role", "viewer"},
		{"add", "admin-token", "--role", "admin"},
		{"add", "li", "--role", "root"},
		{"add", "li"},
		{"add"},
		{"revoke", "nobody"},
		{"list", "extra"},
		{"rename", "x"},
	} {
		if _, _, err := officers(bad...); err == nil {
			t.Errorf("officers %v succeeded", bad)
		}
	}

	admin, err := adminapi.New(st, noRules{}, "bootstrap-admin-token-0123", slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	who, err := admin.Authenticate(ctx, tok)
	if err != nil || who != (officer.Officer{Name: "wang.li", Role: officer.Publisher}) {
		t.Fatalf("the printed token authenticates as %+v, %v", who, err)
	}
	mux := http.NewServeMux()
	admin.Register(mux)
	status := func(path string) int {
		req := httptest.NewRequest("POST", path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := status("/api/rules/reload"); got != 200 {
		t.Errorf("a publisher's reload: %d, want 200", got)
	}

	out, _, err = officers("list")
	if err != nil {
		t.Fatal(err)
	}
	h := officer.HashToken(tok)
	for _, secret := range []string{tok, hex.EncodeToString(h), base64.StdEncoding.EncodeToString(h), `\x`} {
		if strings.Contains(out, secret) {
			t.Errorf("list shows %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "publisher") ||
		!strings.HasPrefix(lines[1], "wang.li ") || !strings.HasSuffix(lines[1], " -") {
		t.Errorf("list:\n%s", out)
	}

	if out, _, err := officers("revoke", "wang.li"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q, %v", out, err)
	}
	if got := status("/api/rules/reload"); got != 401 {
		t.Errorf("a revoked token: %d, want 401", got)
	}
	if _, err := admin.Authenticate(ctx, tok); !errors.Is(err, adminapi.ErrUnauthenticated) {
		t.Errorf("a revoked token authenticates: %v", err)
	}
	out, _, _ = officers("list")
	if l := strings.Split(out, "\n")[1]; !strings.HasPrefix(l, "wang.li ") || strings.HasSuffix(strings.TrimSpace(l), " -") {
		t.Errorf("list after revoke: %s", out)
	}

	rows, err := st.AuditLog(ctx, store.AuditFilter{Actor: officer.CLIName}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range rows {
		actions = append(actions, e.Action+" "+e.Detail["officer"].(string))
	}
	if strings.Join(actions, ",") != "officer.revoke wang.li,officer.add zhang,officer.add wang.li" {
		t.Errorf("audit rows by cli: %v", actions)
	}
}
