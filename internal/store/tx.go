package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Tx is a transaction opened by Store.InTx. Each method makes one round
// trip however many subjects it is given. A Tx is not safe for concurrent
// use.
type Tx struct {
	tx pgx.Tx
	s  *Store
	// forms are the explanation forms this transaction wrote, known to
	// the store once it commits.
	forms [][]byte
}

// LockSubjects takes a transaction-scoped advisory lock per subject, keyed
// by hashtextextended(type || ':' || id, 0). Duplicate keys are fine. The
// locks are taken in ascending lock-id order, so two transactions that lock
// overlapping sets wait for each other instead of deadlocking. They are
// released at commit or rollback.
func (tx *Tx) LockSubjects(ctx context.Context, keys []SubjectKey) error {
	if len(keys) == 0 {
		return nil
	}
	types, ids := keyArrays(dedupeKeys(keys))
	if _, err := tx.tx.Exec(ctx, lockSubjects, types, ids); err != nil {
		return fmt.Errorf("lock subjects: %w", err)
	}
	return nil
}

// lockSubjects locks $1 (types), $2 (ids). The planner evaluates a
// volatile target after the sort, so the locks are taken in ORDER BY order.
const lockSubjects = `
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtextextended(t || ':' || i, 0) AS h
      FROM unnest($1::text[], $2::text[]) AS u(t, i)) AS d
ORDER BY h`

// AppliedEvents reports which of ids have been applied. The map holds true
// for each applied id and nothing else.
func (tx *Tx) AppliedEvents(ctx context.Context, ids []string) (map[string]bool, error) {
	seen := make(map[string]bool)
	if len(ids) == 0 {
		return seen, nil
	}
	rows, err := tx.tx.Query(ctx, selectApplied, ids)
	if err != nil {
		return nil, fmt.Errorf("applied events: %w", err)
	}
	if err := scanApplied(rows, seen); err != nil {
		return nil, err
	}
	return seen, nil
}

const selectApplied = `SELECT event_id FROM applied_events WHERE event_id = ANY($1::text[])`

func scanApplied(rows pgx.Rows, seen map[string]bool) error {
	var id string
	_, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		seen[id] = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("applied events: %w", err)
	}
	return nil
}

// subjectsIn is the condition that selects the rows of the subjects passed
// as $1 (types) and $2 (ids).
const subjectsIn = `(subject_type, subject_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`

