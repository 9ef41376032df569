package kafkasec_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/kafkasec"
	"github.com/policypush/policypush/internal/kafkasec/kafkasectest"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    kafkasec.Settings
		want string // a fragment of the error; empty for none
	}{
		{"zero", kafkasec.Settings{}, ""},
		{"tls", kafkasec.Settings{TLS: true, CAFile: "ca.pem"}, ""},
		{"scram", kafkasec.Settings{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}, ""},
		{"files without tls", kafkasec.Settings{CAFile: "ca.pem"}, "TLS is off"},
		{"cert without key", kafkasec.Settings{TLS: true, CertFile: "c.pem"}, "both"},
		{"user without mechanism", kafkasec.Settings{Username: "u"}, "without a mechanism"},
		{"mechanism without password", kafkasec.Settings{Mechanism: "PLAIN", Username: "u"}, "needs a username and a password"},
		{"unknown mechanism", kafkasec.Settings{Mechanism: "GSSAPI", Username: "u", Password: "p"}, "is not PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

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
