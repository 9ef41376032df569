package store

import (
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestSourceOf(t *testing.T) {
	sources := map[string]string{
		"insurance.pension.cumulative_months": "jinbao",
		"insurance.pension.status":            "shebao",
		"hukou":                               "gongan", // set as a whole (a value replaced by an object)
		"skill_certificates":                  "zhineng",
	}
	for _, tt := range []struct{ field, want string }{
		{"insurance.pension.cumulative_months", "jinbao"},
		{"hukou.is_local", "gongan"},           // inside a path that was set
		{"insurance.pension", "jinbao"},        // around paths that were set: the first of them in order
		{"skill_certificates", "zhineng"},      // a list, as one value
		{"education.level", "fallback"},        // never set
		{"insurance.pension.status", "shebao"}, // exact
	} {
		if got := sourceOf(sources, tt.field, "fallback"); got != tt.want {
			t.Errorf("sourceOf(%s) = %q, want %q", tt.field, got, tt.want)
		}
	}
}

// The answers in the store: a claim is recorded once; a stop of one
// policy cancels its waiting notice and keeps it cancelled whatever would
// queue it again; a dispute goes to the source that last set the field,
// is recorded once, and is fixed only by that source's later change.
func TestNoticeAnswersInStore(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	k := subject(t, "resident", "p1")
	due := time.Now().Add(time.Hour)
	inTx(t, s, func(tx *Tx) error {
		_, err := tx.Save(ctx, &Batch{
			Profiles: []Profile{{Key: k, Data: []byte(`{"person_id":"x"}`), Version: 1}},
			Matches: []NewMatch{
				newMatch(k, "pol-a", Notice{Channel: "wechat", Status: "pending", DueAt: due}),
				newMatch(k, "pol-b", Notice{Channel: "wechat", Status: "pending", DueAt: due}),
			},
			FieldSources: []FieldSources{
				{Key: k, Source: "jinbao", Paths: []string{"insurance.pension.cumulative_months", "hukou.is_local"}},
				{Key: k, Source: "gongan", Paths: []string{"hukou.is_local"}},
			},
		})
		return err
	})
	var matchA, matchB int64
	if err := s.Pool().QueryRow(ctx, `SELECT (SELECT id FROM matches WHERE subject_id = $1 AND policy_id = 'pol-a'),
       (SELECT id FROM matches WHERE subject_id = $1 AND policy_id = 'pol-b')`, k.ID).Scan(&matchA, &matchB); err != nil {
		t.Fatal(err)
	}
	outboxStatus := func(match int64) string {
		var st string
		if err := s.Pool().QueryRow(ctx, `SELECT status FROM outbox WHERE match_id = $1`, match).Scan(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	for range 2 {
		if st, err := s.ClaimCase(ctx, matchA, true, time.Now()); err != nil || st != "claimed" {
			t.Fatalf("claim: %q %v", st, err)
		}
	}
	if _, err := s.Pool().Exec(ctx, `UPDATE cases SET status = 'approved' WHERE match_id = $1`, matchA); err != nil {
		t.Fatal(err)
	}
	if st, err := s.ClaimCase(ctx, matchA, false, time.Now()); err != nil || st != "approved" {
		t.Errorf("a claim after approval: %q %v, want approved unchanged", st, err)
	}

	if err := s.StopNotices(ctx, matchB, k, "pol-b", StopPolicy, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := outboxStatus(matchB); st != "cancelled" {
		t.Errorf("pol-b's notice is %s, want cancelled", st)
	}
	if st := outboxStatus(matchA); st != "pending" {
		t.Errorf("pol-a's notice is %s: a policy stop reached another policy", st)
	}
	// An officer's requeue (or a fallback, or a release) would make it
	// pending again: the opt-out keeps it cancelled.
	if _, err := s.Pool().Exec(ctx, `UPDATE outbox SET status = 'pending' WHERE match_id = $1`, matchB); err != nil {
		t.Fatal(err)
	}
	if st := outboxStatus(matchB); st != "cancelled" {
		t.Errorf("pol-b's notice went back to %s after the opt-out", st)
	}
	if ok, err := s.PolicyOptedOut(ctx, k, "pol-b"); err != nil || !ok {
		t.Errorf("PolicyOptedOut = %v %v", ok, err)
	}

	d := Dispute{MatchID: matchA, Key: k, Conditions: []string{"户籍", "缴费"}, Note: "请回电13812345678",
		Fields: map[string][]string{"户籍": {"hukou.is_local"}, "缴费": {"insurance.pension.cumulative_months"}}, At: time.Now()}
	id1, err := s.RecordDispute(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.RecordDispute(ctx, d)
	if err != nil || id2 != id1 {
		t.Fatalf("the same dispute again: %d %v, want %d", id2, err, id1)
	}
	rows, err := s.Pool().Query(ctx, `SELECT source || ':' || array_to_string(fields, ',') FROM correction_requests
WHERE subject_id = $1 ORDER BY source`, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gongan:hukou.is_local", "jinbao:insurance.pension.cumulative_months"}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	// jinbao changing hukou fixes nothing (gongan set it); gongan changing
	// it fixes gongan's request alone.
	for _, fs := range []FieldSources{
		{Key: k, Source: "jinbao", Paths: []string{"hukou.is_local"}},
		{Key: k, Source: "gongan", Paths: []string{"hukou"}},
	} {
		inTx(t, s, func(tx *Tx) error {
			_, err := tx.Save(ctx, &Batch{FieldSources: []FieldSources{fs}})
			return err
		})
	}
	rows, err = s.Pool().Query(ctx, `SELECT source || ':' || status FROM correction_requests WHERE subject_id = $1 ORDER BY source`, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"gongan:fixed", "jinbao:open"}; !slices.Equal(got, want) {
		t.Errorf("after the changes %v, want %v", got, want)
	}
	// Officers see them in the subject's view, the note's mobile masked.
	sv, err := s.Subject(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if len(sv.Corrections) != 2 || sv.Corrections[0].Note != "请回电138****5678" || sv.Corrections[0].PolicyID != "pol-a" ||
		sv.Corrections[1].Status != "fixed" || sv.Corrections[1].Source != "gongan" || sv.Corrections[0].Fields[0] != "insurance.pension.cumulative_months" {
		t.Errorf("the subject's corrections: %+v", sv.Corrections)
	}
	cs, err := s.UnpublishedCorrections(ctx, 10)
	if err != nil || len(cs) < 2 {
		t.Fatalf("unpublished %v %v", cs, err)
	}
	var ids []int64
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if err := s.MarkCorrectionsPublished(ctx, ids, time.Now()); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.UnpublishedCorrections(ctx, 10); err != nil || len(cs) != 0 {
		t.Errorf("still unpublished: %v %v", cs, err)
	}
}

// A stop cancels every notice that has not reached a provider: pending,
// deferred, waiting for a channel, and claimed by a dispatcher that has
// not begun to send it (as CancelPolicy does); a notice being sent or sent
// is left as it is.
func TestStopNoticesCancelsWhatWaits(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	for _, tt := range []struct {
		status, want string
	}{
		{"pending", "cancelled"},
		{"deferred", "cancelled"},
		{"waiting", "cancelled"},
		{"claimed", "cancelled"},
		{"sending", "sending"},
		{"sent", "sent"},
	} {
		for _, scope := range []string{StopPolicy, StopAll} {
			k := subject(t, "resident", "stop-"+tt.status+"-"+scope)
			inTx(t, s, func(tx *Tx) error {
				_, err := tx.Save(ctx, &Batch{
					Profiles: []Profile{{Key: k, Data: []byte(`{"person_id":"x"}`), Version: 1}},
					Matches:  []NewMatch{newMatch(k, "pol-stop", Notice{Channel: "wechat", Status: "pending", DueAt: time.Now()})},
				})
				return err
			})
			var match int64
			if err := s.Pool().QueryRow(ctx, `SELECT id FROM matches WHERE subject_id = $1`, k.ID).Scan(&match); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Pool().Exec(ctx, `UPDATE outbox SET status = $2, claim_token = 'disp-1', claimed_at = now(),
lease_until = now() + interval '1 minute' WHERE match_id = $1`, match, tt.status); err != nil {
				t.Fatal(err)
			}
			if err := s.StopNotices(ctx, match, k, "pol-stop", scope, []string{"wechat"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			var st string
			var token *string
			if err := s.Pool().QueryRow(ctx, `SELECT status, claim_token FROM outbox WHERE match_id = $1`, match).Scan(&st, &token); err != nil {
				t.Fatal(err)
			}
			if st != tt.want {
				t.Errorf("stop %s of a %s notice: %s, want %s", scope, tt.status, st, tt.want)
			}
			if st == "cancelled" && token != nil {
				t.Errorf("stop %s of a %s notice kept its claim token", scope, tt.status)
			}
		}
	}
}
