package main

import (
	"errors"
	"strings"
	"testing"
)

// TestLintAgainst: lint --against reports what the service would refuse, a
// policy whose meaning changed under a published version, and nothing
// else: wording changes, new versions and new policies pass.
func TestLintAgainst(t *testing.T) {
	t.Parallel()
	const pub, draft = "testdata/against/published", "testdata/against/draft"
	tests := []struct {
		name    string
		args    []string
		wantErr error
		want    []string // the lines of stdout, each a prefix
	}{
		{"changed meaning", []string{"lint", draft, "--against", pub}, errFailed,
			[]string{"testdata/against/draft/edited.yaml:2:10: policy edited version 3 changed meaning since it was published"}},
		{"flag first", []string{"lint", "--against", pub, draft}, errFailed,
			[]string{"testdata/against/draft/edited.yaml:2:10: policy edited version 3 changed meaning"}},
		{"against itself", []string{"lint", pub, "--against", pub}, nil, nil},
		{"without --against", []string{"lint", draft}, nil, nil},
		{"no such published dir", []string{"lint", draft, "--against", "testdata/against/none"}, errors.New("--against"), nil},
		{"two dirs", []string{"lint", draft, pub}, errUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := policyctl(t, tt.args...)
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr != nil && err == nil:
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error()):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			got := lines(stdout)
			if len(got) != len(tt.want) {
				t.Fatalf("stdout %q, want %d lines", stdout, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) || !strings.HasSuffix(got[i], "bump version to 4, so that a backfill finds who qualifies under the new meaning") {
					t.Errorf("line %q, want %q…bump version to 4…", got[i], w)
				}
			}
		})
	}
}
