package store

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// sentNotice stores a profile for k with the given JSON, a match for
// policy and one notice, claims it and records it sent as msgID (no id
// when msgID is ""), and returns the outbox id.
func sentNotice(t *testing.T, s *Store, k SubjectKey, profile, policy, channel string, fallback []string, msgID string, at time.Time) int64 {
	t.Helper()
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{
			Profiles: []Profile{{Key: k, Data: []byte(profile), Version: 1}},
			Matches: []NewMatch{{
				Match:   Match{Key: k, PolicyID: policy, PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
				Notices: []Notice{{Channel: channel, Fallback: fallback, Status: "pending", DueAt: at}},
			}},
		})
		return err
	})
	rows, err := s.ClaimOutbox(t.Context(), testClaim, at, 1000)
	if err != nil || len(rows) != 1 {
		t.Fatalf("claim: %d rows, %v", len(rows), err)
	}
	r := rows[0]
	if err := s.RecordOutcome(t.Context(), Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt, ClaimToken: r.ClaimToken, Status: "sent", SentAt: at, ProviderMsgID: msgID,
		Attempt: &Attempt{Channel: channel, Outcome: "sent", ProviderMsgID: msgID, At: at}}); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func contactJSON(k SubjectKey, mobile, openid string) string {
	return fmt.Sprintf(`{"person_id":%q,"contact":{"mobile":%q},"channels":{"wechat":{"openid":%q}}}`, k.ID, mobile, openid)
}

func TestOptOutByContact(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	a, b := subject(t, "resident", "a"), subject(t, "enterprise", "b")
	openid := "o_" + t.Name()
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{Profiles: []Profile{
			{Key: a, Data: []byte(contactJSON(a, "13800000001", openid)), Version: 1},
			// An enterprise reached at its HR mobile.
			{Key: b, Data: []byte(`{"uscc":"x","contacts":{"hr_mobile":"13900000002","legal_rep_mobile":"13900000003"}}`), Version: 1},
		}})
		return err
	})
	tests := []struct {
		name, kind, value, channel, source string
		want                               int
	}{
		{"openid", ContactOpenID, openid, "wechat", "wechat_unsubscribe", 1},
		{"mobile with +86", ContactMobile, "+8613800000001", "sms", "sms_reply", 1},
		{"mobile with 86", ContactMobile, "8613800000001", "sms", "sms_reply", 1},
		{"hr mobile", ContactMobile, "13900000002", "sms", "sms_reply", 1},
		{"legal rep mobile is not where SMS goes", ContactMobile, "13900000003", "sms", "sms_reply", 0},
		{"unknown openid", ContactOpenID, "o_nobody", "wechat", "wechat_unsubscribe", 0},
		{"a mobile is not an openid", ContactOpenID, "13800000001", "wechat", "wechat_unsubscribe", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.OptOutContact(ctx, tt.kind, tt.value, tt.channel, tt.source, at)
			if err != nil || n != tt.want {
				t.Fatalf("OptOutContact = %d, %v; want %d", n, err, tt.want)
			}
		})
	}
	got, err := s.OptOuts(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	want := []OptOut{{"sms", "sms_reply", at}, {"wechat", "wechat_unsubscribe", at}}
	if !slices.EqualFunc(got, want, func(x, y OptOut) bool { return x.Channel == y.Channel && x.Source == y.Source && x.At.Equal(y.At) }) {
		t.Errorf("OptOuts = %+v, want %+v", got, want)
	}

	// Following again takes back the unsubscribe, not another source's opt-out.
	if err := s.OptOut(ctx, a, "wechat", "admin", at); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OptInContact(ctx, ContactOpenID, openid, "wechat", "wechat_unsubscribe"); err != nil || n != 1 {
		t.Fatalf("OptInContact = %d, %v", n, err)
	}
	got, _ = s.OptOuts(ctx, a)
	if len(got) != 2 || got[1].Source != "admin" {
		t.Errorf("after opt-in by follow: %+v", got)
	}
	if n, err := s.OptIn(ctx, a, "wechat"); err != nil || n != 1 {
		t.Errorf("OptIn = %d, %v; want 1", n, err)
	}
	if got, _ = s.OptOuts(ctx, a); len(got) != 1 || got[0].Channel != "sms" {
		t.Errorf("after admin opt-in: %+v", got)
	}
}

