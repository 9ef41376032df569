package app

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/kafkaembed"
	"github.com/policypush/policypush/internal/kafkasec"
	"github.com/policypush/policypush/internal/kafkasec/kafkasectest"
)

// TestServeOverSecureKafka runs the service against a broker that wants TLS
// and SCRAM, configured the way an operator would: through the settings of
// POLICYPUSH_KAFKA_TLS* and _SASL_*.
func TestServeOverSecureKafka(t *testing.T) {
	e := newEnv(t)
	ca, err := kafkasectest.NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := kafkaembed.StartSecure("127.0.0.1:0", 4, kafkaembed.Security{
		TLS:   ca.Server,
		Users: []kafkaembed.User{{Mechanism: kafkasec.ScramSHA512, Name: "policypush", Password: "s3cret-pw"}},
	}, e.cfg.KafkaTopic, e.cfg.KafkaTopic+".dlq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	sec := kafkasec.Settings{TLS: true, CAFile: ca.CAFile, Mechanism: kafkasec.ScramSHA512, Username: "policypush", Password: "s3cret-pw"}
	e.cfg.KafkaBrokers = []string{b.Addr()}
	e.cfg.KafkaSecurity = sec

	events, want := fixture(t, 3)
	s := e.start(ingest.Hooks{})
	p, err := ingest.NewSecureProducer([]string{b.Addr()}, e.cfg.KafkaTopic, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	kvs := make([]ingest.KV, len(events))
	for i, ev := range events {
		var k struct {
			SubjectID string `json:"subject_id"`
		}
		_ = json.Unmarshal(ev, &k)
		kvs[i] = ingest.KV{Key: []byte(k.SubjectID), Value: ev}
	}
	if err := p.ProduceBatch(context.Background(), kvs); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the events over TLS and SCRAM", func() bool { return s.processed.Load() >= int64(len(events)) })
	if got := e.pairs(); !equalLists(got, want) || len(want) == 0 {
		t.Fatalf("matches over the secured cluster:\n%v\nwant:\n%v", got, want)
	}
}
