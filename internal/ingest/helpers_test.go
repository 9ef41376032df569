package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"

	"github.com/policypush/policypush/internal/testlog"
)

const (
	topic    = "events"
	dlqTopic = "events.dlq"
	waitFor  = 15 * time.Second // upper bound of every wait; the happy path takes far less
)

// env is one test's broker.
type env struct {
	t          *testing.T
	addr       string
	partitions int
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	b, err := kafkaembed.Start("127.0.0.1:0", partitions, topic, dlqTopic)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Close)
	return &env{t: t, addr: b.Addr(), partitions: partitions}
}

// config has group timings short enough for tests.
func (e *env) config(group string) ingest.Config {
	return ingest.Config{
		Brokers:           []string{e.addr},
		Topic:             topic,
		Group:             group,
		BatchWait:         20 * time.Millisecond,
		SessionTimeout:    3 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond,
		RebalanceTimeout:  3 * time.Second,
		MaxWait:           200 * time.Millisecond,
		ShutdownTimeout:   5 * time.Second,
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return testlog.New(t)
}

func (e *env) consumer(cfg ingest.Config, h ingest.Handler, opts ...ingest.Option) *ingest.Consumer {
	e.t.Helper()
	c, err := ingest.NewConsumer(cfg, h, append([]ingest.Option{ingest.WithLogger(testLogger(e.t))}, opts...)...)
	if err != nil {
		e.t.Fatalf("NewConsumer: %v", err)
	}
	return c
}

// run starts c.Run and returns its cancel and its result. The test's cleanup
// cancels it and waits for Run to return.
func (e *env) run(c *ingest.Consumer) (context.CancelFunc, <-chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { done <- c.Run(ctx) })
	e.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return cancel, done
}

// wait returns Run's result, failing the test if it does not come in time.
func wait(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitFor):
		t.Fatal("Run did not return")
		return nil
	}
}

// produce writes n messages; message i has key fmt.Sprintf("k%d", i%keys)
// and value strconv.Itoa(i).
func (e *env) produce(n, keys int) {
	e.t.Helper()
	p := ingest.NewProducer([]string{e.addr}, topic)
	defer p.Close()
	kvs := make([]ingest.KV, n)
	for i := range kvs {
		kvs[i] = ingest.KV{Key: fmt.Appendf(nil, "k%d", i%keys), Value: strconv.AppendInt(nil, int64(i), 10)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := p.ProduceBatch(ctx, kvs); err != nil {
		e.t.Fatalf("produce: %v", err)
	}
}

// produceSentinels writes one message with value "sentinel" to every partition.
func (e *env) produceSentinels() {
	e.t.Helper()
	w := &kafka.Writer{
		Addr:  kafka.TCP(e.addr),
		Topic: topic,
		Balancer: kafka.BalancerFunc(func(m kafka.Message, _ ...int) int {
			p, _ := strconv.Atoi(string(m.Key))
			return p
		}),
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	msgs := make([]kafka.Message, e.partitions)
	for p := range msgs {
		msgs[p] = kafka.Message{Key: []byte(strconv.Itoa(p)), Value: []byte("sentinel")}
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		e.t.Fatalf("produce sentinels: %v", err)
	}
}

// committed returns the group's committed offset of every partition (-1:
// none).
func (e *env) committed(group string) map[int]int64 {
	e.t.Helper()
	parts := make([]int, e.partitions)
	for i := range parts {
		parts[i] = i
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := (&kafka.Client{Addr: kafka.TCP(e.addr)}).OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: group,
		Topics:  map[string][]int{topic: parts},
	})
	if err == nil {
		err = resp.Error
	}
	out := make(map[int]int64)
	if errors.Is(err, kafka.GroupIdNotFound) { // the group has not formed yet
		for _, p := range parts {
			out[p] = -1
		}
		return out
	}
	if err != nil {
		e.t.Fatalf("offset fetch: %v", err)
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			e.t.Fatalf("offset fetch partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// highWater returns the next offset of every partition.
func (e *env) highWater() map[int]int64 {
	e.t.Helper()
	reqs := make([]kafka.OffsetRequest, e.partitions)
	for i := range reqs {
		reqs[i] = kafka.LastOffsetOf(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	resp, err := (&kafka.Client{Addr: kafka.TCP(e.addr)}).ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: reqs},
	})
	if err != nil {
		e.t.Fatalf("list offsets: %v", err)
	}
	out := make(map[int]int64)
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			e.t.Fatalf("list offsets partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out
}

// caughtUp reports whether the group committed every partition up to its
// high watermark.
func (e *env) caughtUp(group string) bool {
	e.t.Helper()
	cm, hw := e.committed(group), e.highWater()
	for p, next := range hw {
		if cm[p] != next && (next != 0 || cm[p] != -1) {
			return false
		}
	}
	return true
}

// readTopic reads n messages from t (as a fresh consumer group) or fails.
func (e *env) readTopic(t string, n int) []kafka.Message {
	e.t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           []string{e.addr},
		Topic:             t,
		GroupID:           e.t.Name() + "/reader/" + t,
		StartOffset:       kafka.FirstOffset,
		MaxBytes:          4 << 20,
		MaxWait:           100 * time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout:    3 * time.Second,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			e.t.Fatalf("read %s: got %d of %d messages: %v", t, len(out), n, err)
		}
		out = append(out, m)
	}
	return out
}

// recorder is a Handler that records every batch it is offered and hands it
// to the test on a channel. fn, if set, decides each call's result.
type recorder struct {
	batches chan []ingest.Message
	fn      func(ctx context.Context, call int, msgs []ingest.Message) ([]ingest.Reject, error)

	mu    sync.Mutex
	calls int
}

func newRecorder(fn func(ctx context.Context, call int, msgs []ingest.Message) ([]ingest.Reject, error)) *recorder {
	return &recorder{batches: make(chan []ingest.Message, 10000), fn: fn}
}

func (r *recorder) Handle(ctx context.Context, msgs []ingest.Message) ([]ingest.Reject, error) {
	r.mu.Lock()
	r.calls++
	call := r.calls
	r.mu.Unlock()
	r.batches <- append([]ingest.Message(nil), msgs...)
	if r.fn == nil {
		return nil, nil
	}
	return r.fn(ctx, call, msgs)
}

// collect receives batches until they hold n messages in all.
func collect(t *testing.T, batches <-chan []ingest.Message, n int) (msgs []ingest.Message, got [][]ingest.Message) {
	t.Helper()
	timeout := time.After(waitFor)
	for len(msgs) < n {
		select {
		case b := <-batches:
			got = append(got, b)
			msgs = append(msgs, b...)
		case <-timeout:
			t.Fatalf("handled %d of %d messages", len(msgs), n)
		}
	}
	return msgs, got
}

// eventually polls cond until it holds or fails the test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
