package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/ingest"
)

type coord struct {
	partition int
	offset    int64
}

func coords(msgs []ingest.Message) []coord {
	out := make([]coord, len(msgs))
	for i, m := range msgs {
		out[i] = coord{m.Partition, m.Offset}
	}
	return out
}

// nextOffsets is, per partition, one past the highest offset in msgs.
func nextOffsets(msgs []ingest.Message) map[int]int64 {
	out := make(map[int]int64)
	for _, m := range msgs {
		out[m.Partition] = max(out[m.Partition], m.Offset+1)
	}
	return out
}

func TestConsumesInPartitionOrderAndCommitsAfterHandle(t *testing.T) {
	e := newEnv(t, 4)
	const n, keys = 300, 20
	e.produce(n, keys)

	cfg := e.config("g")
	cfg.BatchSize = 40
	var batches atomic.Int64
	h := newRecorder(func(_ context.Context, _ int, msgs []ingest.Message) ([]ingest.Reject, error) {
		// Nothing of this batch is committed while it is being handled.
		committed := e.committed(cfg.Group)
		for _, m := range msgs {
			if committed[m.Partition] > m.Offset {
				t.Errorf("offset %d of partition %d committed (%d) before Handle returned", m.Offset, m.Partition, committed[m.Partition])
			}
		}
		return nil, nil
	})
	c := e.consumer(cfg, h, ingest.WithHooks(ingest.Hooks{
		OnBatch: func(size int, took time.Duration, rejected int) {
			if size < 1 || size > cfg.BatchSize || took <= 0 || rejected != 0 {
				t.Errorf("OnBatch(%d, %v, %d)", size, took, rejected)
			}
			batches.Add(1)
		},
	}))
	cancel, done := e.run(c)

	msgs, got := collect(t, h.batches, n)
	eventually(t, "commit of every batch", func() bool { return batches.Load() == int64(len(got)) })
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	if len(msgs) != n {
		t.Fatalf("handled %d messages, want %d (a batch came twice?)", len(msgs), n)
	}
	nextOffset := make(map[int]int64)
	lastValue := make(map[string]int)
	for _, m := range msgs {
		if m.Topic != topic || m.Time.IsZero() {
			t.Errorf("message %+v: wrong topic or no time", m)
		}
		if m.Offset != nextOffset[m.Partition] {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, nextOffset[m.Partition]-1)
		}
		nextOffset[m.Partition]++
		v, _ := strconv.Atoi(string(m.Value))
		if last, ok := lastValue[string(m.Key)]; ok && v <= last {
			t.Fatalf("key %s: value %d after %d", m.Key, v, last)
		}
		lastValue[string(m.Key)] = v
	}
	if len(lastValue) != keys {
		t.Errorf("saw %d keys, want %d", len(lastValue), keys)
	}
	for _, b := range got {
		if len(b) > cfg.BatchSize {
			t.Errorf("batch of %d, BatchSize is %d", len(b), cfg.BatchSize)
		}
	}
	if !e.caughtUp(cfg.Group) {
		t.Fatalf("committed %v, want the high watermarks %v", e.committed(cfg.Group), e.highWater())
	}

	// A second member of the group starts where the first committed: it sees
	// only what was produced afterwards.
	e.produceSentinels()
	h2 := newRecorder(nil)
	_, done2 := e.run(e.consumer(cfg, h2))
	after, _ := collect(t, h2.batches, e.partitions)
	for _, m := range after {
		if string(m.Value) != "sentinel" {
			t.Errorf("second consumer got old message %d/%d %q", m.Partition, m.Offset, m.Value)
		}
	}
	select {
	case err := <-done2:
		t.Fatalf("second Run returned early: %v", err)
	default:
	}
}

func TestHandleErrorRetriesSameBatchWithoutCommit(t *testing.T) {
	e := newEnv(t, 2)
	e.produce(20, 5)
	cfg := e.config("g")
	errDown := errors.New("database down")
	h := newRecorder(func(_ context.Context, call int, _ []ingest.Message) ([]ingest.Reject, error) {
		if call <= 2 {
			for p, off := range e.committed(cfg.Group) {
				if off != -1 {
					t.Errorf("partition %d committed at %d while Handle fails", p, off)
				}
			}
			return nil, errDown
		}
		return nil, nil
	})
	var sizes []int
	var mu sync.Mutex
	c := e.consumer(cfg, h, ingest.WithHooks(ingest.Hooks{
		OnBatch: func(size int, _ time.Duration, _ int) { mu.Lock(); sizes = append(sizes, size); mu.Unlock() },
	}))
	start := time.Now()
	cancel, done := e.run(c)

	first, _ := collect(t, h.batches, 1)
	for retry := range 2 {
		again, _ := collect(t, h.batches, 1)
		if !slices.Equal(coords(again), coords(first)) {
			t.Fatalf("retry %d offered %v, want the same batch %v", retry+1, coords(again), coords(first))
		}
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("two retries took %v, want a backoff of at least 100ms+200ms", took)
	}
	want := nextOffsets(first)
	eventually(t, "commit of the retried batch", func() bool {
		cm := e.committed(cfg.Group)
		for p, off := range want {
			if cm[p] < off {
				return false
			}
		}
		return true
	})
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) == 0 || sizes[0] != len(first) {
		t.Errorf("OnBatch sizes %v, want the retried batch (%d) first and once", sizes, len(first))
	}
}

