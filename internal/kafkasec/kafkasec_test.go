package kafkasec_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/kafkasec"
	"github.com/policypush/policypush/internal/kafkasec/kafkasectest"
)

func TestSecretsStayOut(t *testing.T) {
	s := kafkasec.Settings{Mechanism: "SCRAM-SHA-256", Username: "svc", Password: "hunter2-secret"}
	if strings.Contains(s.String(), "hunter2") {
		t.Fatalf("String() shows the password: %s", s)
	}
	m, err := s.SASL()
	if err != nil || m == nil || m.Name() != "SCRAM-SHA-256" {
		t.Fatalf("SASL() = %v, %v", m, err)
	}
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-512"} {
		s.Mechanism = mech
		if m, err := s.SASL(); err != nil || m.Name() != mech {
			t.Fatalf("SASL(%s) = %v, %v", mech, m, err)
		}
	}
}

func TestTLSConfig(t *testing.T) {
	dir := t.TempDir()
	ca, err := kafkasectest.NewCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := (kafkasec.Settings{}).TLSConfig(); c != nil || err != nil {
		t.Fatalf("TLS off: %v, %v", c, err)
	}
	c, err := kafkasec.Settings{TLS: true, CAFile: ca.CAFile}.TLSConfig()
	if err != nil || c.RootCAs == nil {
		t.Fatalf("TLSConfig: %v, %v", c, err)
	}
	if _, err := (kafkasec.Settings{TLS: true, CAFile: filepath.Join(dir, "missing.pem")}).TLSConfig(); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
	if _, err := (kafkasec.Settings{TLS: true, CertFile: ca.CAFile, KeyFile: ca.CAFile}).TLSConfig(); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
}

// Settings that internal/config refuses, given straight to the API: each
// fails rather than connecting with less than was asked for.
func TestMisuseFailsClosed(t *testing.T) {
	ca, err := kafkasectest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    kafkasec.Settings
		want string
	}{
		// Without the check TLSConfig would return nil: plain text.
		{"CA file with TLS off", kafkasec.Settings{CAFile: ca.CAFile}, "TLS is off"},
		{"client pair with TLS off", kafkasec.Settings{CertFile: ca.CAFile, KeyFile: ca.CAFile}, "TLS is off"},
		{"certificate without its key", kafkasec.Settings{TLS: true, CertFile: ca.CAFile}, "client certificate"},
		{"key without its certificate", kafkasec.Settings{TLS: true, KeyFile: ca.CAFile}, "client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.s.TLSConfig()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("TLSConfig = %v, %v; want an error containing %q", c, err, tc.want)
			}
		})
	}
	if m, err := (kafkasec.Settings{Mechanism: "GSSAPI", Username: "u", Password: "p"}).SASL(); err == nil || m != nil {
		t.Fatalf("SASL(GSSAPI) = %v, %v; want a refusal", m, err)
	}
}
