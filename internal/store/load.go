package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Loaded is what a batch of events needs to know of its subjects before
// it applies them (see Tx.Load).
type Loaded struct {
	Applied    map[string]bool                     // event ids already applied
	Profiles   map[SubjectKey]Profile              // stored profiles
	Watermarks map[SubjectKey]map[string]time.Time // per source
	Matches    map[SubjectKey]map[string]MatchState
	Waiting    map[SubjectKey][]WaitingNotice
}

// Load locks the subjects (as LockSubjects) and reads, in the same round
// trip, what AppliedEvents(eventIDs), Profiles, Watermarks, Matches and
// WaitingNotices read for them. The statements run in order, so every
// read sees the subjects locked. A batch's reads were six round trips;
// at 1,000 events/s a batch is a few events, and the round trips were
// most of its time.
func (tx *Tx) Load(ctx context.Context, keys []SubjectKey, eventIDs []string) (Loaded, error) {
	l := Loaded{
		Applied: map[string]bool{}, Profiles: make(map[SubjectKey]Profile, len(keys)),
		Watermarks: map[SubjectKey]map[string]time.Time{}, Matches: map[SubjectKey]map[string]MatchState{},
		Waiting: map[SubjectKey][]WaitingNotice{},
	}
	if len(keys) == 0 {
		return l, nil
	}
	var b pgx.Batch
	ltypes, lids := keyArrays(dedupeKeys(keys))
	b.Queue(lockSubjects, ltypes, lids)
	if len(eventIDs) > 0 {
		b.Queue(selectApplied, eventIDs).Query(func(rows pgx.Rows) error { return scanApplied(rows, l.Applied) })
	}
	types, ids := keyArrays(keys)
	b.Queue(selectProfiles, types, ids).Query(func(rows pgx.Rows) error { return tx.s.scanProfiles(rows, l.Profiles) })
	b.Queue(selectWatermarks, types, ids).Query(func(rows pgx.Rows) error { return scanWatermarks(rows, l.Watermarks) })
	b.Queue(selectMatches, types, ids).Query(func(rows pgx.Rows) error { return scanMatches(rows, l.Matches) })
	b.Queue(selectWaiting, ltypes, lids).Query(func(rows pgx.Rows) error { return scanWaiting(rows, l.Waiting) })
	if err := tx.tx.SendBatch(ctx, &b).Close(); err != nil {
		return Loaded{}, fmt.Errorf("load subjects: %w", err)
	}
	return l, nil
}
