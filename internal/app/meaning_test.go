package app

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/sweep"
)

// TestMeaningChanged is issue 10's "a rule that changes meaning without a
// new version is caught": a wording change reloads; a changed condition
// under the same version is refused and the old set keeps serving; a new
// version reloads and starts its backfill; and a service does not start on
// a set that changed meaning while it was down.
func TestMeaningChanged(t *testing.T) {
	e := newEnv(t)
	const policy = "talent-rent-subsidy"
	dir := copyRules(t)
	file := filepath.Join(dir, "talent_"+policy+".yaml")
	orig, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const cond = `expr: resident.employment.status == "employed"`
	if !strings.Contains(string(orig), cond) || !strings.Contains(string(orig), "version: 1\n") {
		t.Fatalf("%s no longer has %q", file, cond)
	}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.cfg.RulesDir = dir
	e.sweeps = func(c *sweep.Config) { c.Plan = 200 * time.Millisecond }
	s := e.start(ingest.Hooks{})
	addr := <-s.addr
	api := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken.Value())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	e.waitFor("the meanings recorded at start", func() bool {
		return e.countOr("SELECT count(*) FROM policy_meanings WHERE policy_id = '"+policy+"' AND version = 1") == 1
	})
	subject := func(id string) {
		t.Helper()
		e.produce(fmt.Appendf(nil, `{"event_id":"ev-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-27T09:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed","employer_uscc":"91350100M000100Y43"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"consent":{"personalized_push":true}}}`, id, id, id))
		e.waitFor("the match of "+id, func() bool {
			return e.countOr("SELECT count(*) FROM matches WHERE subject_id = '"+id+"' AND policy_id = '"+policy+"'") == 1
		})
	}
	subject("m0001")

	// Wording only: the same meaning, the reload goes through.
	write(strings.Replace(string(orig), "title: 人才租房补贴", "title: 青年人才租房补贴", 1))
	if code, body := api("POST", "/api/rules/reload"); code != 200 {
		t.Fatalf("a wording change: %d %s", code, body)
	}

	// A changed condition under the same version: refused.
	changed := strings.Replace(string(orig), cond, `expr: resident.employment.status != "employed"`, 1)
	write(changed)
	code, body := api("POST", "/api/rules/reload")
	if code != 422 {
		t.Fatalf("a changed meaning under version 1: %d %s, want 422", code, body)
	}
	for _, want := range []string{"old set keeps serving", "talent_" + policy + ".yaml", policy + " version 1", "bump version to 2"} {
		if !strings.Contains(body, want) {
			t.Errorf("the refusal %q does not say %q", body, want)
		}
	}
	if got := gather(t, s.reg, `policypush_rules_last_reload_successful`); got != 0 {
		t.Errorf("reload gauge %v after a refused reload, want 0", got)
	}
	subject("m0002") // still matched by the old condition

	// The new meaning under a new version: accepted, and backfilled.
	write(strings.Replace(changed, "version: 1\n", "version: 2\n", 1))
	if code, body := api("POST", "/api/rules/reload"); code != 200 {
		t.Fatalf("the new version: %d %s", code, body)
	}
	if got := gather(t, s.reg, `policypush_rules_last_reload_successful`); got != 1 {
		t.Errorf("reload gauge %v, want 1", got)
	}
	e.waitFor("the backfill of version 2", func() bool {
		return e.countOr("SELECT count(*) FROM sweeps WHERE reason LIKE '%backfill:"+policy+"@2%'") == 1
	})
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// While the service is down, version 2 is edited back: it does not
	// start, and says why.
	write(strings.Replace(string(orig), "version: 1\n", "version: 2\n", 1))
	s = e.start(ingest.Hooks{})
	select {
	case <-s.done:
	case <-s.addr:
		t.Fatal("the service started on a policy that changed meaning under version 2")
	case <-time.After(30 * time.Second):
		t.Fatal("the service neither started nor stopped")
	}
	if s.err == nil || !strings.Contains(s.err.Error(), "bump version to 3") {
		t.Errorf("start: %v, want a refusal that says to bump version", s.err)
	}
}
