package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

// TestDisputeNoteInput: a dispute's note that the database cannot hold —
// a NUL, which a JSON client sends as \u0000 — is the person's mistake,
// answered as an InputError (400), never a store failure (503); and a
// note the database can hold is still recorded.
func TestDisputeNoteInput(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := t.Context()
	sealer, _ := pii.NewSealer(bytes.Repeat([]byte{7}, pii.KeySize))
	st, err := store.Open(ctx, pgtest.NewDatabase(t), sealer)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "answer-one.yaml"),
		[]byte(answerRule("answer-one", "答复测试一号补贴", "本市户籍", "resident.hukou.is_local == true")), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := ruledir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var cur atomic.Pointer[rules.Set]
	cur.Store(set)
	k := store.SubjectKey{Type: "resident", ID: "p_note"}
	sentAt := time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai)
	err = st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Save(ctx, &store.Batch{Matches: []store.NewMatch{{
			Match: store.Match{Key: k, PolicyID: "answer-one", PolicyVersion: 1, Result: "eligible", EvaluatedAt: sentAt,
				Explanation: []byte(`{"conditions":[{"name":"本市户籍","verdict":"true"}]}`)},
			Notices: []store.Notice{{Channel: "wechat", Status: "sent", DueAt: sentAt}},
		}}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const token = "0123456789abcdef0123456789abcdef"
	if _, err := st.Pool().Exec(ctx, `UPDATE outbox SET click_token = $1, sent_at = $2`, token, sentAt); err != nil {
		t.Fatal(err)
	}
	n, err := newNotices(st, &cur, func() time.Time { return sentAt.Add(time.Hour) }, 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, note := range []string{"户籍\x00已迁入", "\x00"} {
		_, err := n.Dispute(ctx, token, []string{"本市户籍"}, note)
		if in, ok := errors.AsType[*noticepage.InputError](err); !ok {
			t.Errorf("note %q: %v, want an InputError", note, err)
		} else if in.Message == "" {
			t.Errorf("note %q: an InputError that says nothing", note)
		}
	}
	if id, err := n.Dispute(ctx, token, []string{"本市户籍"}, "户籍已于2026年迁入本市\n请核实"); err != nil || id == 0 {
		t.Fatalf("a plain note: %d %v", id, err)
	}
}
