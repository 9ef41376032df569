package ingest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"
)

// BenchmarkConsume measures the consumer loop (fetch, batch, no-op Handle,
// commit) over real TCP to the embedded broker, against a raw kafka-go
// group reader that only fetches, as a baseline.
func BenchmarkConsume(b *testing.B) {
	for _, bc := range []struct {
		name string
		run  func(b *testing.B, addr, group string, n int)
	}{
		{"ingest", benchIngest},
		{"raw-kafka-go", benchRaw},
	} {
		b.Run(bc.name, func(b *testing.B) {
			broker, err := kafkaembed.Start("127.0.0.1:0", 8, topic, dlqTopic)
			if err != nil {
				b.Fatal(err)
			}
			defer broker.Close()
			p := ingest.NewProducer([]string{broker.Addr()}, topic)
			defer p.Close()
			kvs := make([]ingest.KV, b.N)
			for i := range kvs {
				kvs[i] = ingest.KV{Key: fmt.Appendf(nil, "p_%08x", i), Value: make([]byte, 512)}
			}
			if err := p.ProduceBatch(context.Background(), kvs); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			bc.run(b, broker.Addr(), "bench", b.N)
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

func benchIngest(b *testing.B, addr, group string, n int) {
	var seen atomic.Int64
	done := make(chan struct{})
	h := ingest.HandlerFunc(func(_ context.Context, msgs []ingest.Message) ([]ingest.Reject, error) {
		if seen.Add(int64(len(msgs))) >= int64(n) {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return nil, nil
	})
	c, err := ingest.NewConsumer(ingest.Config{
		Brokers: []string{addr}, Topic: topic, Group: group,
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 3 * time.Second,
	}, h)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	<-done
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

func benchRaw(b *testing.B, addr, group string, n int) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, Topic: topic, GroupID: group,
		MaxBytes: 2 << 20, QueueCapacity: 500, MaxWait: 500 * time.Millisecond,
		HeartbeatInterval: 100 * time.Millisecond, SessionTimeout: 3 * time.Second,
	})
	defer r.Close()
	for range n {
		if _, err := r.FetchMessage(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
