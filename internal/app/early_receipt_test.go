package app

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/receipt"
	"github.com/policypush/policypush/internal/store"

	"github.com/policypush/policypush/internal/testlog"
)

// A receipt that overtakes the recording of its send gets a retry, not
// "unknown": once the send is recorded, the retried receipt lands.
func TestEarlyReceipt(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := t.Context()
	sealer, _ := pii.NewSealer(bytes.Repeat([]byte{9}, pii.KeySize))
	st, err := store.Open(ctx, pgtest.NewDatabase(t), sealer)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	k := store.SubjectKey{Type: "resident", ID: "p_early"}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Save(ctx, &store.Batch{Matches: []store.NewMatch{{
			Match:   store.Match{Key: k, PolicyID: "p", PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
			Notices: []store.Notice{{Channel: "sms", Status: "pending", DueAt: at}},
		}}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := st.ClaimOutbox(ctx, store.Claim{Token: "t", Lease: time.Minute}, at, 10)
	if err != nil || len(rows) != 1 {
		t.Fatalf("claim: %v %v", rows, err)
	}
	if err := st.BeginSend(ctx, rows[0], at); err != nil {
		t.Fatal(err)
	}

	h, err := receipt.New(receipt.Config{SMSKey: testCallbackKey}, receiptStore{st: st, metrics: newDeliveryMetrics(prometheus.NewRegistry())},
		newReceiptMetrics(prometheus.NewRegistry()), testlog.New(t), func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	postID := func(id string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", "/sms/callback/aliyun?key="+testCallbackKey,
			bytes.NewReader([]byte(`[{"phone_number":"13800000000","success":true,"err_code":"DELIVERED","biz_id":"`+id+`","out_id":"x"}]`))))
		return rec.Code
	}
	post := func() int { return postID("biz-early") }
	if code := post(); code != http.StatusServiceUnavailable {
		t.Fatalf("a receipt while its send is in flight: %d, want 503 so that the provider retries", code)
	}
	if err := st.RecordOutcome(context.Background(), store.Outcome{ID: rows[0].ID, ClaimedAt: rows[0].ClaimedAt, ClaimToken: rows[0].ClaimToken, Status: "sent",
		SentAt: at, ProviderMsgID: "biz-early"}); err != nil {
		t.Fatal(err)
	}
	if code := post(); code != http.StatusOK {
		t.Fatalf("the retried receipt: %d, want 200", code)
	}
	if s, _ := st.OutboxByID(ctx, rows[0].ID); s.Status != "delivered" {
		t.Errorf("notice %s, want delivered", s.Status)
	}
	if code := post(); code != http.StatusOK {
		t.Errorf("a duplicate receipt: %d, want 200", code)
	}
	// Nothing in flight: an unknown id is answered (and counted), not retried.
	if code := postID("biz-nobody"); code != http.StatusOK {
		t.Errorf("an unknown receipt with nothing in flight: %d, want 200", code)
	}
}
