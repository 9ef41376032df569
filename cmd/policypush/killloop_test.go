package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"
	"github.com/policypush/policypush/internal/pgtest"

	"github.com/policypush/policypush/internal/testlog"
)

// The kill loop's knobs. The send rates are low so that the notices last
// through the loop: each incarnation sends a few before it is killed.
const (
	killResidents   = 120                    // two events each, one notice each
	killCount       = 24                     // SIGKILLs, at least 20
	killSeed        = 10                     // of the random kill moments
	killPointWait   = 8 * time.Second        // for a chosen point to come, else a random kill
	killSettle      = 60 * time.Second       // after the last restart, for everything to be sent
	killCallDelay   = 15 * time.Millisecond  // each provider call takes this long
	killDedupWindow = 10 * time.Minute       // WeChat's client_msg_id window
	killRandomMin   = 200 * time.Millisecond // a random kill comes this long after /healthz answers…
	killRandomMax   = 4 * time.Second        // …at most: longer than the lease, so that some incarnations settle their predecessors' rows
)

// Kill points. The test learns that one has come from outside the process
// only: the database shows a claim, a fake provider sees a call, or the
// fake answers.
const (
	pointClaim      = "after-claim"       // a row claimed by this incarnation, in the database
	pointCallKept   = "mid-call-accepted" // the provider took the send, then the call stalls
	pointCallLost   = "mid-call-dropped"  // the call stalls before the provider took it
	pointAnswered   = "after-answer"      // the provider answered; the process is stopped before it reads the answer
	pointRandom     = "random"            // some moment after /healthz answered
	pointNotReached = "+not-reached"      // suffix: the point did not come in time, killed anyway
)

// killSchedule is the order of the kill points, repeated. A call point
// names the provider whose next call it catches: most catch Aliyun, which
// does not deduplicate, so that a blind resend there is a duplicate the
// test sees; some catch WeChat, whose repeat of a client_msg_id is no
// duplicate but must still be settled.
var killSchedule = []string{
	pointRandom, pointCallKept + "@aliyun", pointAnswered + "@aliyun", pointClaim,
	pointCallLost + "@aliyun", pointRandom, pointAnswered + "@wechat", pointClaim,
	pointCallKept + "@wechat", pointAnswered + "@aliyun", pointCallLost + "@wechat", pointRandom,
}

