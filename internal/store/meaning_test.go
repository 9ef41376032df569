package store

import (
	"reflect"
	"testing"
)

func TestRecordMeanings(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	a, b := t.Name()+"/a", t.Name()+"/b"
	for _, c := range []struct {
		name    string
		in      []Meaning
		changed []Meaning
	}{
		{"first publication", []Meaning{{a, 1, "h1"}, {b, 1, "h2"}}, nil},
		{"again", []Meaning{{a, 1, "h1"}, {b, 1, "h2"}}, nil},
		{"a new version", []Meaning{{a, 2, "h3"}, {b, 1, "h2"}}, nil},
		{"changed meaning", []Meaning{{a, 2, "h4"}, {b, 1, "h2"}, {b, 2, "h5"}}, []Meaning{{a, 2, "h3"}}},
		// b@2 of the refused set was not recorded: it may differ now.
		{"after a refusal", []Meaning{{a, 2, "h3"}, {b, 2, "h6"}}, nil},
		{"two changed", []Meaning{{a, 1, "x"}, {b, 2, "y"}}, []Meaning{{a, 1, "h1"}, {b, 2, "h6"}}},
		{"nothing", nil, nil},
	} {
		got, err := s.RecordMeanings(ctx, c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got)+len(c.changed) > 0 && !reflect.DeepEqual(got, c.changed) {
			t.Errorf("%s: changed %v, want %v", c.name, got, c.changed)
		}
	}
}
