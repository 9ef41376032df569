package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/ingest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/store"
)

// keyIDOf is the id of a base64 PII key.
func keyIDOf(t *testing.T, b64 config.Secret) pii.KeyID {
	t.Helper()
	k, err := pii.ParseKey(b64.Value())
	if err != nil {
		t.Fatal(err)
	}
	s, err := pii.NewSealer(k)
	if err != nil {
		t.Fatal(err)
	}
	return s.KeyID()
}

const otherKey = config.Secret("QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=")

// Started with only a new key while the data is under the old one, serve
// refuses at once, naming the old key's id and where keys go; it consumes
// nothing, so no batch is retried.
func TestStartRefusesUnheldKey(t *testing.T) {
	e := newEnv(t)
	oldKey := e.cfg.PIIKey
	s := e.start(ingest.Hooks{})
	e.produce(eligible("r-1", "p_rot"))
	e.waitFor("the event applied", func() bool { return s.processed.Load() >= 1 })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	e.cfg.PIIKey = otherKey
	e.produce(eligible("r-2", "p_rot2"))
	s2 := e.start(ingest.Hooks{})
	select {
	case <-s2.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve without the old key did not stop")
	}
	id := keyIDOf(t, oldKey).String()
	if s2.err == nil || !errors.Is(s2.err, store.ErrWrongKey) || !strings.Contains(s2.err.Error(), "key id "+id) ||
		!strings.Contains(s2.err.Error(), "POLICYPUSH_PII_KEYS") {
		t.Fatalf("serve without the old key = %v, want a refusal naming key id %s and POLICYPUSH_PII_KEYS", s2.err, id)
	}
	if msg := s2.err.Error(); strings.Contains(msg, "QkJC") || strings.Contains(msg, "MDEy") {
		t.Errorf("the refusal %q shows key material", msg)
	}
	if n := s2.processed.Load(); n != 0 {
		t.Errorf("the refused serve processed %d messages", n)
	}
}

