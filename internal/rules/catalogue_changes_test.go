package rules_test

import (
	"testing"

	"github.com/policypush/policypush/internal/ruledir"
)

// Every policy of the repository's catalogue says what its version
// changed: the public library's 版本记录 shows it. The newest note is the
// policy's own version's.
func TestCatalogueHasChanges(t *testing.T) {
	d, err := ruledir.Read("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Problems) > 0 {
		t.Fatal(d.Problems)
	}
	if len(d.Rules) == 0 {
		t.Fatal("no rules read")
	}
	for _, r := range d.Rules {
		switch {
		case len(r.Changes) == 0:
			t.Errorf("%s: no changes note", r.File)
		case r.Changes[0].Version != r.Version || r.Changes[0].Changes == "":
			t.Errorf("%s: the newest changes note is for version %d, the policy is version %d", r.File, r.Changes[0].Version, r.Version)
		}
	}
}
