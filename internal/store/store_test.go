package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestOpen(t *testing.T) {
	skipShort(t)
	tests := []struct {
		name   string
		url    string
		sealer bool
	}{
		{name: "bad url", url: "postgres://u:hunter2@127.0.0.1:notaport/db", sealer: true},
		{name: "nobody listening", url: "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2", sealer: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sealer := testSealer()
			if !tt.sealer {
				sealer = nil
			}
			s, err := Open(t.Context(), tt.url, sealer)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q contains the password", err)
			}
		})
	}
}

func TestMigrateTwice(t *testing.T) {
	s := openURL(t, freshDB(t))
	for i := range 2 {
		if err := s.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	assertSchema(t, s)
}

func TestMigrateConcurrently(t *testing.T) {
	url := freshDB(t)
	const n = 8
	stores := make([]*Store, n)
	for i := range stores {
		stores[i] = openURL(t, url)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	assertSchema(t, stores[0])
}

func assertSchema(t *testing.T, s *Store) {
	t.Helper()
	var tables int
	err := s.Pool().QueryRow(t.Context(), `
SELECT count(*) FROM information_schema.tables
WHERE table_schema = 'public'
  AND table_name IN ('profiles', 'source_watermarks', 'applied_events', 'matches', 'outbox')`).Scan(&tables)
	if err != nil {
		t.Fatal(err)
	}
	if tables != 5 {
		t.Errorf("%d of 5 tables exist", tables)
	}
	var applied int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	files, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("goose recorded %d migrations, want %d", applied, len(files))
	}
}

func TestProfileRoundTrip(t *testing.T) {
	s := openStore(t)
	tests := []struct {
		name    string
		typ     string
		give    string
		secrets []string // values that must not appear in data or, in clear, in pii
	}{
		{
			name:    "resident",
			typ:     "resident",
			give:    `{"person_id":"r1","birth_date":"1999-04-12","contact":{"mobile":"13812345678"},"channels":{"wechat":{"openid":"oWx_resident_0001","followed":true}}}`,
			secrets: []string{"13812345678", "oWx_resident_0001"},
		},
		{
			name:    "resident mobile only",
			typ:     "resident",
			give:    `{"person_id":"r2","contact":{"mobile":"13900001111"},"consent":{"opt_out_channels":["sms"]}}`,
			secrets: []string{"13900001111"},
		},
		{
			name: "resident without personal fields",
			typ:  "resident",
			give: `{"person_id":"r3","insurance":{"pension":{"cumulative_months":180}},"benefits_received":[{"policy_id":"x","amount":1500.5}]}`,
		},
		{
			name:    "enterprise",
			typ:     "enterprise",
			give:    `{"uscc":"91310000MA1FL00001","name":"某某科技有限公司","contacts":{"hr_mobile":"13700000001","legal_rep_mobile":"13700000002"},"channels":{"wechat":{"openid":"oWx_enterprise_01"}}}`,
			secrets: []string{"13700000001", "13700000002", "oWx_enterprise_01"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := subject(t, tt.typ, "1")
			inTx(t, s, func(tx *Tx) error {
				_, err := tx.Save(t.Context(), &Batch{Profiles: []Profile{{Key: k, Data: []byte(tt.give), Version: 3}}})
				return err
			})

			var (
				data   string
				sealed []byte
			)
			err := s.Pool().QueryRow(t.Context(), `SELECT data::text, pii FROM profiles WHERE subject_type = $1 AND subject_id = $2`,
				k.Type, k.ID).Scan(&data, &sealed)
			if err != nil {
				t.Fatal(err)
			}
			if (sealed == nil) != (len(tt.secrets) == 0) {
				t.Errorf("pii NULL = %v, want %v", sealed == nil, len(tt.secrets) == 0)
			}
			for _, word := range []string{"mobile", "openid"} {
				if strings.Contains(data, word) {
					t.Errorf("data %s contains %q", data, word)
				}
			}
			for _, secret := range tt.secrets {
				if strings.Contains(data, secret) || bytes.Contains(sealed, []byte(secret)) {
					t.Errorf("%s stored in clear", secret)
				}
			}

			var got map[SubjectKey]Profile
			inTx(t, s, func(tx *Tx) (err error) {
				got, err = tx.Profiles(t.Context(), []SubjectKey{k, subject(t, tt.typ, "absent")})
				return err
			})
			if len(got) != 1 {
				t.Fatalf("loaded %d profiles, want 1", len(got))
			}
			if got[k].Version != 3 || got[k].Key != k {
				t.Errorf("loaded %+v, want key %v version 3", got[k], k)
			}
			assertJSONEqual(t, got[k].Data, []byte(tt.give))
		})
	}
}

func TestProfileUpdate(t *testing.T) {
	s := openStore(t)
	k := subject(t, "resident", "1")
	steps := []struct {
		name    string
		give    []Profile // saved in one batch
		want    string
		version int64
		sealed  bool
	}{
		{
			name:    "insert",
			give:    []Profile{{Key: k, Data: []byte(`{"person_id":"p","contact":{"mobile":"13812345678"}}`), Version: 1}},
			want:    `{"person_id":"p","contact":{"mobile":"13812345678"}}`,
			version: 1, sealed: true,
		},
		{
			name:    "mobile removed",
			give:    []Profile{{Key: k, Data: []byte(`{"person_id":"p","gender":"M"}`), Version: 2}},
			want:    `{"person_id":"p","gender":"M"}`,
			version: 2,
		},
		{
			name: "later entry of a batch wins",
			give: []Profile{
				{Key: k, Data: []byte(`{"person_id":"p","gender":"F"}`), Version: 3},
				{Key: k, Data: []byte(`{"person_id":"p","gender":"M","contact":{"mobile":"13900000000"}}`), Version: 4},
			},
			want:    `{"person_id":"p","gender":"M","contact":{"mobile":"13900000000"}}`,
			version: 4, sealed: true,
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got map[SubjectKey]Profile
			inTx(t, s, func(tx *Tx) (err error) {
				if _, err := tx.Save(t.Context(), &Batch{Profiles: st.give}); err != nil {
					return err
				}
				got, err = tx.Profiles(t.Context(), []SubjectKey{k})
				return err
			})
			assertJSONEqual(t, got[k].Data, []byte(st.want))
			if got[k].Version != st.version {
				t.Errorf("version = %d, want %d", got[k].Version, st.version)
			}
			var sealed bool
			err := s.Pool().QueryRow(t.Context(), `SELECT pii IS NOT NULL FROM profiles WHERE subject_type = $1 AND subject_id = $2`,
				k.Type, k.ID).Scan(&sealed)
			if err != nil {
				t.Fatal(err)
			}
			if sealed != st.sealed {
				t.Errorf("pii set = %v, want %v", sealed, st.sealed)
			}
		})
	}
}

