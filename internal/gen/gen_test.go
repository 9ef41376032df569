package gen_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/gen"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
)

// at is the fixed instant of the tests: a weekday in late 2026, when some
// national policies have been extended by the city (see rules/).
func at() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai) }

type event struct {
	kind, id string
	data     []byte
}

func generate(t testing.TB, o gen.Options) []event {
	t.Helper()
	var out []event
	err := gen.Each(o, func(kind, id string, ev []byte) error {
		out = append(out, event{kind, id, ev})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decoded is a generated event after validation.
type decoded struct {
	env *profile.Envelope
	res *profile.Resident
	ent *profile.Enterprise
}

// city generates and validates a city; any event the schemas refuse fails
// the test.
func city(t *testing.T, o gen.Options) []decoded {
	t.Helper()
	v, err := profile.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	var out []decoded
	for i, ev := range generate(t, o) {
		env, err := v.DecodeEnvelope(ev.data)
		if err != nil {
			t.Fatalf("event %d (%s %s) fails the schema: %v\n%s", i, ev.kind, ev.id, err, ev.data)
		}
		p, err := v.Decode(env.SubjectType, env.Data)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		d := decoded{env: env}
		switch x := p.(type) {
		case *profile.Resident:
			d.res = x
		case *profile.Enterprise:
			d.ent = x
		}
		if string(env.SubjectType) != ev.kind || env.SubjectID != ev.id {
			t.Fatalf("event %d: envelope says %s %s, Each said %s %s", i, env.SubjectType, env.SubjectID, ev.kind, ev.id)
		}
		out = append(out, d)
	}
	return out
}

func TestEventsPassSchemaAndAreWellFormed(t *testing.T) {
	t.Parallel()
	mobileRE := regexp.MustCompile(`^1[3-9]\d{9}$`)
	usccRE := regexp.MustCompile(`^9[12]33\d{4}MA[0-9A-HJ-NPQRTUWXY]{8}$`)
	personRE := regexp.MustCompile(`^p_[0-9a-f]{8}$`)
	o := gen.Options{Residents: 3000, Enterprises: 600, Seed: 7, At: at()}
	events := city(t, o)
	if len(events) != o.Residents+o.Enterprises {
		t.Fatalf("%d events, want %d", len(events), o.Residents+o.Enterprises)
	}
	eventIDs, subjectIDs, mobiles := map[string]bool{}, map[string]bool{}, map[string]string{}
	mobile := func(owner string, m *string) {
		if m == nil {
			return
		}
		if !mobileRE.MatchString(*m) {
			t.Errorf("%s: mobile %q is not a mainland mobile number", owner, *m)
		}
		if prev, dup := mobiles[*m]; dup {
			t.Errorf("mobile %s of %s is also %s's", *m, owner, prev)
		}
		mobiles[*m] = owner
	}
	for _, d := range events {
		env := d.env
		if eventIDs[env.EventID] {
			t.Errorf("duplicate event_id %s", env.EventID)
		}
		eventIDs[env.EventID] = true
		if subjectIDs[env.SubjectID] {
			t.Errorf("duplicate subject %s", env.SubjectID)
		}
		subjectIDs[env.SubjectID] = true
		if env.Type != profile.Snapshot {
			t.Errorf("%s: type %s", env.EventID, env.Type)
		}
		if ago := o.At.Sub(env.OccurredAt); ago < 0 || ago >= time.Hour {
			t.Errorf("%s: occurred_at %v is not within the hour before %v", env.EventID, env.OccurredAt, o.At)
		}
		switch {
		case d.res != nil:
			if env.Source != gen.SourceResident || !personRE.MatchString(d.res.PersonID) {
				t.Errorf("%s: source %s, person_id %s", env.EventID, env.Source, d.res.PersonID)
			}
			if d.res.Contact != nil {
				mobile(d.res.PersonID, d.res.Contact.Mobile)
			}
			if e := d.res.Employment; e != nil && e.EmployerUSCC != nil && !subjectIDs[*e.EmployerUSCC] && !usccRE.MatchString(*e.EmployerUSCC) {
				t.Errorf("%s: employer %s", d.res.PersonID, *e.EmployerUSCC)
			}
		case d.ent != nil:
			if env.Source != gen.SourceEnterprise || !usccRE.MatchString(d.ent.USCC) || !gen.ValidUSCC(d.ent.USCC) {
				t.Errorf("%s: source %s, uscc %s", env.EventID, env.Source, d.ent.USCC)
			}
			if d.ent.RegionCode != nil && *d.ent.RegionCode != d.ent.USCC[2:8] {
				t.Errorf("%s: region %s outside its code", d.ent.USCC, *d.ent.RegionCode)
			}
			if c := d.ent.Contacts; c != nil {
				mobile(d.ent.USCC+" HR", c.HRMobile)
				mobile(d.ent.USCC+" legal rep", c.LegalRepMobile)
			}
		}
	}
	if len(mobiles) < (o.Residents+o.Enterprises)*3/4 {
		t.Errorf("only %d mobiles for %d subjects", len(mobiles), len(events))
	}
}

// TestEmployersAreInTheCity checks that residents' employers are the
// sample's enterprises, so that the city hangs together.
func TestEmployersAreInTheCity(t *testing.T) {
	t.Parallel()
	events := city(t, gen.Options{Residents: 500, Enterprises: 50, Seed: 3, At: at()})
	firms := map[string]bool{}
	for _, d := range events {
		if d.ent != nil {
			firms[d.ent.USCC] = true
		}
	}
	employed := 0
	for _, d := range events {
		if d.res == nil || d.res.Employment == nil || d.res.Employment.EmployerUSCC == nil {
			continue
		}
		employed++
		if !firms[*d.res.Employment.EmployerUSCC] {
			t.Errorf("%s works for %s, not an enterprise of the city", d.res.PersonID, *d.res.Employment.EmployerUSCC)
		}
	}
	if employed < 100 {
		t.Errorf("only %d residents name an employer", employed)
	}
}

// TestEligibility evaluates a city with the repository's rules: a good
// share of subjects must be eligible for something, most policies must
// match someone, and missing data must leave some results unknown.
func TestEligibility(t *testing.T) {
	t.Parallel()
	o := gen.Options{Residents: 4000, Enterprises: 1000, Seed: 1, At: at()}
	if testing.Short() {
		o.Residents, o.Enterprises = 2000, 500
	}
	set, err := ruledir.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	instant := set.At(o.At)
	var applicable [2][]*rules.Policy
	kindIndex := func(k profile.Kind) int {
		return map[profile.Kind]int{profile.KindResident: 0, profile.KindEnterprise: 1}[k]
	}
	for _, p := range set.Policies() {
		if p.Applies(instant) {
			applicable[kindIndex(p.Subject)] = append(applicable[kindIndex(p.Subject)], p)
		}
	}
	ev := set.NewEvaluator()
	counts := map[string]*[3]int{} // policy → count by rules.Result
	var subjects, anyEligible, anyUnknown [2]int
	for _, d := range city(t, o) {
		var subject any = d.res
		if d.ent != nil {
			subject = d.ent
		}
		in, err := set.Prepare(subject)
		if err != nil {
			t.Fatal(err)
		}
		k := kindIndex(in.Kind)
		subjects[k]++
		var eligible, unknown bool
		for _, p := range applicable[k] {
			r := ev.Evaluate(p, in, instant).Result
			if counts[p.ID] == nil {
				counts[p.ID] = &[3]int{}
			}
			counts[p.ID][r]++
			eligible = eligible || r == rules.Eligible
			unknown = unknown || r == rules.Unknown
		}
		if eligible {
			anyEligible[k]++
		}
		if unknown {
			anyUnknown[k]++
		}
	}

	var log strings.Builder
	fmt.Fprintf(&log, "%d residents, %d enterprises at %s\n%-40s %9s %9s %9s\n", subjects[0], subjects[1],
		o.At.Format(time.DateOnly), "policy", "eligible", "unknown", "inelig.")
	for k, kind := range []string{"resident", "enterprise"} {
		matching := 0
		for _, p := range applicable[k] {
			c := counts[p.ID]
			pct := func(n int) string { return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(subjects[k])) }
			fmt.Fprintf(&log, "%-40s %9s %9s %9s\n", p.ID, pct(c[rules.Eligible]), pct(c[rules.Unknown]), pct(c[rules.Ineligible]))
			if c[rules.Eligible] > 0 {
				matching++
			}
		}
		share := float64(anyEligible[k]) / float64(subjects[k])
		unknownShare := float64(anyUnknown[k]) / float64(subjects[k])
		fmt.Fprintf(&log, "%ss eligible for at least one policy: %.1f%%; with an unknown result: %.1f%%\n", kind, 100*share, 100*unknownShare)
		if share < 0.30 {
			t.Errorf("%.1f%% of %ss are eligible for something, want at least 30%%", 100*share, kind)
		}
		if unknownShare < 0.10 || unknownShare > 0.95 {
			t.Errorf("%.1f%% of %ss have an unknown result, want some but not all", 100*unknownShare, kind)
		}
		// All but a couple of each kind's policies match someone: the
		// rarest (the age-60 reminder, the graduation-year subsidy) may
		// miss in a small sample.
		if want := len(applicable[k]) - 2; matching < want {
			t.Errorf("%d of %d %s policies match someone, want at least %d", matching, len(applicable[k]), kind, want)
		}
	}
	t.Log("\n" + log.String())
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	base := gen.Options{Residents: 300, Enterprises: 40, Seed: 42, At: at()}
	with := func(f func(*gen.Options)) gen.Options {
		o := base
		f(&o)
		return o
	}
	tests := []struct {
		name  string
		other gen.Options
		same  bool
	}{
		{"same options", base, true},
		{"same instant in another zone", with(func(o *gen.Options) { o.At = o.At.UTC() }), true},
		{"another seed", with(func(o *gen.Options) { o.Seed = 43 }), false},
		{"another day", with(func(o *gen.Options) { o.At = o.At.AddDate(0, 0, 1) }), false},
	}
	digest := func(o gen.Options) [32]byte {
		var b bytes.Buffer
		if err := gen.Write(&b, o); err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b.Bytes())
	}
	want := digest(base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := digest(tt.other); (got == want) != tt.same {
				t.Errorf("output equal: %v, want %v", got == want, tt.same)
			}
		})
	}
}

