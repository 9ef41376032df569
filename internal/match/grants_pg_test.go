package match

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
)

type nopObs struct{}

func (nopObs) Event(string, string) {}
func (nopObs) Matched(string)       {}
func (nopObs) Lapsed(string)        {}
func (nopObs) Released(string)      {}

// A batch of 免申即享 grants, as the demo's 金保 sends them: each subject's
// stored benefits_received holds an old entry of the policy without an
// amount, and its event carries the list again plus the new entry with
// one. Every case must be granted the new entry's amount: the old entry
// was there before and grants nothing, whether its unknown amount or year
// is left out or written null (the merge used to drop such nulls, so the
// old entry looked new, and its grant, without an amount, came first).
func TestGrantBatchKeepsNewAmount(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	const n = 2000
	sealer, err := pii.NewSealer(bytes.Repeat([]byte{5}, pii.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), pgtest.NewDatabase(t), sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	var rs atomic.Pointer[rules.Set]
	rs.Store(set)
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	p := New(st, &rs, v, time.Now, nopObs{}, slog.New(slog.DiscardHandler), Config{WeChatEnabled: true})

	at := time.Now().Add(-time.Minute).Format(time.RFC3339)
	uscc := func(i int) string { return fmt.Sprintf("91330106MA%07dX", i) }
	var snaps, pays []Event
	want := map[string]float64{}
	for i := range n {
		id := uscc(i)
		// As the generator writes them: an unknown amount is left out,
		// or, one time in four, written as null.
		old := `{"policy_id":"job-retention-refund","year":2025}`
		switch i % 4 {
		case 0:
			old = `{"policy_id":"job-retention-refund","year":2025,"amount":null}`
		case 1:
			old = `{"policy_id":"job-retention-refund","year":null}`
		}
		snaps = append(snaps, Event{Value: fmt.Appendf(nil, `{"event_id":"snap-%d","subject_type":"enterprise","subject_id":%q,"occurred_at":%q,"source":"gsxt","type":"snapshot",`+
			`"data":{"uscc":%q,"name":"杭州示例%d有限公司","size_class":"micro","region_code":"330106","registration_status":"active","registered_date":"2020-01-19",`+
			`"ui":{"paid_full_months":55,"premium_paid_last_year":6306.7,"avg_insured_last_year":11.3,"new_claimants_last_year":0,"insured_count_year_start":12,"insured_count_year_end":11},`+
			`"credit":{"zombie":false,"serious_dishonest":false,"wage_arrears_blacklist":false,"abnormal_operation_list":false},"arrears":{"amount":0,"months":0,"has_arrears":false},`+
			`"contacts":{"legal_rep_mobile":"1390000%04d"},"channels":{"sms":{"enabled":true},"wechat":{"openid":"o_%d"}},"internship_base":null,`+
			`"benefits_received":[%s]}}`, i, id, at, id, i, i, i, old)})
		amount := float64(1000+i) + 0.25
		want[id] = amount
		pays = append(pays, Event{Value: fmt.Appendf(nil, `{"event_id":"pay-%d","subject_type":"enterprise","subject_id":%q,"occurred_at":%q,"source":"jinbao","type":"patch",`+
			`"data":{"benefits_received":[%s,{"policy_id":"job-retention-refund","year":2026,"amount":%v}]}}`, i, id, time.Now().Format(time.RFC3339), old, amount)})
	}
	for _, b := range [][]Event{snaps, pays} {
		rej, err := p.Handle(t.Context(), b)
		if err != nil || len(rej) > 0 {
			t.Fatalf("handle: %v, %d rejected (first %v)", err, len(rej), rej[:min(1, len(rej))])
		}
	}
	rows, err := st.Pool().Query(t.Context(), `SELECT m.subject_id, c.granted_amount::float8 FROM matches m JOIN cases c ON c.match_id = m.id
WHERE m.policy_id = 'job-retention-refund' AND c.status = 'granted'`)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for rows.Next() {
		var id string
		var a *float64
		if err := rows.Scan(&id, &a); err != nil {
			t.Fatal(err)
		}
		got++
		if a == nil || *a != want[id] {
			t.Errorf("%s granted %v, want %v", id, a, want[id])
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Errorf("%d cases granted, want %d", got, n)
	}
	// The patch's list is stored as sent: its old entries keep their nulls.
	var nulls int
	if err := st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM profiles, jsonb_array_elements(data->'benefits_received') e
WHERE jsonb_typeof(e->'amount') = 'null' OR jsonb_typeof(e->'year') = 'null'`).Scan(&nulls); err != nil {
		t.Fatal(err)
	}
	if nulls != n/2 {
		t.Errorf("%d stored entries with a null, want %d", nulls, n/2)
	}
}