func TestRejectsGoToDeadLetterTopic(t *testing.T) {
	e := newEnv(t, 2)
	const n = 12
	e.produce(n, 4)
	cfg := e.config("g")
	bad := func(m ingest.Message) bool { v, _ := strconv.Atoi(string(m.Value)); return v%3 == 0 }
	h := newRecorder(func(_ context.Context, _ int, msgs []ingest.Message) ([]ingest.Reject, error) {
		var rejects []ingest.Reject
		for _, m := range msgs {
			if bad(m) {
				rejects = append(rejects, ingest.Reject{Message: m, Reason: "invalid event:\nvalue " + string(m.Value)})
			}
		}
		return rejects, nil
	})
	var rejected atomic.Int64
	c := e.consumer(cfg, h, ingest.WithHooks(ingest.Hooks{
		OnBatch: func(_ int, _ time.Duration, r int) { rejected.Add(int64(r)) },
	}))
	cancel, done := e.run(c)

	msgs, _ := collect(t, h.batches, n)
	wantDLQ := make(map[coord]ingest.Message)
	for _, m := range msgs {
		if bad(m) {
			wantDLQ[coord{m.Partition, m.Offset}] = m
		}
	}
	eventually(t, "commit past the rejects", func() bool { return e.caughtUp(cfg.Group) })
	if got := rejected.Load(); got != int64(len(wantDLQ)) {
		t.Errorf("OnBatch counted %d rejects, want %d", got, len(wantDLQ))
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}

	for _, d := range e.readTopic(dlqTopic, len(wantDLQ)) {
		hdr := headers(d)
		p, _ := strconv.Atoi(hdr[ingest.HeaderOriginalPartition])
		off, _ := strconv.ParseInt(hdr[ingest.HeaderOriginalOffset], 10, 64)
		orig, ok := wantDLQ[coord{p, off}]
		if !ok {
			t.Fatalf("unexpected dead letter %v", hdr)
		}
		delete(wantDLQ, coord{p, off})
		if hdr[ingest.HeaderOriginalTopic] != topic {
			t.Errorf("%s = %q, want %q", ingest.HeaderOriginalTopic, hdr[ingest.HeaderOriginalTopic], topic)
		}
		if want := "invalid event: value " + string(orig.Value); hdr[ingest.HeaderReason] != want {
			t.Errorf("%s = %q, want %q", ingest.HeaderReason, hdr[ingest.HeaderReason], want)
		}
		if !bytes.Equal(d.Key, orig.Key) || !bytes.Equal(d.Value, orig.Value) {
			t.Errorf("dead letter %q=%q, want the original %q=%q", d.Key, d.Value, orig.Key, orig.Value)
		}
	}
	if len(wantDLQ) != 0 {
		t.Errorf("not in the dead-letter topic: %v", wantDLQ)
	}
}

func TestAfterHandleErrorStopsAndBatchIsRedelivered(t *testing.T) {
	e := newEnv(t, 2)
	e.produce(10, 10)
	cfg := e.config("g")
	errCrash := errors.New("simulated crash")

	h := newRecorder(nil)
	c := e.consumer(cfg, h, ingest.WithHooks(ingest.Hooks{
		AfterHandle: func(context.Context, []ingest.Message) error { return errCrash },
	}))
	_, done := e.run(c)
	if err := wait(t, done); !errors.Is(err, errCrash) {
		t.Fatalf("Run = %v, want %v", err, errCrash)
	}
	first, _ := collect(t, h.batches, 1)
	for p, off := range e.committed(cfg.Group) {
		if off != -1 {
			t.Errorf("partition %d committed at %d after the crash", p, off)
		}
	}

	// A new member of the group gets the uncommitted batch again.
	h2 := newRecorder(nil)
	e.run(e.consumer(cfg, h2))
	again, _ := collect(t, h2.batches, len(first))
	seen := make(map[coord]bool)
	for _, c := range coords(again) {
		seen[c] = true
	}
	for _, c := range coords(first) {
		if !seen[c] {
			t.Errorf("message %v was not redelivered", c)
		}
	}
}

