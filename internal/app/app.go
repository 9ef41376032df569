// Package app wires policypush together: configuration, the database, the
// rule set, the Kafka consumer (and, when asked, an embedded broker), the
// match processor and the HTTP endpoints, and it owns their lifecycle.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/citizenweb"
	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/console"
	"github.com/policypush/policypush/internal/consult"
	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"
	"github.com/policypush/policypush/internal/match"
	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/receipt"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/signin"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/sweep"
)

// Options are what tests change; the zero value is what serve uses.
type Options struct {
	Now      func() time.Time      // the evaluation clock; default time.Now
	Hooks    ingest.Hooks          // failure points and batch observation
	Registry *prometheus.Registry  // default: a new registry
	Ready    func(httpAddr string) // called once the HTTP server listens
	// Consumer adjusts the consumer's settings, such as its group
	// timeouts.
	Consumer func(*ingest.Config)
	// Reload receives a value for each request to reload the rules, such
	// as a SIGHUP.
	Reload <-chan struct{}
	// Sweeps adjusts the sweeps' settings, such as how often they plan.
	Sweeps func(*sweep.Config)
	// HTTP adjusts the HTTP server's timeouts and size limits.
	HTTP func(*httpapi.Limits)
	// PublicReady is called, before Ready, once the public listener
	// listens (only when POLICYPUSH_PUBLIC_ADDR is set).
	PublicReady func(publicAddr string)
}

// Migrate applies the database migrations. Unlike serve and reseal it
// records no PII key (see openKeyed): a migration job may run with the
// configuration of replicas about to start with a new key, and recording
// it as current would refuse every replica that does not hold it yet.
func Migrate(ctx context.Context, cfg *config.Config) error {
	st, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	st.Close()
	return nil
}

// openMigrated opens the database and applies the migrations; the caller
// closes the store.
func openMigrated(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}

// openKeyed is openMigrated for the commands that handle personal data
// (serve, reseal): it then refuses PII keys that do not cover what the
// database holds, once, rather than in every batch, and records the
// current key (checkKey, rotate.go).
func openKeyed(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.Store, error) {
	st, err := openMigrated(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := checkKey(ctx, st, log); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func openStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	sealer, err := cfg.PIISealer()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL.Value(), sealer)
	if err != nil {
		return nil, fmt.Errorf("open database (is PostgreSQL running, and does POLICYPUSH_DATABASE_URL name it?): %w", err)
	}
	return st, nil
}

