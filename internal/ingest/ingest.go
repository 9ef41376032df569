// Package ingest consumes profile events from Kafka in batches and hands them
// to a [Handler]; messages the handler rejects go to a dead-letter topic.
//
// Delivery is at least once. A batch's offsets are committed only after the
// handler succeeded and its rejects were written to the dead-letter queue, so
// a crash at any point makes the uncommitted batch come again (to this
// process or to another member of the consumer group). Handlers must
// therefore be idempotent.
//
// Ordering is Kafka's: messages of one partition reach the handler in offset
// order, in one batch or in consecutive batches; messages of different
// partitions may be interleaved.
//
// A batch the handler fails with a [DataError] (its content, not a
// dependency, is at fault) is split in halves, recursively, until the
// messages at fault stand alone; they go to the dead-letter topic, and the
// rest is handled. So no message can stall a partition.
//
// The package speaks to Kafka through segmentio/kafka-go. It knows nothing of
// the events' content: decoding, validation and storage belong to the
// handler.
package ingest

import (
	"context"
	"time"
)

// Message is one Kafka record as the handler sees it.
type Message struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Time      time.Time // the record's timestamp
}

// Reject names a message that can never be processed and why. The consumer
// writes it to the dead-letter topic and moves past it.
type Reject struct {
	Message Message
	// Reason is one human-readable line, such as "invalid JSON: unexpected
	// end of input". It is stored in the x-dlq-reason header, so it must not
	// carry secrets.
	Reason string
}

// Handler processes one batch of messages.
//
// It returns the messages that are invalid, which go to the dead-letter
// queue, or an error, in which case the same batch is offered again after a
// backoff and nothing is committed. Handle must be idempotent: after a crash
// or a rebalance the same messages may come again.
//
// The context is not cancelled when the consumer is asked to stop: the batch
// in flight is allowed to finish, within [Config.ShutdownTimeout].
type Handler interface {
	Handle(ctx context.Context, msgs []Message) ([]Reject, error)
}

// Preparer is implemented by a Handler that can do part of a batch's work
// before the batches ahead of it are committed: work that depends on no
// earlier batch, such as decoding and validation. The consumer then fetches
// and prepares batch N+1 while batch N is handled, and calls HandlePrepared
// instead of Handle, with what Prepare returned.
type Preparer interface {
	Prepare(ctx context.Context, msgs []Message) any
	HandlePrepared(ctx context.Context, msgs []Message, prepared any) ([]Reject, error)
}

// DataError is what a Handler returns when a batch failed because of the
// content of some of its messages, not because a dependency failed: the
// database refused a value, say, that validation let through. The consumer
// then splits the batch and handles each half on its own, and so on down,
// until it has found the messages that fail alone. Those go to the
// dead-letter topic with Reason; the rest is handled, and the partition
// moves on. Any other error retries the whole batch.
type DataError struct {
	// Reason is one line, as in [Reject]; it must not carry secrets or
	// personal data.
	Reason string
	Err    error
}

func (e *DataError) Error() string { return "refused by its content: " + e.Reason }

// Unwrap returns the handler's error.
func (e *DataError) Unwrap() error { return e.Err }

// HandlerFunc adapts a function to the [Handler] interface.
type HandlerFunc func(ctx context.Context, msgs []Message) ([]Reject, error)

// Handle calls f(ctx, msgs).
func (f HandlerFunc) Handle(ctx context.Context, msgs []Message) ([]Reject, error) {
	return f(ctx, msgs)
}

var _ Handler = HandlerFunc(nil)