func TestCancelFinishesAndCommitsInFlightBatch(t *testing.T) {
	e := newEnv(t, 2)
	e.produce(10, 10)
	cfg := e.config("g")
	entered, release := make(chan struct{}), make(chan struct{})
	var handleCtxErr error
	h := newRecorder(func(ctx context.Context, call int, _ []ingest.Message) ([]ingest.Reject, error) {
		if call == 1 {
			close(entered)
			<-release
			handleCtxErr = ctx.Err()
		}
		return nil, nil
	})
	cancel, done := e.run(e.consumer(cfg, h))

	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("Handle was not called")
	}
	cancel()
	close(release)
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if handleCtxErr != nil {
		t.Errorf("Handle's context was cancelled: %v", handleCtxErr)
	}
	first, _ := collect(t, h.batches, 1)
	if len(h.batches) != 0 {
		t.Errorf("another batch was handled after cancel")
	}
	cm := e.committed(cfg.Group)
	for p, off := range nextOffsets(first) {
		if cm[p] != off {
			t.Errorf("partition %d committed at %d, want %d (the in-flight batch)", p, cm[p], off)
		}
	}
}

func TestShutdownTimeoutAbandonsBatch(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(3, 3)
	cfg := e.config("g")
	cfg.ShutdownTimeout = 200 * time.Millisecond
	entered := make(chan struct{})
	var once sync.Once
	h := newRecorder(func(ctx context.Context, _ int, _ []ingest.Message) ([]ingest.Reject, error) {
		once.Do(func() { close(entered) })
		<-ctx.Done() // a handler that hangs until its context ends
		return nil, ctx.Err()
	})
	cancel, done := e.run(e.consumer(cfg, h))
	<-entered
	cancel()
	err := wait(t, done)
	if err == nil || !strings.Contains(err.Error(), "not committed") {
		t.Fatalf("Run = %v, want an error saying the batch was not committed", err)
	}
	if off := e.committed(cfg.Group)[0]; off != -1 {
		t.Errorf("committed %d, want nothing", off)
	}
}

func TestTwoConsumersSplitPartitions(t *testing.T) {
	e := newEnv(t, 8)
	cfg := e.config("g")
	ha, hb := newRecorder(nil), newRecorder(nil)
	cancelA, doneA := e.run(e.consumer(cfg, ha))
	cancelB, doneB := e.run(e.consumer(cfg, hb))

	// Produce only once the group has settled with both members, so that no
	// rebalance moves a partition while it is being consumed.
	eventually(t, "a stable group of two members sharing 8 partitions", func() bool {
		return assignedMembers(t, e.addr, cfg.Group, e.partitions) == 2
	})
	const n = 400
	e.produce(n, 64)

	seen := make(map[coord]string)
	owner := make(map[int]string)
	timeout := time.After(waitFor)
	for len(seen) < n {
		var b []ingest.Message
		var who string
		select {
		case b = <-ha.batches:
			who = "A"
		case b = <-hb.batches:
			who = "B"
		case <-timeout:
			t.Fatalf("handled %d of %d messages", len(seen), n)
		}
		for _, m := range b {
			c := coord{m.Partition, m.Offset}
			if prev, dup := seen[c]; dup {
				t.Fatalf("message %v handled by %s and again by %s", c, prev, who)
			}
			seen[c] = who
			if o, ok := owner[m.Partition]; ok && o != who {
				t.Fatalf("partition %d consumed by both %s and %s", m.Partition, o, who)
			}
			owner[m.Partition] = who
		}
	}
	count := map[string]int{}
	for _, who := range owner {
		count[who]++
	}
	if count["A"] == 0 || count["B"] == 0 {
		t.Fatalf("partitions were not split: %v", owner)
	}
	eventually(t, "every offset committed", func() bool { return e.caughtUp(cfg.Group) })
	cancelA()
	cancelB()
	if err := errors.Join(wait(t, doneA), wait(t, doneB)); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(ha.batches)+len(hb.batches) != 0 {
		t.Errorf("a message was handled twice")
	}
}

