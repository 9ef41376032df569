// Package demo is policypush's one-command showcase (policypush demo). It
// needs nothing but PostgreSQL: it makes a database of its own, starts the
// service with the embedded Kafka broker and WeChat and Aliyun simulators
// that speak the providers' wire formats, streams a generated city through
// the real pipeline, publishes one more policy mid-run to show a backfill,
// waits for the receipts, and prints what happened, per policy.
package demo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/policypush/policypush/internal/app"
	"github.com/policypush/policypush/internal/config"
	citygen "github.com/policypush/policypush/internal/gen"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// Options configure a demo run.
type Options struct {
	Residents, Enterprises int
	Seed                   int64
	Exit                   bool   // stop after the summary instead of serving until ctx ends
	Publish                string // the policy held back and published mid-run; "" for the default
	Database               string // the demo's own database, recreated; "" for Database
	Getenv                 func(string) string
	Stdout, Stderr         io.Writer
	// Ready, if set, is called with the service's base URL once it serves.
	Ready func(baseURL string)
}

// DefaultPublish is the policy the demo holds back and publishes mid-run.
const DefaultPublish = "talent-rent-subsidy"

// Database is the name of the demo's own database, recreated every run.
const Database = "policypush_demo"

// Run runs the demo.
func Run(ctx context.Context, o Options) error {
	if o.Publish == "" {
		o.Publish = DefaultPublish
	}
	if o.Database == "" {
		o.Database = Database
	}
	cfg, err := config.Load(o.Getenv, "", config.NeedDatabase)
	if err != nil {
		return err
	}
	// The progress line is printed from its own goroutine.
	out := &lockedWriter{w: o.Stdout}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	log := slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	dbURL, err := freshDatabase(ctx, cfg.DatabaseURL.Value(), o.Database)
	if err != nil {
		return err
	}
	say("database     %s (recreated)", o.Database)

	rulesDir, held, err := holdBack(cfg.RulesDir, o.Publish)
	if err != nil {
		return err
	}
	defer os.RemoveAll(rulesDir)

	// The service's configuration: the demo's database, the simulators, no
	// quiet hours (a demo runs at any hour) and generous rates.
	cfg.DatabaseURL = config.Secret(dbURL)
	cfg.RulesDir = rulesDir
	if cfg.PIIKey == "" {
		cfg.PIIKey = config.Secret(randomKey())
	}
	if cfg.AdminToken == "" {
		cfg.AdminToken = config.Secret(randomHex(16))
	}
	cfg.KafkaEmbedded, cfg.KafkaBrokers = true, nil
	if cfg.KafkaEmbeddedAddr, err = freeAddr(cfg.KafkaEmbeddedAddr); err != nil {
		return err
	}
	if cfg.HTTPAddr, err = freeAddr(cfg.HTTPAddr); err != nil {
		return err
	}
	base := "http://" + cfg.HTTPAddr
	// The links the notices carry lead to this service (config's default
	// is built from the address asked for, whose port may be 0), unless
	// the environment names a public URL.
	if strings.TrimSpace(o.Getenv("POLICYPUSH_PUBLIC_URL")) == "" {
		cfg.PublicURL = base
	}
	wechatToken, smsKey := randomHex(8), randomHex(16)
	sim, err := newSims(wechatToken, smsKey, log)
	if err != nil {
		return err
	}
	cfg.WeChatAppID, cfg.WeChatSecret, cfg.WeChatToken = "wxdemo0000000001", config.Secret(randomHex(16)), config.Secret(wechatToken)
	cfg.WeChatAPIBase, cfg.WeChatTemplateID = sim.wechatURL, "TPL_POLICY_MATCH"
	cfg.SMSProvider, cfg.SMSEndpoint = "aliyun", sim.smsURL
	cfg.SMSCallbackKey = config.Secret(smsKey)
	cfg.SMSAccessKeyID, cfg.SMSAccessKeySecret, cfg.SMSSignName, cfg.SMSTemplate = "LTAIdemo", config.Secret(randomHex(16)), "某市人社", "SMS_DEMO"
	// A person with several notices at once gets one SMS, which links to
	// their page (${link}): the catalogue's own SMS carry no link, so this
	// is how the simulated phones open their pages too.
	if cfg.SMSDigestTemplate == "" {
		cfg.SMSDigestTemplate = "SMS_DEMO_DIGEST"
	}
	cfg.QuietHours = config.Window{}
	cfg.WeChatRate, cfg.SMSRate = 2000, 2000
	// The simulated people all open their pages from 127.0.0.1: a per-IP
	// limit would turn most of them away.
	cfg.PublicRate = 0
	// The demo's payment office pays approved cases at once, without the
	// days of 公示 a real list waits.
	cfg.PublicityDays = 0

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	simDone := make(chan error, 1)
	go func() { simDone <- sim.run(ctx) }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var consumed atomic.Int64
	ready := make(chan string, 1)
	serveDone := make(chan error, 1)
	go func() {
		serveDone <- app.Serve(ctx, cfg, log, app.Options{
			Registry: reg,
			Ready:    func(string) { ready <- base },
			Hooks:    ingest.Hooks{OnBatch: func(n int, _ time.Duration, _ int) { consumed.Add(int64(n)) }},
		})
	}()
	select {
	case <-ready:
	case err := <-serveDone:
		return fmt.Errorf("the service did not start: %w", err)
	}
	sim.target.Store(&base)
	say("service      %s  (console /, metrics /metrics, API /api with the token below)", base)
	say("public       %s/policies (the policy library), %s/check (the self-check), JSON under %s/public/", base, base, base)
	say("kafka        %s (embedded)", cfg.KafkaEmbeddedAddr)
	say("simulators   WeChat %s, Aliyun SMS %s", sim.wechatURL, sim.smsURL)
	say("")

	st, err := store.Open(ctx, dbURL, nil)
	if err != nil {
		return err
	}
	defer st.Close()

	// Stream the city.
	at := time.Now().In(rules.Shanghai)
	total := int64(o.Residents + o.Enterprises)
	say("streaming    %d residents and %d enterprises (seed %d) through Kafka → rules → outbox → WeChat/SMS", o.Residents, o.Enterprises, o.Seed)
	start := time.Now()
	progress := startProgress(ctx, out, st, &consumed, total)
	if err := produce(ctx, cfg, citygen.Options{Residents: o.Residents, Enterprises: o.Enterprises, Seed: o.Seed, At: at}); err != nil {
		return err
	}
	if err := wait(ctx, serveDone, 10*time.Minute, func() bool { return consumed.Load() >= total }); err != nil {
		return fmt.Errorf("waiting for the stream to be consumed: %w", err)
	}
	ingestTook := time.Since(start)

	// Publish the held-back policy: the backfill finds everyone it covers.
	say("\npublishing   %s (copied into the rule directory, then POST /api/rules/reload)", o.Publish)
	if err := os.WriteFile(filepath.Join(rulesDir, filepath.Base(held.name)), held.data, 0o644); err != nil {
		return err
	}
	if err := reload(ctx, base, cfg.AdminToken.Value()); err != nil {
		return err
	}
	if err := wait(ctx, serveDone, 5*time.Minute, func() bool {
		n, err := st.RemainingChunks(ctx)
		return err == nil && n == 0
	}); err != nil {
		return fmt.Errorf("waiting for the backfill: %w", err)
	}

	// Let the dispatcher send, and the simulators report back.
	// The people who open their notices answer after the receipt: wait
	// for the last of them too.
	if err := wait(ctx, serveDone, 10*time.Minute, func() bool { return sim.busy.Load() == 0 && settled(ctx, st) }); err != nil {
		return fmt.Errorf("waiting for the notices: %w", err)
	}
	progress()
	took := time.Since(start)

	summary, err := st.Summary(ctx)
	if err != nil {
		return err
	}
	printSummary(out, summary, o.Publish)
	answers, err := st.AnswerCounts(ctx)
	if err != nil {
		return err
	}
	printAnswers(out, answers, o.Publish)

	// The officers review, the payment office pays, 金保 reports back.
	set, err := ruledir.Load(rulesDir)
	if err != nil {
		return err
	}
	rev, err := reviewAndPay(ctx, cfg, st, set, base, cfg.AdminToken.Value())
	if err != nil {
		return fmt.Errorf("reviewing and paying: %w", err)
	}
	if err := wait(ctx, serveDone, 5*time.Minute, func() bool { return consumed.Load() >= total+int64(rev.Events) }); err != nil {
		return fmt.Errorf("waiting for the grants: %w", err)
	}
	var fun funnelReport
	if _, err := (api{base: base, token: cfg.AdminToken.Value(), client: http.DefaultClient}).do(ctx, http.MethodGet, "/api/funnel", nil, &fun); err != nil {
		return err
	}
	printFunnel(out, fun, rev)
	p50, p99 := quantiles(reg, "policypush_event_latency_seconds")
	var notices int64
	for _, s := range summary {
		notices += s.SentWeChat + s.SentSMS
	}
	say("\nthroughput   %d events in %.1fs: %.0f events/s through ingest and matching; %d notices sent in %.1fs in all",
		total, ingestTook.Seconds(), float64(total)/ingestTook.Seconds(), notices, took.Seconds())
	say("latency      event to committed match and notice, the whole city arriving at once: p50 %s, p99 %s", fmtSeconds(p50), fmtSeconds(p99))
	showConsultations(ctx, out, base, rulesDir, time.Now())
	say("admin token  %s", cfg.AdminToken.Value())

	if o.Ready != nil {
		o.Ready(base)
	}
	if !o.Exit {
		say("\nserving      %s — the console is at %s/ (sign in with the admin token); the library at %s/policies, the self-check at %s/check; Ctrl-C stops", base, base, base, base)
		select {
		case <-ctx.Done():
		case err := <-serveDone:
			return err
		}
	}
	cancel()
	if err := <-serveDone; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	<-simDone
	return nil
}

