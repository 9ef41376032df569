package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/policypush/policypush/internal/kafkasec"
)

// Defaults for the zero fields of [Config].
const (
	DefaultBatchSize         = 500
	DefaultBatchWait         = 50 * time.Millisecond
	DefaultMaxMessageBytes   = 2 << 20
	DefaultSessionTimeout    = 10 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultRebalanceTimeout  = 10 * time.Second
	DefaultMaxWait           = 500 * time.Millisecond
	DefaultShutdownTimeout   = 10 * time.Second
	// DLQSuffix is appended to Topic when DLQTopic is empty.
	DLQSuffix = ".dlq"
)

// Config configures a [Consumer]. Zero fields take the defaults above.
type Config struct {
	Brokers []string // bootstrap brokers, host:port
	Topic   string   // the topic to consume
	Group   string   // the consumer group; processes sharing it share the partitions

	DLQTopic string // dead-letter topic; default Topic + ".dlq". It must exist.

	BatchSize int           // most messages per batch; default 500
	BatchWait time.Duration // how long to wait to fill a batch once its first message arrived; default 50ms

	// MaxMessageBytes bounds a fetch per partition (and the dead-letter
	// writer's requests); it must exceed the largest record the topic holds.
	// Default 2 MiB.
	MaxMessageBytes int

	// Consumer-group timings. The defaults suit a production cluster; tests
	// shorten them. HeartbeatInterval also bounds how quickly a member notices
	// a rebalance, for instance when a second process joins.
	SessionTimeout    time.Duration // default 10s
	HeartbeatInterval time.Duration // default 1s
	RebalanceTimeout  time.Duration // default 10s

	// MaxWait is how long one fetch request waits on the broker for new data.
	// Default 500ms.
	MaxWait time.Duration

	// ShutdownTimeout bounds how long the batch in flight may still take
	// (handling, dead-letter write and commit) once Run's context is
	// cancelled. Default 10s.
	ShutdownTimeout time.Duration

	// Security is how to reach a cluster that wants TLS or SASL; the zero
	// value is plaintext without authentication.
	Security kafkasec.Settings
}

func (c Config) withDefaults() Config {
	if c.DLQTopic == "" && c.Topic != "" {
		c.DLQTopic = c.Topic + DLQSuffix
	}
	setDefault(&c.BatchSize, DefaultBatchSize)
	setDefault(&c.BatchWait, DefaultBatchWait)
	setDefault(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setDefault(&c.SessionTimeout, DefaultSessionTimeout)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.RebalanceTimeout, DefaultRebalanceTimeout)
	setDefault(&c.MaxWait, DefaultMaxWait)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	return c
}

func setDefault[T int | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// validate reports every problem of a defaulted config at once. kafka-go
// panics on some bad values, so they are caught here first.
func (c Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("no consumer group"))
	}
	if c.DLQTopic == c.Topic {
		errs = append(errs, fmt.Errorf("dead-letter topic %q is the consumed topic", c.DLQTopic))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"batch size", int64(c.BatchSize)},
		{"batch wait", int64(c.BatchWait)},
		{"max message bytes", int64(c.MaxMessageBytes)},
		{"session timeout", int64(c.SessionTimeout)},
		{"heartbeat interval", int64(c.HeartbeatInterval)},
		{"rebalance timeout", int64(c.RebalanceTimeout)},
		{"max wait", int64(c.MaxWait)},
		{"shutdown timeout", int64(c.ShutdownTimeout)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("negative %s", f.name))
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %v is not below session timeout %v", c.HeartbeatInterval, c.SessionTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ingest: invalid config: %w", err)
	}
	return nil
}
