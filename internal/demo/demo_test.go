package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/console/browsertest"

	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/testlog"
)

const adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// demoDB names a database of the test's own and drops it at the end.
func demoDB(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "policypush_test_demo_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return name
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestDemo runs the showcase on a small city: it completes, its summary
// shows the policy published mid-run, fallbacks and deliveries, and the
// database agrees: one notice per match, every sent notice reported.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	db := demoDB(t)
	var out, errOut bytes.Buffer
	err := Run(t.Context(), Options{
		Residents: 1500, Enterprises: 150, Seed: 7, Exit: true, Database: db,
		Getenv: env(map[string]string{
			"POLICYPUSH_DATABASE_URL":        adminURL,
			"POLICYPUSH_RULES_DIR":           "../../rules",
			"POLICYPUSH_HTTP_ADDR":           "127.0.0.1:0",
			"POLICYPUSH_KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
		}),
		Stdout: &out, Stderr: io.MultiWriter(&errOut, testlog.Writer(t)),
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"per policy:", DefaultPublish + " (published mid-run)", "throughput", "latency"} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary lacks %q:\n%s", want, text)
		}
	}
	// The draft out for comment in rules/ is served while its window is
	// open (issue 15); the demo prints its page.
	if time.Now().Before(time.Date(2027, 1, 1, 0, 0, 0, 0, rules.Shanghai)) &&
		!regexp.MustCompile(`consultation http://127\.0\.0\.1:\d+/consultations/skill-upgrade-subsidy-2027 .*; 3 sample comments await moderation`).MatchString(text) {
		t.Errorf("the summary does not print the draft out for comment:\n%s", text)
	}
	total := regexp.MustCompile(`(?m)^\s*total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(text)
	if total == nil {
		t.Fatalf("no total row:\n%s", text)
	}
	n := func(i int) int { v, _ := strconv.Atoi(total[i]); return v }
	matched, wechat, sms, delivered, fallbacks := n(1), n(2), n(3), n(4), n(5)
	if matched == 0 || wechat == 0 || sms == 0 || delivered == 0 || fallbacks == 0 {
		t.Errorf("total row %v: want matches, sends on both channels, deliveries and fallbacks", total[1:])
	}

	conn, err := pgx.Connect(t.Context(), strings.Replace(adminURL, "/postgres?", "/"+db+"?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var matches, notices, unreported, published int
	// The summary is taken before 金保's grants arrive; a grant changes a
	// profile, and may make its subject eligible for another policy: those
	// later matches are not the summary's.
	if err := conn.QueryRow(t.Context(), `WITH m AS (SELECT * FROM matches WHERE event_id NOT LIKE 'jinbao-pay-%')
SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM outbox o JOIN m ON m.id = o.match_id),
       (SELECT count(*) FROM outbox o JOIN m ON m.id = o.match_id WHERE o.status = 'sent'),
       (SELECT count(*) FROM m WHERE policy_id = $1)`, DefaultPublish).Scan(&matches, &notices, &unreported, &published); err != nil {
		t.Fatal(err)
	}
	if matches != matched || notices != matches || unreported != 0 || published == 0 {
		t.Errorf("database: %d matches (summary %d), %d notices, %d without a receipt, %d of the published policy",
			matches, matched, notices, unreported, published)
	}

	if time.Now().Before(time.Date(2027, 1, 1, 0, 0, 0, 0, rules.Shanghai)) {
		var comments int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM consultation_comments WHERE status = 'pending'`).Scan(&comments); err != nil || comments != 3 {
			t.Errorf("%d pending comments on the draft (%v), want the demo's 3", comments, err)
		}
	}

	// The simulated people opened their pages and answered; the summary
	// counts them as the database has them.
	answers := regexp.MustCompile(`(?m)^\s*answers total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(text)
	if answers == nil {
		t.Fatalf("no answers total row:\n%s", text)
	}
	var opened, claimed, disputed, stopped int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(DISTINCT match_id) FROM outbox WHERE clicked_at IS NOT NULL),
       (SELECT count(*) FROM cases WHERE claimed_at IS NOT NULL),
       (SELECT count(DISTINCT match_id) FROM correction_requests),
       (SELECT count(*) FROM cases WHERE status = 'declined')`).Scan(&opened, &claimed, &disputed, &stopped); err != nil {
		t.Fatal(err)
	}
	var pageOptOuts int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM policy_opt_outs WHERE source = 'page') + (SELECT count(DISTINCT (subject_type, subject_id)) FROM opt_outs WHERE source = 'page')`).Scan(&pageOptOuts); err != nil {
		t.Fatal(err)
	}
	a := func(i int) int { v, _ := strconv.Atoi(answers[i]); return v }
	for _, c := range []struct {
		name     string
		summary  int
		database int
	}{{"opened", a(1), opened}, {"claimed", a(2), claimed}, {"disputed", a(3), disputed}, {"stopped", a(4), stopped}} {
		if c.summary == 0 || c.summary != c.database {
			t.Errorf("%s: summary %d, database %d; want the same, more than 0", c.name, c.summary, c.database)
		}
	}
	// People open links from SMS too (a digest's), not only from WeChat.
	var smsOpened int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE channel = 'sms' AND clicked_at IS NOT NULL`).Scan(&smsOpened); err != nil {
		t.Fatal(err)
	}
	if smsOpened == 0 {
		t.Error("no SMS's link was opened")
	}
	// The reviewers decided the review: true policies' claims, and 金保's
	// grants came back as events: the funnel ends in 元, as the database
	// has it.
	fun := regexp.MustCompile(`(?m)^\s*cases total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+([\d,.]+)`).FindStringSubmatch(text)
	if fun == nil {
		t.Fatalf("no cases total row:\n%s", text)
	}
	var granted, decided, rejected int
	var grantedYuan float64
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM cases WHERE status = 'granted'),
       (SELECT coalesce(sum(granted_amount), 0)::float8 FROM cases WHERE status = 'granted'),
       (SELECT count(*) FROM case_events WHERE actor_kind = 'officer'),
       (SELECT count(*) FROM cases WHERE status = 'rejected')`).Scan(&granted, &grantedYuan, &decided, &rejected); err != nil {
		t.Fatal(err)
	}
	// Every payment 金保 reports carries its amount, so every case it
	// granted has one, whatever old entries the subject's list held.
	var noAmount int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM cases WHERE status = 'granted' AND grant_event_id LIKE 'jinbao-pay-%' AND granted_amount IS NULL`).Scan(&noAmount); err != nil {
		t.Fatal(err)
	}
	if noAmount != 0 {
		t.Errorf("%d cases granted by 金保's events without the amount the events carried", noAmount)
	}
	var fMatched, fSent, fDelivered, fOpened, fClaimed int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM matches),
       (SELECT count(DISTINCT match_id) FROM outbox WHERE sent_at IS NOT NULL),
       (SELECT count(DISTINCT match_id) FROM outbox WHERE delivered_at IS NOT NULL),
       (SELECT count(DISTINCT match_id) FROM outbox WHERE clicked_at IS NOT NULL),
       (SELECT count(*) FROM cases WHERE claimed_at IS NOT NULL)`).Scan(&fMatched, &fSent, &fDelivered, &fOpened, &fClaimed); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{fMatched, fSent, fDelivered, fOpened, fClaimed} {
		if got, _ := strconv.Atoi(fun[i+1]); got != want || want == 0 {
			t.Errorf("funnel step %d: summary %d, database %d; want the same, more than 0", i+1, got, want)
		}
	}
	if g, _ := strconv.Atoi(fun[7]); g == 0 || g != granted {
		t.Errorf("granted: summary %s, database %d; want the same, more than 0", fun[7], granted)
	}
	if y, _ := strconv.ParseFloat(strings.ReplaceAll(fun[10], ",", ""), 64); y <= 0 || math.Abs(y-grantedYuan) > 0.01 {
		t.Errorf("granted 元: summary %s, database %.2f", fun[10], grantedYuan)
	}
	// 免申即享 grants come without a claim: the summary counts them apart,
	// as the database has them, and measures the automatic policy's
	// grants against its matches, so no granted % is above 100.
	var unclaimed int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM cases WHERE status = 'granted' AND claimed_at IS NULL`).Scan(&unclaimed); err != nil {
		t.Fatal(err)
	}
	if u, _ := strconv.Atoi(fun[8]); u == 0 || u != unclaimed {
		t.Errorf("unclaimed grants: summary %s, database %d; want the same, more than 0", fun[8], unclaimed)
	}
	rowRe := regexp.MustCompile(`(?m)^\s*(\S+)( \(automatic\))?(?: ⚠)?\s+(\d+)(?:\s+\d+){5}\s+(\d+)\s+(\d+)\s+(\S+)\s+[\d,.]+\s+\S+\s+\d+\s*$`)
	autoRows := 0
	for _, m := range rowRe.FindAllStringSubmatch(text, -1) {
		pct := strings.TrimSuffix(m[6], "%")
		if v, err := strconv.ParseFloat(pct, 64); m[6] != "—" && (err != nil || v > 100) {
			t.Errorf("%s: granted %s, want at most 100%%", m[1], m[6])
		}
		if m[2] == "" {
			continue
		}
		autoRows++
		var matched, granted int
		if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM matches WHERE policy_id = $1), (SELECT count(*) FROM cases c JOIN matches m ON m.id = c.match_id WHERE m.policy_id = $1 AND c.granted_at IS NOT NULL)`,
			m[1]).Scan(&matched, &granted); err != nil {
			t.Fatal(err)
		}
		if want := strconv.FormatFloat(100*math.Round(10000*float64(granted)/float64(matched))/10000, 'f', 1, 64) + "%"; granted == 0 || m[6] != want {
			t.Errorf("%s (automatic): granted %s, want %s (%d granted of %d matched)", m[1], m[6], want, granted, matched)
		}
	}
	if autoRows != 1 {
		t.Errorf("%d automatic policies' rows in the summary, want 1 (job-retention-refund):\n%s", autoRows, text)
	}
	// What the publication produced shows as the backfill's.
	pubRow := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(DefaultPublish) + `(?: ⚠)?\s+(\d+)(?:\s+\d+){7}\s+\S+\s+[\d,.]+\s+\S+\s+(\d+)\s*$`).FindStringSubmatch(text)
	var backfilled int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM matches WHERE policy_id = $1 AND event_id LIKE 'sweep:backfill:%'`, DefaultPublish).Scan(&backfilled); err != nil {
		t.Fatal(err)
	}
	if pubRow == nil || pubRow[2] != strconv.Itoa(backfilled) || backfilled == 0 || backfilled != published {
		t.Errorf("the published policy's funnel row %q: want its %d matches, all by the backfill (%d)", pubRow, published, backfilled)
	}
	if decided == 0 || rejected == 0 {
		// What became of the decided cases, for the failure's reader.
		if rows, err := conn.Query(t.Context(), `SELECT e.match_id, coalesce(e.from_status, ''), e.to_status, e.actor_kind, e.reason FROM case_events e WHERE e.actor_kind = 'officer' OR e.match_id IN (SELECT match_id FROM case_events WHERE actor_kind = 'officer') ORDER BY e.id`); err == nil {
			for rows.Next() {
				var id int64
				var f, to, k, reason string
				_ = rows.Scan(&id, &f, &to, &k, &reason)
				t.Logf("case %d %s>%s %s %s", id, f, to, k, reason)
			}
			rows.Close()
		}
		t.Errorf("%d officer decisions, %d rejected: want the simulated reviewers' of the review: true policies", decided, rejected)
	}

	// A person who stopped everything may stop a second notice of theirs
	// too: one opt-out, two stopped notices.
	if pageOptOuts == 0 || pageOptOuts > stopped {
		t.Errorf("%d opt-outs from the page, %d notices stopped: want some, no more than the notices", pageOptOuts, stopped)
	}
}

