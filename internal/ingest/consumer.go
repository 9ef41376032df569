package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// Hooks let tests inject failures and let the application observe batches.
// Nil hooks are skipped. Hooks run on Run's goroutine.
type Hooks struct {
	// AfterHandle runs after Handle succeeded and the rejects were written to
	// the dead-letter topic, before the offsets are committed. An error
	// aborts the commit and makes Run return it (wrapped), as a crash at
	// that point would.
	AfterHandle func(ctx context.Context, batch []Message) error
	// OnBatch runs after a batch was committed: its size, the time from
	// fetching its last message to the commit, and how many were rejected.
	OnBatch func(size int, took time.Duration, rejected int)
}

// Option configures a [Consumer].
type Option func(*Consumer)

// WithLogger sets the logger; by default nothing is logged. kafka-go's own
// messages are logged at debug level, its errors at warn level.
func WithLogger(l *slog.Logger) Option {
	return func(c *Consumer) {
		if l != nil {
			c.log = l
		}
	}
}

// WithHooks sets the hooks.
func WithHooks(h Hooks) Option {
	return func(c *Consumer) { c.hooks = h }
}

// Consumer reads batches from a topic as a member of a consumer group, hands
// them to a [Handler], writes rejects to the dead-letter topic and commits.
// Create it with [NewConsumer] and start it with [Consumer.Run].
type Consumer struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	hooks   Hooks
	clients clients // carry cfg.Security

	started atomic.Bool
	reader  atomic.Pointer[kafka.Reader] // set by Run; read by Lag
}

// Retry backoff bounds for a failing batch step or fetch.
const (
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
)

