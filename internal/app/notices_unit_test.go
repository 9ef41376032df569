package app

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// TestNoticeConfirmAndOpenEnded covers what the rule files cannot say yet
// in the end-to-end test: apply.mode confirm asks for the rule's
// confirmation before a claim, and the link of an open-ended policy lives
// the TTL from the notice's send.
func TestNoticeConfirmAndOpenEnded(t *testing.T) {
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
	rule := strings.Replace(answerRule("answer-open", "开放期限补贴", "本市户籍", "resident.hukou.is_local == true"), "valid_until: 2027-06-30\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "answer-open.yaml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := ruledir.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	pol := set.Policy("answer-open")
	pol.Apply = &rules.Apply{Mode: rules.ApplyConfirm, Confirm: "本人银行账户信息无误"}
	var cur atomic.Pointer[rules.Set]
	cur.Store(set)

	k := store.SubjectKey{Type: "resident", ID: "p_open"}
	sentAt := time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai)
	err = st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Save(ctx, &store.Batch{Matches: []store.NewMatch{{
			Match: store.Match{Key: k, PolicyID: "answer-open", PolicyVersion: 1, Result: "eligible", EvaluatedAt: sentAt,
				Explanation: []byte(`{"conditions":[{"name":"本市户籍","verdict":"true","reads":[{"name":"resident.disability.level","value":3}]}]}`)},
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
	at := func(t time.Time) { clock.Store(&t) }
	at(sentAt.Add(time.Hour))
	n, err := newNotices(st, &cur, func() time.Time { return *clock.Load() }, 30*24*time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}

	v, err := n.View(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if v.Apply.Mode != "confirm" || v.Apply.Confirm != "本人银行账户信息无误" || v.Apply.Deadline != "" || v.Status != "notified" {
		t.Errorf("view %+v", v)
	}
	if len(v.Conditions) != 1 || v.Conditions[0] != (noticepage.Condition{Name: "本市户籍", Verdict: "true"}) {
		t.Errorf("conditions %+v", v.Conditions)
	}
	var in *noticepage.InputError
	if _, err := n.Claim(ctx, token, false); !errors.As(err, &in) || !strings.Contains(in.Message, "本人银行账户信息无误") {
		t.Errorf("an unconfirmed claim: %v, want an InputError quoting the rule's confirm", err)
	}
	for range 2 {
		if st, err := n.Claim(ctx, token, true); err != nil || st != "claimed" {
			t.Fatalf("a confirmed claim: %q %v", st, err)
		}
	}
	v, _ = n.View(ctx, token)
	if v.Status != "claimed" || strings.Join(v.Actions, ",") != "dispute,stop" {
		t.Errorf("after the claim: %q %v", v.Status, v.Actions)
	}

	// Open-ended: the link lives 30 days from the send.
	at(sentAt.Add(30*24*time.Hour - time.Minute))
	if _, err := n.View(ctx, token); err != nil {
		t.Errorf("a minute before expiry: %v", err)
	}
	at(sentAt.Add(30 * 24 * time.Hour))
	if _, err := n.View(ctx, token); !errors.Is(err, noticepage.ErrNotFound) {
		t.Errorf("at expiry: %v, want ErrNotFound", err)
	}
	if _, err := n.Claim(ctx, token, true); !errors.Is(err, noticepage.ErrNotFound) {
		t.Errorf("a claim at expiry: %v, want ErrNotFound", err)
	}
	if _, err := n.View(ctx, "short"); !errors.Is(err, noticepage.ErrNotFound) {
		t.Errorf("a malformed token: %v", err)
	}
}