// TestSubjectsDoNotDependOnOrder checks the documented independence: a
// subject is the same whatever the count of its own kind.
func TestSubjectsDoNotDependOnOrder(t *testing.T) {
	t.Parallel()
	small := generate(t, gen.Options{Residents: 5, Enterprises: 3, Seed: 9, At: at()})
	large := generate(t, gen.Options{Residents: 200, Enterprises: 3, Seed: 9, At: at()})
	byID := map[string][]byte{}
	for _, e := range large {
		byID[e.id] = e.data
	}
	for _, e := range small {
		if !bytes.Equal(byID[e.id], e.data) {
			t.Errorf("%s %s differs between 8 and 203 subjects", e.kind, e.id)
		}
	}
}

// TestSubjectsMove checks what a rerun for a later instant gives: the same
// subjects, new event ids, later events.
func TestSubjectsMove(t *testing.T) {
	t.Parallel()
	o := gen.Options{Residents: 50, Enterprises: 10, Seed: 5, At: at()}
	first := city(t, o)
	o.At = o.At.Add(90 * time.Minute)
	for i, d := range city(t, o) {
		f := first[i].env
		if d.env.SubjectID != f.SubjectID || d.env.EventID == f.EventID || !d.env.OccurredAt.After(f.OccurredAt) {
			t.Errorf("event %d: %s %s at %v after %s %s at %v", i, d.env.SubjectID, d.env.EventID, d.env.OccurredAt, f.SubjectID, f.EventID, f.OccurredAt)
		}
	}
}

