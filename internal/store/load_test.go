package store

import (
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestLoadReadsAsTheSeparateReads: Load's one round trip gives what
// AppliedEvents, Profiles, Watermarks, Matches and WaitingNotices give
// one by one, for subjects with and without each kind of row.
func TestLoadReadsAsTheSeparateReads(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	full, bare, none := subject(t, "resident", "full"), subject(t, "enterprise", "bare"), subject(t, "resident", "none")
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{
			Profiles: []Profile{{Key: full, Data: []byte(`{"person_id":"x","gender":"F"}`), Version: 3},
				{Key: bare, Data: []byte(`{"uscc":"y"}`), Version: 1}},
			Events:     []AppliedEvent{{EventID: t.Name() + "-e1", Key: full, Source: "jinbao", OccurredAt: at}},
			Watermarks: []Watermark{{Key: full, Source: "jinbao", OccurredAt: at}, {Key: full, Source: "minzheng", OccurredAt: at.Add(time.Hour)}},
			Matches: []NewMatch{
				{Match: Match{Key: full, PolicyID: "p", PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
					Notices: []Notice{{Channel: "wechat", Status: "waiting", Reason: "unreachable", DueAt: at}}},
				{Match: Match{Key: full, PolicyID: "q", PolicyVersion: 2, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
					Notices: []Notice{{Channel: "sms", Status: "pending", DueAt: at}}},
				newMatch(bare, "r"),
			},
		})
		return err
	})
	keys := []SubjectKey{full, bare, none, full}
	ids := []string{t.Name() + "-e1", t.Name() + "-e2"}
	var got, want Loaded
	inTx(t, s, func(tx *Tx) (err error) {
		got, err = tx.Load(ctx, keys, ids)
		return err
	})
	inTx(t, s, func(tx *Tx) (err error) {
		if err = tx.LockSubjects(ctx, keys); err != nil {
			return err
		}
		if want.Applied, err = tx.AppliedEvents(ctx, ids); err != nil {
			return err
		}
		if want.Profiles, err = tx.Profiles(ctx, keys); err != nil {
			return err
		}
		if want.Watermarks, err = tx.Watermarks(ctx, keys); err != nil {
			return err
		}
		if want.Matches, err = tx.Matches(ctx, keys); err != nil {
			return err
		}
		want.Waiting, err = tx.WaitingNotices(ctx, keys)
		return err
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
	if len(got.Applied) != 1 || len(got.Profiles) != 2 || len(got.Watermarks[full]) != 2 || len(got.Matches[full]) != 2 ||
		len(got.Matches[bare]) != 1 || len(got.Waiting[full]) != 1 || len(got.Waiting) != 1 {
		t.Errorf("Load read %+v", got)
	}
}

// TestLoadLocks: Load holds the subjects' locks until its transaction
// ends, as LockSubjects does.
func TestLoadLocks(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	k := subject(t, "resident", "a")
	locked, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = s.InTx(ctx, func(tx *Tx) error {
			if _, err := tx.Load(ctx, []SubjectKey{k}, nil); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	got := make(chan struct{})
	go func() {
		_ = s.InTx(ctx, func(tx *Tx) error { return tx.LockSubjects(ctx, []SubjectKey{k}) })
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second transaction took the lock Load holds")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the lock was not released at the end of Load's transaction")
	}
}

// TestArrayLiteral: PostgreSQL reads every list back as written,
// whatever its elements hold.
func TestArrayLiteral(t *testing.T) {
	s := openStore(t)
	for _, xs := range [][]string{
		{}, {"sms"}, {"wechat", "sms"}, {""}, {"NULL"}, {`a"b`, `c\d`, "e,f", "{g}", " h ", "微信"},
	} {
		var got []string
		if err := s.Pool().QueryRow(t.Context(), `SELECT $1::text::text[]`, arrayLiteral(xs)).Scan(&got); err != nil {
			t.Fatalf("%q: %v", xs, err)
		}
		if !reflect.DeepEqual(got, xs) {
			t.Errorf("%q read back as %q", xs, got)
		}
	}
}
