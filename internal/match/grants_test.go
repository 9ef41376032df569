package match

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/store"
)

// Only entries new in this event grant; a resident's granted_on is the
// day, an enterprise's entry (a year only) takes the event's day.
func TestGrants(t *testing.T) {
	doc := func(s string) map[string]any {
		var m map[string]any
		d := json.NewDecoder(stringReader(s))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	env := &profile.Envelope{EventID: "e1", OccurredAt: time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)} // 12-08 in Shanghai
	k := store.SubjectKey{Type: "resident", ID: "p1"}
	old := `{"benefits_received":[{"policy_id":"a","granted_on":"2026-01-01","amount":100}]}`
	tests := []struct {
		name       string
		prev, next string
		want       []string // policy@day=amount
	}{
		{"none", `{}`, `{}`, nil},
		{"kept", old, old, nil},
		{"kept, written otherwise", old, `{"benefits_received":[{"amount":100.00,"granted_on":"2026-01-01","policy_id":"a"}]}`, nil},
		{"new one", old, `{"benefits_received":[{"policy_id":"a","granted_on":"2026-01-01","amount":100},{"policy_id":"b","granted_on":"2026-12-01","amount":1500}]}`,
			[]string{"b@2026-12-01=1500"}},
		{"year only", `{}`, `{"benefits_received":[{"policy_id":"c","year":2026,"amount":38640.5}]}`, []string{"c@2026-12-08=38640.5"}},
		{"no amount", `{}`, `{"benefits_received":[{"policy_id":"d"}]}`, []string{"d@2026-12-08=nil"}},
		// A second payment written exactly like the first is a payment.
		{"the same again", `{"benefits_received":[{"policy_id":"e","year":2026,"amount":1500}]}`,
			`{"benefits_received":[{"policy_id":"e","year":2026,"amount":1500},{"policy_id":"e","year":2026,"amount":1500}]}`,
			[]string{"e@2026-12-08=1500"}},
		{"the same, kept twice", `{"benefits_received":[{"policy_id":"e","year":2026,"amount":1500},{"policy_id":"e","year":2026,"amount":1500}]}`,
			`{"benefits_received":[{"policy_id":"e","year":2026,"amount":1500},{"policy_id":"e","year":2026,"amount":1500}]}`, nil},
		// The demo's 金保 sends the stored list back with the new entry; an
		// old entry's null may come back left out, or the other way round.
		{"kept, its null left out", `{"benefits_received":[{"policy_id":"r","year":2025,"amount":null}]}`,
			`{"benefits_received":[{"policy_id":"r","year":2025},{"policy_id":"r","year":2026,"amount":5676.03}]}`, []string{"r@2026-12-08=5676.03"}},
		{"another policy's old entry, its null left out, grants nothing", `{"benefits_received":[{"policy_id":"x","year":2025,"amount":null}]}`,
			`{"benefits_received":[{"policy_id":"x","year":2025},{"policy_id":"r","year":2026,"amount":5129.81}]}`, []string{"r@2026-12-08=5129.81"}},
		{"kept, a null written", `{"benefits_received":[{"policy_id":"r","year":2025}]}`,
			`{"benefits_received":[{"policy_id":"r","year":2025,"amount":null},{"policy_id":"r","year":2026,"amount":5676.03}]}`, []string{"r@2026-12-08=5676.03"}},
		{"kept, no year", `{"benefits_received":[{"policy_id":"r","year":null}]}`,
			`{"benefits_received":[{"policy_id":"r"},{"policy_id":"r","year":2026,"amount":5676.03}]}`, []string{"r@2026-12-08=5676.03"}},
		{"two new, the one with an amount wins", `{}`,
			`{"benefits_received":[{"policy_id":"r","year":2025},{"policy_id":"r","year":2026,"amount":5676.03}]}`, []string{"r@2026-12-08=5676.03"}},
		{"two new with amounts, the last wins", `{}`,
			`{"benefits_received":[{"policy_id":"r","year":2025,"amount":1},{"policy_id":"r","year":2026,"amount":2}]}`, []string{"r@2026-12-08=2"}},
		{"an amount, then an entry without", `{}`,
			`{"benefits_received":[{"policy_id":"r","year":2026,"amount":3},{"policy_id":"r","year":2025}]}`, []string{"r@2026-12-08=3"}},
		{"one per policy, in order", `{"benefits_received":[{"policy_id":"a","granted_on":"2026-01-01","amount":100}]}`,
			`{"benefits_received":[{"policy_id":"b"},{"policy_id":"a","granted_on":"2026-01-01","amount":100},{"policy_id":"c","amount":7},{"policy_id":"b","amount":9}]}`,
			[]string{"b@2026-12-08=9", "c@2026-12-08=7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, g := range grants(k, doc(tt.prev), doc(tt.next), env) {
				a := "nil"
				if g.Amount != nil {
					a = json.Number(fmtFloat(*g.Amount)).String()
				}
				got = append(got, g.PolicyID+"@"+g.GrantedOn.Format(time.DateOnly)+"="+a)
				if g.EventID != "e1" || g.Key != k {
					t.Errorf("grant %+v", g)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func stringReader(s string) *strings.Reader { return strings.NewReader(s) }

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