func TestProfileSealBoundToSubject(t *testing.T) {
	s := openStore(t)
	a, b := subject(t, "resident", "a"), subject(t, "resident", "b")
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{Profiles: []Profile{
			{Key: a, Data: []byte(`{"person_id":"a","contact":{"mobile":"13800000001"}}`)},
			{Key: b, Data: []byte(`{"person_id":"b","contact":{"mobile":"13800000002"}}`)},
		}})
		return err
	})
	// Copy a's sealed fields onto b, as an attacker with write access might.
	_, err := s.Pool().Exec(t.Context(), `
UPDATE profiles SET pii = (SELECT pii FROM profiles WHERE subject_type = $1 AND subject_id = $2)
WHERE subject_type = $1 AND subject_id = $3`, a.Type, a.ID, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	err = s.InTx(t.Context(), func(tx *Tx) error {
		_, err := tx.Profiles(t.Context(), []SubjectKey{b})
		return err
	})
	if err == nil {
		t.Fatal("loaded a profile whose personal fields were sealed for another subject")
	}
	if strings.Contains(err.Error(), "1380000000") {
		t.Errorf("error %q contains a mobile", err)
	}
}

func TestProfileRejectsNonObject(t *testing.T) {
	s := openStore(t)
	err := s.InTx(t.Context(), func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{Profiles: []Profile{{Key: subject(t, "resident", "1"), Data: []byte(`[1]`)}}})
		return err
	})
	if err == nil {
		t.Fatal("saved a profile that is not a JSON object")
	}
}

