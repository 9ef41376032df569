package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestRefused(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		ok     bool
		reason string
	}{
		{"check violation", fmt.Errorf("apply batch: %w", &pgconn.PgError{Code: "23514", Message: `new row for relation "profiles" violates check constraint "no_x"`, Detail: "Failing row contains (resident, p1, 13800138000)."}),
			true, `the database refused it: new row for relation "profiles" violates check constraint "no_x" (SQLSTATE 23514)`},
		{"NUL", &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0x00`},
			true, `the database refused it: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)`},
		{"quoted value", &pgconn.PgError{Code: "22P02", Message: `invalid input syntax for type integer: "13800138000"`},
			true, `the database refused it: invalid input syntax for type integer: "…" (SQLSTATE 22P02)`},
		{"value out of range", &pgconn.PgError{Code: "22003", Message: `value "99999999999" is out of range for type integer`},
			true, `the database refused it: value "…" is out of range for type integer (SQLSTATE 22003)`},
		{"connection", &pgconn.PgError{Code: "08006", Message: "connection failure"}, false, ""},
		{"resources", &pgconn.PgError{Code: "53300", Message: "too many connections"}, false, ""},
		{"shutdown", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, false, ""},
		{"syntax", &pgconn.PgError{Code: "42601", Message: "syntax error"}, false, ""},
		{"context", context.DeadlineExceeded, false, ""},
		{"other", errors.New("conn closed"), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, ok := Refused(tt.err)
			if ok != tt.ok || reason != tt.reason {
				t.Errorf("Refused = %q, %v; want %q, %v", reason, ok, tt.reason, tt.ok)
			}
		})
	}
}

// The server's own refusals are recognised, and the values they quote are
// left out.
func TestRefusedByTheServer(t *testing.T) {
	if testURL == "" {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`SELECT '13800138000'::int`,
		`SELECT E'a\\u0000b'::jsonb`,
		`SELECT convert_from('\x00'::bytea, 'UTF8')`,
		`SELECT '"\u0000"'::jsonb`,
	} {
		_, err := conn.Exec(ctx, q)
		reason, ok := Refused(err)
		if !ok {
			t.Errorf("%s: %v not recognised as refused", q, err)
			continue
		}
		if strings.Contains(reason, "13800138000") {
			t.Errorf("%s: reason %q quotes the value", q, reason)
		}
	}
}