// Serve runs the pipeline until ctx is done; then it finishes the batch in
// flight, commits it, and returns.
func Serve(ctx context.Context, cfg *config.Config, log *slog.Logger, o Options) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	// The rules' SMS texts are checked with {{link}} as long as this
	// service's own links, as policyctl lint checks them when given the
	// same POLICYPUSH_PUBLIC_URL.
	parse := rules.ParseOptions{PublicURL: cfg.LinkPublicURL}
	set, err := ruledir.LoadWith(cfg.RulesDir, parse)
	if err != nil {
		return fmt.Errorf("load rules from %s:\n%w", cfg.RulesDir, err)
	}
	rs := &ruleSet{dir: cfg.RulesDir, parse: parse, now: o.Now, log: log, match: match.Config{WeChatEnabled: cfg.WeChatEnabled()}}
	rs.cur.Store(set)
	current := &rs.cur
	log.Info("rules loaded", "dir", cfg.RulesDir, "policies", len(set.Policies()))

	st, err := openKeyed(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := publish(ctx, st, set); err != nil {
		return fmt.Errorf("load rules from %s:\n%w", cfg.RulesDir, err)
	}

	dlqTopic := cfg.KafkaTopic + ".dlq"
	if cfg.KafkaEmbedded {
		b, err := kafkaembed.Start(cfg.KafkaEmbeddedAddr, 8, cfg.KafkaTopic, dlqTopic, CorrectionsTopic)
		if err != nil {
			return fmt.Errorf("start the embedded Kafka broker on %s: %w", cfg.KafkaEmbeddedAddr, err)
		}
		defer b.Close()
		log.Info("embedded Kafka broker listening", "addr", b.Addr(), "topic", cfg.KafkaTopic)
		cfg.KafkaBrokers = []string{b.Addr()}
	}

	v, err := profile.NewValidator(profile.WithClock(o.Now))
	if err != nil {
		return err
	}
	var consumer *ingest.Consumer
	m := newMetrics(o.Registry, func() float64 {
		if consumer == nil {
			return 0
		}
		return float64(consumer.Lag())
	})
	m.rulesLoaded.Set(float64(len(set.Policies())))
	rs.st, rs.m = st, m
	rs.loaded(time.Now(), true)
	proc := match.New(st, current, v, o.Now, m, log, rs.match)
	scfg := sweep.Config{Every: cfg.SweepEvery, ChunkSize: cfg.SweepChunk, Workers: cfg.SweepWorkers, Pause: cfg.SweepPause}
	if o.Sweeps != nil {
		o.Sweeps(&scfg)
	}
	dm := newDeliveryMetrics(o.Registry)
	sweeps := sweep.New(st, match.NewSweeper(st, current, o.Now, m, rs.match), current, o.Now, newSweepMetrics(o.Registry, dm.cancelled), log, scfg)
	rs.swapped = sweeps.Wake

	hooks := o.Hooks
	onBatch := hooks.OnBatch
	hooks.OnBatch = func(size int, took time.Duration, rejected int) {
		m.batchSize.Observe(float64(size))
		m.batchSeconds.Observe(took.Seconds())
		m.dlq.Add(float64(rejected))
		if onBatch != nil {
			onBatch(size, took, rejected)
		}
	}
	h := &handler{proc: proc, m: m, log: log}
	icfg := ingest.Config{
		Brokers: cfg.KafkaBrokers, Topic: cfg.KafkaTopic, Group: cfg.KafkaGroup, DLQTopic: dlqTopic,
		BatchSize: cfg.BatchSize, BatchWait: cfg.BatchWait, Security: cfg.KafkaSecurity,
	}
	if o.Consumer != nil {
		o.Consumer(&icfg)
	}
	consumer, err = ingest.NewConsumer(icfg, h, ingest.WithLogger(log), ingest.WithHooks(hooks))
	if err != nil {
		return err
	}

	dispatcher, err := newDispatcher(cfg, st, current, dm, o.Now, log)
	if err != nil {
		return err
	}
	receipts, err := receipt.New(receipt.Config{
		WeChatToken: cfg.WeChatToken.Value(), WeChatAppID: cfg.WeChatAppID, WeChatAESKey: cfg.WeChatAESKey.Value(),
		SMSKey: cfg.SMSCallbackKey.Value(), Allow: cfg.CallbackAllow, TrustedProxies: cfg.TrustedProxies,
	}, receiptStore{st: st, metrics: dm}, newReceiptMetrics(o.Registry), log, o.Now)
	if err != nil {
		return fmt.Errorf("POLICYPUSH_WECHAT_AES_KEY: %w", err)
	}
	admin, err := adminapi.New(st, rs, cfg.AdminToken.Value(), log, o.Now)
	if err != nil {
		return err
	}
	admin.SetPreviewBudget(cfg.PreviewBudget)
	admin.SetComments(st)

	// Drafts out for comment (issue 15); their reach is estimated again
	// after each reload.
	consultations, err := consult.New(st, current, consult.Config{
		Now: o.Now, Log: log, Match: rs.match, Budget: cfg.PreviewBudget,
		CommentRate: cfg.CommentRate.N, CommentPeriod: cfg.CommentRate.Period,
		TrustedProxies: cfg.TrustedProxies, PublicURL: cfg.PublicURL, Registry: o.Registry,
	})
	if err != nil {
		return err
	}
	rs.swapped = func() { sweeps.Wake(); consultations.Wake() }
	comments, err := console.NewComments(&commentSource{Store: st, rules: current, now: o.Now}, signedIn, signin.CSRFFromContext, log, o.Now)
	if err != nil {
		return err
	}
	admin.SetPublicity(cfg.PublicityDays, func() *rules.Calendar {
		if s := current.Load(); s != nil {
			return s.Calendar()
		}
		return nil
	})
	pub, err := newPublicity(st, current, cfg.PublicityDays, o.Now, log) // 公示 (cases.go)
	if err != nil {
		return err
	}
	funnelGauges := newFunnelMetrics(o.Registry)

	gate, err := newConsoleSignIn(cfg, st, officers{admin}, log, o.Now)
	if err != nil {
		return err
	}
	moderation := gate.ProtectForms("reviewer", comments)
	casePages, err := reviewPages(st, current, o.Now, gate, log) // review.go
	if err != nil {
		return err
	}

	// The notice page's answers (CONTRACTS §7); disputes go out on
	// CorrectionsTopic through the publisher.
	corrections, err := ingest.NewSecureProducer(cfg.KafkaBrokers, CorrectionsTopic, cfg.KafkaSecurity)
	if err != nil {
		return err
	}
	publisher := newCorrectionPublisher(st, corrections, log, o.Now)
	answers, err := newNotices(st, current, o.Now, cfg.NoticeLinkTTL, publisher.Wake)
	if err != nil {
		return err
	}
	noticeAPI := noticepage.NewAPI(answers, noticepage.APIOptions{PublicURL: cfg.LinkPublicURL, Log: log})
	pageWeChat, err := newPageWeChat(cfg, st, answers, log)
	if err != nil {
		return err
	}
	noticePage, err := noticepage.NewPage(answers, noticepage.PageOptions{PublicURL: cfg.PublicURL, Log: log, WeChat: pageWeChat})
	if err != nil {
		return err
	}
	lib, err := newLibrary(st, current, v, o.Now, log)
	if err != nil {
		return err
	}

	limits := httpapi.DefaultLimits()
	if o.HTTP != nil {
		o.HTTP(&limits)
	}
	limiter, err := httpapi.NewLimiter(httpapi.RateLimit{
		PerSecond: cfg.PublicRate, Burst: cfg.PublicBurst, TrustedProxies: cfg.TrustedProxies,
		Page: citizenweb.TooManyRequests(),
	}, o.Registry, nil)
	if err != nil {
		return err
	}
	listeners, err := listen(cfg,
		httpapi.New(o.Registry, httpapi.Logged(log, map[string]httpapi.Check{
			"database": st.Ping,
			"kafka":    func(ctx context.Context) error { return dial(ctx, cfg.KafkaBrokers) },
			"pii_key":  keysReady(st.WatchKeys()), // rotate.go
			"rules": func(context.Context) error {
				if current.Load() == nil {
					return errors.New("no rule set loaded")
				}
				return nil
			},
		}), shortLinks(st, answers, noticePage, o.Now),
			receipts.Register, admin.Register, gate.Register, noticeAPI.Register, noticePage.Register, lib.Register, pub.Register,
			consultations.Register, citizenweb.Register, func(mux *http.ServeMux) {
				c := gate.Protect("viewer", console.New(&consoleSource{st: st, rs: rs, m: m, now: o.Now}, log))
				mux.Handle("GET /{$}", c)
				mux.Handle("GET /console/", c)
				mux.Handle("GET /console/comments", moderation)
				mux.Handle("POST /console/comments/{id}", moderation)
				for p, h := range casePages {
					mux.Handle(p, h)
				}
			}), limiter, limits)
	if err != nil {
		return err
	}
	httpAddr, publicAddr := listeners[0].lis.Addr().String(), ""
	if len(listeners) > 1 {
		publicAddr = listeners[1].lis.Addr().String()
		if o.PublicReady != nil {
			o.PublicReady(publicAddr)
		}
	}
	if o.Ready != nil {
		o.Ready(httpAddr)
	}
	log.Info("serving", "http", httpAddr, "public", publicAddr, "brokers", cfg.KafkaBrokers, "group", cfg.KafkaGroup,
		"kafka_security", cfg.KafkaSecurity.String())

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return consumer.Run(ctx) })
	g.Go(func() error { return dispatcher.Run(ctx) })
	g.Go(func() error { return sweeps.Run(ctx) })
	g.Go(func() error { return publisher.Run(ctx) })
	g.Go(func() error { return consultations.Run(ctx) })
	g.Go(func() error { return funnelGauges.run(ctx, st, current, o.Now, 15*time.Second, log) })
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-o.Reload:
				_, _ = rs.Reload(ctx) // logged and counted; the old set keeps serving
			}
		}
	})
	serveHTTP(ctx, g, listeners)
	g.Go(func() error {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			if n, err := st.OutboxPending(ctx); err == nil {
				m.outbox.Set(float64(n))
			}
			if due, ok, err := st.OldestDue(ctx, o.Now()); err == nil {
				age := 0.0
				if ok {
					age = o.Now().Sub(due).Seconds()
				}
				m.oldestDue.Set(age)
			}
			if n, err := st.RemainingChunks(ctx); err == nil {
				m.sweepChunks.Set(float64(n))
			}
			if n, err := st.OutboxUnknown(ctx); err == nil {
				m.unknown.Set(float64(n))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
	err = g.Wait()
	log.Info("stopped", "error", err)
	return err
}

// dial checks that a broker accepts connections.
func dial(ctx context.Context, brokers []string) error {
	var d net.Dialer
	var last error
	for _, b := range brokers {
		c, err := d.DialContext(ctx, "tcp", b)
		if err == nil {
			return c.Close()
		}
		last = err
	}
	return fmt.Errorf("no broker reachable: %w", last)
}

// handler adapts the match processor to the consumer: it prepares (decodes
// and validates) the next batch while the current one is applied.
type handler struct {
	proc *match.Processor
	m    *metrics
	log  *slog.Logger
}

func events(msgs []ingest.Message) []match.Event {
	out := make([]match.Event, len(msgs))
	for i, msg := range msgs {
		out[i] = match.Event{Value: msg.Value, Ref: i}
	}
	return out
}

// Prepare implements ingest.Preparer.
func (h *handler) Prepare(_ context.Context, msgs []ingest.Message) any {
	return h.proc.Prepare(events(msgs))
}

// Handle implements ingest.Handler.
func (h *handler) Handle(ctx context.Context, msgs []ingest.Message) ([]ingest.Reject, error) {
	return h.HandlePrepared(ctx, msgs, h.Prepare(ctx, msgs))
}

// HandlePrepared implements ingest.Preparer.
func (h *handler) HandlePrepared(ctx context.Context, msgs []ingest.Message, prepared any) ([]ingest.Reject, error) {
	rejected, err := h.proc.HandlePrepared(ctx, events(msgs), prepared.(*match.Prepared))
	if err != nil {
		return nil, refusedForData(err)
	}
	committed := time.Now()
	for _, msg := range msgs {
		h.m.latency.Observe(committed.Sub(msg.Time).Seconds())
	}
	out := make([]ingest.Reject, len(rejected))
	for i, r := range rejected {
		msg := msgs[r.Ref.(int)]
		out[i] = ingest.Reject{Message: msg, Reason: r.Reason}
		h.log.Warn("event rejected to the DLQ", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "reason", r.Reason)
	}
	return out, nil
}

// refusedForData marks the errors the batch's content caused, so that the
// consumer splits the batch to find the event at fault instead of retrying
// it for ever: the database refusing a value validation let through, and
// stored personal data that does not open (the key itself is checked at
// start, so that is one damaged row, not a wrong key).
func refusedForData(err error) error {
	if reason, ok := store.Refused(err); ok {
		return &ingest.DataError{Reason: reason, Err: err}
	}
	if errors.Is(err, pii.ErrOpen) {
		return &ingest.DataError{Reason: "the stored personal data of its subject does not open with this key", Err: err}
	}
	return err
}
