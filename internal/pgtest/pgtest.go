// Package pgtest gives each test its own PostgreSQL database, so that test
// runs never interfere. It is imported by tests only.
package pgtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
)

// AdminURL is the server's maintenance database, as the machine runs it.
const AdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// NewDatabase creates a database that is dropped when the test ends, and
// returns its URL. The test is skipped when PostgreSQL is not reachable.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, AdminURL)
	if err != nil {
		t.Skipf("PostgreSQL is not reachable: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("policypush_test_%d", rand.Uint64())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), AdminURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return "postgres://postgres@127.0.0.1:5432/" + name + "?sslmode=disable"
}
