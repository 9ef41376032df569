package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func TestOfficers(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	actor := "TestOfficers"
	e := func(action string) AuditEntry {
		return AuditEntry{At: at, Actor: actor, ActorRole: "admin", Action: action, Detail: map[string]any{"officer": "t-wang"}}
	}

	if err := s.AddOfficer(ctx, "t-wang", "publisher", hashOf("tok-wang"), at, e("officer.add")); err != nil {
		t.Fatal(err)
	}
	if err := s.AddOfficer(ctx, "t-wang", "viewer", hashOf("tok-other"), at, e("officer.add")); !errors.Is(err, ErrExists) {
		t.Fatalf("a second t-wang: %v, want ErrExists", err)
	}
	if err := s.AddOfficer(ctx, "t-li", "root", hashOf("tok-li"), at, e("officer.add")); err == nil || errors.Is(err, ErrExists) {
		t.Fatalf("an unknown role: %v, want the CHECK to refuse it", err)
	}
	o, err := s.OfficerByTokenHash(ctx, hashOf("tok-wang"))
	if err != nil || o.Name != "t-wang" || o.Role != "publisher" || o.RevokedAt != nil || !o.CreatedAt.Equal(at) {
		t.Fatalf("by token: %+v, %v", o, err)
	}
	if _, err := s.OfficerByTokenHash(ctx, hashOf("tok-nobody")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	list, err := s.ListOfficers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range list {
		found = found || o.Name == "t-wang"
	}
	if !found {
		t.Fatalf("list %+v lacks t-wang", list)
	}

	for i, who := range []string{"t-wang", "t-wang", "t-li"} {
		if _, err := s.pool.Exec(ctx, `INSERT INTO console_sessions (id_hash, officer, role, expires_at, csrf)
VALUES ($1, $2, 'viewer', $3, 'x')`, hashOf(fmt.Sprint("session ", i)), who, at.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeOfficer(ctx, "t-wang", at.Add(time.Hour), e("officer.revoke")); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := collectStrings(ctx, s, `SELECT officer FROM console_sessions ORDER BY officer`, &left); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(left) != "[t-li]" {
		t.Errorf("console sessions after revoking t-wang: %v, want only t-li's", left)
	}
	if _, err := s.OfficerByTokenHash(ctx, hashOf("tok-wang")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token: %v, want ErrNotFound", err)
	}
	if err := s.RevokeOfficer(ctx, "t-wang", at, e("officer.revoke")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked twice: %v", err)
	}
	if err := s.RevokeOfficer(ctx, "t-nobody", at, e("officer.revoke")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown revoked: %v", err)
	}

	// Only the changes made left rows: one add, one revoke.
	rows, err := s.AuditLog(ctx, AuditFilter{Actor: actor}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Action != "officer.revoke" || rows[1].Action != "officer.add" || rows[0].Detail["officer"] != "t-wang" {
		t.Fatalf("audit rows %+v, want a revoke after an add", rows)
	}
}

func TestAuditLog(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	actor := "TestAuditLog"
	k := subject(t, "resident", "p1")

	if err := s.OptOutAudited(ctx, k, "sms", "admin", at, AuditEntry{At: at, Actor: actor, ActorRole: "admin",
		Action: "opt_out.add", SubjectType: k.Type, SubjectID: k.ID, Detail: map[string]any{"channel": "sms"}}); err != nil {
		t.Fatal(err)
	}
	n, err := s.OptInAudited(ctx, k, "sms", AuditEntry{At: at, Actor: actor, ActorRole: "admin", Action: "opt_out.remove", SubjectType: k.Type, SubjectID: k.ID})
	if err != nil || n != 1 {
		t.Fatalf("opt in: %d, %v", n, err)
	}
	if err := s.Audit(ctx, AuditEntry{At: at, Actor: actor + "-other", ActorRole: "reviewer", Action: "subject.read", SubjectType: k.Type, SubjectID: k.ID}); err != nil {
		t.Fatal(err)
	}
	// An entry without an actor is refused, and so is its change.
	other := subject(t, "resident", "p2")
	if err := s.OptOutAudited(ctx, other, "sms", "admin", at, AuditEntry{At: at, Action: "opt_out.add"}); err == nil {
		t.Fatal("an anonymous change was accepted")
	}
	if outs, _ := s.OptOuts(ctx, other); len(outs) != 0 {
		t.Fatalf("an unaudited opt-out stayed: %+v", outs)
	}

	mine, err := s.AuditLog(ctx, AuditFilter{Actor: actor}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 2 || mine[0].Action != "opt_out.remove" || mine[0].Detail["removed"] != float64(1) ||
		mine[1].Action != "opt_out.add" || mine[1].Detail["channel"] != "sms" || mine[1].SubjectID != k.ID || mine[1].PolicyID != "" {
		t.Fatalf("by actor: %+v", mine)
	}
	bySubject, err := s.AuditLog(ctx, AuditFilter{SubjectType: k.Type, SubjectID: k.ID}, 10)
	if err != nil || len(bySubject) != 3 || bySubject[0].Action != "subject.read" || bySubject[0].Detail != nil {
		t.Fatalf("by subject: %+v, %v", bySubject, err)
	}
	page, err := s.AuditLog(ctx, AuditFilter{SubjectType: k.Type, SubjectID: k.ID, Before: bySubject[0].ID}, 1)
	if err != nil || len(page) != 1 || page[0].ID != bySubject[1].ID {
		t.Fatalf("the page before %d: %+v, %v", bySubject[0].ID, page, err)
	}
	if !page[0].At.Equal(at) {
		t.Fatalf("at %v, want %v", page[0].At, at)
	}
}

func collectStrings(ctx context.Context, s *Store, sql string, out *[]string) error {
	rows, err := s.pool.Query(ctx, sql)
	if err != nil {
		return err
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[string])
	*out = v
	return err
}