func TestWatermarks(t *testing.T) {
	s := openStore(t)
	k := subject(t, "resident", "1")
	t0 := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		give []Watermark
		want map[string]time.Time
	}{
		{
			name: "first",
			give: []Watermark{{Key: k, Source: "jinbao", OccurredAt: t0}},
			want: map[string]time.Time{"jinbao": t0},
		},
		{
			name: "later wins",
			give: []Watermark{{Key: k, Source: "jinbao", OccurredAt: t0.Add(time.Hour)}},
			want: map[string]time.Time{"jinbao": t0.Add(time.Hour)},
		},
		{
			name: "earlier ignored",
			give: []Watermark{{Key: k, Source: "jinbao", OccurredAt: t0.Add(-time.Hour)}},
			want: map[string]time.Time{"jinbao": t0.Add(time.Hour)},
		},
		{
			name: "latest of one batch, per source",
			give: []Watermark{
				{Key: k, Source: "jinbao", OccurredAt: t0.Add(3 * time.Hour)},
				{Key: k, Source: "civil", OccurredAt: t0},
				{Key: k, Source: "jinbao", OccurredAt: t0.Add(2 * time.Hour)},
			},
			want: map[string]time.Time{"jinbao": t0.Add(3 * time.Hour), "civil": t0},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got map[SubjectKey]map[string]time.Time
			inTx(t, s, func(tx *Tx) (err error) {
				if _, err := tx.Save(t.Context(), &Batch{Watermarks: st.give}); err != nil {
					return err
				}
				got, err = tx.Watermarks(t.Context(), []SubjectKey{k, subject(t, "resident", "absent")})
				return err
			})
			if len(got) != 1 || len(got[k]) != len(st.want) {
				t.Fatalf("watermarks = %v, want %v", got, st.want)
			}
			for src, want := range st.want {
				if !got[k][src].Equal(want) {
					t.Errorf("%s = %v, want %v", src, got[k][src], want)
				}
			}
		})
	}
}

func TestAppliedEvents(t *testing.T) {
	s := openStore(t)
	k := subject(t, "resident", "1")
	id := func(s string) string { return t.Name() + "/" + s }
	ev := func(s string) AppliedEvent {
		return AppliedEvent{EventID: id(s), Key: k, Source: "jinbao", OccurredAt: time.Now()}
	}
	steps := []struct {
		name  string
		give  []AppliedEvent
		query []string
		want  []string
	}{
		{name: "none yet", query: []string{id("e1")}},
		{name: "duplicates in a batch", give: []AppliedEvent{ev("e1"), ev("e2"), ev("e1")}, query: []string{id("e1"), id("e2"), id("e3")}, want: []string{id("e1"), id("e2")}},
		{name: "redelivered", give: []AppliedEvent{ev("e2"), ev("e3")}, query: []string{id("e1"), id("e2"), id("e3"), id("e4")}, want: []string{id("e1"), id("e2"), id("e3")}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got map[string]bool
			inTx(t, s, func(tx *Tx) (err error) {
				if _, err := tx.Save(t.Context(), &Batch{Events: st.give}); err != nil {
					return err
				}
				got, err = tx.AppliedEvents(t.Context(), st.query)
				return err
			})
			if len(got) != len(st.want) {
				t.Errorf("applied = %v, want %v", got, st.want)
			}
			for _, id := range st.want {
				if !got[id] {
					t.Errorf("%s not applied", id)
				}
			}
		})
	}
	var rows int
	if err := s.Pool().QueryRow(t.Context(), `SELECT count(*) FROM applied_events WHERE subject_id = $1`, k.ID).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 3 {
		t.Errorf("%d applied_events rows, want 3", rows)
	}
}

func newMatch(k SubjectKey, policy string, notices ...Notice) NewMatch {
	amount := 1500.0
	return NewMatch{
		Match: Match{
			Key: k, PolicyID: policy, PolicyVersion: 2, Result: "eligible",
			Explanation: []byte(`{"conditions":[{"expr":"age >= 16","verdict":"true"}]}`),
			Amount:      &amount, EvaluatedAt: time.Now(), EventID: "e-" + policy,
		},
		Notices: notices,
	}
}

type outboxRow struct {
	Channel  string
	Fallback []string
	Status   string
	Reason   *string
}

