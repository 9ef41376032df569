package kafkaembed_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/kafkaembed"
)

func start(t *testing.T, partitions int, topics ...string) *kafkaembed.Broker {
	t.Helper()
	b, err := kafkaembed.Start("127.0.0.1:0", partitions, topics...)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestStartSeedsTopicsOnAFreePort(t *testing.T) {
	b := start(t, 8, "profile-events", "profile-events.dlq")

	host, port, err := net.SplitHostPort(b.Addr())
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("Addr() = %q (%v), want 127.0.0.1 and a real port", b.Addr(), err)
	}
	conn, err := kafka.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	for _, topic := range []string{"profile-events", "profile-events.dlq"} {
		parts, err := conn.ReadPartitions(topic)
		if err != nil {
			t.Fatalf("ReadPartitions(%s): %v", topic, err)
		}
		if len(parts) != 8 {
			t.Errorf("%s has %d partitions, want 8", topic, len(parts))
		}
		for _, p := range parts {
			if got := net.JoinHostPort(p.Leader.Host, strconv.Itoa(p.Leader.Port)); got != b.Addr() {
				t.Errorf("%s/%d leader advertised as %s, want %s", topic, p.ID, got, b.Addr())
			}
		}
	}
}

func TestStartAdvertisesLoopbackForWildcard(t *testing.T) {
	b, err := kafkaembed.Start("0.0.0.0:0", 1)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer b.Close()
	if !strings.HasPrefix(b.Addr(), "127.0.0.1:") {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port", b.Addr())
	}
}

func TestStartRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name       string
		addr       string
		partitions int
	}{
		{"no partitions", "127.0.0.1:0", 0},
		{"no port", "127.0.0.1", 1},
		{"unresolvable", "no-such-host.invalid:0", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := kafkaembed.Start(tc.addr, tc.partitions, "t")
			if err == nil {
				b.Close()
				t.Fatal("Start succeeded, want an error")
			}
		})
	}
}

func TestStartRejectsTakenPort(t *testing.T) {
	b := start(t, 1)
	if b2, err := kafkaembed.Start(b.Addr(), 1); err == nil {
		b2.Close()
		t.Fatal("second Start on the same address succeeded")
	}
}

// A value of 1 MiB + 4 KiB is over Kafka's default message.max.bytes; the
// embedded broker must take it.
func TestLargeMessageRoundTrip(t *testing.T) {
	b := start(t, 2, "big")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	value := bytes.Repeat([]byte("0123456789abcdef"), (1<<20+4<<10)/16)
	w := &kafka.Writer{
		Addr:         kafka.TCP(b.Addr()),
		Topic:        "big",
		Balancer:     kafka.BalancerFunc(func(kafka.Message, ...int) int { return 1 }),
		RequiredAcks: kafka.RequireAll,
		BatchBytes:   4 << 20,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafka.Message{Key: []byte("k"), Value: value}); err != nil {
		t.Fatalf("write %d bytes: %v", len(value), err)
	}

	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{b.Addr()},
		Topic:     "big",
		Partition: 1,
		MaxBytes:  2 << 20,
		MaxWait:   100 * time.Millisecond,
	})
	defer r.Close()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if !bytes.Equal(m.Value, value) || string(m.Key) != "k" {
		t.Fatalf("read back key %q and %d bytes, want %q and %d bytes", m.Key, len(m.Value), "k", len(value))
	}
}

// Topics nobody seeded are created on first use, like a Kafka broker with
// auto.create.topics.enable, with the configured partition count.
func TestAutoCreatesTopics(t *testing.T) {
	b := start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := &kafka.Writer{
		Addr:                   kafka.TCP(b.Addr()),
		Topic:                  "fresh",
		AllowAutoTopicCreation: true,
		BatchTimeout:           time.Millisecond,
	}
	defer w.Close()
	var err error
	for ctx.Err() == nil {
		// The first write may race the topic's creation.
		if err = w.WriteMessages(ctx, kafka.Message{Value: []byte("x")}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("write: %v", err)
	}
	conn, err := kafka.Dial("tcp", b.Addr())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions("fresh")
	if err != nil || len(parts) != 3 {
		t.Fatalf("ReadPartitions = %d partitions, %v; want 3", len(parts), err)
	}
}