// TestKillLoop is issue 10's "a crash costs seconds, not notices": a real
// `policypush serve` is SIGKILLed killCount times, at chosen points and at
// random, and restarted each time, against a kfake broker, PostgreSQL and
// fake WeChat and Aliyun endpoints that log every send they accept. In
// the end every notice the rules call for is accepted exactly once, within
// killSettle of the last restart, and no row is left in flight.
//
// WeChat's fake drops a repeated client_msg_id inside its window as WeChat
// does (answering ok), so a resend there is no duplicate; Aliyun's accepts
// every call, as Aliyun does, and answers QuerySendDetails from what it
// accepted.
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: kills a real serve process over and over")
	}
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)
	broker, err := kafkaembed.Start("127.0.0.1:0", 2, "profile-events")
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	dir := t.TempDir()
	bin := filepath.Join(dir, "policypush")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	migrate := exec.Command(bin, "migrate")
	migrate.Env = append(os.Environ(), "POLICYPUSH_DATABASE_URL="+dbURL)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	prov := newKillProviders()
	wx := httptest.NewServer(http.HandlerFunc(prov.wechat))
	defer wx.Close()
	ali := httptest.NewServer(http.HandlerFunc(prov.aliyun))
	defer ali.Close()
	defer prov.releaseAll() // before the servers close: a stalled handler would hold them

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := lis.Addr().String()
	lis.Close()
	logPath := filepath.Join(dir, "serve.log")
	testlog.CopyFile(t, logPath) // into the captured output, which CI scans
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	env := append(os.Environ(),
		"POLICYPUSH_DATABASE_URL="+dbURL,
		"POLICYPUSH_KAFKA_BROKERS="+broker.Addr(),
		"POLICYPUSH_RULES_DIR=../../rules",
		"POLICYPUSH_HTTP_ADDR="+httpAddr,
		"POLICYPUSH_PII_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"POLICYPUSH_ADMIN_TOKEN=kill-loop-admin-token-0123",
		"POLICYPUSH_BATCH_WAIT=20ms",
		"POLICYPUSH_WECHAT_APPID=wxkillloop000001", "POLICYPUSH_WECHAT_SECRET=kill-loop-wechat-secret",
		"POLICYPUSH_WECHAT_TOKEN=killlooptoken", "POLICYPUSH_WECHAT_TEMPLATE_ID=TPL_KILL",
		"POLICYPUSH_WECHAT_API_BASE="+wx.URL,
		"POLICYPUSH_SMS_PROVIDER=aliyun", "POLICYPUSH_SMS_ENDPOINT="+ali.URL,
		"POLICYPUSH_SMS_ACCESS_KEY_ID=LTAIkillloop", "POLICYPUSH_SMS_ACCESS_KEY_SECRET=kill-loop-sms-secret",
		"POLICYPUSH_SMS_SIGN_NAME=某市人社", "POLICYPUSH_SMS_TEMPLATE=SMS_KILL",
		"POLICYPUSH_SMS_CALLBACK_KEY=kill-loop-callback-key-0123",
		"POLICYPUSH_QUIET_HOURS=off", "POLICYPUSH_FREQUENCY_CAP=off",
		"POLICYPUSH_WECHAT_RATE=2", "POLICYPUSH_SMS_RATE=2",
		"POLICYPUSH_SWEEP_WORKERS=0",
		// Being added with the dispatcher's rework; ignored before.
		"POLICYPUSH_DISPATCH_LEASE=3s",
	)

	var proc *exec.Cmd
	exited := make(chan struct{})
	start := func() time.Time {
		t.Helper()
		at := time.Now()
		proc = exec.Command(bin, "serve")
		proc.Env, proc.Stdout, proc.Stderr = env, logFile, logFile
		if err := proc.Start(); err != nil {
			t.Fatal(err)
		}
		prov.pid.Store(int64(proc.Process.Pid))
		exited = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(proc, exited)
		return at
	}
	kill := func() {
		t.Helper()
		_ = proc.Process.Signal(syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Fatal("a killed serve process did not exit")
		}
		prov.pid.Store(0)
		prov.releaseAll()
	}
	defer func() {
		select {
		case <-exited:
		default:
			_ = proc.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("serve's log (last lines) from %s:\n%s", logPath, tail(logPath, 40))
		}
	}()
	hc := &http.Client{Timeout: time.Second}
	healthy := func(within time.Duration) bool {
		for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := hc.Get("http://" + httpAddr + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return true
				}
			}
			select {
			case <-exited:
				return false
			default:
			}
		}
		return false
	}

	// The city: every event is applied before the first kill, so that a
	// restarted consumer's wait for the group to settle costs nothing.
	kvs := killCity(killResidents)
	want := expectedMatches(t, firstOfEach(kvs))
	if want < 40 {
		t.Fatalf("the city gives %d notices; the fixture no longer qualifies enough", want)
	}
	start()
	if !healthy(60 * time.Second) {
		t.Fatal("serve did not come up")
	}
	p := ingest.NewProducer([]string{broker.Addr()}, "profile-events")
	if err := p.ProduceBatch(ctx, kvs); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()
	count := func(q string, args ...any) int {
		var n int
		if err := db.QueryRow(ctx, q, args...).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	for deadline := time.Now().Add(60 * time.Second); count("SELECT count(*) FROM applied_events") < len(kvs); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d of %d events", count("SELECT count(*) FROM applied_events"), len(kvs))
		}
	}
	t.Logf("%d events applied; the rules call for %d notices; %d accepted before the first kill", len(kvs), want, prov.total())

	// The loop.
	rng := rand.New(rand.NewPCG(killSeed, killSeed))
	reached := map[string]int{}
	var kills []string
	seenDups := 0
	for i := range killCount {
		point := killSchedule[i%len(killSchedule)]
		kind, provider, _ := strings.Cut(point, "@")
		if i > 0 {
			start()
		}
		incarnation := time.Now()
		got := point
		switch kind {
		case pointClaim:
			if !waitFor(killPointWait, exited, func() bool {
				return count("SELECT count(*) FROM outbox WHERE claimed_at >= $1", incarnation) > 0
			}) {
				got += pointNotReached
			}
		case pointCallKept, pointCallLost, pointAnswered:
			tr := prov.arm(kind, provider)
			select {
			case <-tr.hit:
			case <-exited:
				select {
				case <-tr.hit: // the fake killed it after answering
				default:
					got += pointNotReached
				}
			case <-time.After(killPointWait):
				prov.disarm()
				got += pointNotReached
			}
		case pointRandom:
			if healthy(30 * time.Second) {
				time.Sleep(killRandomMin + time.Duration(rng.Int64N(int64(killRandomMax-killRandomMin))))
			}
		}
		kill()
		prov.disarm()
		kills = append(kills, got)
		reached[got]++
		dups := prov.duplicates()
		t.Logf("kill %2d at %-28s accepted %3d/%d, duplicates %d", i+1, got, prov.distinct(), want, len(dups))
		if len(dups) > seenDups {
			t.Errorf("after kill %d: notices accepted more than once: %v", i+1, dups)
			seenDups = len(dups)
		}
	}

	// The last restart: everything must be settled within killSettle.
	last := start()
	settled := func() bool {
		return prov.distinct() >= want &&
			count("SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed', 'sending', 'deferred')") == 0
	}
	ok := waitFor(killSettle, exited, settled)
	took := time.Since(last)

	// The verdict.
	dups := prov.duplicates()
	rows := count("SELECT count(*) FROM outbox")
	var missing []string
	byStatus := map[string]int{}
	dbRows, err := db.Query(ctx, `SELECT o.id, o.status, coalesce(o.reason, ''), o.channel, m.subject_id, m.policy_id FROM outbox o JOIN matches m ON m.id = o.match_id`)
	if err != nil {
		t.Fatal(err)
	}
	perPair := map[string]int{}
	for dbRows.Next() {
		var id int64
		var status, reason, channel, subject, policy string
		if err := dbRows.Scan(&id, &status, &reason, &channel, &subject, &policy); err != nil {
			t.Fatal(err)
		}
		key := status
		if reason != "" {
			key += "/" + reason
		}
		key += "@" + channel
		byStatus[key]++
		n := prov.count(strconv.FormatInt(id, 10))
		perPair[subject+" "+policy] += n
		if n == 0 {
			missing = append(missing, fmt.Sprintf("%d (%s)", id, key))
		}
	}
	dbRows.Close()
	var pairDups []string
	for pair, n := range perPair {
		if n > 1 {
			pairDups = append(pairDups, fmt.Sprintf("%s×%d", pair, n))
		}
	}
	slices.Sort(pairDups)
	summary := fmt.Sprintf("kill loop: %d kills %v; points %v; %d notices expected, %d outbox rows, %d accepted (WeChat %d, SMS %d), %d duplicates by notice id %v, %d by subject and policy; %d missing; outbox %v; settled %t in %s after the last restart",
		len(kills), kills, reached, want, rows, prov.distinct(), prov.byProvider("wechat"), prov.byProvider("aliyun"),
		len(dups), dups, len(pairDups), len(missing), byStatus, ok, took.Round(100*time.Millisecond))
	t.Log(summary)
	fmt.Println(summary)

	if rows != want {
		t.Errorf("%d outbox rows, want %d", rows, want)
	}
	if len(dups) > 0 || len(pairDups) > 0 {
		t.Errorf("notices accepted more than once: by notice id %v; by subject and policy %v", dups, pairDups)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		t.Errorf("%d notices never accepted within %s of the last restart, such as %v", len(missing), killSettle, missing[:min(len(missing), 20)])
	}
	if n := count("SELECT count(*) FROM outbox WHERE status IN ('pending', 'claimed', 'sending', 'deferred')"); n != 0 {
		t.Errorf("%d notices still pending, claimed, sending or deferred %s after the last restart", n, killSettle)
	}
	if n := count("SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'delivered')"); n != 0 {
		t.Errorf("%d notices neither sent nor delivered: %v", n, byStatus)
	}

	// A clean stop ends the run.
	_ = proc.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Error("serve ignored SIGTERM")
	}
}

