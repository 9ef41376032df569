package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/policypush/policypush/internal/library"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/selfcheck"
	"github.com/policypush/policypush/internal/store"
)

// newLibrary returns the public library and self-check (CONTRACTS §9) over
// the rule set in force, the same one the push evaluates. The segmenter's
// dictionary is loaded here, once.
func newLibrary(st *store.Store, current *atomic.Pointer[rules.Set], v *profile.Validator,
	now func() time.Time, log *slog.Logger) (*library.Library, error) {
	dict, err := selfcheck.LoadDictionary()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	seg, err := library.NewSegmenter()
	if err != nil {
		return nil, fmt.Errorf("library: load the segmenter's dictionary: %w", err)
	}
	log.Debug("library: segmenter ready", "took", time.Since(start))
	return library.New(library.Options{
		Rules: current.Load, Checker: selfcheck.New(v, dict), Fields: dict, Seg: seg, Now: now, Log: log,
		Notified: func(ctx context.Context) (map[string]int64, error) { return notifiedCounts(ctx, st) },
	})
}

// notifiedCounts is how many subjects each policy's notices have been sent
// to: an aggregate of the funnel, never a list.
func notifiedCounts(ctx context.Context, st *store.Store) (map[string]int64, error) {
	rows, err := st.Funnel(ctx)
	if err != nil {
		return nil, err
	}
	n := map[string]int64{}
	for _, r := range rows {
		n[r.PolicyID] += r.Sent
	}
	return n, nil
}