// Profiles loads the stored profiles of keys, with their personal fields
// decrypted and merged back. Subjects without a profile are absent. Data is
// equal as JSON to what was saved, not byte for byte: jsonb orders keys and
// drops insignificant space.
func (tx *Tx) Profiles(ctx context.Context, keys []SubjectKey) (map[SubjectKey]Profile, error) {
	out := make(map[SubjectKey]Profile, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	types, ids := keyArrays(keys)
	rows, err := tx.tx.Query(ctx, selectProfiles, types, ids)
	if err != nil {
		return nil, fmt.Errorf("load profiles: %w", err)
	}
	if err := tx.s.scanProfiles(rows, out); err != nil {
		return nil, err
	}
	return out, nil
}

const selectProfiles = `SELECT subject_type, subject_id, data, pii, version FROM profiles WHERE ` + subjectsIn

func (s *Store) scanProfiles(rows pgx.Rows, out map[SubjectKey]Profile) error {
	var (
		p      Profile
		sealed []byte
	)
	_, err := pgx.ForEachRow(rows, []any{&p.Key.Type, &p.Key.ID, &p.Data, &sealed, &p.Version}, func() error {
		data, err := s.unsealProfile(p.Key, p.Data, sealed)
		if err != nil {
			return err
		}
		out[p.Key] = Profile{Key: p.Key, Data: data, Version: p.Version}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load profiles: %w", err)
	}
	return nil
}

// Watermarks loads, per subject, the latest occurred_at applied from each
// source. Subjects with none are absent.
func (tx *Tx) Watermarks(ctx context.Context, keys []SubjectKey) (map[SubjectKey]map[string]time.Time, error) {
	out := make(map[SubjectKey]map[string]time.Time)
	if len(keys) == 0 {
		return out, nil
	}
	types, ids := keyArrays(keys)
	rows, err := tx.tx.Query(ctx, selectWatermarks, types, ids)
	if err != nil {
		return nil, fmt.Errorf("load watermarks: %w", err)
	}
	if err := scanWatermarks(rows, out); err != nil {
		return nil, err
	}
	return out, nil
}

const selectWatermarks = `SELECT subject_type, subject_id, source, occurred_at FROM source_watermarks WHERE ` + subjectsIn

func scanWatermarks(rows pgx.Rows, out map[SubjectKey]map[string]time.Time) error {
	var (
		k      SubjectKey
		source string
		at     time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&k.Type, &k.ID, &source, &at}, func() error {
		m := out[k]
		if m == nil {
			m = make(map[string]time.Time)
			out[k] = m
		}
		m[source] = at
		return nil
	})
	if err != nil {
		return fmt.Errorf("load watermarks: %w", err)
	}
	return nil
}

// Matches loads, per subject, the state of each of its matches by policy
// id. Subjects with none are absent.
func (tx *Tx) Matches(ctx context.Context, keys []SubjectKey) (map[SubjectKey]map[string]MatchState, error) {
	out := make(map[SubjectKey]map[string]MatchState)
	if len(keys) == 0 {
		return out, nil
	}
	types, ids := keyArrays(keys)
	rows, err := tx.tx.Query(ctx, selectMatches, types, ids)
	if err != nil {
		return nil, fmt.Errorf("load matches: %w", err)
	}
	if err := scanMatches(rows, out); err != nil {
		return nil, err
	}
	return out, nil
}

const selectMatches = `SELECT subject_type, subject_id, id, policy_id, policy_version, status FROM matches WHERE ` + subjectsIn

func scanMatches(rows pgx.Rows, out map[SubjectKey]map[string]MatchState) error {
	var (
		k  SubjectKey
		ms MatchState
	)
	_, err := pgx.ForEachRow(rows, []any{&k.Type, &k.ID, &ms.ID, &ms.PolicyID, &ms.PolicyVersion, &ms.Status}, func() error {
		m := out[k]
		if m == nil {
			m = make(map[string]MatchState)
			out[k] = m
		}
		m[ms.PolicyID] = ms
		return nil
	})
	if err != nil {
		return fmt.Errorf("load matches: %w", err)
	}
	return nil
}

// Save writes b in one round trip (a pipeline of one statement per non-empty
// part) and returns how many of b.Matches were new. Its parts are applied in
// field order, so a pair in both Lapsed and Revived ends active.
//
// Within b, a later profile for the same subject wins, the later occurred_at
// wins per (subject, source), and the first NewMatch per (subject, policy)
// wins. A match that already exists, in any status, is left alone and gets
// no notices: a pair is notified at most once.
func (tx *Tx) Save(ctx context.Context, b *Batch) (inserted int, err error) {
	var (
		batch pgx.Batch
		names []string
	)
	queue := func(name, sql string, args ...any) {
		batch.Queue(sql, args...)
		names = append(names, name)
	}
	if len(b.Profiles) > 0 {
		args, err := tx.s.profileArgs(b.Profiles)
		if err != nil {
			return 0, fmt.Errorf("save: %w", err)
		}
		queue("profiles", upsertProfiles, args...)
	}
	if len(b.Events) > 0 {
		queue("applied events", insertEvents, eventArgs(b.Events)...)
	}
	if len(b.Watermarks) > 0 {
		queue("watermarks", upsertWatermarks, watermarkArgs(b.Watermarks)...)
	}
	matchesAt := -1
	if len(b.Matches) > 0 {
		if args := tx.formArgs(b.Matches); args != nil {
			queue("explanation forms", insertForms, args...)
		}
		args, err := matchArgs(b.Matches)
		if err != nil {
			return 0, fmt.Errorf("save: %w", err)
		}
		matchesAt = len(names)
		queue("matches", insertMatches, args...)
	}
	if len(b.Grants) > 0 { // before the lapses, which leave a granted case alone
		queue("grants", grantCases, grantArgs(b.Grants)...)
	}
	if len(b.Lapsed) > 0 {
		queue("lapsed", lapseMatches, refArgs(b.Lapsed)...)
		queue("lapsed cases", lapseCases, refArgs(b.Lapsed)...)
	}
	if len(b.Revived) > 0 {
		queue("revived", reviveMatches, refArgs(b.Revived)...)
		queue("revived cases", reviveCases, refArgs(b.Revived)...)
	}
	if len(b.Rerouted) > 0 {
		args, err := reroutedArgs(b.Rerouted)
		if err != nil {
			return 0, fmt.Errorf("save: %w", err)
		}
		queue("rerouted", rerouteNotices, args...)
	}
	if len(b.FieldSources) > 0 {
		queue("field sources", upsertFieldSources, fieldSourceArgs(b.FieldSources)...)
		queue("fixed corrections", fixCorrections, fixArgs(b.FieldSources)...)
	}
	if len(names) == 0 {
		return 0, nil
	}

	br := tx.tx.SendBatch(ctx, &batch)
	defer func() {
		if cerr := br.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("save: %w", cerr)
		}
	}()
	for i, name := range names {
		if i == matchesAt {
			err = br.QueryRow().Scan(&inserted)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return 0, fmt.Errorf("save %s: %w", name, err)
		}
	}
	return inserted, nil
}

