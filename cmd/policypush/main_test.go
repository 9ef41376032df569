package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"

	"github.com/policypush/policypush/internal/testlog"
)

// TestTwoServeProcesses runs two real policypush processes in one consumer
// group against one database. The first runs the embedded broker, which
// this test, an outside producer, publishes to. Together they apply every
// event once and match no pair twice, and SIGTERM stops each cleanly.
func TestTwoServeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	ctx := context.Background()
	dbURL := pgtest.NewDatabase(t)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	brokerAddr := lis.Addr().String()
	lis.Close()

	bin := filepath.Join(t.TempDir(), "policypush")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	migrate := exec.Command(bin, "migrate")
	migrate.Env = append(os.Environ(), "POLICYPUSH_DATABASE_URL="+dbURL)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	var procs []*exec.Cmd
	for i, brokers := range []string{"embedded", brokerAddr} {
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(),
			"POLICYPUSH_DATABASE_URL="+dbURL,
			"POLICYPUSH_KAFKA_BROKERS="+brokers,
			"POLICYPUSH_KAFKA_EMBEDDED_ADDR="+brokerAddr,
			"POLICYPUSH_RULES_DIR=../../rules",
			"POLICYPUSH_HTTP_ADDR=127.0.0.1:0",
			"POLICYPUSH_PII_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"POLICYPUSH_ADMIN_TOKEN=test-admin-token-0123",
			"POLICYPUSH_BATCH_WAIT=20ms",
		)
		logPath := filepath.Join(t.TempDir(), fmt.Sprintf("serve%d.log", i))
		log, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		testlog.CopyFile(t, logPath) // into the captured output, which CI scans
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		t.Cleanup(func() { _ = cmd.Process.Kill() })
	}

	// The examples, each under 20 subject ids.
	f, err := os.Open("../../examples/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kvs []ingest.KV
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		for i := 0; i < 20; i++ {
			var e map[string]any
			_ = json.Unmarshal(sc.Bytes(), &e)
			data := e["data"].(map[string]any)
			field := "person_id"
			id := fmt.Sprintf("%v_%d", data[field], i)
			if e["subject_type"] == "enterprise" {
				field = "uscc"
				id = fmt.Sprintf("%s%02d%04d", fmt.Sprint(data[field])[:12], line, i)
			}
			data[field], e["subject_id"], e["event_id"] = id, id, fmt.Sprintf("ev-%d-%d", line, i)
			raw, _ := json.Marshal(e)
			kvs = append(kvs, ingest.KV{Key: []byte(id), Value: raw})
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.Dial("tcp", brokerAddr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the embedded broker did not come up: %v", err)
		}
	}
	p := ingest.NewProducer([]string{brokerAddr}, "profile-events")
	if err := p.ProduceBatch(ctx, kvs); err != nil {
		t.Fatal(err)
	}
	_ = p.Close()

	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	count := func(q string) int {
		var n int
		if err := db.QueryRow(ctx, q).Scan(&n); err != nil {
			return -1 // not migrated yet
		}
		return n
	}
	deadline := time.Now().Add(90 * time.Second)
	for count("SELECT count(*) FROM applied_events") != len(kvs) {
		if time.Now().After(deadline) {
			t.Fatalf("applied %d of %d events", count("SELECT count(*) FROM applied_events"), len(kvs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := expectedMatches(t, kvs)
	matches := count("SELECT count(*) FROM matches")
	if matches != want || count("SELECT count(*) FROM outbox") != want || want == 0 {
		t.Errorf("%d matches and %d outbox rows, want %d each", matches, count("SELECT count(*) FROM outbox"), want)
	}
	if n := count("SELECT count(DISTINCT event_id) FROM matches"); n < 2 {
		t.Errorf("matches came from %d events", n)
	}
	for i, cmd := range procs {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("process %d did not exit cleanly on SIGTERM: %v", i, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("process %d ignored SIGTERM", i)
		}
	}
}

// expectedMatches counts the pairs the rules say must match now.
func expectedMatches(t *testing.T, kvs []ingest.KV) int {
	t.Helper()
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	at, ev, n := set.At(time.Now()), set.NewEvaluator(), 0
	for _, kv := range kvs {
		env, err := v.DecodeEnvelope(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		subject, err := v.Decode(env.SubjectType, env.Data)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := set.Prepare(subject)
		for _, p := range set.Policies() {
			if p.Subject != in.Kind || !p.Applies(at) {
				continue
			}
			o := ev.Evaluate(p, in, at)
			if p.Notifies(o.Result) {
				n++
			}
		}
	}
	return n
}
