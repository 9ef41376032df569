package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/policypush/policypush/internal/pii"
)

// adminURL is the server's maintenance database; each test run creates a
// database of its own next to it and drops it at the end.
const adminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// testURL is the database of this run, migrated once; empty under -short.
var testURL string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	url, drop, err := createDB(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "store tests need PostgreSQL at", adminURL, "(or run with -short):", err)
		os.Exit(1)
	}
	testURL = url
	code := func() int {
		s, err := Open(context.Background(), url, testSealer())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer s.Close()
		if err := s.Migrate(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	if err := drop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// createDB creates an empty database with a random name and returns its URL
// and a function that drops it.
func createDB(ctx context.Context) (string, func() error, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	name := "policypush_test_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, err
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
		return nil
	}
	return strings.Replace(adminURL, "/postgres?", "/"+name+"?", 1), drop, nil
}

// freshDB is createDB for one test: an empty, unmigrated database.
func freshDB(t *testing.T) string {
	t.Helper()
	skipShort(t)
	url, drop, err := createDB(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Error(err)
		}
	})
	return url
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
}

func testSealer() *pii.Sealer {
	s, err := pii.NewSealer(bytes.Repeat([]byte{7}, pii.KeySize))
	if err != nil {
		panic(err)
	}
	return s
}

// openStore opens the run's migrated database.
func openStore(t *testing.T) *Store {
	t.Helper()
	skipShort(t)
	return openURL(t, testURL)
}

func openURL(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, testSealer())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// subject returns a key unique to the test, so that tests sharing the
// database never see each other's rows.
func subject(t *testing.T, typ, id string) SubjectKey {
	return SubjectKey{Type: typ, ID: t.Name() + "/" + id}
}

// inTx runs fn in a transaction and fails the test on error.
func inTx(t *testing.T, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.InTx(t.Context(), fn); err != nil {
		t.Fatal(err)
	}
}

// testClaim is the claim of the tests that claim rows by hand.
var testClaim = Claim{Token: "test-claim", Lease: time.Minute}
