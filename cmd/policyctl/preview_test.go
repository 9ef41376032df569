package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	citygen "github.com/policypush/policypush/internal/gen"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

// TestPreview stores a generated city in a database and previews a policy
// against it: the counts agree with match over the same city, and the
// database is left unchanged.
func TestPreview(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	url := pgtest.NewDatabase(t)
	const key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	t.Setenv("POLICYPUSH_DATABASE_URL", url)
	t.Setenv("POLICYPUSH_PII_KEY", key)
	raw, _ := pii.ParseKey(key)
	sealer, _ := pii.NewSealer(raw)
	st, err := store.Open(t.Context(), url, sealer)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	atTime := time.Date(2026, 11, 27, 0, 0, 0, 0, rules.Shanghai)
	var b store.Batch
	var city bytes.Buffer
	err = citygen.Each(citygen.Options{Residents: 400, Enterprises: 0, Seed: 5, At: atTime}, func(typ, id string, ev []byte) error {
		var e struct {
			Data json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(ev, &e); err != nil {
			return err
		}
		b.Profiles = append(b.Profiles, store.Profile{Key: store.SubjectKey{Type: typ, ID: id}, Data: e.Data, Version: 1})
		city.Write(ev)
		city.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(t.Context(), func(tx *store.Tx) error { _, err := tx.Save(t.Context(), &b); return err }); err != nil {
		t.Fatal(err)
	}

	const policy = "contribution-gap-reminder"
	stdout, stderr, err := policyctl(t, "preview", "--rules", repoRules, "--policy", policy, "--at", at, "--json")
	if err != nil {
		t.Fatalf("preview: %v\n%s", err, stderr)
	}
	var rep sweep.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	file := filepath.Join(t.TempDir(), "city.jsonl")
	if err := os.WriteFile(file, city.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	matched, _, err := policyctl(t, "match", "--rules", repoRules, "--profiles", file, "--at", at)
	if err != nil {
		t.Fatal(err)
	}
	var eligible, unknown int
	for _, l := range lines(matched) {
		if !strings.Contains(l, `"policy_id":"`+policy+`"`) {
			continue
		}
		if strings.Contains(l, `"result":"eligible"`) {
			eligible++
		} else {
			unknown++
		}
	}
	if rep.Profiles != 400 || rep.Eligible != eligible || rep.Unknown != unknown || rep.Eligible == 0 {
		t.Errorf("preview %+v; match found %d eligible, %d unknown", rep, eligible, unknown)
	}
	if rep.New != rep.Notifiable || rep.WeChat+rep.SMS+rep.Neither+rep.NoConsent != rep.New {
		t.Errorf("preview counts do not add up: %+v", rep)
	}

	// The table names the counts for an officer.
	stdout, _, err = policyctl(t, "preview", "--rules", repoRules, "--policy", policy, "--at", at)
	if err != nil || !strings.Contains(stdout, "      400  stored resident profiles\n") || !strings.Contains(stdout, "  by SMS\n") {
		t.Errorf("preview table: %v\n%s", err, stdout)
	}
	var n int
	if err := st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM matches`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the preview wrote %d matches (%v)", n, err)
	}
	if _, _, err := policyctl(t, "preview", "--rules", repoRules, "--policy", "no-such-policy", "--at", at); err == nil || !strings.Contains(err.Error(), "no policy") {
		t.Errorf("unknown policy: %v", err)
	}
}