func TestInterleaving(t *testing.T) {
	t.Parallel()
	tests := []struct {
		residents, enterprises int
		want                   string
	}{
		{3, 2, "rerer"},
		{0, 2, "ee"},
		{2, 0, "rr"},
		{0, 0, ""},
		{10, 2, "rerrrrrerrrr"},
	}
	for _, tt := range tests {
		var got strings.Builder
		for _, e := range generate(t, gen.Options{Residents: tt.residents, Enterprises: tt.enterprises, At: at()}) {
			got.WriteByte(e.kind[0])
		}
		if got.String() != tt.want {
			t.Errorf("%d residents, %d enterprises: order %q, want %q", tt.residents, tt.enterprises, got.String(), tt.want)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		o    gen.Options
	}{
		{"negative residents", gen.Options{Residents: -1, At: at()}},
		{"negative enterprises", gen.Options{Enterprises: -1, At: at()}},
		{"too many residents", gen.Options{Residents: gen.MaxSubjects + 1, At: at()}},
		{"too many enterprises", gen.Options{Enterprises: gen.MaxSubjects + 1, At: at()}},
		{"no instant", gen.Options{Residents: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := gen.Each(tt.o, func(string, string, []byte) error { called = true; return nil })
			if err == nil || called {
				t.Errorf("error %v, fn called %v: want an error before any event", err, called)
			}
		})
	}
}

func TestCallbackErrorStops(t *testing.T) {
	t.Parallel()
	errStop := errors.New("stop")
	calls := 0
	err := gen.Each(gen.Options{Residents: 10, Enterprises: 10, At: at()}, func(string, string, []byte) error {
		calls++
		if calls == 5 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) || calls != 5 {
		t.Errorf("error %v after %d calls, want errStop after 5", err, calls)
	}
}

// TestDistributions checks the shares of the states the brief and the
// rules care about, over a mid-sized city. The bounds are loose: they
// catch a broken draw, not a tuning.
func TestDistributions(t *testing.T) {
	t.Parallel()
	events := city(t, gen.Options{Residents: 4000, Enterprises: 1000, Seed: 11, At: at()})
	var res []*profile.Resident
	var ent []*profile.Enterprise
	for _, d := range events {
		if d.res != nil {
			res = append(res, d.res)
		} else {
			ent = append(ent, d.ent)
		}
	}
	is := func(s *string, v string) bool { return s != nil && *s == v }
	yes := func(b *bool) bool { return b != nil && *b }
	no := func(b *bool) bool { return b != nil && !*b }
	gradYear := func(y string) func(r *profile.Resident) bool {
		return func(r *profile.Resident) bool {
			e := r.Education
			return e != nil && e.GraduationDate != nil && strings.HasPrefix(*e.GraduationDate, y) && yes(e.IsRegularCollege)
		}
	}
	age := func(r *profile.Resident) int {
		if r.BirthDate == nil {
			return -1
		}
		b, _ := time.Parse(time.DateOnly, *r.BirthDate)
		n := 2026 - b.Year()
		if b.Format("01-02") > "11-27" {
			n--
		}
		return n
	}
	status := func(v string) func(r *profile.Resident) bool {
		return func(r *profile.Resident) bool { return r.Employment != nil && is(r.Employment.Status, v) }
	}
	residents := []struct {
		name     string
		lo, hi   float64
		property func(r *profile.Resident) bool
	}{
		{"female", 0.44, 0.52, func(r *profile.Resident) bool { return is(r.Gender, "F") }},
		{"aged 60 or more", 0.12, 0.26, func(r *profile.Resident) bool { return age(r) >= 60 }},
		{"aged under 25", 0.10, 0.30, func(r *profile.Resident) bool { a := age(r); return a >= 0 && a < 25 }},
		{"local hukou", 0.45, 0.75, func(r *profile.Resident) bool { return r.Hukou != nil && yes(r.Hukou.IsLocal) }},
		{"rural hukou", 0.10, 0.40, func(r *profile.Resident) bool { return r.Hukou != nil && is(r.Hukou.Type, "rural") }},
		{"bachelor or higher", 0.15, 0.40, func(r *profile.Resident) bool {
			return r.Education != nil && r.Education.Level != nil && slices.Contains([]string{"bachelor", "master", "doctorate"}, *r.Education.Level)
		}},
		{"2024 college graduate", 0.01, 0.08, gradYear("2024")},
		{"2025 college graduate", 0.01, 0.08, gradYear("2025")},
		{"2026 college graduate", 0.01, 0.08, gradYear("2026")},
		{"student", 0.04, 0.15, status("student")},
		{"employed", 0.25, 0.55, status("employed")},
		{"registered unemployed", 0.03, 0.15, status("unemployed_registered")},
		{"retired", 0.10, 0.30, status("retired")},
		{"registered with a date", 0.03, 0.15, func(r *profile.Resident) bool {
			u := r.Employment
			return u != nil && u.UnemploymentRegistration != nil && yes(u.UnemploymentRegistration.Registered) && u.UnemploymentRegistration.Date != nil
		}},
		{"involuntary separation", 0.02, 0.10, func(r *profile.Resident) bool {
			return r.Employment != nil && r.Employment.LastSeparation != nil && is(r.Employment.LastSeparation.Reason, "involuntary")
		}},
		{"UI for 12 months or more", 0.25, 0.70, func(r *profile.Resident) bool {
			i := r.Insurance
			return i != nil && i.Unemployment != nil && i.Unemployment.CumulativeMonths != nil && *i.Unemployment.CumulativeMonths >= 12
		}},
		{"pension suspended", 0.08, 0.30, func(r *profile.Resident) bool {
			i := r.Insurance
			return i != nil && i.Pension != nil && is(i.Pension.Status, "suspended")
		}},
		{"certificate issued within a year", 0.08, 0.25, func(r *profile.Resident) bool {
			return slices.ContainsFunc(r.SkillCertificates, func(c profile.SkillCertificate) bool {
				return c.IssueDate != nil && *c.IssueDate > "2025-11-27"
			})
		}},
		{"certified hardship", 0.02, 0.10, func(r *profile.Resident) bool { return r.Hardship != nil && yes(r.Hardship.Certified) }},
		{"hardship categories", 0.01, 0.08, func(r *profile.Resident) bool { return r.Hardship != nil && len(r.Hardship.Categories) > 0 }},
		{"veteran", 0.01, 0.05, func(r *profile.Resident) bool { return r.Veteran != nil && yes(r.Veteran.IsVeteran) }},
		{"disability certificate", 0.005, 0.04, func(r *profile.Resident) bool { return r.Disability != nil && yes(r.Disability.HasCertificate) }},
		{"receiving a pension with an auth date", 0.10, 0.28, func(r *profile.Resident) bool {
			p := r.PensionReceiving
			return p != nil && yes(p.Receiving) && p.LastAuthDate != nil
		}},
		{"founder", 0.02, 0.10, func(r *profile.Resident) bool { return r.Entrepreneur != nil && yes(r.Entrepreneur.IsFounder) }},
		{"benefits received", 0.03, 0.20, func(r *profile.Resident) bool { return len(r.BenefitsReceived) > 0 }},
		{"mobile", 0.85, 0.97, func(r *profile.Resident) bool { return r.Contact != nil && r.Contact.Mobile != nil }},
		{"WeChat openid", 0.55, 0.80, func(r *profile.Resident) bool {
			return r.Channels != nil && r.Channels.WeChat != nil && r.Channels.WeChat.OpenID != nil
		}},
		{"WeChat unfollowed", 0.02, 0.10, func(r *profile.Resident) bool {
			return r.Channels != nil && r.Channels.WeChat != nil && no(r.Channels.WeChat.Followed)
		}},
		{"SMS disabled", 0.01, 0.08, func(r *profile.Resident) bool {
			return r.Channels != nil && r.Channels.SMS != nil && no(r.Channels.SMS.Enabled)
		}},
		{"personalised push on", 0.85, 0.97, func(r *profile.Resident) bool { return r.Consent != nil && yes(r.Consent.PersonalizedPush) }},
		{"personalised push off", 0.01, 0.08, func(r *profile.Resident) bool { return r.Consent != nil && no(r.Consent.PersonalizedPush) }},
		{"opted out of a channel", 0.03, 0.15, func(r *profile.Resident) bool { return r.Consent != nil && len(r.Consent.OptOutChannels) > 0 }},
		{"birth date unknown", 0.005, 0.04, func(r *profile.Resident) bool { return r.BirthDate == nil }},
	}
	for _, tt := range residents {
		t.Run("resident/"+tt.name, func(t *testing.T) {
			checkShare(t, len(slices.DeleteFunc(slices.Clone(res), func(r *profile.Resident) bool { return !tt.property(r) })), len(res), tt.lo, tt.hi)
		})
	}
	enterprises := []struct {
		name     string
		lo, hi   float64
		property func(e *profile.Enterprise) bool
	}{
		{"micro", 0.45, 0.62, func(e *profile.Enterprise) bool { return is(e.SizeClass, "micro") }},
		{"large", 0.01, 0.06, func(e *profile.Enterprise) bool { return is(e.SizeClass, "large") }},
		{"size unknown", 0.02, 0.09, func(e *profile.Enterprise) bool { return e.SizeClass == nil }},
		{"named …有限公司", 0.97, 1, func(e *profile.Enterprise) bool { return e.Name != nil && strings.HasSuffix(*e.Name, "有限公司") }},
		{"active", 0.92, 0.99, func(e *profile.Enterprise) bool { return is(e.RegistrationStatus, "active") }},
		{"UI paid 12 months or more", 0.60, 0.95, func(e *profile.Enterprise) bool {
			return e.UI != nil && e.UI.PaidFullMonths != nil && *e.UI.PaidFullMonths >= 12
		}},
		{"shrank last year", 0.15, 0.50, func(e *profile.Enterprise) bool {
			u := e.UI
			return u != nil && u.InsuredCountYearStart != nil && u.InsuredCountYearEnd != nil && *u.InsuredCountYearEnd < *u.InsuredCountYearStart
		}},
		{"layoff rate above 5.5%", 0.03, 0.20, func(e *profile.Enterprise) bool {
			u := e.UI
			return u != nil && u.NewClaimantsLastYear != nil && u.AvgInsuredLastYear != nil && *u.AvgInsuredLastYear > 0 &&
				float64(*u.NewClaimantsLastYear) / *u.AvgInsuredLastYear > 0.055
		}},
		{"arrears", 0.01, 0.08, func(e *profile.Enterprise) bool { return e.Arrears != nil && yes(e.Arrears.HasArrears) }},
		{"serious dishonest", 0, 0.03, func(e *profile.Enterprise) bool { return e.Credit != nil && yes(e.Credit.SeriousDishonest) }},
		{"zombie unknown", 0.05, 0.25, func(e *profile.Enterprise) bool { return e.Credit == nil || e.Credit.Zombie == nil }},
		{"hired a graduate", 0.15, 0.60, func(e *profile.Enterprise) bool {
			return slices.ContainsFunc(e.NewHires, func(h profile.NewHire) bool { return is(h.Category, "graduate") })
		}},
		{"hired someone hard to employ", 0.05, 0.40, func(e *profile.Enterprise) bool {
			return slices.ContainsFunc(e.NewHires, func(h profile.NewHire) bool { return is(h.Category, "hard_to_employ") })
		}},
		{"certified internship base", 0.01, 0.08, func(e *profile.Enterprise) bool { return e.InternshipBase != nil && yes(e.InternshipBase.Certified) }},
		{"received a benefit", 0.25, 0.60, func(e *profile.Enterprise) bool { return len(e.BenefitsReceived) > 0 }},
		{"HR mobile", 0.55, 0.90, func(e *profile.Enterprise) bool { return e.Contacts != nil && e.Contacts.HRMobile != nil }},
		{"WeChat openid", 0.30, 0.55, func(e *profile.Enterprise) bool {
			return e.Channels != nil && e.Channels.WeChat != nil && e.Channels.WeChat.OpenID != nil
		}},
	}
	for _, tt := range enterprises {
		t.Run("enterprise/"+tt.name, func(t *testing.T) {
			checkShare(t, len(slices.DeleteFunc(slices.Clone(ent), func(e *profile.Enterprise) bool { return !tt.property(e) })), len(ent), tt.lo, tt.hi)
		})
	}
}

func checkShare(t *testing.T, n, of int, lo, hi float64) {
	t.Helper()
	share := float64(n) / float64(of)
	if share < lo || share > hi {
		t.Errorf("%d of %d (%.1f%%), want %.1f%%–%.1f%%", n, of, 100*share, 100*lo, 100*hi)
	}
}

// BenchmarkGen generates the demo's city, 50,000 residents and 5,000
// enterprises, per iteration.
func BenchmarkGen(b *testing.B) {
	o := gen.Options{Residents: 50_000, Enterprises: 5_000, Seed: 1, At: at()}
	bytes := 0
	b.ReportAllocs()
	for b.Loop() {
		bytes = 0
		err := gen.Each(o, func(_, _ string, ev []byte) error {
			bytes += len(ev)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	n := float64(o.Residents + o.Enterprises)
	b.ReportMetric(n/perOp, "events/s")
	b.ReportMetric(perOp*1e9/n, "ns/event")
	b.ReportMetric(float64(bytes)/n, "bytes/event")
	b.SetBytes(int64(bytes))
}

// TestDatesHangTogether checks the order of each profile's dates: nothing
// in the future but a student's graduation, registration after
// separation, certification after the pension started, and so on.
func TestDatesHangTogether(t *testing.T) {
	t.Parallel()
	o := gen.Options{Residents: 3000, Enterprises: 500, Seed: 13, At: at()}
	today := o.At.Format(time.DateOnly)
	for _, d := range city(t, o) {
		var problems []string
		// order checks a <= b for each known pair of dates.
		order := func(what string, dates ...*string) {
			for k := 1; k < len(dates); k++ {
				a, b := dates[k-1], dates[k]
				if a != nil && b != nil && *a > *b {
					problems = append(problems, fmt.Sprintf("%s: %s after %s", what, *a, *b))
				}
			}
		}
		now := &today
		if r := d.res; r != nil {
			order("birth", r.BirthDate, now)
			if e := r.Education; e != nil {
				order("graduation", r.BirthDate, e.GraduationDate)
				if r.Employment != nil && r.Employment.Status != nil && *r.Employment.Status != "student" {
					order("graduation of a non-student", e.GraduationDate, now)
				}
			}
			if e := r.Employment; e != nil {
				var sep, reg *string
				if e.LastSeparation != nil {
					sep = e.LastSeparation.Date
				}
				if e.UnemploymentRegistration != nil {
					reg = e.UnemploymentRegistration.Date
				}
				order("separation and registration", r.BirthDate, sep, reg, now)
			}
			if v := r.Veteran; v != nil {
				order("discharge", r.BirthDate, v.DischargeDate, now)
			}
			if p := r.PensionReceiving; p != nil {
				order("pension", r.BirthDate, p.StartDate, p.LastAuthDate, now)
			}
			for _, c := range r.SkillCertificates {
				order("certificate", r.BirthDate, c.IssueDate, now)
			}
			if e := r.Entrepreneur; e != nil {
				order("business", r.BirthDate, e.RegisteredDate, now)
			}
			for _, b := range r.BenefitsReceived {
				order("benefit", r.BirthDate, b.GrantedOn, now)
			}
			if i := r.Insurance; i != nil && i.Pension != nil && i.Pension.LastPaidMonth != nil && *i.Pension.LastPaidMonth > today[:7] {
				problems = append(problems, "pension paid in the future: "+*i.Pension.LastPaidMonth)
			}
		}
		if e := d.ent; e != nil {
			order("registration", e.RegisteredDate, now)
			for _, h := range e.NewHires {
				order("hire", h.HireDate, now)
			}
			for _, b := range e.BenefitsReceived {
				if b.Year != nil && (*b.Year > o.At.Year() || e.RegisteredDate != nil && *b.Year < atoi((*e.RegisteredDate)[:4])) {
					problems = append(problems, fmt.Sprintf("benefit of %d", *b.Year))
				}
			}
		}
		if len(problems) > 0 {
			t.Errorf("%s: %s\n%s", d.env.SubjectID, strings.Join(problems, "; "), d.env.Data)
		}
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
