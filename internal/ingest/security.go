package ingest

import (
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/kafkasec"
)

// dialTimeout bounds a connection attempt, TLS and SASL handshakes included.
const dialTimeout = 10 * time.Second

// clients are the kafka-go dialer (for the group reader) and transport
// (for writers) that carry the cluster's TLS and SASL settings.
type clients struct {
	dialer    *kafka.Dialer
	transport *kafka.Transport
}

func newClients(s kafkasec.Settings) (clients, error) {
	tlsc, err := s.TLSConfig()
	if err != nil {
		return clients{}, fmt.Errorf("ingest: %w", err)
	}
	mech, err := s.SASL()
	if err != nil {
		return clients{}, fmt.Errorf("ingest: %w", err)
	}
	return clients{
		dialer: &kafka.Dialer{
			Timeout:       dialTimeout,
			DualStack:     true,
			TLS:           tlsc,
			SASLMechanism: mech,
		},
		transport: &kafka.Transport{
			DialTimeout: dialTimeout,
			TLS:         tlsc,
			SASL:        mech,
		},
	}, nil
}