func outboxOf(t *testing.T, s *Store, k SubjectKey) []outboxRow {
	t.Helper()
	rows, err := s.Pool().Query(t.Context(), `
SELECT o.channel, o.fallback, o.status, o.reason FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE m.subject_type = $1 AND m.subject_id = $2 ORDER BY o.id`, k.Type, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[outboxRow])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSaveMatchOnce(t *testing.T) {
	s := openStore(t)
	k := subject(t, "resident", "1")
	due := time.Now()
	nm := newMatch(k, "skill-subsidy",
		Notice{Channel: "wechat", Fallback: []string{"sms"}, Status: "pending", DueAt: due},
		Notice{Channel: "sms", Status: "suppressed", Reason: "opted_out", DueAt: due},
	)
	steps := []struct {
		name string
		give []NewMatch
		want int
	}{
		{name: "new", give: []NewMatch{nm}, want: 1},
		{name: "replayed", give: []NewMatch{nm}, want: 0},
		{name: "new version, same pair", give: []NewMatch{func() NewMatch { m := nm; m.Match.PolicyVersion = 3; return m }()}, want: 0},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var got int
			inTx(t, s, func(tx *Tx) (err error) {
				got, err = tx.Save(t.Context(), &Batch{Matches: st.give})
				return err
			})
			if got != st.want {
				t.Errorf("inserted %d, want %d", got, st.want)
			}
			box := outboxOf(t, s, k)
			if len(box) != 2 {
				t.Fatalf("outbox = %+v, want 2 rows", box)
			}
			if box[0].Channel != "wechat" || box[0].Status != "pending" || box[0].Reason != nil ||
				len(box[0].Fallback) != 1 || box[0].Fallback[0] != "sms" {
				t.Errorf("outbox[0] = %+v", box[0])
			}
			if box[1].Channel != "sms" || box[1].Status != "suppressed" || box[1].Reason == nil ||
				*box[1].Reason != "opted_out" || len(box[1].Fallback) != 0 {
				t.Errorf("outbox[1] = %+v", box[1])
			}
		})
	}

	var ms map[SubjectKey]map[string]MatchState
	inTx(t, s, func(tx *Tx) (err error) {
		ms, err = tx.Matches(t.Context(), []SubjectKey{k})
		return err
	})
	if st := ms[k]["skill-subsidy"]; st.ID == 0 || st.PolicyVersion != 2 || st.Status != "active" {
		t.Errorf("match state = %+v, want version 2 active", st)
	}
}

func TestSaveMatchDuplicatesInBatch(t *testing.T) {
	s := openStore(t)
	a, b := subject(t, "resident", "a"), subject(t, "enterprise", "b")
	n := Notice{Channel: "wechat", Status: "pending", DueAt: time.Now()}
	var got int
	inTx(t, s, func(tx *Tx) (err error) {
		got, err = tx.Save(t.Context(), &Batch{Matches: []NewMatch{
			newMatch(a, "p1", n, n), // one channel twice: one row
			newMatch(a, "p1", n),    // same pair again: ignored
			newMatch(a, "p2", n),
			newMatch(b, "p1"), // no notices
		}})
		return err
	})
	if got != 3 {
		t.Errorf("inserted %d, want 3", got)
	}
	if box := outboxOf(t, s, a); len(box) != 2 {
		t.Errorf("outbox of a = %+v, want 2 rows", box)
	}
	if box := outboxOf(t, s, b); len(box) != 0 {
		t.Errorf("outbox of b = %+v, want none", box)
	}
}

func TestSaveMatchRejectsBadInput(t *testing.T) {
	s := openStore(t)
	k := subject(t, "resident", "1")
	tests := []struct {
		name string
		give NewMatch
	}{
		{name: "empty explanation", give: func() NewMatch { m := newMatch(k, "p"); m.Match.Explanation = nil; return m }()},
		{name: "bad result", give: func() NewMatch { m := newMatch(k, "p"); m.Match.Result = "maybe"; return m }()},
		{name: "bad notice status", give: newMatch(k, "p", Notice{Channel: "sms", Status: "later", DueAt: time.Now()})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.InTx(t.Context(), func(tx *Tx) error {
				_, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{tt.give}})
				return err
			})
			if err == nil {
				t.Fatal("Save succeeded")
			}
		})
	}
}