const upsertProfiles = `
INSERT INTO profiles AS p (subject_type, subject_id, data, pii, version, openid_hash, mobile_hash, updated_at)
SELECT t, i, d, s, v, oh, mh, now()
FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::bytea[], $5::bigint[], $6::bytea[], $7::bytea[]) AS u(t, i, d, s, v, oh, mh)
ON CONFLICT (subject_type, subject_id) DO UPDATE
SET data = excluded.data, pii = excluded.pii, version = excluded.version,
    openid_hash = excluded.openid_hash, mobile_hash = excluded.mobile_hash, updated_at = excluded.updated_at`

func (s *Store) profileArgs(ps []Profile) ([]any, error) {
	ps = dedupeLast(ps, func(p Profile) SubjectKey { return p.Key })
	var (
		types  = make([]string, len(ps))
		ids    = make([]string, len(ps))
		data   = make([][]byte, len(ps))
		sealed = make([][]byte, len(ps))
		vers   = make([]int64, len(ps))
		openid = make([][]byte, len(ps))
		mobile = make([][]byte, len(ps))
	)
	for n, p := range ps {
		sp, err := s.sealProfile(p.Key, p.Data)
		if err != nil {
			return nil, err
		}
		types[n], ids[n], data[n], sealed[n], vers[n] = p.Key.Type, p.Key.ID, sp.rest, sp.sealed, p.Version
		openid[n], mobile[n] = sp.openidHash, sp.mobileHash
	}
	return []any{types, ids, data, sealed, vers, openid, mobile}, nil
}

const insertEvents = `
INSERT INTO applied_events (event_id, subject_type, subject_id, source, occurred_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])
ON CONFLICT (event_id) DO NOTHING`

func eventArgs(es []AppliedEvent) []any {
	var (
		evs    = make([]string, len(es))
		types  = make([]string, len(es))
		ids    = make([]string, len(es))
		srcs   = make([]string, len(es))
		occurs = make([]time.Time, len(es))
	)
	for n, e := range es {
		evs[n], types[n], ids[n], srcs[n], occurs[n] = e.EventID, e.Key.Type, e.Key.ID, e.Source, e.OccurredAt
	}
	return []any{evs, types, ids, srcs, occurs}
}