// freshDatabase drops and creates the demo's database on the server of
// url, and returns the URL of the new database. A server that does not
// answer gets a hint, not a stack of driver errors.
func freshDatabase(ctx context.Context, raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", errors.New("POLICYPUSH_DATABASE_URL must be a postgres:// URL for the demo")
	}
	admin := *u
	admin.Path = "/postgres"
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, admin.String())
	if err != nil {
		return "", fmt.Errorf("PostgreSQL does not answer at %s (%v).\n"+
			"The demo needs a running PostgreSQL: start it (on Debian: pg_ctlcluster 15 main start), "+
			"or point POLICYPUSH_DATABASE_URL at one; the demo creates its own database %q there", u.Host, err, name)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("drop the demo database: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", fmt.Errorf("create the demo database: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

type heldFile struct {
	name string
	data []byte
}

// holdBack copies the rule directory to a temporary one without the rule
// file of policy id, which it returns to publish later.
func holdBack(dir, id string) (string, heldFile, error) {
	tmp, err := os.MkdirTemp("", "policypush-demo-rules-")
	if err != nil {
		return "", heldFile{}, err
	}
	var held heldFile
	err = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		name := strings.ReplaceAll(rel, string(filepath.Separator), "_")
		if d.Name() == id+".yaml" {
			held = heldFile{name: name, data: data}
			return nil
		}
		return os.WriteFile(filepath.Join(tmp, name), data, 0o644)
	})
	if err == nil && held.name == "" {
		err = fmt.Errorf("no rule file %s.yaml under %s to publish mid-run", id, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", heldFile{}, fmt.Errorf("rules from %s (run the demo from the repository's root, or set POLICYPUSH_RULES_DIR): %w", dir, err)
	}
	return tmp, held, nil
}

// freeAddr returns addr if it can be listened on, else a free port on the
// same host, so that a demo runs beside another policypush.
func freeAddr(addr string) (string, error) {
	if lis, err := net.Listen("tcp", addr); err == nil {
		defer lis.Close()
		return lis.Addr().String(), nil // the port chosen, for ":0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer lis.Close()
	return lis.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomKey() string {
	b := make([]byte, pii.KeySize)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// produce publishes the city's snapshot events to the embedded broker.
func produce(ctx context.Context, cfg *config.Config, o citygen.Options) error {
	p := ingest.NewProducer([]string{cfg.KafkaEmbeddedAddr}, cfg.KafkaTopic)
	defer p.Close()
	var batch []ingest.KV
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := p.ProduceBatch(ctx, batch)
		batch = batch[:0]
		return err
	}
	err := citygen.Each(o, func(_, id string, ev []byte) error {
		batch = append(batch, ingest.KV{Key: []byte(id), Value: ev})
		if len(batch) == 2000 {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("produce the city: %w", err)
	}
	return nil
}

func reload(ctx context.Context, base, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/rules/reload", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload: %s: %s", resp.Status, body)
	}
	return nil
}

// settled reports whether every notice has been dealt with: none waits to
// be sent now (deferred ones wait for their time: the frequency cap), none
// is in flight, and every sent one has its receipt.
func settled(ctx context.Context, st *store.Store) bool {
	sum, err := st.Summary(ctx)
	if err != nil {
		return false
	}
	var waiting int64
	for _, s := range sum {
		waiting += s.Waiting
	}
	if waiting > 0 {
		return false
	}
	var unreported int
	err = st.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'sent'`).Scan(&unreported)
	return err == nil && unreported == 0
}

// wait polls cond until it holds, the service stops or timeout passes.
func wait(ctx context.Context, serveDone <-chan error, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-serveDone:
			return fmt.Errorf("the service stopped: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// startProgress prints a progress line every second until the returned
// function is called (which prints the last one).
func startProgress(ctx context.Context, out io.Writer, st *store.Store, consumed *atomic.Int64, total int64) func() {
	last := ""
	line := func() {
		var matches, sent, delivered int64
		_ = st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM matches), count(sent_at), count(delivered_at) FROM outbox`).Scan(&matches, &sent, &delivered)
		l := fmt.Sprintf("  events %7d/%d   matches %7d   notices sent %7d   delivered %7d\n", consumed.Load(), total, matches, sent, delivered)
		if l != last { // quiet while nothing moves
			fmt.Fprint(out, l)
			last = l
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				line()
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		line()
	}
}

func printSummary(out io.Writer, sum []store.PolicySummary, published string) {
	fmt.Fprintln(out, "\nper policy:")
	label := func(id string) string {
		if id == published {
			return id + " (published mid-run)"
		}
		return id
	}
	// The policy column is padded to one width so that it reads left
	// aligned while the numbers are right aligned.
	width := len("total")
	for _, s := range sum {
		width = max(width, len(label(s.PolicyID)))
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	pad := func(name string) string { return name + strings.Repeat(" ", width-len(name)) }
	fmt.Fprintf(tw, "%s\tmatched\tsent WeChat\tsent SMS\tdelivered\tfallbacks\tdeferred\tsuppressed\ton hold\tfailed\t\n", pad("policy"))
	var t store.PolicySummary
	sort.Slice(sum, func(i, j int) bool { return sum[i].Matched > sum[j].Matched })
	for _, s := range sum {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", pad(label(s.PolicyID)), s.Matched, s.SentWeChat, s.SentSMS, s.Delivered, s.Fallbacks, s.Deferred, s.Suppressed, s.OnHold, s.Failed)
		t.Matched += s.Matched
		t.SentWeChat += s.SentWeChat
		t.SentSMS += s.SentSMS
		t.Delivered += s.Delivered
		t.Fallbacks += s.Fallbacks
		t.Deferred += s.Deferred
		t.Suppressed += s.Suppressed
		t.OnHold += s.OnHold
		t.Failed += s.Failed
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", pad("total"), t.Matched, t.SentWeChat, t.SentSMS, t.Delivered, t.Fallbacks, t.Deferred, t.Suppressed, t.OnHold, t.Failed)
	_ = tw.Flush()
	fmt.Fprintln(out, "deferred: over the frequency cap (POLICYPUSH_FREQUENCY_CAP), sent when the period allows; suppressed: opted out or unreachable at send time; "+
		"on hold: no channel reached the subject, or no consent, when matched; a later profile event that brings either sends it")
}

// printAnswers prints, per policy, how many people opened their notice's
// page and how many claimed, disputed or stopped there, as the database
// has them.
func printAnswers(out io.Writer, ans []store.AnswerCount, published string) {
	fmt.Fprintln(out, "\nanswers on the notice page, per policy:")
	label := func(id string) string {
		if id == published {
			return id + " (published mid-run)"
		}
		return id
	}
	width := len("answers total")
	for _, a := range ans {
		width = max(width, len(label(a.PolicyID)))
	}
	pad := func(name string) string { return name + strings.Repeat(" ", width-len(name)) }
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\topened\tclaimed\tdisputed\tstopped\t\n", pad("policy"))
	var t store.AnswerCount
	sort.SliceStable(ans, func(i, j int) bool { return ans[i].Opened > ans[j].Opened })
	for _, a := range ans {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", pad(label(a.PolicyID)), a.Opened, a.Claimed, a.Disputed, a.Stopped)
		t.Opened += a.Opened
		t.Claimed += a.Claimed
		t.Disputed += a.Disputed
		t.Stopped += a.Stopped
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", pad("answers total"), t.Opened, t.Claimed, t.Disputed, t.Stopped)
	_ = tw.Flush()
	fmt.Fprintln(out, "opened: the notice's link followed (/r/ to /n/); claimed: 确认申领; disputed: 信息有误, a correction request to the data's source; "+
		"stopped: 不再接收, of the policy or of every notice")
}

// quantiles estimates the 50th and 99th percentiles of a histogram in reg
// from its buckets, as Prometheus's histogram_quantile does.
func quantiles(reg *prometheus.Registry, name string) (p50, p99 float64) {
	families, err := reg.Gather()
	if err != nil {
		return math.NaN(), math.NaN()
	}
	for _, f := range families {
		if f.GetName() != name || len(f.GetMetric()) == 0 {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		q := func(p float64) float64 {
			rank := p * float64(h.GetSampleCount())
			var prevCount, prevBound float64
			for _, b := range h.GetBucket() {
				c := float64(b.GetCumulativeCount())
				if c >= rank {
					if c == prevCount {
						return b.GetUpperBound()
					}
					return prevBound + (b.GetUpperBound()-prevBound)*(rank-prevCount)/(c-prevCount)
				}
				prevCount, prevBound = c, b.GetUpperBound()
			}
			return math.Inf(1)
		}
		return q(0.5), q(0.99)
	}
	return math.NaN(), math.NaN()
}

func fmtSeconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return "n/a"
	}
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

// lockedWriter serialises writes from the demo and its progress line.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
