package adminapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestJSONProblemEchoesNothing checks that a malformed body's answer says
// what is wrong without quoting the body: a phone number or a name in it
// must not come back in an error (or a log line made of one).
func TestJSONProblemEchoesNothing(t *testing.T) {
	type body struct {
		Subject string `json:"subject_id"`
		Months  int    `json:"months"`
	}
	for _, tt := range []struct {
		in, want, secret string
	}{
		{`{"subject_id": "13800138000" x}`, "invalid JSON at byte", "13800138000"},
		{`{"months": 13800138000.5}`, `field "months" must be int, not number`, "13800138000"},
		{`{"months": "张三"}`, `field "months" must be int, not string`, "张三"},
		{`{"张三13800138000": 1}`, "an unknown field", "13800138000"},
		{`{"subjct_id": "x"}`, `unknown field "subjct_id"`, "\x00"},
		{`{"subject_id": "13800138000"`, "the body ends before the JSON does", "13800138000"},
		{`["13800138000"]`, "the body must be adminapi.body, not array", "13800138000"},
	} {
		dec := json.NewDecoder(strings.NewReader(tt.in))
		dec.DisallowUnknownFields()
		var v body
		err := dec.Decode(&v)
		if err == nil {
			t.Fatalf("%s: no error", tt.in)
		}
		got := jsonProblem(err)
		if !strings.Contains(got, tt.want) || strings.Contains(got, tt.secret) {
			t.Errorf("%s: %q, want %q and not %q", tt.in, got, tt.want, tt.secret)
		}
	}
}
