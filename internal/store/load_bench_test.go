package store

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLoad compares a batch's reads in one round trip (Load) with
// the six separate reads, for batches of 10 subjects (a batch at 1,000
// events/s) among 10,000 with matches, half of whose notices wait.
func BenchmarkLoad(b *testing.B) {
	ctx := b.Context()
	url, drop, err := createDB(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = drop() }()
	s, err := Open(ctx, url, testSealer())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	at := time.Now()
	const n = 10000
	keys := make([]SubjectKey, n)
	for i := range keys {
		keys[i] = SubjectKey{Type: "resident", ID: fmt.Sprintf("p%05d", i)}
	}
	for i := 0; i < n; i += 500 {
		var batch Batch
		for _, k := range keys[i : i+500] {
			st := "pending"
			if len(batch.Matches)%2 == 0 {
				st = "waiting"
			}
			batch.Profiles = append(batch.Profiles, Profile{Key: k, Data: []byte(`{"person_id":"` + k.ID + `"}`), Version: 1})
			batch.Watermarks = append(batch.Watermarks, Watermark{Key: k, Source: "s", OccurredAt: at})
			batch.Matches = append(batch.Matches, NewMatch{
				Match:   Match{Key: k, PolicyID: "p", PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
				Notices: []Notice{{Channel: "sms", Status: st, Reason: "unreachable", DueAt: at}},
			})
		}
		if err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.Save(ctx, &batch); return err }); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 10)
	for i := range ids {
		ids[i] = fmt.Sprintf("e%d", i)
	}
	pick := func(i int) []SubjectKey { j := (i * 7919) % (n - 10); return keys[j : j+10] }
	b.Run("load", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			err := s.InTx(ctx, func(tx *Tx) error { _, err := tx.Load(ctx, pick(i), ids); return err })
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("separate", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			ks := pick(i)
			err := s.InTx(ctx, func(tx *Tx) error {
				if err := tx.LockSubjects(ctx, ks); err != nil {
					return err
				}
				if _, err := tx.AppliedEvents(ctx, ids); err != nil {
					return err
				}
				if _, err := tx.Profiles(ctx, ks); err != nil {
					return err
				}
				if _, err := tx.Watermarks(ctx, ks); err != nil {
					return err
				}
				ms, err := tx.Matches(ctx, ks)
				if err != nil {
					return err
				}
				var with []SubjectKey
				for _, k := range ks {
					if len(ms[k]) > 0 {
						with = append(with, k)
					}
				}
				_, err = tx.WaitingNotices(ctx, with)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
