package store

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestRecordMeanings(t *testing.T) {
	s := openStore(t)
	ctx := t.Context()
	run := fmt.Sprintf("%s/%d", t.Name(), time.Now().UnixNano()) // -count=N reuses the database
	a, b := run+"/a", run+"/b"
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

// TestRecordMeaningsRace: replicas that publish one version with different
// meanings at the same moment agree on one; every other is refused.
func TestRecordMeaningsRace(t *testing.T) {
	s := openStore(t)
	id := fmt.Sprintf("%s/%d", t.Name(), time.Now().UnixNano())
	const n = 8
	type result struct {
		hash    string
		changed []Meaning
		err     error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			h := fmt.Sprintf("h%d", i)
			changed, err := s.RecordMeanings(t.Context(), []Meaning{{id, 1, h}})
			results <- result{h, changed, err}
		}()
	}
	var winners []string
	var refused []result
	for range n {
		r := <-results
		switch {
		case r.err != nil:
			t.Fatal(r.err)
		case len(r.changed) == 0:
			winners = append(winners, r.hash)
		default:
			refused = append(refused, r)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d publications accepted (%v), want 1", len(winners), winners)
	}
	for _, r := range refused {
		if len(r.changed) != 1 || r.changed[0].Hash != winners[0] {
			t.Errorf("%s refused with %v, want the recorded %s", r.hash, r.changed, winners[0])
		}
	}
}
