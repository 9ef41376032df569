package rules

import (
	"reflect"
	"strings"
	"testing"
)

// TestChangesKey pins the form lint accepts for changes (CONTRACTS §9): a
// text for this version, or a mapping from versions to texts; anything
// else is reported where it was written, and its absence is no problem.
func TestChangesKey(t *testing.T) {
	const head = "id: t\nversion: 3\ntitle: test\ndomain: employment\nsubject: enterprise\ndepartment: test\n" +
		"source: {doc: \"test\"}\nstatus: active\nvalid_from: 2024-01-01\n" +
		"conditions:\n  - name: c0\n    expr: enterprise.credit.zombie == false\n"
	tests := []struct {
		name, src string
		want      []VersionChange
		err       string
	}{
		{name: "absent", src: ""},
		{name: "text", src: "changes: 补贴标准提高到每月1800元\n",
			want: []VersionChange{{3, "补贴标准提高到每月1800元"}}},
		{name: "history", src: "changes:\n  1: 首次发布\n  3: 延长至2027年\n  2: 放宽年龄\n",
			want: []VersionChange{{3, "延长至2027年"}, {2, "放宽年龄"}, {1, "首次发布"}}},
		{name: "empty", src: "changes: \"\"\n", err: "t.yaml:13:10: changes must not be empty"},
		{name: "list", src: "changes: [a, b]\n", err: "t.yaml:13:10: changes must be a text, or a mapping from version numbers to texts"},
		{name: "future version", src: "changes:\n  4: 以后\n", err: `t.yaml:14:3: changes: "4" is not a version of this policy (1 to 3)`},
		{name: "not a version", src: "changes:\n  v1: 首次\n", err: `t.yaml:14:3: changes: "v1" is not a version of this policy (1 to 3)`},
		{name: "twice", src: "changes:\n  1: a\n  1: b\n", err: "t.yaml:15:3: changes: version 1 is given twice"},
		{name: "placeholder", src: "changes: \"{{policy.title}}\"\n", err: "t.yaml:13:10: changes is shown as written: {{policy.title}} would not be filled in here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRule("t.yaml", []byte(head+tt.src))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Changes, tt.want) {
				t.Errorf("Changes = %+v, want %+v", r.Changes, tt.want)
			}
		})
	}
}