// A PostgreSQL that does not answer gets a hint, not a stack trace.
func TestDemoWithoutPostgreSQL(t *testing.T) {
	var out bytes.Buffer
	err := Run(t.Context(), Options{Residents: 1, Exit: true, Database: "policypush_demo_unused",
		Getenv: env(map[string]string{"POLICYPUSH_DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable"}),
		Stdout: &out, Stderr: &out})
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL does not answer") || !strings.Contains(err.Error(), "pg_ctlcluster") {
		t.Errorf("error %v, want a hint to start PostgreSQL", err)
	}
}

// demoToken is the admin token TestDemoConsole signs in to the console with.
const demoToken = "demo-console-token-0123456789"

// TestDemoConsole serves the demo's console after the summary and reads it
// in headless Chromium: the numbers it shows are the database's, and the
// page has no errors.
func TestDemoConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service and a browser")
	}
	db := demoDB(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	baseURL := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	printed := &lockedWriter{w: &out} // the demo writes while the test reads
	go func() {
		done <- Run(ctx, Options{
			Residents: 800, Enterprises: 80, Seed: 11, Database: db,
			Getenv: env(map[string]string{
				"POLICYPUSH_DATABASE_URL":        adminURL,
				"POLICYPUSH_RULES_DIR":           "../../rules",
				"POLICYPUSH_HTTP_ADDR":           "127.0.0.1:0",
				"POLICYPUSH_KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
				"POLICYPUSH_ADMIN_TOKEN":         demoToken,
			}),
			Stdout: printed, Stderr: testlog.Writer(t),
			Ready: func(u string) { baseURL <- u },
		})
	}()
	var base string
	select {
	case base = <-baseURL:
	case err := <-done:
		t.Fatalf("demo ended before serving: %v", err)
	case <-time.After(5 * time.Minute):
		t.Fatal("the demo did not finish")
	}

	// The console sends the browser to its sign-in page; an officer
	// signs in there with the token.
	p := browsertest.Start(t, base+"/", `#token`)
	p.Screenshot("demo-login-1280x800", 1280, 800)
	p.SignIn(demoToken, `body[data-state="ok"]`)
	p.Screenshot("demo-console-1280x800", 1280, 800)
	texts := p.Texts()
	time.Sleep(250 * time.Millisecond) // a late request's failure gets logged
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("errors in the console: %q", errs)
	}
	conn, err := pgx.Connect(t.Context(), strings.Replace(adminURL, "/postgres?", "/"+db+"?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT m.policy_id, count(*), count(o.delivered_at),
       count(*) FILTER (WHERE c.claimed_at IS NOT NULL),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM correction_requests r WHERE r.match_id = m.id)),
       count(*) FILTER (WHERE c.status = 'declined')
