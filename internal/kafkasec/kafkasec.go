// Package kafkasec turns the service's Kafka security settings (TLS and
// SASL) into the TLS configuration and SASL mechanism that kafka-go's
// dialer and transport take. It reads certificate files but opens no
// connection.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// The SASL mechanisms the service speaks, by their Kafka names.
const (
	Plain       = "PLAIN"
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Settings say how to reach a secured cluster. The zero value is a
// plaintext connection without authentication.
type Settings struct {
	TLS bool
	// CAFile verifies the brokers' certificates; empty uses the system
	// roots. CertFile and KeyFile, both or neither, are the client's own
	// certificate for mutual TLS.
	CAFile, CertFile, KeyFile string

	// Mechanism is empty (no SASL), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	Username  string
	Password  string // never printed: see String
}

// String describes the settings without the password.
func (s Settings) String() string {
	tlsOn := "off"
	if s.TLS {
		tlsOn = "on"
	}
	sasl := "none"
	if s.Mechanism != "" {
		sasl = s.Mechanism + " as " + s.Username
	}
	return "tls=" + tlsOn + " sasl=" + sasl
}

// GoString hides the password in %#v too.
func (s Settings) GoString() string { return "kafkasec.Settings{" + s.String() + "}" }

// TLSConfig returns the client TLS configuration, or nil when TLS is off.
// Certificate files with TLS off are refused: the connection would go out
// in plain text while its caller asked for a CA or a client certificate.
//
// The service's settings come from internal/config, which checks them all
// (with the variables' names) before they get here; this is the one check
// kept for other callers, since its mistake fails open, not closed. The
// others fail closed as they are: a half client pair does not load, an
// unknown mechanism is refused by SASL, and missing or unused credentials
// are refused by the broker.
func (s Settings) TLSConfig() (*tls.Config, error) {
	if !s.TLS {
		if s.CAFile != "" || s.CertFile != "" || s.KeyFile != "" {
			return nil, errors.New("kafka TLS: certificate files are set but TLS is off")
		}
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka TLS CA %s: no PEM certificate in it", s.CAFile)
		}
		c.RootCAs = pool
	}
	if s.CertFile != "" || s.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka TLS client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// SASL returns the mechanism, or nil when SASL is off. Its errors never
// hold the password.
func (s Settings) SASL() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case "":
		return nil, nil
	case Plain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case ScramSHA256, ScramSHA512:
		algo := scram.SHA256
		if s.Mechanism == ScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			return nil, fmt.Errorf("kafka SASL %s: cannot prepare the credentials", s.Mechanism)
		}
		return m, nil
	default:
		return nil, fmt.Errorf("kafka SASL mechanism %q is not %s, %s or %s", s.Mechanism, Plain, ScramSHA256, ScramSHA512)
	}
}
