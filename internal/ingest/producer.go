package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/kafkasec"
)

// writeBatchTimeout is how long a kafka-go writer waits for more messages
// before it sends a partial batch; a synchronous write of a few messages
// waits this long.
const writeBatchTimeout = 5 * time.Millisecond

// KV is one record to produce.
type KV struct {
	Key, Value []byte
}

// Producer writes records to one topic, for tests and tools. Records with the
// same key go to the same partition (murmur2, as Java clients and librdkafka's
// murmur2 partitioner do), so one subject's events stay in order. Writes are
// synchronous and acknowledged by all in-sync replicas. It is safe for
// concurrent use.
type Producer struct {
	w *kafka.Writer
}

// NewProducer returns a producer for topic. It connects on the first write.
// Values up to [DefaultMaxMessageBytes] are accepted, if the broker accepts
// them too (Kafka's default message.max.bytes is 1 MB).
func NewProducer(brokers []string, topic string) *Producer {
	return newProducer(brokers, topic, nil)
}

// NewSecureProducer is [NewProducer] for a cluster that wants TLS or SASL.
func NewSecureProducer(brokers []string, topic string, sec kafkasec.Settings) (*Producer, error) {
	cl, err := newClients(sec)
	if err != nil {
		return nil, err
	}
	return newProducer(brokers, topic, cl.transport), nil
}

func newProducer(brokers []string, topic string, t *kafka.Transport) *Producer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchBytes:   DefaultMaxMessageBytes,
		BatchTimeout: writeBatchTimeout,
	}
	if t != nil { // a nil *Transport in the interface would not be kafka-go's default
		w.Transport = t
	}
	return &Producer{w: w}
}

// Produce writes one record and waits for its acknowledgement.
func (p *Producer) Produce(ctx context.Context, key, value []byte) error {
	return p.ProduceBatch(ctx, []KV{{Key: key, Value: value}})
}

// ProduceBatch writes records and waits until all are acknowledged. On error
// some records may have been written; the error is a kafka.WriteErrors when
// the failure is per record.
func (p *Producer) ProduceBatch(ctx context.Context, kvs []KV) error {
	if len(kvs) == 0 {
		return nil
	}
	msgs := make([]kafka.Message, len(kvs))
	for i, kv := range kvs {
		msgs[i] = kafka.Message{Key: kv.Key, Value: kv.Value}
	}
	if err := p.w.WriteMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("ingest: produce %d to %s: %w", len(msgs), p.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error {
	if err := p.w.Close(); err != nil {
		return fmt.Errorf("ingest: close producer: %w", err)
	}
	return nil
}
