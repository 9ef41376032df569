package profile

import (
	"errors"
	"strings"
	"testing"
)

func newValidator(t *testing.T) *Validator {
	t.Helper()
	v, err := NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Absent, null, zero and false must stay distinguishable: the first two are
// unknown.
func TestDecodeKeepsUnknownApart(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		name       string
		json       string
		registered *bool
		months     *int
	}{
		{"absent", `{"person_id":"p1"}`, nil, nil},
		{"null", `{"person_id":"p1","employment":{"unemployment_registration":{"registered":null}},"insurance":{"pension":{"cumulative_months":null}}}`, nil, nil},
		{"false and zero", `{"person_id":"p1","employment":{"unemployment_registration":{"registered":false}},"insurance":{"pension":{"cumulative_months":0}}}`, ptr(false), ptr(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := v.DecodeResident([]byte(tt.json))
			if err != nil {
				t.Fatal(err)
			}
			var reg *bool
			if r.Employment != nil && r.Employment.UnemploymentRegistration != nil {
				reg = r.Employment.UnemploymentRegistration.Registered
			}
			var months *int
			if r.Insurance != nil && r.Insurance.Pension != nil {
				months = r.Insurance.Pension.CumulativeMonths
			}
			if !eq(reg, tt.registered) || !eq(months, tt.months) {
				t.Errorf("registered=%v months=%v, want %v %v", deref(reg), deref(months), deref(tt.registered), deref(tt.months))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func eq[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestDecodeEnvelope(t *testing.T) {
	v := newValidator(t)
	const ok = `{"event_id":"e1","subject_type":"resident","subject_id":"p1","occurred_at":"2026-01-31T10:00:00+08:00","source":"jinbao","type":"snapshot","data":{"person_id":"p1","birth_date":"1999-04-12"}}`
	tests := []struct {
		name    string
		raw     string
		wantErr string // a fragment of the message; "" means valid
	}{
		{"valid snapshot", ok, ""},
		{"valid patch", strings.Replace(strings.Replace(ok, `"snapshot"`, `"patch"`, 1), `"person_id":"p1",`, "", 1), ""},
		{"malformed JSON", `{"event_id":`, "malformed JSON"},
		{"missing envelope field", strings.Replace(ok, `"source":"jinbao",`, "", 1), "source"},
		{"unknown subject_type", strings.Replace(ok, `"subject_type":"resident"`, `"subject_type":"robot"`, 1), "subject_type"},
		{"data breaks the schema", strings.Replace(ok, `"1999-04-12"`, `"1999/04/12"`, 1), "/birth_date"},
		{"unknown profile field", strings.Replace(ok, `"birth_date"`, `"birthday"`, 1), "birthday"},
		{"subject_id differs from the profile", strings.Replace(ok, `"subject_id":"p1"`, `"subject_id":"p2"`, 1), "does not match"},
		{"oversize id", strings.Replace(ok, `"event_id":"e1"`, `"event_id":"`+strings.Repeat("x", 300)+`"`, 1), "event_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := v.DecodeEnvelope([]byte(tt.raw))
			if tt.wantErr == "" {
				if err != nil || env == nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error containing %q, got none", tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q: want ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}