func TestRecordReceipt(t *testing.T) {
	s := openURL(t, freshDB(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	later := at.Add(time.Minute)

	k1 := subject(t, "resident", "delivered")
	id1 := sentNotice(t, s, k1, contactJSON(k1, "13800000011", "o_1"), "p", "wechat", []string{"sms"}, "1001", at)
	k2 := subject(t, "resident", "blocked")
	id2 := sentNotice(t, s, k2, contactJSON(k2, "13800000012", "o_2"), "p", "wechat", []string{"sms"}, "1002", at)
	k3 := subject(t, "resident", "failed")
	id3 := sentNotice(t, s, k3, contactJSON(k3, "13800000013", "o_3"), "p", "wechat", nil, "1003", at)
	k4 := subject(t, "resident", "bizsend")
	id4 := sentNotice(t, s, k4, contactJSON(k4, "13800000014", "o_4"), "p", "wechat", []string{"sms"}, "", at)

	// k5's send was lost in a crash: reconciliation could not settle it
	// (unknown), and Aliyun's report carries our id as OutId.
	k5 := subject(t, "resident", "crashed")
	id5 := sentNotice(t, s, k5, contactJSON(k5, "13800000015", ""), "p", "sms", nil, "", at)
	if _, err := s.pool.Exec(ctx, `UPDATE outbox SET status = 'unknown', reason = 'unknown_outcome', provider_msg_id = NULL, sent_at = NULL WHERE id = $1`, id5); err != nil {
		t.Fatal(err)
	}
	nid5 := fmt.Sprint(id5)

	tests := []struct {
		name       string
		r          Receipt
		want       ReceiptOutcome
		id         int64
		wantStatus string
		wantChan   string
	}{
		{"delivered", Receipt{Channel: "wechat", ProviderMsgID: "1001", Delivered: true, At: later}, ReceiptDelivered, id1, "delivered", "wechat"},
		{"duplicate", Receipt{Channel: "wechat", ProviderMsgID: "1001", Delivered: true, At: later}, ReceiptDuplicate, id1, "delivered", "wechat"},
		{"late failure after delivery changes nothing", Receipt{Channel: "wechat", ProviderMsgID: "1001", Reason: "server_error", At: later}, ReceiptDuplicate, id1, "delivered", "wechat"},
		{"unknown id", Receipt{Channel: "wechat", ProviderMsgID: "9999", Delivered: true, At: later}, ReceiptUnknown, 0, "", ""},
		{"same id on another channel", Receipt{Channel: "sms", ProviderMsgID: "1001", Delivered: true, At: later}, ReceiptUnknown, 0, "", ""},
		{"user block falls back and opts out", Receipt{Channel: "wechat", ProviderMsgID: "1002", Reason: "blocked", Fallback: true, OptOutSource: "wechat_block", At: later}, ReceiptFallback, id2, "pending", "sms"},
		{"no channel left fails", Receipt{Channel: "wechat", ProviderMsgID: "1003", Reason: "blocked", Fallback: true, At: later}, ReceiptFailed, id3, "failed", "wechat"},
		{"bizsend found by openid", Receipt{Channel: "wechat", ProviderMsgID: "2004", Delivered: true, OpenID: "o_4", At: later}, ReceiptDelivered, id4, "delivered", "wechat"},
		{"a crash's unknown outcome settled by OutId", Receipt{Channel: "sms", ProviderMsgID: "biz-5", NoticeID: nid5, Delivered: true, At: later}, ReceiptDelivered, id5, "delivered", "sms"},
		{"OutId of a notice failed for another reason", Receipt{Channel: "sms", ProviderMsgID: "biz-3", NoticeID: fmt.Sprint(id3), Delivered: true, At: later}, ReceiptUnknown, 0, "", ""},
		{"bizsend duplicate found by its id now", Receipt{Channel: "wechat", ProviderMsgID: "2004", Delivered: true, OpenID: "o_4", At: later}, ReceiptDuplicate, id4, "delivered", "wechat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := s.RecordReceipt(ctx, tt.r)
			if err != nil || got != tt.want {
				t.Fatalf("RecordReceipt = %q, %v; want %q", got, err, tt.want)
			}
			if (got == ReceiptFallback) != (next != "") || (next != "" && next != tt.wantChan) {
				t.Errorf("next channel %q with outcome %q, want %q", next, got, tt.wantChan)
			}
			if tt.id == 0 {
				return
			}
			st, err := s.OutboxByID(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tt.wantStatus || st.Channel != tt.wantChan {
				t.Errorf("row = %s on %s, want %s on %s", st.Status, st.Channel, tt.wantStatus, tt.wantChan)
			}
		})
	}

	st, _ := s.OutboxByID(ctx, id2)
	if st.SentAt != nil || st.LastReason != "blocked" || len(st.Fallback) != 0 || !st.DueAt.Equal(later) {
		t.Errorf("fallen-back row %+v: want no sent_at, last_reason blocked, no fallback left, due at the receipt", st)
	}
	if outs, _ := s.OptOuts(ctx, k2); len(outs) != 1 || outs[0].Channel != "wechat" || outs[0].Source != "wechat_block" {
		t.Errorf("opt-outs after a block: %+v", outs)
	}
	as, _ := s.Attempts(ctx, id2)
	if len(as) != 2 || as[1].Outcome != "receipt_fallback" || as[1].Reason != "blocked" {
		t.Errorf("attempts after a block: %+v", as)
	}
	// The fallen-back row is due again, on SMS.
	rows, err := s.ClaimOutbox(ctx, testClaim, later, 10)
	if err != nil || len(rows) != 1 || rows[0].ID != id2 || rows[0].Channel != "sms" {
		t.Errorf("claim after fallback = %+v, %v", rows, err)
	}
}

func TestRequeueCancelOldestDue(t *testing.T) {
	s := openURL(t, freshDB(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if _, ok, err := s.OldestDue(ctx, at); err != nil || ok {
		t.Fatalf("OldestDue on an empty outbox = %v, %v", ok, err)
	}
	var keys []SubjectKey
	inTx(t, s, func(tx *Tx) error {
		var nms []NewMatch
		for i, pol := range []string{"dead-a", "dead-a", "dead-b", "keep", "repeal", "repeal"} {
			k := subject(t, "resident", fmt.Sprint(i))
			keys = append(keys, k)
			nms = append(nms, NewMatch{
				Match:   Match{Key: k, PolicyID: pol, PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
				Notices: []Notice{{Channel: "sms", Status: "pending", DueAt: at.Add(time.Duration(i) * time.Minute)}},
			})
		}
		_, err := tx.Save(ctx, &Batch{Matches: nms})
		return err
	})
	if due, ok, err := s.OldestDue(ctx, at.Add(time.Hour)); err != nil || !ok || !due.Equal(at) {
		t.Fatalf("OldestDue = %v, %v, %v; want %v", due, ok, err, at)
	}
	// Kill the first three after 8 attempts each.
	rows, err := s.ClaimOutbox(ctx, testClaim, at.Add(2*time.Minute), 3)
	if err != nil || len(rows) != 3 {
		t.Fatalf("claim: %d, %v", len(rows), err)
	}
	for _, r := range rows {
		if _, err := s.pool.Exec(ctx, `UPDATE outbox SET attempts = 8 WHERE id = $1`, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordOutcome(ctx, Outcome{ID: r.ID, ClaimedAt: r.ClaimedAt, ClaimToken: r.ClaimToken, Status: "dead", Reason: "max_attempts"}); err != nil {
			t.Fatal(err)
		}
	}
	// Cancel: the repealed policy's waiting rows, whether pending or deferred.
	if _, err := s.pool.Exec(ctx, `UPDATE outbox o SET status = 'deferred' FROM matches m
WHERE m.id = o.match_id AND m.subject_id = $1`, keys[5].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CancelPolicy(ctx, "repeal", "repealed"); err != nil || n != 2 {
		t.Fatalf("CancelPolicy = %d, %v; want 2", n, err)
	}
	var cancelled int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE status = 'cancelled' AND reason = 'repealed'`).Scan(&cancelled); err != nil || cancelled != 2 {
		t.Errorf("cancelled rows = %d, %v", cancelled, err)
	}

	requeueAt := at.Add(100 * time.Hour)
	ids, err := s.RequeueDead(ctx, nil, "dead-a", requeueAt)
	if err != nil || len(ids) != 2 {
		t.Fatalf("RequeueDead(dead-a) = %v, %v; want 2 ids", ids, err)
	}
	if again, _ := s.RequeueDead(ctx, ids, "", requeueAt); len(again) != 0 {
		t.Errorf("requeueing pending rows = %v, want none", again)
	}
	claimed, err := s.ClaimOutbox(ctx, testClaim, requeueAt, 10)
	if err != nil {
		t.Fatal(err)
	}
	var requeued int
	for _, r := range claimed {
		if slices.Contains(ids, r.ID) {
			requeued++
			if r.Attempts != 0 || !r.CreatedAt.Equal(requeueAt) {
				t.Errorf("requeued row budget: attempts %d, age from %v; want 0 from %v", r.Attempts, r.CreatedAt, requeueAt)
			}
		}
	}
	if requeued != 2 {
		t.Errorf("claimed %d requeued rows, want 2", requeued)
	}
	if ids, _ := s.RequeueDead(ctx, nil, "", requeueAt); len(ids) != 1 {
		t.Errorf("RequeueDead(all) = %v, want the one left", ids)
	}

}

// Subject shows a subject's matches, notices with their attempts, and
// contacts masked.
func TestSubjectView(t *testing.T) {
	s := openURL(t, freshDB(t))
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	k := subject(t, "resident", "v")
	id := sentNotice(t, s, k, contactJSON(k, "13800000021", "o_view_000000000021"), "p", "sms", nil, "biz-v", at)
	if _, _, err := s.RecordReceipt(t.Context(), Receipt{Channel: "sms", ProviderMsgID: "biz-v", Reason: "undelivered", At: at}); err != nil {
		t.Fatal(err)
	}
	v, err := s.Subject(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Matches) != 1 || len(v.Matches[0].Notices) != 1 || v.Matches[0].Notices[0].ID != id {
		t.Fatalf("view %+v", v)
	}
	n := v.Matches[0].Notices[0]
	if len(n.Attempts) != 2 || n.Attempts[0].Outcome != "sent" || n.Attempts[1].Outcome != "receipt_failed" || n.Status != "failed" {
		t.Errorf("notice %+v", n)
	}
	if v.Contacts["contact.mobile"] != "138****0021" || v.Contacts["channels.wechat.openid"] == "o_view_000000000021" {
		t.Errorf("contacts %v, want masked", v.Contacts)
	}
	if _, err := s.Subject(t.Context(), subject(t, "resident", "nobody")); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown subject: %v, want ErrNotFound", err)
	}
}