const upsertWatermarks = `
INSERT INTO source_watermarks AS w (subject_type, subject_id, source, occurred_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
ON CONFLICT (subject_type, subject_id, source) DO UPDATE
SET occurred_at = excluded.occurred_at
WHERE excluded.occurred_at > w.occurred_at`

func watermarkArgs(ws []Watermark) []any {
	type wkey struct {
		k      SubjectKey
		source string
	}
	latest := make(map[wkey]int, len(ws))
	kept := make([]Watermark, 0, len(ws))
	for _, w := range ws {
		k := wkey{w.Key, w.Source}
		if n, ok := latest[k]; ok {
			if w.OccurredAt.After(kept[n].OccurredAt) {
				kept[n].OccurredAt = w.OccurredAt
			}
			continue
		}
		latest[k] = len(kept)
		kept = append(kept, w)
	}
	var (
		types  = make([]string, len(kept))
		ids    = make([]string, len(kept))
		srcs   = make([]string, len(kept))
		occurs = make([]time.Time, len(kept))
	)
	for n, w := range kept {
		types[n], ids[n], srcs[n], occurs[n] = w.Key.Type, w.Key.ID, w.Source, w.OccurredAt
	}
	return []any{types, ids, srcs, occurs}
}

// insertMatches inserts the matches that are new and, for exactly those
// (the rows RETURNING gives back), their notices. It yields the number of
// new matches.
const insertMatches = `
WITH ins AS (
    INSERT INTO matches (subject_type, subject_id, policy_id, policy_version, result,
                         explanation, amount, evaluated_at, event_id, explanation_form, explanation_values)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[],
                         $6::json[], $7::numeric[], $8::timestamptz[], $9::text[], $18::bytea[], $19::bytea[])
    ON CONFLICT (subject_type, subject_id, policy_id) DO NOTHING
    RETURNING id, subject_type, subject_id, policy_id
), notices AS (
    INSERT INTO outbox (match_id, channel, fallback, status, reason, due_at)
    SELECT ins.id, n.channel, n.fallback::text[], n.status, n.reason, n.due_at
    FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                $16::text[], $17::timestamptz[])
         AS n(subject_type, subject_id, policy_id, channel, fallback, status, reason, due_at)
    JOIN ins USING (subject_type, subject_id, policy_id)
    ON CONFLICT (match_id, channel) DO NOTHING
)
SELECT count(*) FROM ins`

func matchArgs(nms []NewMatch) ([]any, error) {
	nms = dedupeFirst(nms, func(m NewMatch) PolicyRef { return PolicyRef{m.Match.Key, m.Match.PolicyID} })
	var (
		types   = make([]string, len(nms))
		ids     = make([]string, len(nms))
		pols    = make([]string, len(nms))
		vers    = make([]int32, len(nms))
		results = make([]string, len(nms))
		expls   = make([][]byte, len(nms))
		forms   = make([][]byte, len(nms))
		values  = make([][]byte, len(nms))
		amounts = make([]*float64, len(nms))
		evals   = make([]time.Time, len(nms))
		events  = make([]*string, len(nms))

		nTypes, nIDs, nPols, nChans, nStatus []string
		nFallback                            []string
		nReasons                             []*string
		nDue                                 []time.Time
	)
	for n, nm := range nms {
		m := nm.Match
		switch {
		case len(m.Form.Digest) > 0 && len(m.Values) > 0:
			forms[n], values[n] = m.Form.Digest, m.Values
		case len(m.Explanation) > 0:
			expls[n] = m.Explanation
		default:
			return nil, fmt.Errorf("match %s %s/%s: empty explanation", m.PolicyID, m.Key.Type, m.Key.ID)
		}
		types[n], ids[n], pols[n], vers[n], results[n] = m.Key.Type, m.Key.ID, m.PolicyID, int32(m.PolicyVersion), m.Result
		amounts[n], evals[n], events[n] = m.Amount, m.EvaluatedAt, nullString(m.EventID)
		for _, no := range nm.Notices {
			fb := arrayLiteral(no.Fallback)
			nTypes, nIDs, nPols = append(nTypes, m.Key.Type), append(nIDs, m.Key.ID), append(nPols, m.PolicyID)
			nChans, nFallback, nStatus = append(nChans, no.Channel), append(nFallback, fb), append(nStatus, no.Status)
			nReasons, nDue = append(nReasons, nullString(no.Reason)), append(nDue, no.DueAt)
		}
	}
	return []any{
		types, ids, pols, vers, results, expls, amounts, evals, events,
		nTypes, nIDs, nPols, nChans, nFallback, nStatus, nReasons, nDue,
		forms, values,
	}, nil
}