// killCity is n residents, each with a snapshot and a later repeat of it
// under a new event id (which must send nothing more), all consenting and
// reachable: the even ones by WeChat (following) and SMS, the odd ones by
// SMS only. The profile is a recent local graduate in work.
func killCity(n int) []ingest.KV {
	var kvs []ingest.KV
	for i := range n {
		id := fmt.Sprintf("kl_%03d", i)
		data := map[string]any{
			"person_id": id, "birth_date": "1999-04-12",
			"education":  map[string]any{"level": "master", "graduation_date": "2024-06-30", "is_regular_college": true, "is_full_time": true},
			"employment": map[string]any{"status": "employed"},
			"insurance":  map[string]any{"pension": map[string]any{"scheme": "employee", "status": "active", "cumulative_months": 24, "last_paid_month": "2026-10"}},
			"hukou":      map[string]any{"is_local": true},
			"contact":    map[string]any{"mobile": fmt.Sprintf("1390000%04d", i)},
			"consent":    map[string]any{"personalized_push": true},
		}
		if i%2 == 0 {
			data["channels"] = map[string]any{"wechat": map[string]any{"openid": fmt.Sprintf("okill_%020d", i), "followed": true}}
		}
		for j, at := range []string{"2026-11-27T09:00:00+08:00", "2026-11-27T10:00:00+08:00"} {
			ev, _ := json.Marshal(map[string]any{
				"event_id": fmt.Sprintf("kill-%d-%d", i, j), "subject_type": "resident", "subject_id": id,
				"occurred_at": at, "source": "jinbao", "type": "snapshot", "data": data,
			})
			kvs = append(kvs, ingest.KV{Key: []byte(id), Value: ev})
		}
	}
	return kvs
}

