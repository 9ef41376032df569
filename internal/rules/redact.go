package rules

import (
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/policypush/policypush/internal/profile"
)

// Redact returns a stored explanation (the JSON of an [Explanation]) without
// what an officer may not see: the value of every read of a sensitive field
// or of a contact or channel field is dropped and the read marked
// sensitive, and mobiles in the free text (an error, an expression) are
// masked. Explanations stored before lint refused contact reads and before
// the schema marked sensitive fields can hold such values; new ones do not,
// and are returned unchanged in content.
func Redact(raw json.RawMessage, marks *profile.Marks) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return raw, nil
	}
	var x map[string]any
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("redact an explanation: %w", err)
	}
	redactReads(x["amount_reads"], marks)
	if conds, ok := x["conditions"].([]any); ok {
		for _, c := range conds {
			cm, ok := c.(map[string]any)
			if !ok {
				continue
			}
			redactReads(cm["reads"], marks)
			for _, k := range []string{"expr", "error"} {
				if s, ok := cm[k].(string); ok {
					cm[k] = MaskMobiles(s)
				}
			}
		}
	}
	out, err := json.Marshal(x)
	if err != nil {
		return nil, fmt.Errorf("redact an explanation: %w", err)
	}
	return out, nil
}

func redactReads(v any, marks *profile.Marks) {
	reads, _ := v.([]any)
	for _, r := range reads {
		rm, ok := r.(map[string]any)
		if !ok {
			continue
		}
		name, _ := rm["name"].(string)
		if _, has := rm["value"]; has && marks.Hidden(name) {
			delete(rm, "value")
			rm["sensitive"] = true
		}
	}
}

// mobile is a mainland mobile number not inside a longer run of digits.
var mobile = regexp.MustCompile(`(^|[^0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})($|[^0-9])`)

// MaskMobiles masks every mainland mobile number in s as 138****5678.
func MaskMobiles(s string) string {
	// Twice, since adjacent numbers share the separator the pattern consumes.
	for range 2 {
		s = mobile.ReplaceAllString(s, "${1}${2}****${3}${4}")
	}
	return s
}
