package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/sweep"
)

// copyRules copies ../../rules into a directory of the test's, leaving out
// the files whose base names are in skip.
func copyRules(t *testing.T, skip ...string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("../../rules", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		for _, s := range skip {
			if d.Name() == s {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, strings.ReplaceAll(strings.TrimPrefix(path, "../../rules/"), "/", "_")), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestProactive is issue 5's "done when": a population is in the
// database; an officer previews a new rule file, adds it and reloads; the
// backfill matches and queues exactly the people the preview predicted,
// once each. A broken file then fails the reload and the old set keeps
// serving; repealing the policy cancels its waiting notices.
func TestProactive(t *testing.T) {
	e := newEnv(t)
	const policy = "talent-rent-subsidy"
	const file = "talent-rent-subsidy.yaml"
	dir := copyRules(t, file, "talent-rent-subsidy_test.yaml")
	e.cfg.RulesDir = dir
	night := time.Date(2026, 11, 27, 22, 0, 0, 0, rules.Shanghai) // quiet hours: notices wait
	e.clock = func() time.Time { return night }
	e.sweeps = func(c *sweep.Config) { c.Plan = 200 * time.Millisecond }
	s := e.start(ingest.Hooks{})
	addr := <-s.addr

	const n = 600
	var events [][]byte
	for i := range n {
		id := fmt.Sprintf("t%04d", i)
		consent := i%10 != 0 // one in ten said no
		contact := `"contact":{"mobile":"13800135678"},`
		if i%7 == 0 {
			contact = "" // unreachable
		}
		events = append(events, fmt.Appendf(nil, `{"event_id":"p-%d","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-27T21:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed","employer_uscc":"91350100M000100Y43"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},%s"consent":{"personalized_push":%t}}}`,
			i, id, id, contact, consent))
	}
	e.produce(events...)
	e.waitFor("the population", func() bool { return s.processed.Load() >= n })
	if got := e.count("SELECT count(*) FROM matches WHERE policy_id = $1", policy); got != 0 {
		t.Fatalf("%d matches for a policy not published yet", got)
	}

	api := func(method, path, body string, auth bool) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if auth {
			req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken.Value())
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := api("POST", "/api/rules/reload", "", false); code != 401 {
		t.Errorf("reload without a token: %d, want 401", code)
	}
	if code, body := api("POST", "/api/notices/requeue", `{"ids":`, true); code != 400 || !strings.Contains(string(body), `"error"`) {
		t.Errorf("malformed body: %d %s, want 400 with a message", code, body)
	}

	// The officer previews the draft before publishing it.
	draft, err := os.ReadFile("../../rules/talent/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := api("GET", "/api/policies/"+policy+"/preview", "", true); code != 404 {
		t.Errorf("preview of a policy not in the directory: %d, want 404", code)
	}
	code, body := api("POST", "/api/policies/preview", string(draft), true)
	if code != 200 {
		t.Fatalf("preview: %d %s", code, body)
	}
	var rep sweep.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Profiles != n || rep.New == 0 || rep.SMS == 0 || rep.NoConsent == 0 || rep.Neither == 0 {
		t.Fatalf("preview %+v: the fixture no longer covers every case", rep)
	}
	if got := e.count("SELECT count(*) FROM matches WHERE policy_id = $1", policy); got != 0 {
		t.Fatal("the preview matched")
	}

	// Publish and reload: the backfill queues exactly the predicted.
	if err := os.WriteFile(filepath.Join(dir, file), draft, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if code, body := api("POST", "/api/rules/reload", "", true); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	e.waitFor("the backfill", func() bool {
		return e.countOr("SELECT count(*) FROM sweeps WHERE status = 'running'") == 0 &&
			e.countOr("SELECT count(*) FROM sweeps WHERE reason LIKE '%backfill:"+policy+"@%'") == 1
	})
	took := time.Since(start)
	if got := e.count("SELECT count(*) FROM matches WHERE policy_id = $1", policy); got != rep.New {
		t.Errorf("backfill matched %d, the preview predicted %d", got, rep.New)
	}
	for _, c := range []struct {
		what  string
		query string
		want  int
	}{
		{"queued for SMS", "SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.channel = 'sms' AND o.status IN ('pending', 'deferred')", rep.SMS},
		{"suppressed without consent", "SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.reason = 'no_consent'", rep.NoConsent},
		{"suppressed as unreachable", "SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.reason = 'unreachable'", rep.Neither},
		{"notices", "SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1", rep.New},
	} {
		if got := e.count(c.query, policy); got != c.want {
			t.Errorf("%s: %d, preview predicted %d", c.what, got, c.want)
		}
	}
	t.Logf("backfill of %d profiles took %v after the reload", n, took)
	if got := gather(t, s.reg, `policypush_rules_last_reload_successful`); got != 1 {
		t.Errorf("reload gauge %v, want 1", got)
	}

	// "Why was I notified": the subject's match, explained, contacts masked.
	code, body = api("GET", "/api/subjects/resident/t0001", "", true)
	if code != 200 || !strings.Contains(string(body), policy) || !strings.Contains(string(body), "138****5678") || strings.Contains(string(body), "13800135678") {
		t.Errorf("subject view: %d %s", code, body)
	}
	code, body = api("GET", "/api/policies", "", true)
	if code != 200 || !strings.Contains(string(body), `"id":"`+policy+`"`) {
		t.Errorf("policies: %d %s", code, body)
	}

	// A broken file: the reload fails, the old set keeps serving.
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("id: broken\nversion: 1\nconditions:\n  - name: x\n    expr: resident.no_such_field > 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, body = api("POST", "/api/rules/reload", "", true)
	if code != 422 || !strings.Contains(string(body), "broken.yaml") || !strings.Contains(string(body), "old set keeps serving") {
		t.Errorf("broken reload: %d %s", code, body)
	}
	if got := gather(t, s.reg, `policypush_rules_last_reload_successful`); got != 0 {
		t.Errorf("reload gauge %v after a failed reload, want 0", got)
	}
	e.produce([]byte(`{"event_id":"late-1","subject_type":"resident","subject_id":"t9999","occurred_at":"2026-11-27T21:30:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":"t9999","birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed","employer_uscc":"91350100M000100Y43"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true},"contact":{"mobile":"13800135678"},"consent":{"personalized_push":true}}}`))
	e.waitFor("a live event after the failed reload", func() bool {
		return e.countOr("SELECT count(*) FROM matches WHERE subject_id = 't9999' AND policy_id = '"+policy+"'") == 1
	})

	// Repeal: the policy's waiting notices are cancelled.
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	repealed := strings.Replace(strings.Replace(string(draft), "status: active", "status: repealed", 1), "version: 1", "version: 2", 1)
	if err := os.WriteFile(filepath.Join(dir, file), []byte(repealed), 0o644); err != nil {
		t.Fatal(err)
	}
	waiting := e.count("SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.status IN ('pending', 'deferred')", policy)
	if waiting == 0 {
		t.Fatal("no notice waiting to be cancelled")
	}
	if code, body := api("POST", "/api/rules/reload", "", true); code != 200 {
		t.Fatalf("reload with the repeal: %d %s", code, body)
	}
	e.waitFor("the repeal's cancellations", func() bool {
		// At least those waiting before: a notice being deferred then
		// (status sending) is waiting too.
		return e.countOr("SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = '"+policy+"' AND o.status = 'cancelled' AND o.reason = 'repealed'") >= waiting
	})
	if got := e.count("SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1 AND o.status IN ('pending', 'deferred')", policy); got != 0 {
		t.Errorf("%d notices of the repealed policy still waiting", got)
	}
}