func TestLargeValueRoundTripsToDeadLetterTopic(t *testing.T) {
	e := newEnv(t, 1)
	value := bytes.Repeat([]byte("x"), 1<<20+1<<10)
	p := ingest.NewProducer([]string{e.addr}, topic)
	defer p.Close()
	ctx, cancelP := context.WithTimeout(context.Background(), waitFor)
	defer cancelP()
	if err := p.Produce(ctx, []byte("p_big"), value); err != nil {
		t.Fatalf("produce %d bytes: %v", len(value), err)
	}

	cfg := e.config("g")
	h := newRecorder(func(_ context.Context, _ int, msgs []ingest.Message) ([]ingest.Reject, error) {
		var rejects []ingest.Reject
		for _, m := range msgs {
			if len(m.Value) > 1<<20 {
				rejects = append(rejects, ingest.Reject{Message: m, Reason: "value exceeds 1 MiB"})
			}
		}
		return rejects, nil
	})
	cancel, done := e.run(e.consumer(cfg, h))
	collect(t, h.batches, 1)
	dl := e.readTopic(dlqTopic, 1)[0]
	if !bytes.Equal(dl.Value, value) || string(dl.Key) != "p_big" {
		t.Fatalf("dead letter holds key %q and %d bytes, want %q and %d bytes", dl.Key, len(dl.Value), "p_big", len(value))
	}
	if got := headers(dl)[ingest.HeaderReason]; got != "value exceeds 1 MiB" {
		t.Errorf("reason %q", got)
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
}

func TestLagAndSecondRun(t *testing.T) {
	e := newEnv(t, 1)
	e.produce(50, 5)
	c := e.consumer(e.config("g"), newRecorder(nil))
	if lag := c.Lag(); lag != 0 {
		t.Errorf("Lag before Run = %d, want 0", lag)
	}
	cancel, done := e.run(c)
	eventually(t, "everything committed", func() bool { return e.caughtUp("g") })
	if lag := c.Lag(); lag != 0 {
		t.Errorf("Lag when caught up = %d, want 0", lag)
	}
	cancel()
	if err := wait(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if err := c.Run(context.Background()); err == nil {
		t.Error("second Run succeeded, want an error")
	}
}

func TestNewConsumerChecksConfig(t *testing.T) {
	ok := ingest.Config{Brokers: []string{"127.0.0.1:9092"}, Topic: "t", Group: "g"}
	h := ingest.HandlerFunc(func(context.Context, []ingest.Message) ([]ingest.Reject, error) { return nil, nil })

	c, err := ingest.NewConsumer(ok, h)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	got := c.Config()
	if got.DLQTopic != "t.dlq" || got.BatchSize != 500 || got.BatchWait != 50*time.Millisecond || got.MaxMessageBytes != 2<<20 {
		t.Errorf("defaults: %+v", got)
	}

	tests := []struct {
		name   string
		modify func(*ingest.Config)
	}{
		{"no brokers", func(c *ingest.Config) { c.Brokers = nil }},
		{"no topic", func(c *ingest.Config) { c.Topic = ""; c.DLQTopic = "x" }},
		{"no group", func(c *ingest.Config) { c.Group = "" }},
		{"dlq is the topic", func(c *ingest.Config) { c.DLQTopic = "t" }},
		{"negative batch size", func(c *ingest.Config) { c.BatchSize = -1 }},
		{"heartbeat not below session", func(c *ingest.Config) {
			c.HeartbeatInterval = c.SessionTimeout + time.Second
			c.SessionTimeout = time.Second
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.modify(&cfg)
			if _, err := ingest.NewConsumer(cfg, h); err == nil {
				t.Fatal("NewConsumer succeeded, want an error")
			}
		})
	}
	if _, err := ingest.NewConsumer(ok, nil); err == nil {
		t.Error("NewConsumer with a nil handler succeeded")
	}
}

func headers(m kafka.Message) map[string]string {
	out := make(map[string]string)
	for _, h := range m.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

// assignedMembers is the number of members of a stable group that own at
// least one partition, or 0 while the group is not stable or its
// assignments do not cover all partitions exactly once.
func assignedMembers(t *testing.T, addr, group string, partitions int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := (&kafka.Client{Addr: kafka.TCP(addr)}).DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil || len(resp.Groups) != 1 || resp.Groups[0].Error != nil || resp.Groups[0].GroupState != "Stable" {
		return 0
	}
	owned := make(map[int]int)
	members := 0
	for _, m := range resp.Groups[0].Members {
		n := 0
		for _, tp := range m.MemberAssignments.Topics {
			for _, p := range tp.Partitions {
				owned[p]++
				n++
			}
		}
		if n > 0 {
			members++
		}
	}
	if len(owned) != partitions {
		return 0
	}
	for _, c := range owned {
		if c != 1 {
			return 0
		}
	}
	return members
}
