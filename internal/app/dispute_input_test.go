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

// noticeFixture is one sent notice of answer-one, its token, and the
// notices over it on a clock the test sets (an hour after the send).
type noticeFixture struct {
	st     *store.Store
	n      *notices
	token  string
	sentAt time.Time
	clock  *atomic.Pointer[time.Time]
}

func newNoticeFixture(t *testing.T) noticeFixture {
	t.Helper()
	ctx := t.Context()
	sealer, _ := pii.NewSealer(bytes.Repeat([]byte{7}, pii.KeySize))
	st, err := store.Open(ctx, pgtest.NewDatabase(t), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
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
	var clock atomic.Pointer[time.Time]
	at := sentAt.Add(time.Hour)
	clock.Store(&at)
	n, err := newNotices(st, &cur, func() time.Time { return *clock.Load() }, 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	return noticeFixture{st: st, n: n, token: token, sentAt: sentAt, clock: &clock}
}

// TestDisputeNoteInput: a dispute's note that the database cannot hold —
// a NUL, which a JSON client sends as \u0000 — is the person's mistake,
// answered as an InputError (400), never a store failure (503); and a
// note the database can hold is still recorded.
func TestDisputeNoteInput(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := t.Context()
	f := newNoticeFixture(t)
	n, token := f.n, f.token
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

// TestShortLinkExpired: /r/{token} of an expired notice answers as an
// unknown token does (not found: the same 404), and records no click; it
// used to record the click and redirect to a page that then said 404, so
// that wrong and expired tokens were told apart at the short link, and the
// funnel counted opens of dead links.
func TestShortLinkExpired(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := t.Context()
	f := newNoticeFixture(t)
	click := clicks(f.st, f.n, func() time.Time { return *f.clock.Load() })
	if to, ok, err := click(ctx, f.token); err != nil || !ok || to != "/n/"+f.token {
		t.Fatalf("a live link: %q %v %v", to, ok, err)
	}
	if _, err := f.st.Pool().Exec(ctx, `UPDATE outbox SET clicked_at = NULL`); err != nil {
		t.Fatal(err)
	}
	expired := time.Date(2027, 8, 1, 0, 0, 0, 0, rules.Shanghai) // valid_until 2027-06-30, then 30 days
	f.clock.Store(&expired)
	if _, err := f.n.View(ctx, f.token); !errors.Is(err, noticepage.ErrNotFound) {
		t.Fatalf("the fixture's link has not expired: %v", err)
	}
	for _, tok := range []string{f.token, "fedcba9876543210fedcba9876543210"} {
		if to, ok, err := click(ctx, tok); err != nil || ok {
			t.Errorf("%s: %q %v %v, want not found", tok, to, ok, err)
		}
	}
	var clicked int
	if err := f.st.Pool().QueryRow(ctx, `SELECT count(*) FROM outbox WHERE clicked_at IS NOT NULL`).Scan(&clicked); err != nil {
		t.Fatal(err)
	}
	if clicked != 0 {
		t.Errorf("an expired link's click was recorded")
	}
}