FROM matches m JOIN outbox o ON o.match_id = m.id LEFT JOIN cases c ON c.match_id = m.id GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	checked, answered := 0, 0
	for rows.Next() {
		var policy string
		var matched, delivered, claimed, disputed, stopped int
		if err := rows.Scan(&policy, &matched, &delivered, &claimed, &disputed, &stopped); err != nil {
			t.Fatal(err)
		}
		answered += claimed + disputed + stopped
		for stage, want := range map[string]int{"matched": matched, "delivered": delivered, "claimed": claimed, "disputed": disputed, "stopped": stopped} {
			got := strings.ReplaceAll(texts["policy/"+policy+"/"+stage], ",", "")
			if got != strconv.Itoa(want) {
				t.Errorf("console shows %s %s = %q, the database %d", policy, stage, got, want)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no policy to compare: the demo matched nothing")
	}
	if answered == 0 {
		t.Error("no one claimed, disputed or stopped: the console's answer columns were not compared with anything")
	}
	if texts["rules/last_reload_ok"] == "" || texts["channel/wechat/sent"] == "" || texts["channel/sms/sent"] == "" {
		t.Errorf("the console lacks the reload or channel health: %v", texts)
	}

	// The demo serves the public library and the self-check, says where,
	// and a policy's page gives its reach as the database counts it.
	if text := printed.text(); !strings.Contains(text, base+"/policies") || !strings.Contains(text, base+"/check") {
		t.Errorf("the demo does not print the library's and the self-check's URLs:\n%s", text)
	}
	var reached string
	var sent int
	if err := conn.QueryRow(t.Context(), `SELECT m.policy_id, count(o.sent_at) FROM matches m JOIN outbox o ON o.match_id = m.id
GROUP BY 1 HAVING count(o.sent_at) BETWEEN 10 AND 999 ORDER BY 2 DESC LIMIT 1`).Scan(&reached, &sent); err != nil {
		t.Fatalf("no policy sent to 10 to 999 subjects: %v", err)
	}
	for path, want := range map[string]string{
		"/policies":                   "政策库",
		"/policies/" + reached:        "已向 " + strconv.Itoa(sent) + " ",
		"/check":                      `id="check-submit"`,
		"/public/policies/" + reached: `"id":"` + reached + `"`,
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, want %q in it", path, resp.StatusCode, want)
		}
	}
	// The console's funnel goes down to the 元 granted, as the database
	// has it.
	browsertest.Run(p, chromedp.Steps(chromedp.Navigate(base+"/console/funnel"), chromedp.WaitVisible(chromedp.CSS("#funnel-table"))))
	p.Screenshot("demo-funnel-1280x800", 1280, 800)
	ftexts := p.Texts()
	var grantedCases int
	var grantedYuan float64
	if err := conn.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(granted_amount), 0)::float8 FROM cases WHERE status = 'granted'`).Scan(&grantedCases, &grantedYuan); err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(ftexts["funnel/total/granted"], ",", ""); grantedCases == 0 || got != strconv.Itoa(grantedCases) {
		t.Errorf("the console's funnel shows %q granted, the database %d", got, grantedCases)
	}
	if got, _ := strconv.ParseFloat(strings.ReplaceAll(ftexts["funnel/total/granted_yuan"], ",", ""), 64); math.Abs(got-grantedYuan) > 0.01 {
		t.Errorf("the console's funnel shows %q 元 granted, the database %.2f", ftexts["funnel/total/granted_yuan"], grantedYuan)
	}
	// The grants without a claim are shown apart, and the 免申即享
	// policy's grants are read against its matches, not starred above 100%.
	var unclaimedCases int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM cases WHERE status = 'granted' AND claimed_at IS NULL`).Scan(&unclaimedCases); err != nil {
		t.Fatal(err)
	}
	if got := strings.ReplaceAll(ftexts["funnel/total/granted_unclaimed"], ",", ""); unclaimedCases == 0 || got != strconv.Itoa(unclaimedCases) {
		t.Errorf("the console's funnel shows %q granted without a claim, the database %d", got, unclaimedCases)
	}
	if conv := ftexts["funnel/job-retention-refund/granted/conv"]; !strings.HasPrefix(conv, "占匹配 ") || strings.Contains(conv, "*") {
		t.Errorf("the 免申即享 policy's granted conversion %q, want 占匹配 and at most 100%%", conv)
	}
	for k, v := range ftexts {
		if strings.HasSuffix(k, "/conv") && strings.Contains(v, "*") {
			t.Errorf("%s = %q: a conversion above 100%%", k, v)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
}

// text is what was written so far, read under the writer's lock.
func (l *lockedWriter) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.(*bytes.Buffer).String()
}