// The whole rotation beside a running serve: restart with the new key and
// the old one in POLICYPUSH_PII_KEYS, run reseal while events arrive, and an
// opt-out reply for a subject first sealed under the old key is found; then
// serve starts with the new key alone.
func TestResealBesideServe(t *testing.T) {
	e := newEnv(t)
	oldKey := e.cfg.PIIKey
	s := e.start(ingest.Hooks{})
	e.produce(eligible("b-1", "p_before"))
	e.waitFor("the event applied", func() bool { return s.processed.Load() >= 1 })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	e.cfg.PIIKey, e.cfg.PIIOldKeys = otherKey, []config.Secret{oldKey}
	s = e.start(ingest.Hooks{})
	var events [][]byte
	for _, id := range []string{"p_during_1", "p_during_2", "p_during_3", "p_before"} {
		events = append(events, eligible("d-"+id, id))
	}
	e.produce(events[:2]...)
	var out bytes.Buffer
	ctx := context.Background()
	if err := Reseal(ctx, e.cfg, &out, slog.New(slog.NewTextHandler(io.Discard, nil)), 1); err != nil {
		t.Fatalf("reseal beside serve: %v\n%s", err, &out)
	}
	e.produce(events[2:]...)
	e.waitFor("the events applied", func() bool { return s.processed.Load() >= int64(len(events)) })
	oldID := keyIDOf(t, oldKey).String()
	if !strings.Contains(out.String(), "Remove key id "+oldID+" from POLICYPUSH_PII_KEYS") {
		t.Errorf("reseal's output does not say the old key can go:\n%s", &out)
	}
	if strings.Contains(out.String(), "QkJC") || strings.Contains(out.String(), "MDEy") || strings.Contains(out.String(), "13800135678") {
		t.Errorf("reseal's output shows a key or a number:\n%s", &out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// Only the new key from here on; any profile written under the old key
	// during the run would be refused by name.
	e.cfg.PIIOldKeys = nil
	s = e.start(ingest.Hooks{})
	select {
	case <-s.addr:
	case <-s.done:
		t.Fatalf("serve with the new key alone after reseal: %v", s.err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve with the new key alone did not become ready")
	}
	st, err := openStore(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// eligible gives every subject the same mobile: all four are found.
	n, err := st.OptOutContact(ctx, store.ContactMobile, "13800135678", "sms", "sms_reply", time.Now())
	if err != nil || n != 4 {
		t.Errorf("a 退订 after the rotation found %d subjects (%v), want 4", n, err)
	}
	if err := s.stop(); err != nil {
		t.Errorf("serve with the new key alone: %v", err)
	}
}

// A replica left behind by a rotation after it started is not ready, and
// /readyz names the pii_key check (the log says which key id, the answer
// nothing more): when another replica starts sealing under a key it does
// not hold, and when reseal retires the key it seals under.
func TestReadyzFollowsKeyRotation(t *testing.T) {
	tests := []struct {
		name string
		old  []config.Secret // this replica's POLICYPUSH_PII_KEYS
		// rotate does, as another replica or operator, what leaves this
		// replica behind; cfg is the other replica's configuration.
		rotate func(t *testing.T, cfg *config.Config)
		log    string // in the log line of the failing check
	}{
		{name: "another replica seals under a key not held", rotate: func(t *testing.T, cfg *config.Config) {
			st, err := openStore(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if err := st.CheckKey(t.Context()); err != nil { // what its serve does at start
				t.Fatal(err)
			}
		}, log: "another replica seals under it"},
		{name: "reseal retires the key this replica seals under", old: []config.Secret{otherKey}, rotate: func(t *testing.T, cfg *config.Config) {
			if err := Reseal(t.Context(), cfg, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)), 100); err != nil {
				t.Fatal(err)
			}
		}, log: "was retired by reseal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			var logs syncBuffer
			e.logs = &logs
			ownKey := e.cfg.PIIKey
			e.cfg.PIIOldKeys = tt.old
			s := e.start(ingest.Hooks{})
			var addr string
			select {
			case addr = <-s.addr:
			case <-s.done:
				t.Fatalf("serve: %v", s.err)
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not listen")
			}
			ready := `{"database":"ok","kafka":"ok","pii_key":"ok","rules":"ok"}`
			if code, body := readyz(t, addr); code != http.StatusOK || body != ready {
				t.Fatalf("/readyz before the rotation = %d %s, want 200 %s", code, body, ready)
			}

			other := *e.cfg
			other.PIIKey, other.PIIOldKeys = otherKey, []config.Secret{ownKey}
			tt.rotate(t, &other)

			want := `{"database":"ok","kafka":"ok","pii_key":"failing","rules":"ok"}`
			code, body := readyz(t, addr)
			if code != http.StatusServiceUnavailable || body != want {
				t.Fatalf("/readyz after the rotation = %d %s, want 503 %s", code, body, want)
			}
			var line string
			for _, l := range strings.Split(logs.String(), "\n") {
				if strings.Contains(l, "readiness check failing") && strings.Contains(l, "check=pii_key") {
					line = l
				}
			}
			if !strings.Contains(line, tt.log) || !strings.Contains(line, "key id "+keyIDOf(t, otherKey).String()) {
				t.Errorf("the failing check's log line %q does not say %q and name key id %s", line, tt.log, keyIDOf(t, otherKey))
			}
			if strings.Contains(logs.String(), "QkJC") || strings.Contains(logs.String(), "MDEy") {
				t.Error("the log shows key material")
			}
		})
	}
}

// readyz returns /readyz's status and body.
func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// migrate checks and records no PII key, unlike serve and reseal: run
// with a key the database does not know, it migrates, and the key stays
// unrecorded, so the replicas still without it keep starting.
func TestMigrateRecordsNoKey(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := openKeyed(ctx, e.cfg, log) // as serve starts: records its key
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	next := *e.cfg
	next.PIIKey = otherKey
	for range 2 { // a second run finds nothing to do
		if err := Migrate(ctx, &next); err != nil {
			t.Fatalf("migrate with a key the database does not know: %v", err)
		}
	}
	if n := e.count(`SELECT count(*) FROM pii_keys`); n != 1 {
		t.Errorf("pii_keys holds %d keys after migrate, want serve's 1", n)
	}
	if id := keyIDOf(t, otherKey); e.count(`SELECT count(*) FROM pii_keys WHERE key_id = $1`, id[:]) != 0 {
		t.Errorf("migrate recorded its key")
	}
	if st, err := openKeyed(ctx, e.cfg, log); err != nil {
		t.Errorf("serve's key after migrate with another: %v", err)
	} else {
		st.Close()
	}
	// What migrate skips would have refused it.
	if st, err := openKeyed(ctx, &next, log); !errors.Is(err, store.ErrWrongKey) {
		if err == nil {
			st.Close()
		}
		t.Errorf("serve with the other key alone = %v, want %v", err, store.ErrWrongKey)
	}
}