// NewConsumer checks cfg and returns a consumer. It does not connect: the
// group is joined when Run starts.
func NewConsumer(cfg Config, h Handler, opts ...Option) (*Consumer, error) {
	if h == nil {
		return nil, errors.New("ingest: nil handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Brokers = append([]string(nil), cfg.Brokers...)
	cl, err := newClients(cfg.Security)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:     cfg,
		handler: h,
		log:     slog.New(slog.DiscardHandler),
		clients: cl,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Config returns the consumer's configuration with its defaults filled in.
func (c *Consumer) Config() Config { return c.cfg }

// Lag returns the consumer lag as kafka-go's reader statistics report it: the
// distance between the high watermark and the position of the partition
// fetched most recently. kafka-go keeps one such gauge for all the partitions
// a group reader owns, and it measures the fetch position (which runs up to a
// queue's length ahead of the committed one). It is 0 before Run started.
// Lag is safe to call concurrently with Run.
func (c *Consumer) Lag() int64 {
	r := c.reader.Load()
	if r == nil {
		return 0
	}
	return r.Stats().Lag
}

// Run joins the consumer group and loops until ctx is done: fetch a batch,
// Handle it, write its rejects to the dead-letter topic, commit the offsets of
// the whole batch.
//
// When Handle (or the dead-letter write, or the commit) fails, Run logs the
// error, backs off (100ms doubling to 5s) and retries the same batch without
// fetching again; when Handle fails with a [DataError], Run splits the batch
// instead, to reject only the messages at fault. When ctx is cancelled, the batch in flight is finished and
// committed under a context that is not cancelled, bounded by
// [Config.ShutdownTimeout]; then Run returns nil. If that time runs out first,
// Run returns an error and the batch, not committed, will be delivered again.
// An error from [Hooks.AfterHandle] is returned at once, without a commit.
//
// Run closes its Kafka reader (leaving the group) and writer before it
// returns. A Consumer runs once; a second call returns an error.
func (c *Consumer) Run(ctx context.Context) (err error) {
	if c.started.Swap(true) {
		return errors.New("ingest: consumer already ran")
	}
	r := kafka.NewReader(c.readerConfig())
	c.reader.Store(r)
	w := c.dlqWriter()
	defer func() {
		werr := w.Close()
		rerr := r.Close()
		if cerr := errors.Join(werr, rerr); cerr != nil {
			err = errors.Join(err, fmt.Errorf("ingest: close: %w", cerr))
		}
	}()

	c.log.Info("ingest: consuming", "topic", c.cfg.Topic, "group", c.cfg.Group, "dlq", c.cfg.DLQTopic)

	// A fetcher fetches (and prepares) the next batch while this goroutine
	// handles and commits the current one. The channel is unbuffered, so
	// the fetcher holds at most one batch ahead.
	next := make(chan fetched)
	fctx, stopFetching := context.WithCancel(ctx)
	fetcherDone := make(chan struct{})
	go func() {
		defer close(fetcherDone)
		c.fetchLoop(fctx, r, next)
	}()
	defer func() {
		stopFetching()
		<-fetcherDone
	}()

	for {
		select {
		case <-ctx.Done():
			return nil // a batch fetched but not handled is not committed: it comes again
		case f := <-next:
			if err := c.process(ctx, r, w, f); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// fetched is a batch on its way from the fetcher to the handler.
type fetched struct {
	batch    []kafka.Message
	msgs     []Message
	prepared any
}

// fetchLoop fetches batches, prepares them when the handler can, and hands
// them over one at a time until ctx is done.
func (c *Consumer) fetchLoop(ctx context.Context, r *kafka.Reader, out chan<- fetched) {
	for attempt := 0; ; {
		batch, err := c.fetch(ctx, r)
		if len(batch) == 0 {
			if ctx.Err() != nil {
				return
			}
			attempt++
			d := backoff(attempt)
			c.log.Warn("ingest: fetch failed; retrying", "attempt", attempt, "backoff", d, "err", err)
			if !sleep(ctx, d) {
				return
			}
			continue
		}
		attempt = 0
		f := fetched{batch: batch, msgs: make([]Message, len(batch))}
		for i, m := range batch {
			f.msgs[i] = fromKafka(m)
		}
		if p, ok := c.handler.(Preparer); ok {
			f.prepared = p.Prepare(ctx, f.msgs)
		}
		select {
		case out <- f:
		case <-ctx.Done():
			return
		}
	}
}

// fetch blocks until a first message arrives, then gathers more until the
// batch is full or BatchWait has passed. It returns the batch so far with a
// nil error, or no messages and the error that stopped the first fetch.
func (c *Consumer) fetch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	first, err := r.FetchMessage(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	batch := make([]kafka.Message, 1, c.cfg.BatchSize)
	batch[0] = first

	fill, cancel := context.WithTimeout(ctx, c.cfg.BatchWait)
	defer cancel()
	for len(batch) < c.cfg.BatchSize {
		m, err := r.FetchMessage(fill)
		if err != nil {
			if fill.Err() == nil {
				c.log.Warn("ingest: fetch failed while filling a batch", "err", err)
			}
			break
		}
		batch = append(batch, m)
	}
	return batch, nil
}

// process takes one batch from Handle to commit. It returns an error only
// when the batch could not be committed and Run must stop.
func (c *Consumer) process(ctx context.Context, r *kafka.Reader, w *kafka.Writer, f fetched) error {
	start := time.Now()
	wctx, cancel := withGrace(ctx, c.cfg.ShutdownTimeout)
	defer cancel()
	batch, msgs := f.batch, f.msgs

	var rejects []Reject
	err := c.retry(wctx, "handle", len(msgs), func(ctx context.Context) error {
		var err error
		if p, ok := c.handler.(Preparer); ok {
			rejects, err = p.HandlePrepared(ctx, msgs, f.prepared)
		} else {
			rejects, err = c.handler.Handle(ctx, msgs)
		}
		return err
	})
	if de := (*DataError)(nil); errors.As(err, &de) {
		rejects, err = c.bisect(wctx, msgs, de)
	}
	if err != nil {
		return c.abandoned(err)
	}

	if len(rejects) > 0 {
		dlq := make([]kafka.Message, len(rejects))
		for i, rj := range rejects {
			dlq[i] = deadLetter(rj)
			c.log.Debug("ingest: rejected", "topic", rj.Message.Topic, "partition", rj.Message.Partition,
				"offset", rj.Message.Offset, "reason", rj.Reason)
		}
		err := c.retry(wctx, "dead-letter write", len(msgs), func(ctx context.Context) error {
			if err := w.WriteMessages(ctx, dlq...); err != nil {
				return fmt.Errorf("write %d to %s: %w", len(dlq), c.cfg.DLQTopic, err)
			}
			return nil
		})
		if err != nil {
			return c.abandoned(err)
		}
		c.log.Info("ingest: rejected messages sent to the dead-letter topic", "count", len(dlq), "topic", c.cfg.DLQTopic)
	}

	if hook := c.hooks.AfterHandle; hook != nil {
		if err := hook(wctx, msgs); err != nil {
			return fmt.Errorf("ingest: after handle: %w", err)
		}
	}

	err = c.retry(wctx, "commit", len(msgs), func(ctx context.Context) error {
		return r.CommitMessages(ctx, batch...)
	})
	if err != nil {
		return c.abandoned(err)
	}
	if hook := c.hooks.OnBatch; hook != nil {
		hook(len(msgs), time.Since(start), len(rejects))
	}
	return nil
}

func (c *Consumer) abandoned(err error) error {
	return fmt.Errorf("ingest: batch not committed before shutdown timeout %v: %w", c.cfg.ShutdownTimeout, err)
}

// bisect handles msgs, whose handling failed with de, in two halves, and
// each half that fails with a DataError in turn in two, down to single
// messages: those are rejected with their DataError's reason. It returns
// the rejects of every part, in offset order. Parts are handled with
// Handle, not HandlePrepared, since what Prepare returned is for the whole
// batch. A part that fails otherwise is retried, as a whole batch is.
func (c *Consumer) bisect(ctx context.Context, msgs []Message, de *DataError) ([]Reject, error) {
	if len(msgs) == 1 {
		m := msgs[0]
		c.log.Warn("ingest: message refused for its content; sending it to the dead-letter topic",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "reason", de.Reason)
		return []Reject{{Message: m, Reason: de.Reason}}, nil
	}
	c.log.Info("ingest: batch refused for its content; splitting it", "size", len(msgs), "reason", de.Reason)
	mid := len(msgs) / 2
	var out []Reject
	for _, part := range [][]Message{msgs[:mid], msgs[mid:]} {
		var rejects []Reject
		err := c.retry(ctx, "handle", len(part), func(ctx context.Context) error {
			var err error
			rejects, err = c.handler.Handle(ctx, part)
			return err
		})
		if pde := (*DataError)(nil); errors.As(err, &pde) {
			rejects, err = c.bisect(ctx, part, pde)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rejects...)
	}
	return out, nil
}

// retry calls fn until it succeeds or ctx ends, backing off between
// attempts. A DataError is returned at once: retrying cannot cure it.
func (c *Consumer) retry(ctx context.Context, step string, size int, fn func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if de := (*DataError)(nil); errors.As(err, &de) {
			return err
		}
		d := backoff(attempt)
		c.log.Warn("ingest: batch step failed; retrying the same batch",
			"step", step, "size", size, "attempt", attempt, "backoff", d, "err", err)
		if !sleep(ctx, d) {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
}

func (c *Consumer) readerConfig() kafka.ReaderConfig {
	return kafka.ReaderConfig{
		Brokers:           c.cfg.Brokers,
		Dialer:            c.clients.dialer,
		GroupID:           c.cfg.Group,
		Topic:             c.cfg.Topic,
		MinBytes:          1,
		MaxBytes:          c.cfg.MaxMessageBytes,
		MaxWait:           c.cfg.MaxWait,
		QueueCapacity:     max(100, c.cfg.BatchSize),
		CommitInterval:    0, // synchronous commits, only through CommitMessages
		StartOffset:       kafka.FirstOffset,
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		RebalanceTimeout:  c.cfg.RebalanceTimeout,
		JoinGroupBackoff:  c.cfg.HeartbeatInterval,
		Logger:            kafkaLogger(c.log, slog.LevelDebug),
		ErrorLogger:       kafkaLogger(c.log, slog.LevelWarn),
	}
}

func (c *Consumer) dlqWriter() *kafka.Writer {
	return &kafka.Writer{
		Addr:         kafka.TCP(c.cfg.Brokers...),
		Transport:    c.clients.transport,
		Topic:        c.cfg.DLQTopic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    c.cfg.BatchSize,
		BatchBytes:   int64(c.cfg.MaxMessageBytes) + dlqOverhead,
		BatchTimeout: writeBatchTimeout,
		Logger:       kafkaLogger(c.log, slog.LevelDebug),
		ErrorLogger:  kafkaLogger(c.log, slog.LevelWarn),
	}
}

// dlqOverhead is room for the dead-letter headers and record framing on top
// of the largest original record.
const dlqOverhead = 64 << 10

// Dead-letter header names.
const (
	HeaderReason            = "x-dlq-reason"
	HeaderOriginalTopic     = "x-original-topic"
	HeaderOriginalPartition = "x-original-partition"
	HeaderOriginalOffset    = "x-original-offset"
)

// deadLetter is the dead-letter record of a reject: the original key and
// value with the reason and the original coordinates as headers.
func deadLetter(rj Reject) kafka.Message {
	m := rj.Message
	reason := strings.Join(strings.FieldsFunc(rj.Reason, func(r rune) bool { return r == '\n' || r == '\r' }), " ")
	if reason == "" {
		reason = "unspecified"
	}
	return kafka.Message{
		Key:   m.Key,
		Value: m.Value,
		Headers: []kafka.Header{
			{Key: HeaderReason, Value: []byte(reason)},
			{Key: HeaderOriginalTopic, Value: []byte(m.Topic)},
			{Key: HeaderOriginalPartition, Value: []byte(strconv.Itoa(m.Partition))},
			{Key: HeaderOriginalOffset, Value: []byte(strconv.FormatInt(m.Offset, 10))},
		},
	}
}

func fromKafka(m kafka.Message) Message {
	return Message{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Value:     m.Value,
		Time:      m.Time,
	}
}

// kafkaLogger routes kafka-go's printf-style logging to l at level.
func kafkaLogger(l *slog.Logger, level slog.Level) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		ctx := context.Background()
		if l.Enabled(ctx, level) {
			l.Log(ctx, level, "kafka: "+strings.TrimSpace(fmt.Sprintf(format, args...)))
		}
	})
}

// backoff is the delay before retry number attempt (from 1): retryMin
// doubling up to retryMax.
func backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 16 {
		return retryMax
	}
	return min(retryMin<<(attempt-1), retryMax)
}

// sleep waits for d or until ctx is done, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// withGrace returns a context that ignores the cancellation of parent, except
// that it ends grace after parent was cancelled. It carries parent's values.
// The returned cancel must be called; it stops the helper goroutine, if any.
func withGrace(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel(fmt.Errorf("shutdown timeout %v exceeded: %w", grace, context.Cause(parent)))
		case <-ctx.Done():
		}
	})
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}