func TestLapseRevive(t *testing.T) {
	s := openStore(t)
	k := subject(t, "resident", "1")
	ref := PolicyRef{Key: k, PolicyID: "p"}
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{newMatch(k, "p", Notice{Channel: "sms", Status: "pending", DueAt: time.Now()})}})
		return err
	})
	steps := []struct {
		name       string
		give       Batch
		wantStatus string
		wantLapsed bool // lapsed_at set
	}{
		{name: "revive an active match: no change", give: Batch{Revived: []PolicyRef{ref}}, wantStatus: "active"},
		{name: "lapse", give: Batch{Lapsed: []PolicyRef{ref, ref}}, wantStatus: "lapsed", wantLapsed: true},
		{name: "lapse again: no change", give: Batch{Lapsed: []PolicyRef{ref}}, wantStatus: "lapsed", wantLapsed: true},
		{name: "revive", give: Batch{Revived: []PolicyRef{ref}}, wantStatus: "active"},
		{name: "unknown pair: no change", give: Batch{Lapsed: []PolicyRef{{Key: k, PolicyID: "other"}}}, wantStatus: "active"},
		{name: "lapse and revive in one batch", give: Batch{Lapsed: []PolicyRef{ref}, Revived: []PolicyRef{ref}}, wantStatus: "active"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var ms map[SubjectKey]map[string]MatchState
			inTx(t, s, func(tx *Tx) (err error) {
				if _, err := tx.Save(t.Context(), &st.give); err != nil {
					return err
				}
				ms, err = tx.Matches(t.Context(), []SubjectKey{k})
				return err
			})
			if got := ms[k]["p"].Status; got != st.wantStatus {
				t.Errorf("status = %s, want %s", got, st.wantStatus)
			}
			if len(ms[k]) != 1 {
				t.Errorf("matches = %v, want only p", ms[k])
			}
			var lapsed bool
			err := s.Pool().QueryRow(t.Context(), `SELECT lapsed_at IS NOT NULL FROM matches WHERE id = $1`, ms[k]["p"].ID).Scan(&lapsed)
			if err != nil {
				t.Fatal(err)
			}
			if lapsed != st.wantLapsed {
				t.Errorf("lapsed_at set = %v, want %v", lapsed, st.wantLapsed)
			}
			if box := outboxOf(t, s, k); len(box) != 1 {
				t.Errorf("outbox = %+v, want the one notice", box)
			}
		})
	}
}

func TestOutboxPending(t *testing.T) {
	url := freshDB(t)
	s := openURL(t, url)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		t.Helper()
		n, err := s.OutboxPending(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("empty outbox: %d pending", n)
	}
	now := time.Now()
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(t.Context(), &Batch{Matches: []NewMatch{
			newMatch(SubjectKey{"resident", "a"}, "p",
				Notice{Channel: "wechat", Status: "pending", DueAt: now},
				Notice{Channel: "sms", Status: "suppressed", Reason: "quiet", DueAt: now}),
			newMatch(SubjectKey{"resident", "b"}, "p", Notice{Channel: "wechat", Status: "pending", DueAt: now}),
		}})
		return err
	})
	if n := count(); n != 2 {
		t.Errorf("%d pending, want 2", n)
	}
}

