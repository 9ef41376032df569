package app

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
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
