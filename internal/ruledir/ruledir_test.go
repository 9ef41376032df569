package ruledir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const rule = `id: %s
version: 1
title: t
domain: employment
subject: resident
department: d
source: {doc: d}
status: active
valid_from: 2020-01-01
conditions:
  - {name: c, expr: resident.hukou.is_local}
`

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "employment/a.yaml", strings.Replace(rule, "%s", "a", 1))
	write(t, dir, "employment/a_test.yaml", "policy: a\ncases:\n  - {name: x, at: 2026-01-01, profile_file: p.json, expect: eligible}\n")
	write(t, dir, "employment/p.json", `{"person_id":"p","hukou":{"is_local":true}}`)
	write(t, dir, "talent/b.yml", "id: [\n")
	write(t, dir, ".git/ignored.yaml", "not: a rule\n")

	d, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rules) != 1 || len(d.Tests) != 1 || len(d.Problems) != 1 {
		t.Fatalf("rules %d tests %d problems %v", len(d.Rules), len(d.Tests), d.Problems)
	}
	if !strings.HasPrefix(d.Problems[0].Error(), filepath.Join(dir, "talent/b.yml")+":1:1: malformed YAML") {
		t.Errorf("problem %q", d.Problems[0])
	}
	if _, problems := d.Compile(); len(problems) != 1 {
		t.Errorf("Compile must keep the parse problem, got %v", problems)
	}
	tc := d.Tests[0].Cases[0]
	data, err := ReadProfile(d.Tests[0], tc)
	if err != nil || !strings.Contains(string(data), `"person_id":"p"`) {
		t.Errorf("ReadProfile: %q, %v", data, err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", strings.Replace(rule, "%s", "a", 1))
	write(t, dir, "b.yaml", strings.Replace(rule, "%s", "a", 1))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `duplicate policy id "a"`) {
		t.Errorf("want the duplicate id, got %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("want an error for a missing directory")
	}
}

func TestIsTestFile(t *testing.T) {
	for name, want := range map[string]bool{
		"a_test.yaml": true, "a_test.yml": true, "a.yaml": false, "test.yaml": false, "a_test.json": false,
	} {
		if IsTestFile(name) != want {
			t.Errorf("IsTestFile(%q) = %v", name, !want)
		}
	}
}

// TestLoadRefusesContactReads: the service loads (at start, reload and
// preview) through the same compile as lint, so it refuses a rule that
// reads a channel field, and the whole set with it.
func TestLoadRefusesContactReads(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", strings.Replace(rule, "%s", "a", 1))
	write(t, dir, "b.yaml", strings.Replace(strings.Replace(rule, "%s", "b", 1), "resident.hukou.is_local", "resident.channels.wechat.followed", 1))
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "b.yaml")+":11:30: ") ||
		!strings.Contains(err.Error(), "a rule decides eligibility, the dispatcher decides reachability") {
		t.Errorf("want b.yaml refused for reading a channel, got %v", err)
	}
}