func TestLockSubjects(t *testing.T) {
	s := openStore(t)
	a, b := subject(t, "resident", "a"), subject(t, "enterprise", "b")
	held := func(k SubjectKey) bool {
		t.Helper()
		var got bool
		// A session lock on another connection; released straight away.
		err := s.Pool().QueryRow(t.Context(), `
SELECT NOT pg_try_advisory_lock(h) OR NOT pg_advisory_unlock(h)
FROM (SELECT hashtextextended($1 || ':' || $2, 0) AS h) AS x`, k.Type, k.ID).Scan(&got)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	inTx(t, s, func(tx *Tx) error {
		if err := tx.LockSubjects(t.Context(), []SubjectKey{b, a, a, b, a}); err != nil {
			return err
		}
		if !held(a) || !held(b) {
			t.Error("subjects not locked")
		}
		return tx.LockSubjects(t.Context(), nil)
	})
	if held(a) || held(b) {
		t.Error("locks outlived the transaction")
	}
}

func TestLockSubjectsNoDeadlock(t *testing.T) {
	s := openStore(t)
	keys := make([]SubjectKey, 50)
	for i := range keys {
		keys[i] = subject(t, "resident", fmt.Sprint(i))
	}
	reversed := make([]SubjectKey, len(keys))
	for i, k := range keys {
		reversed[len(keys)-1-i] = k
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		order := keys
		if w%2 == 1 {
			order = reversed
		}
		wg.Go(func() {
			for range 20 {
				err := s.InTx(ctx, func(tx *Tx) error { return tx.LockSubjects(ctx, order) })
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestInTxRollback(t *testing.T) {
	s := openStore(t)
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fail func() error
	}{
		{name: "error", fail: func() error { return errBoom }},
		{name: "panic", fail: func() error { panic(errBoom) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := subject(t, "resident", "1")
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						err = r.(error)
					}
				}()
				err = s.InTx(t.Context(), func(tx *Tx) error {
					_, err := tx.Save(t.Context(), &Batch{
						Profiles: []Profile{{Key: k, Data: []byte(`{"person_id":"x"}`)}},
						Events:   []AppliedEvent{{EventID: k.ID, Key: k, Source: "s", OccurredAt: time.Now()}},
						Matches:  []NewMatch{newMatch(k, "p", Notice{Channel: "sms", Status: "pending", DueAt: time.Now()})},
					})
					if err != nil {
						return err
					}
					return tt.fail()
				})
			}()
			if !errors.Is(err, errBoom) {
				t.Fatalf("InTx = %v, want boom", err)
			}
			var n int
			err = s.Pool().QueryRow(t.Context(), `
SELECT (SELECT count(*) FROM profiles WHERE subject_id = $1)
     + (SELECT count(*) FROM applied_events WHERE subject_id = $1)
     + (SELECT count(*) FROM matches WHERE subject_id = $1)`, k.ID).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("%d rows survived the rollback", n)
			}
			if stat := s.Pool().Stat(); stat.AcquiredConns() != 0 {
				t.Errorf("%d connections still acquired", stat.AcquiredConns())
			}
		})
	}
}

func TestSaveEmpty(t *testing.T) {
	s := openStore(t)
	inTx(t, s, func(tx *Tx) error {
		n, err := tx.Save(t.Context(), &Batch{})
		if n != 0 {
			t.Errorf("inserted %d", n)
		}
		return err
	})
}

// Without a key, a store can migrate but not touch personal fields.
func TestOpenWithoutKey(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate without a key: %v", err)
	}
	b := Batch{Profiles: []Profile{{Key: SubjectKey{"resident", "nokey"}, Version: 1, Data: []byte(`{"person_id":"nokey","contact":{"mobile":"13800000000"}}`)}}}
	err = s.InTx(ctx, func(tx *Tx) error { _, err := tx.Save(ctx, &b); return err })
	if !errors.Is(err, errNoSealer) {
		t.Errorf("saving a mobile without a key: %v", err)
	}
}

// A backfill reads every profile of a kind in chunks, checkpointed by id.
func TestProfilesAfter(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	var b Batch
	for i := 0; i < 25; i++ {
		id := fmt.Sprintf("r%03d", i)
		b.Profiles = append(b.Profiles, Profile{Key: SubjectKey{"backfilltest", id}, Version: 1,
			Data: []byte(fmt.Sprintf(`{"person_id":%q,"contact":{"mobile":"1380000%04d"}}`, id, i))})
	}
	b.Profiles = append(b.Profiles, Profile{Key: SubjectKey{"enterprise", "91310000MA1FL00001"}, Version: 1, Data: []byte(`{"uscc":"91310000MA1FL00001"}`)})
	if err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.Save(ctx, &b); return err }); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for chunks := 0; ; chunks++ {
		ps, err := s.ProfilesAfter(ctx, "backfilltest", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) == 0 {
			if chunks != 3 {
				t.Errorf("%d chunks, want 3", chunks)
			}
			break
		}
		for _, p := range ps {
			if !strings.Contains(string(p.Data), `"mobile":"1380000`) {
				t.Errorf("%s: personal fields not merged back: %s", p.Key.ID, p.Data)
			}
			got = append(got, p.Key.ID)
		}
		after = ps[len(ps)-1].Key.ID
	}
	if len(got) != 25 || got[0] != "r000" || got[24] != "r024" {
		t.Errorf("read %d residents: %v", len(got), got)
	}
}
