package main

// End-to-end tests of policyctl gen. The generator's own properties
// (schema, distributions, eligibility shares) are tested in internal/gen.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// genArgs are the arguments of the golden file's small city.
func genArgs(more ...string) []string {
	return append([]string{"gen", "--residents", "3", "--enterprises", "2", "--seed", "1", "--at", "2026-11-27"}, more...)
}

func TestGenGolden(t *testing.T) {
	t.Parallel()
	stdout, stderr, err := policyctl(t, genArgs()...)
	if err != nil {
		t.Fatalf("gen: %v\n%s", err, stderr)
	}
	golden(t, "gen_small.golden", stdout)
	if want := "5 events: 3 residents, 2 enterprises (seed 1, at 2026-11-27T00:00:00+08:00)\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	kinds := ""
	for _, l := range lines(stdout) {
		var ev struct {
			EventID     string         `json:"event_id"`
			SubjectType string         `json:"subject_type"`
			Type        string         `json:"type"`
			Data        map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		if ev.Type != "snapshot" || ev.EventID == "" || len(ev.Data) == 0 {
			t.Errorf("line %s: not a snapshot event with data", l)
		}
		kinds += ev.SubjectType[:1]
	}
	if kinds != "rerer" {
		t.Errorf("subject types %q, want residents and enterprises interleaved, rerer", kinds)
	}
}

func TestGenOutputFile(t *testing.T) {
	t.Parallel()
	want, _, err := policyctl(t, genArgs()...)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "city.jsonl")
	stdout, _, err := policyctl(t, genArgs("-o", file)...)
	if err != nil {
		t.Fatal(err)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing with -o", stdout)
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("-o %s holds\n%s\nwant what stdout gets\n%s", file, got, want)
	}
}

func TestGenDeterministic(t *testing.T) {
	t.Parallel()
	base := []string{"gen", "--residents", "50", "--enterprises", "10", "--seed", "7", "--at", "2026-11-27T09:30:00+08:00"}
	tests := []struct {
		name string
		args []string
		same bool
	}{
		{"same arguments", base, true},
		{"same instant in UTC", []string{"gen", "--residents", "50", "--enterprises", "10", "--seed", "7", "--at", "2026-11-27T01:30:00Z"}, true},
		{"another seed", []string{"gen", "--residents", "50", "--enterprises", "10", "--seed", "8", "--at", "2026-11-27T09:30:00+08:00"}, false},
		{"another instant", []string{"gen", "--residents", "50", "--enterprises", "10", "--seed", "7", "--at", "2026-11-28T09:30:00+08:00"}, false},
	}
	want, _, err := policyctl(t, base...)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := policyctl(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if (got == want) != tt.same {
				t.Errorf("output equal: %v, want %v", got == want, tt.same)
			}
		})
	}
}

// TestGenThenMatch pipes a generated city into match: every line is a
// valid snapshot, and the rules find both eligible and unknown results.
func TestGenThenMatch(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "city.jsonl")
	if _, stderr, err := policyctl(t, "gen", "--residents", "300", "--enterprises", "40", "--seed", "3", "--at", at, "-o", file); err != nil {
		t.Fatalf("gen: %v\n%s", err, stderr)
	}
	stdout, stderr, err := policyctl(t, "match", "--rules", repoRules, "--profiles", file, "--at", at)
	if err != nil || stderr != "" {
		t.Fatalf("match: %v\n%s", err, stderr)
	}
	results := map[string]int{}
	subjects := map[string]bool{}
	for _, l := range lines(stdout) {
		m, err := decodeMatchLine(l)
		if err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		if err := m.consistent(); err != nil {
			t.Errorf("line %s: %v", l, err)
		}
		results[m.Result]++
		subjects[m.SubjectType] = true
	}
	if results["eligible"] == 0 || results["unknown"] == 0 || !subjects["resident"] || !subjects["enterprise"] {
		t.Errorf("results %v for %v: want eligible and unknown results for both kinds", results, subjects)
	}
}

func TestGenDefaultsToNow(t *testing.T) {
	t.Parallel()
	before := time.Now().Truncate(time.Second)
	stdout, _, err := policyctl(t, "gen", "--residents", "20")
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines(stdout) {
		var ev struct {
			OccurredAt time.Time `json:"occurred_at"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.OccurredAt.Before(before.Add(-time.Hour)) || ev.OccurredAt.After(after) {
			t.Errorf("occurred_at %v is not within the hour before now (%v)", ev.OccurredAt, after)
		}
	}
}

func TestGenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		usage      bool
		wantStderr string
	}{
		{"no counts", []string{"gen", "--seed", "1"}, true, "--residents or --enterprises is required"},
		{"negative count", []string{"gen", "--residents", "-1"}, true, ""},
		{"extra argument", []string{"gen", "--residents", "1", "city.jsonl"}, true, ""},
		{"unknown flag", []string{"gen", "--residents", "1", "--cities", "2"}, true, "flag provided but not defined: -cities"},
		{"bad instant", []string{"gen", "--residents", "1", "--at", "27/11/2026"}, false, ""},
		{"too many", []string{"gen", "--residents", "10000001"}, false, ""},
		{"unwritable file", []string{"gen", "--residents", "1", "-o", filepath.Join(t.TempDir(), "no", "such", "dir.jsonl")}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := policyctl(t, tt.args...)
			if err == nil || errors.Is(err, errUsage) != tt.usage {
				t.Errorf("error %v, want an error that is errUsage: %v", err, tt.usage)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.wantStderr)
			}
		})
	}
}
