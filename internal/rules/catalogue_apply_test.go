package rules_test

import (
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
)

// Every policy of the repository's catalogue tells the person what to do
// next: the notice page shows apply's how, office and, unless the bureau
// pays without any action, the materials to bring. A policy paid without
// application says so in how; one the person confirms words the checkbox.
func TestCatalogueHasApply(t *testing.T) {
	d, err := ruledir.Read("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Problems) > 0 {
		t.Fatal(d.Problems)
	}
	modes := map[rules.ApplyMode]int{}
	for _, r := range d.Rules {
		if r.Apply == nil {
			t.Errorf("%s: no apply block", r.File)
			continue
		}
		a := r.NextSteps()
		modes[a.Mode]++
		if a.How == "" || a.Office == "" {
			t.Errorf("%s: apply lacks how or office: %+v", r.File, a)
		}
		if a.Mode != rules.ApplyAutomatic && len(a.Materials) == 0 {
			t.Errorf("%s: mode %s names no materials to bring", r.File, a.Mode)
		}
		if a.Mode == rules.ApplyAutomatic && !strings.Contains(a.How, "无需申请") {
			t.Errorf("%s: an automatic grant's how should say 无需申请 and what happens: %q", r.File, a.How)
		}
		if (a.Mode == rules.ApplyConfirm) != (a.Confirm != "") {
			t.Errorf("%s: mode %s with confirm %q", r.File, a.Mode, a.Confirm)
		}
		if a.URL != "" && !strings.HasPrefix(a.URL, "https://") {
			t.Errorf("%s: apply.url %q is not https", r.File, a.URL)
		}
		if r.ValidUntil != nil && (a.Deadline == nil || a.Deadline.After(*r.ValidUntil)) {
			t.Errorf("%s: deadline %v outside the validity", r.File, a.Deadline)
		}
	}
	if len(d.Rules) != 22 { // 21 in force or past, and one draft out for comment
		t.Errorf("%d rules in the catalogue, want 22", len(d.Rules))
	}
	for _, m := range []rules.ApplyMode{rules.ApplyByPerson, rules.ApplyConfirm, rules.ApplyAutomatic} {
		if modes[m] == 0 {
			t.Errorf("no catalogue policy in mode %s", m)
		}
	}
}