// insertForms records explanation forms. They are named by their digest,
// so a form another transaction recorded is the same form. The rows go in
// digest order: two transactions that both record two new forms wait for
// each other in the same order, not in a cycle.
const insertForms = `
INSERT INTO explanation_forms (digest, form)
SELECT * FROM unnest($1::bytea[], $2::json[]) AS u(d, f) ORDER BY d
ON CONFLICT (digest) DO NOTHING`

// formArgs are the arguments of insertForms for the forms of ms that the
// store does not know to be committed (nil when there are none). Save
// sends each form only until a transaction that wrote it has committed.
func (tx *Tx) formArgs(ms []NewMatch) []any {
	var digests, docs [][]byte
	for _, nm := range ms {
		f := nm.Match.Form
		if len(f.Digest) == 0 || len(nm.Match.Values) == 0 || tx.s.forms.known(f.Digest) || slices.ContainsFunc(digests, func(d []byte) bool { return bytes.Equal(d, f.Digest) }) {
			continue
		}
		digests, docs = append(digests, f.Digest), append(docs, f.JSON)
	}
	if digests == nil {
		return nil
	}
	tx.forms = append(tx.forms, digests...)
	return []any{digests, docs}
}

// arrayLiteral writes a text[] as PostgreSQL's array input reads it, each
// element quoted. A list per row cannot go into a parameter of its own
// (unnest takes a rectangular array), and the array input is cheaper for
// the server than decoding a JSON array and sorting its elements.
func arrayLiteral(xs []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range x {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

const lapseMatches = `
UPDATE matches AS m SET status = 'lapsed', lapsed_at = now()
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, i, p)
WHERE m.subject_type = u.t AND m.subject_id = u.i AND m.policy_id = u.p AND m.status = 'active'`

const reviveMatches = `
UPDATE matches AS m SET status = 'active', lapsed_at = NULL
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(t, i, p)
WHERE m.subject_type = u.t AND m.subject_id = u.i AND m.policy_id = u.p AND m.status = 'lapsed'`

func refArgs(refs []PolicyRef) []any {
	var (
		types = make([]string, len(refs))
		ids   = make([]string, len(refs))
		pols  = make([]string, len(refs))
	)
	for n, r := range refs {
		types[n], ids[n], pols[n] = r.Key.Type, r.Key.ID, r.PolicyID
	}
	return []any{types, ids, pols}
}

// errNoSealer is returned for personal fields by a store opened without a
// key.
var errNoSealer = errors.New("personal fields need POLICYPUSH_PII_KEY")

// sealedProfile is a profile as stored: the rest of its data, its
// personal fields sealed (nil when there were none), and the blind indexes
// of its contacts (nil when absent).
type sealedProfile struct {
	rest, sealed           []byte
	openidHash, mobileHash []byte
}

// sealProfile splits the personal fields off a profile, seals them bound to
// the subject, and indexes its contacts.
func (s *Store) sealProfile(k SubjectKey, data []byte) (sealedProfile, error) {
	rest, fields, err := splitPersonal(data, s.personalTree(k.Type))
	if err != nil {
		return sealedProfile{}, fmt.Errorf("profile %s/%s: %w", k.Type, k.ID, err)
	}
	if fields == nil {
		return sealedProfile{rest: rest}, nil
	}
	if s.sealer == nil {
		return sealedProfile{}, errNoSealer
	}
	sealed, err := s.sealer.SealAAD(encodePersonal(fields), subjectAAD(k))
	if err != nil {
		return sealedProfile{}, fmt.Errorf("profile %s/%s: %w", k.Type, k.ID, err)
	}
	sp := sealedProfile{rest: rest, sealed: sealed}
	sp.openidHash, sp.mobileHash = s.profileIndexes(fields)
	return sp, nil
}

// profileIndexes are the blind indexes, under the current key, of the
// contacts among a profile's personal fields (nil when absent).
func (s *Store) profileIndexes(fields map[string]json.RawMessage) (openid, mobile []byte) {
	if v := personalString(fields, "channels.wechat.openid"); v != "" {
		openid = s.contactIndex(ContactOpenID, v)
	}
	// The mobile SMS goes to (CONTRACTS.md §3): a resident's own, an
	// enterprise's HR contact, else its legal representative.
	for _, path := range []string{"contact.mobile", "contacts.hr_mobile", "contacts.legal_rep_mobile"} {
		if v := personalString(fields, path); v != "" {
			return openid, s.contactIndex(ContactMobile, v)
		}
	}
	return openid, nil
}

// personalString is the string value of a personal field, or "".
func personalString(fields map[string]json.RawMessage, path string) string {
	var v string
	if raw, ok := fields[path]; !ok || json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return v
}

// unsealProfile is the inverse of sealProfile.
func (s *Store) unsealProfile(k SubjectKey, data, sealed []byte) ([]byte, error) {
	if sealed == nil {
		return data, nil
	}
	if s.sealer == nil {
		return nil, errNoSealer
	}
	plain, err := s.sealer.OpenAAD(sealed, subjectAAD(k))
	if err != nil {
		return nil, fmt.Errorf("profile %s/%s: personal fields: %w", k.Type, k.ID, err)
	}
	merged, err := mergeSealed(data, plain, s.personalTree(k.Type))
	if errors.Is(err, errBadPersonal) {
		// Say nothing of the content: it is personal.
		return nil, fmt.Errorf("profile %s/%s: personal fields: %w", k.Type, k.ID, errBadPersonal)
	}
	if err != nil {
		return nil, fmt.Errorf("profile %s/%s: %w", k.Type, k.ID, err)
	}
	return merged, nil
}

var errBadPersonal = errors.New("decrypted value is not a JSON object")

func (s *Store) personalTree(typ string) *pathTree {
	if t, ok := s.personal[typ]; ok {
		return t
	}
	return s.personalOther
}

// subjectAAD binds a sealed value to its subject, so that it cannot be
// moved to another row.
func subjectAAD(k SubjectKey) []byte { return []byte(k.Type + "\x00" + k.ID) }

func keyArrays(keys []SubjectKey) (types, ids []string) {
	types, ids = make([]string, len(keys)), make([]string, len(keys))
	for n, k := range keys {
		types[n], ids[n] = k.Type, k.ID
	}
	return types, ids
}

func dedupeKeys(keys []SubjectKey) []SubjectKey {
	return dedupeFirst(keys, func(k SubjectKey) SubjectKey { return k })
}

// dedupeFirst keeps the first element per key, in order.
func dedupeFirst[T any, K comparable](xs []T, key func(T) K) []T {
	seen := make(map[K]struct{}, len(xs))
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		k := key(x)
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, x)
	}
	return out
}

// dedupeLast keeps the last element per key, at the place of the first.
func dedupeLast[T any, K comparable](xs []T, key func(T) K) []T {
	at := make(map[K]int, len(xs))
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		k := key(x)
		if n, dup := at[k]; dup {
			out[n] = x
			continue
		}
		at[k] = len(out)
		out = append(out, x)
	}
	return out
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
