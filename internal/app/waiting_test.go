package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/sweep"
)

// TestNoticeWaitsForChannel is issue 10's "notices wait for a channel":
// eligibility arrives before contact data, and the contact centre's patch
// a day later sends the notice, once; a subject without consent is not
// notified until it consents; a replay of every event sends nothing more;
// and a notice whose policy no longer holds, or was repealed, never goes
// out.
func TestNoticeWaitsForChannel(t *testing.T) {
	e := newEnv(t)
	const policy, file = "talent-rent-subsidy", "talent-rent-subsidy.yaml"
	dir := t.TempDir()
	rule, err := os.ReadFile("../../rules/talent/" + file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), rule, 0o644); err != nil {
		t.Fatal(err)
	}
	e.cfg.RulesDir = dir
	ali := &aliyunSim{accepted: map[string]int{}, phones: map[string]string{}}
	aliSrv := httptest.NewServer(ali)
	defer aliSrv.Close()
	e.cfg.SMSProvider, e.cfg.SMSEndpoint = "aliyun", aliSrv.URL
	e.cfg.SMSAccessKeyID, e.cfg.SMSAccessKeySecret, e.cfg.SMSSignName = "LTAI-wait", "wait-sms-secret-value", "某市人社"
	e.cfg.SMSTemplate = "SMS_DEFAULT"
	e.cfg.QuietHours = config.Window{On: true, From: 21 * time.Hour, To: 8 * time.Hour}
	e.cfg.FrequencyCap = config.Cap{}
	var c clock
	c.set(time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai))
	e.clock = c.now
	e.sweeps = func(c *sweep.Config) { c.Plan = 200 * time.Millisecond }
	s := e.start(ingest.Hooks{})
	addr := <-s.addr

	// snapshot is 金保's record of an eligible resident, with what to add
	// (contact, consent) spliced in.
	snapshot := func(id, extra string) []byte {
		return fmt.Appendf(nil, `{"event_id":"snap-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-27T09:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":%q,"birth_date":"1999-04-12","education":{"level":"master","graduation_date":"2024-06-30","is_regular_college":true,"is_full_time":true},"employment":{"status":"employed","employer_uscc":"91350100M000100Y43"},"insurance":{"pension":{"scheme":"employee","status":"active","cumulative_months":24,"last_paid_month":"2026-10"}},"hukou":{"is_local":true}%s}}`,
			id, id, id, extra)
	}
	// patch is the contact centre's patch of a day later.
	patch := func(id, data string) []byte {
		return fmt.Appendf(nil, `{"event_id":"patch-%s","subject_type":"resident","subject_id":%q,"occurred_at":"2026-11-28T09:30:00+08:00","source":"contact_centre","type":"patch","data":%s}`,
			id, id, data)
	}
	const contact = `{"contact":{"mobile":"13800135001"},"channels":{"sms":{"enabled":true}}}`
	snapshots := [][]byte{
		snapshot("late", `,"consent":{"personalized_push":true}`),                                   // no contact yet
		snapshot("nc", `,"contact":{"mobile":"13800135002"},"consent":{"personalized_push":false}`), // said no
		snapshot("lapse", ``), // no contact, consent unknown
		snapshot("rep_late", `,"consent":{"personalized_push":true}`), // for the repeal
		snapshot("rep_nc", `,"contact":{"mobile":"13800135003"},"consent":{"personalized_push":false}`),
	}
	state := func(id string) string {
		t.Helper()
		var st string
		err := e.db.QueryRow(context.Background(), `SELECT o.channel || ':' || o.status || coalesce(':' || o.reason, '')
FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.subject_id = $1 AND m.policy_id = $2`, id, policy).Scan(&st)
		if err != nil {
			t.Fatalf("the notice of %s: %v", id, err)
		}
		return st
	}
	want := func(when string, states map[string]string) {
		t.Helper()
		for id, w := range states {
			if got := state(id); got != w {
				t.Errorf("%s: %s's notice is %s, want %s", when, id, got, w)
			}
		}
	}
	sent := func() map[string]string { // notice id → phone
		ali.mu.Lock()
		defer ali.mu.Unlock()
		out := map[string]string{}
		for id, n := range ali.accepted {
			if n != 1 {
				t.Errorf("Aliyun accepted notice %s %d times", id, n)
			}
			out[id] = ali.phones[id]
		}
		return out
	}
	settled := func(what string, processed int64) {
		t.Helper()
		e.waitFor(what, func() bool {
			return s.processed.Load() >= processed && e.countOr("SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed', 'sending', 'deferred')") == 0
		})
	}
	// processed counts a batch just before its commit, so the rows it
	// releases may not be visible yet when settled returns: wait for them.
	wantSoon := func(when string, states map[string]string) {
		t.Helper()
		e.waitFor(when, func() bool {
			for id, w := range states {
				if state(id) != w {
					return false
				}
			}
			return true
		})
	}

	e.produce(snapshots...)
	settled("the snapshots", int64(len(snapshots)))
	want("after the snapshots", map[string]string{
		"late": "wechat:waiting:unreachable", "nc": "wechat:waiting:no_consent", "lapse": "wechat:waiting:unreachable",
		"rep_late": "wechat:waiting:unreachable", "rep_nc": "wechat:waiting:no_consent",
	})
	if got := sent(); len(got) != 0 {
		t.Fatalf("sent before any channel or consent: %v", got)
	}

	// The officer sees them waiting.
	api := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken.Value())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if body := api("/api/policies"); !strings.Contains(body, `"waiting_for_channel":3`) || !strings.Contains(body, `"waiting_for_consent":2`) {
		t.Errorf("/api/policies does not count the waiting notices: %s", body)
	}
	if body := api("/console/data.json"); !strings.Contains(body, `"waiting_for_channel":3`) {
		t.Errorf("the console does not count the waiting notices: %s", body)
	}
	// Without a token or a session the console's data is closed.
	if resp, err := http.Get("http://" + addr + "/console/data.json"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the console's data without sign-in: %v %v, want 401", resp, err)
	} else {
		resp.Body.Close()
	}

	// A day later, the contact centre's patches.
	c.add(24 * time.Hour)
	patches := [][]byte{
		patch("late", contact),
		patch("nc", `{"consent":{"personalized_push":true}}`),
		// The contact comes with a job lost: the policy no longer holds.
		patch("lapse", `{"contact":{"mobile":"13800135004"},"employment":{"status":"unemployed"}}`),
	}
	e.produce(patches...)
	processed := int64(len(snapshots) + len(patches))
	settled("the patches", processed)
	wantSoon("after the patches", map[string]string{
		"late": "sms:sent", "nc": "sms:sent", "lapse": "wechat:waiting:unreachable",
	})
	got := sent()
	if len(got) != 2 {
		t.Errorf("sent %v, want the two notices of late and nc", got)
	}
	for _, phone := range got {
		if phone != "13800135001" && phone != "13800135002" {
			t.Errorf("an SMS went to %s", phone)
		}
	}

	if n := gather(t, s.reg, `policypush_notices_released_total{policy="`+policy+`"}`); n != 2 {
		t.Errorf("released notices metric = %v, want 2", n)
	}

	// Redelivery of every event sends nothing more.
	e.produce(append(append([][]byte{}, snapshots...), patches...)...)
	processed += int64(len(snapshots) + len(patches))
	settled("the replay", processed)
	time.Sleep(300 * time.Millisecond) // a dispatcher tick or two
	if again := sent(); len(again) != 2 {
		t.Errorf("after the replay sent %v, want the same two", again)
	}
	if n := gather(t, s.reg, `policypush_notices_released_total{policy="`+policy+`"}`); n != 2 {
		t.Errorf("released notices metric after the replay = %v, want 2", n)
	}
	if n := e.count("SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id WHERE m.policy_id = $1", policy); n != len(snapshots) {
		t.Errorf("%d notices, want one per subject", n)
	}

	// The policy is repealed: its waiting notices are cancelled, and what
	// would have reached them comes too late.
	repealed := strings.Replace(strings.Replace(string(rule), "status: active", "status: repealed", 1), "version: 1", "version: 2", 1)
	if err := os.WriteFile(filepath.Join(dir, file), []byte(repealed), 0o644); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/rules/reload", nil)
	req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken.Value())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("reload with the repeal: %d", resp.StatusCode)
	}
	e.waitFor("the repeal's cancellations", func() bool {
		return e.countOr("SELECT count(*) FROM outbox WHERE status = 'cancelled' AND reason = 'repealed'") == 3
	})
	e.produce(patch("rep_late", contact), patch("rep_nc", `{"consent":{"personalized_push":true}}`))
	processed += 2
	settled("the patches after the repeal", processed)
	time.Sleep(300 * time.Millisecond)
	want("after the repeal", map[string]string{
		"late": "sms:sent", "nc": "sms:sent", "lapse": "wechat:cancelled:repealed",
		"rep_late": "wechat:cancelled:repealed", "rep_nc": "wechat:cancelled:repealed",
	})
	if again := sent(); len(again) != 2 {
		t.Errorf("after the repeal sent %v, want the same two", again)
	}
}