// firstOfEach is the first event of each subject: the later ones repeat
// it, and expectedMatches counts per event.
func firstOfEach(kvs []ingest.KV) []ingest.KV {
	seen := map[string]bool{}
	var first []ingest.KV
	for _, kv := range kvs {
		if !seen[string(kv.Key)] {
			seen[string(kv.Key)] = true
			first = append(first, kv)
		}
	}
	return first
}

// waitFor polls cond until it holds (true), or within passes or the
// process exits (false).
func waitFor(within time.Duration, exited <-chan struct{}, cond func() bool) bool {
	for deadline := time.Now().Add(within); ; time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
		select {
		case <-exited:
			return cond()
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// killProviders are fake WeChat and Aliyun endpoints that log every send
// they accept, keyed by notice id (client_msg_id, OutId), and can be armed
// to catch the next call at a kill point.
type killProviders struct {
	pid  atomic.Int64 // the serve process, 0 while none runs
	trap atomic.Pointer[killTrap]

	mu       sync.Mutex
	accepted map[string][]string // notice id → provider of each accepted send
	wxMsg    map[string]wxSend   // client_msg_id → the send WeChat kept
	sms      []smsSend
	stalled  []chan struct{} // released after the kill
	seq      int
}

type wxSend struct {
	openid, msgID string
	at            time.Time
}

type smsSend struct {
	phone, out string
	at         time.Time
}

// killTrap catches one call to provider (wechat, aliyun).
type killTrap struct {
	point    string
	provider string
	fired    atomic.Bool
	hit      chan struct{} // closed once the call is caught
}

func newKillProviders() *killProviders {
	return &killProviders{accepted: map[string][]string{}, wxMsg: map[string]wxSend{}}
}

func (p *killProviders) arm(point, provider string) *killTrap {
	tr := &killTrap{point: point, provider: provider, hit: make(chan struct{})}
	p.trap.Store(tr)
	return tr
}

func (p *killProviders) disarm() { p.trap.Store(nil) }

// releaseAll lets stalled calls end; their client is dead by then.
func (p *killProviders) releaseAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.stalled {
		close(c)
	}
	p.stalled = nil
}

// call runs one send to provider through the armed trap, if it is for
// provider: accept records the send and returns the answer's body; it is
// called at most once.
func (p *killProviders) call(w http.ResponseWriter, provider string, accept func() string) {
	time.Sleep(killCallDelay)
	tr := p.trap.Load()
	if tr == nil || tr.provider != provider || !tr.fired.CompareAndSwap(false, true) {
		io.WriteString(w, accept())
		return
	}
	switch tr.point {
	case pointCallKept, pointCallLost:
		if tr.point == pointCallKept {
			accept()
		}
		release := make(chan struct{})
		p.mu.Lock()
		p.stalled = append(p.stalled, release)
		p.mu.Unlock()
		close(tr.hit)
		<-release
	case pointAnswered:
		// Stopped, the process cannot read the answer that lands in its
		// socket; then it dies: answered, never recorded.
		body := accept()
		pid := int(p.pid.Load())
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGSTOP)
		}
		io.WriteString(w, body)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		time.Sleep(5 * time.Millisecond) // the bytes reach the socket
		close(tr.hit)
		if pid > 0 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	default:
		io.WriteString(w, accept())
	}
}

