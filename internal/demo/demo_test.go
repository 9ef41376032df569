package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// demoDB names a database of the test's own and drops it at the end.
func demoDB(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "policypush_test_demo_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return name
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestDemo runs the showcase on a small city: it completes, its summary
// shows the policy published mid-run, fallbacks and deliveries, and the
// database agrees: one notice per match, every sent notice reported.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole service")
	}
	db := demoDB(t)
	var out, errOut bytes.Buffer
	err := Run(t.Context(), Options{
		Residents: 1500, Enterprises: 150, Seed: 7, Exit: true, Database: db,
		Getenv: env(map[string]string{
			"POLICYPUSH_DATABASE_URL":        adminURL,
			"POLICYPUSH_RULES_DIR":           "../../rules",
			"POLICYPUSH_HTTP_ADDR":           "127.0.0.1:0",
			"POLICYPUSH_KAFKA_EMBEDDED_ADDR": "127.0.0.1:0",
		}),
		Stdout: &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"per policy:", DefaultPublish + " (published mid-run)", "throughput", "latency"} {
		if !strings.Contains(text, want) {
			t.Errorf("the summary lacks %q:\n%s", want, text)
		}
	}
	total := regexp.MustCompile(`(?m)^\s*total\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`).FindStringSubmatch(text)
	if total == nil {
		t.Fatalf("no total row:\n%s", text)
	}
	n := func(i int) int { v, _ := strconv.Atoi(total[i]); return v }
	matched, wechat, sms, delivered, fallbacks := n(1), n(2), n(3), n(4), n(5)
	if matched == 0 || wechat == 0 || sms == 0 || delivered == 0 || fallbacks == 0 {
		t.Errorf("total row %v: want matches, sends on both channels, deliveries and fallbacks", total[1:])
	}

	conn, err := pgx.Connect(t.Context(), strings.Replace(adminURL, "/postgres?", "/"+db+"?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var matches, notices, unreported, published int
	if err := conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM matches), (SELECT count(*) FROM outbox),
       (SELECT count(*) FROM outbox WHERE status = 'sent'),
       (SELECT count(*) FROM matches WHERE policy_id = $1)`, DefaultPublish).Scan(&matches, &notices, &unreported, &published); err != nil {
		t.Fatal(err)
	}
	if matches != matched || notices != matches || unreported != 0 || published == 0 {
		t.Errorf("database: %d matches (summary %d), %d notices, %d without a receipt, %d of the published policy",
			matches, matched, notices, unreported, published)
	}
}

// A PostgreSQL that does not answer gets a hint, not a stack trace.
func TestDemoWithoutPostgreSQL(t *testing.T) {
	var out bytes.Buffer
	err := Run(t.Context(), Options{Residents: 1, Exit: true, Database: "policypush_demo_unused",
		Getenv: env(map[string]string{"POLICYPUSH_DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable"}),
		Stdout: &out, Stderr: &out})
	if err == nil || !strings.Contains(err.Error(), "PostgreSQL does not answer") || !strings.Contains(err.Error(), "pg_ctlcluster") {
		t.Errorf("error %v, want a hint to start PostgreSQL", err)
	}
}
