package rules

import (
	"os"
	"path/filepath"
	"testing"
)

// TestReviewKey pins what lint says of a rule's review key (testdata/review):
// absent is false, a boolean is taken as written, anything else is an error
// at its FILE:LINE:COL.
func TestReviewKey(t *testing.T) {
	tests := []struct {
		file string
		want string // the problem; "" for a good file
		on   bool
	}{
		{file: "good-on.yaml", on: true},
		{file: "good-off.yaml"},
		{file: "good-absent.yaml"},
		{file: "bad-string.yaml", want: "bad-string.yaml:13:9: review must be true or false"},
		{file: "bad-list.yaml", want: "bad-list.yaml:13:9: review must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "review", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r, err := ParseRule(tt.file, data)
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("err = %v, want %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Review != tt.on {
				t.Errorf("Review = %v, want %v", r.Review, tt.on)
			}
		})
	}
}