func (p *killProviders) wechat(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var body struct {
		ToUser      string `json:"touser"`
		ClientMsgID string `json:"client_msg_id"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
	switch r.URL.Path {
	case "/cgi-bin/stable_token", "/cgi-bin/token":
		io.WriteString(w, `{"access_token":"KILL_LOOP_ACCESS_TOKEN","expires_in":7200}`)
	case "/cgi-bin/message/template/send":
		if r.URL.Query().Get("access_token") != "KILL_LOOP_ACCESS_TOKEN" {
			io.WriteString(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
			return
		}
		p.call(w, "wechat", func() string {
			p.mu.Lock()
			defer p.mu.Unlock()
			// A repeat inside the window is dropped, and answered as the
			// first was.
			if s, ok := p.wxMsg[body.ClientMsgID]; ok && body.ClientMsgID != "" && s.openid == body.ToUser && time.Since(s.at) < killDedupWindow {
				return fmt.Sprintf(`{"errcode":0,"errmsg":"ok","msgid":%s}`, s.msgID)
			}
			p.seq++
			s := wxSend{openid: body.ToUser, msgID: strconv.Itoa(3_000_000 + p.seq), at: time.Now()}
			p.wxMsg[body.ClientMsgID] = s
			p.accepted[body.ClientMsgID] = append(p.accepted[body.ClientMsgID], "wechat")
			return fmt.Sprintf(`{"errcode":0,"errmsg":"ok","msgid":%s}`, s.msgID)
		})
	default:
		http.NotFound(w, r)
	}
}

// aliyun is SendSms, which accepts every call (Aliyun does not
// deduplicate), and QuerySendDetails, answered from the accepted sends:
// SendStatus 3 (delivered) a second after the send, 1 before.
func (p *killProviders) aliyun(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	w.Header().Set("Content-Type", "application/json")
	action := r.Header.Get("x-acs-action")
	if !strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-HMAC-SHA256 ") {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"Code":"IncompleteSignature","Message":"unsigned"}`)
		return
	}
	switch action {
	case "SendSms":
		phone, out := r.Form.Get("PhoneNumbers"), r.Form.Get("OutId")
		p.call(w, "aliyun", func() string {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.seq++
			p.sms = append(p.sms, smsSend{phone: phone, out: out, at: time.Now()})
			p.accepted[out] = append(p.accepted[out], "aliyun")
			return fmt.Sprintf(`{"Code":"OK","Message":"OK","BizId":"%d^0","RequestId":"kill-%d"}`, 900_000+p.seq, p.seq)
		})
	case "QuerySendDetails":
		phone, date := r.Form.Get("PhoneNumber"), r.Form.Get("SendDate")
		size, _ := strconv.Atoi(r.Form.Get("PageSize"))
		page, _ := strconv.Atoi(r.Form.Get("CurrentPage"))
		if phone == "" || len(date) != 8 || size < 1 || size > 50 || page < 1 {
			io.WriteString(w, `{"Code":"isv.INVALID_PARAMETERS","Message":"PhoneNumber, SendDate, PageSize and CurrentPage are required","RequestId":"q"}`)
			return
		}
		cst := time.FixedZone("CST", 8*3600)
		var all []map[string]any
		p.mu.Lock()
		for _, s := range p.sms {
			if s.phone != phone || s.at.In(cst).Format("20060102") != date {
				continue
			}
			status := 1
			if time.Since(s.at) > time.Second {
				status = 3
			}
			all = append(all, map[string]any{"OutId": s.out, "SendStatus": status, "PhoneNum": s.phone, "ErrCode": "DELIVERED",
				"TemplateCode": "SMS_KILL", "SendDate": s.at.In(cst).Format("2006-01-02 15:04:05")})
		}
		p.mu.Unlock()
		from := min((page-1)*size, len(all))
		_ = json.NewEncoder(w).Encode(map[string]any{"Code": "OK", "Message": "OK", "RequestId": "q", "TotalCount": strconv.Itoa(len(all)),
			"SmsSendDetailDTOs": map[string]any{"SmsSendDetailDTO": all[from:min(from+size, len(all))]}})
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"Code":"InvalidAction.NotFound","Message":"unknown action"}`)
	}
}

func (p *killProviders) count(notice string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted[notice])
}

func (p *killProviders) distinct() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.accepted)
}

func (p *killProviders) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.accepted {
		n += len(a)
	}
	return n
}

func (p *killProviders) byProvider(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, a := range p.accepted {
		for _, x := range a {
			if x == name {
				n++
			}
		}
	}
	return n
}

// duplicates are the notice ids accepted more than once, with how often
// and by whom.
func (p *killProviders) duplicates() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var d []string
	for id, a := range p.accepted {
		if len(a) > 1 {
			d = append(d, fmt.Sprintf("%s:%s", id, strings.Join(a, "+")))
		}
	}
	slices.Sort(d)
	return d
}
