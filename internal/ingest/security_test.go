package ingest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"
	"github.com/policypush/policypush/internal/kafkasec"
	"github.com/policypush/policypush/internal/kafkasec/kafkasectest"
)

// secureBroker starts a one-partition broker with TLS from a fresh CA and
// SASL users of every mechanism, and returns it with the CA file.
func secureBroker(t *testing.T) (addr, caFile string) {
	t.Helper()
	ca, err := kafkasectest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := kafkaembed.StartSecure("127.0.0.1:0", 1, kafkaembed.Security{
		TLS: ca.Server,
		Users: []kafkaembed.User{
			{Mechanism: kafkasec.Plain, Name: "plain-user", Password: "plain-pw"},
			{Mechanism: kafkasec.ScramSHA256, Name: "scram256-user", Password: "scram256-pw"},
			{Mechanism: kafkasec.ScramSHA512, Name: "scram512-user", Password: "scram512-pw"},
		},
	}, topic, dlqTopic)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(b.Close)
	return b.Addr(), ca.CAFile
}

// TestSecureCluster consumes, dead-letters and commits over TLS with each
// SASL mechanism, through the same settings the service reads from its
// environment.
func TestSecureCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	addr, caFile := secureBroker(t)
	for _, tc := range []struct{ mech, user, pw string }{
		{kafkasec.Plain, "plain-user", "plain-pw"},
		{kafkasec.ScramSHA256, "scram256-user", "scram256-pw"},
		{kafkasec.ScramSHA512, "scram512-user", "scram512-pw"},
	} {
		t.Run(tc.mech, func(t *testing.T) {
			sec := kafkasec.Settings{TLS: true, CAFile: caFile, Mechanism: tc.mech, Username: tc.user, Password: tc.pw}
			p, err := ingest.NewSecureProducer([]string{addr}, topic, sec)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const n = 6
			kvs := make([]ingest.KV, n)
			for i := range kvs {
				kvs[i] = ingest.KV{Key: []byte(tc.mech), Value: []byte(tc.mech + ":" + strconv.Itoa(i))}
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if err := p.ProduceBatch(ctx, kvs); err != nil {
				t.Fatalf("produce over TLS+%s: %v", tc.mech, err)
			}

			var mu sync.Mutex
			seen := map[string]bool{}
			got := make(chan struct{})
			h := ingest.HandlerFunc(func(_ context.Context, msgs []ingest.Message) ([]ingest.Reject, error) {
				mu.Lock()
				defer mu.Unlock()
				var rejects []ingest.Reject
				for _, m := range msgs {
					v := string(m.Value)
					if len(v) <= len(tc.mech) || v[:len(tc.mech)] != tc.mech || seen[v] {
						continue // another subtest's record, or a redelivery
					}
					seen[v] = true
					if v == tc.mech+":0" {
						rejects = append(rejects, ingest.Reject{Message: m, Reason: "refused in the test"})
					}
				}
				if len(seen) == n {
					select {
					case <-got:
					default:
						close(got)
					}
				}
				return rejects, nil
			})
			cfg := ingest.Config{
				Brokers: []string{addr}, Topic: topic, Group: "g-" + tc.mech,
				BatchWait: 20 * time.Millisecond, SessionTimeout: 3 * time.Second,
				HeartbeatInterval: 100 * time.Millisecond, RebalanceTimeout: 3 * time.Second,
				MaxWait: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
				Security: sec,
			}
			c, err := ingest.NewConsumer(cfg, h, ingest.WithLogger(testLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(runCtx) }()
			select {
			case <-got:
			case <-time.After(waitFor):
				t.Fatalf("consumed %d of %d records over TLS+%s", len(seen), n, tc.mech)
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if !dlqHas(t, addr, caFile, sec, tc.mech+":0") {
				t.Fatalf("the refused record is not in the dead-letter topic")
			}
		})
	}
}

// dlqHas reads the dead-letter topic over the secured connection and
// reports whether a record with value v is there.
func dlqHas(t *testing.T, addr, caFile string, sec kafkasec.Settings, v string) bool {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	mech, err := sec.SASL()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{addr}, Topic: dlqTopic, Partition: 0, MaxWait: 100 * time.Millisecond,
		Dialer: &kafka.Dialer{Timeout: 5 * time.Second, TLS: &tls.Config{RootCAs: pool}, SASLMechanism: mech},
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			return false
		}
		if string(m.Value) == v {
			return true
		}
	}
}

// TestSecureClusterRefusesWrongCredentials shows the broker really checks:
// a wrong password, or no TLS, gets nothing through.
func TestSecureClusterRefusesWrongCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	addr, caFile := secureBroker(t)
	for name, sec := range map[string]kafkasec.Settings{
		"wrong password": {TLS: true, CAFile: caFile, Mechanism: kafkasec.ScramSHA256, Username: "scram256-user", Password: "nope"},
		"no SASL":        {TLS: true, CAFile: caFile},
		"untrusted CA":   {TLS: true, Mechanism: kafkasec.Plain, Username: "plain-user", Password: "plain-pw"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := ingest.NewSecureProducer([]string{addr}, topic, sec)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			err = p.Produce(ctx, []byte("k"), []byte("v"))
			if err == nil {
				t.Fatal("the broker took a record")
			}
			if sec.Password != "" && strings.Contains(err.Error(), sec.Password) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
