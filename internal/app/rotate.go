package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/store"
)

// checkKey refuses to go on when the PII keys held do not cover what the
// database holds, saying which key id is missing and which variables hold
// keys. Key ids are not secret: they name keys without revealing them.
func checkKey(ctx context.Context, st *store.Store, log *slog.Logger) error {
	sealer := st.Sealer()
	if sealer == nil {
		return nil
	}
	log.Info("pii keys", "current", sealer.KeyID().String(), "old", idList(sealer.OldKeyIDs()))
	err := st.CheckKey(ctx)
	var uk *store.UnheldKeyError
	switch {
	case errors.As(err, &uk):
		return &keyRefusal{err: err, msg: fmt.Sprintf("stored personal data is sealed with key id %s, which neither POLICYPUSH_PII_KEY (key id %s) "+
			"nor POLICYPUSH_PII_KEYS (%s) holds; start with that key as POLICYPUSH_PII_KEY, or, to rotate, with the new key as "+
			"POLICYPUSH_PII_KEY and that one in POLICYPUSH_PII_KEYS until `policypush reseal` is done",
			uk.ID, sealer.KeyID(), idList(sealer.OldKeyIDs()))}
	case errors.Is(err, store.ErrWrongKey):
		return fmt.Errorf("POLICYPUSH_PII_KEY: %w; start with the key it was sealed with, as POLICYPUSH_PII_KEY or in POLICYPUSH_PII_KEYS", err)
	}
	return err
}

// keysReady is /readyz's pii_key check. checkKey refuses a wrong key at
// start, but a running replica can fall behind a rotation later: another
// one, restarted with a new POLICYPUSH_PII_KEY, writes under a key this one
// does not hold, or `policypush reseal` retires the key this one still
// seals under. Either way its work is lost on the others (or theirs on it),
// and only a restart with the keys in force mends it; not ready says so
// where operators look. The watch caches what it has opened (see
// store.KeyWatch), so a probe decrypts nothing. The errors name key ids,
// which are not secret, and go only to the log.
func keysReady(w *store.KeyWatch) func(context.Context) error {
	return func(ctx context.Context) error {
		err := w.Check(ctx)
		var (
			uk *store.UnheldKeyError
			rk *store.RetiredKeyError
		)
		switch {
		case errors.As(err, &uk):
			return fmt.Errorf("%w; another replica seals under it since this one started: restart this one with it as "+
				"POLICYPUSH_PII_KEY, or in POLICYPUSH_PII_KEYS during a rotation", err)
		case errors.As(err, &rk):
			return fmt.Errorf("%w: restart this replica with the key in use as POLICYPUSH_PII_KEY", err)
		}
		return err
	}
}

// keyRefusal is a refusal to start worded for the operator; it wraps the
// store's error (store.ErrWrongKey) without repeating it.
type keyRefusal struct {
	msg string
	err error
}

func (e *keyRefusal) Error() string { return e.msg }
func (e *keyRefusal) Unwrap() error { return e.err }

func idList(ids []pii.KeyID) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = "key id " + id.String()
	}
	return strings.Join(s, ", ")
}

// Reseal re-seals every sealed value under POLICYPUSH_PII_KEY, chunk by
// chunk, printing progress to out; it runs beside serve, and an interrupted
// run resumes. When it is done it says which old keys can go.
func Reseal(ctx context.Context, cfg *config.Config, out io.Writer, log *slog.Logger, chunk int) error {
	st, err := openKeyed(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close()
	cur := st.Sealer().KeyID()
	fmt.Fprintf(out, "re-sealing under key id %s\n", cur)
	res, err := st.Reseal(ctx, store.ResealOptions{Chunk: chunk, Progress: func(p store.ResealProgress) {
		fmt.Fprintf(out, "%s: %d rows read, %d re-sealed\n", p.Table, p.Scanned, p.Resealed)
	}})
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "interrupted; run policypush reseal again to go on from here")
		}
		return err
	}
	for _, t := range res.Tables {
		fmt.Fprintf(out, "%s: done, %d rows read, %d re-sealed\n", t.Table, t.Scanned, t.Resealed)
	}
	if len(res.Retired) > 0 {
		fmt.Fprintf(out, "retired %s: nothing is sealed under it any more\n", idList(res.Retired))
	}
	fmt.Fprintf(out, "every sealed value is under key id %s.", cur)
	if old := st.Sealer().OldKeyIDs(); len(old) > 0 {
		fmt.Fprintf(out, " Remove %s from POLICYPUSH_PII_KEYS and restart every replica.", idList(old))
	}
	fmt.Fprintln(out)
	return nil
}
