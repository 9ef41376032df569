package profile

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// secret is a value no reason may carry; the tests plant it wherever a
// validation can fail on it.
const secret = "13812345678"

// TestReasonsNeverEchoValues puts the distinctive value under every kind of
// schema rule and checks that the reason names the field and the rule, but
// never the value (nor a piece of it).
func TestReasonsNeverEchoValues(t *testing.T) {
	const schema = `{
	  "type": "object",
	  "properties": {
	    "pattern":   {"type": "string", "pattern": "^1[3-9]\\d{8}$"},
	    "type":      {"type": "integer"},
	    "enum":      {"enum": ["a", "b"]},
	    "const":     {"const": "x"},
	    "date":      {"type": "string", "format": "date"},
	    "datetime":  {"type": "string", "format": "date-time"},
	    "email":     {"type": "string", "format": "email"},
	    "minlen":    {"type": "string", "minLength": 20},
	    "maxlen":    {"type": "string", "maxLength": 3},
	    "minimum":   {"type": "number", "minimum": 99999999999},
	    "maximum":   {"type": "number", "maximum": 4},
	    "exmin":     {"type": "number", "exclusiveMinimum": 99999999999},
	    "exmax":     {"type": "number", "exclusiveMaximum": 4},
	    "multiple":  {"type": "number", "multipleOf": 7},
	    "unique":    {"type": "array", "uniqueItems": true},
	    "maxitems":  {"type": "array", "maxItems": 1},
	    "contains":  {"type": "array", "contains": {"const": 1}},
	    "not":       {"not": {"type": "string"}},
	    "anyof":     {"anyOf": [{"type": "integer"}, {"const": "x"}]},
	    "oneof":     {"oneOf": [{"type": "integer"}, {"const": "x"}]},
	    "false":     false,
	    "encoded":   {"type": "string", "contentEncoding": "base64"},
	    "closed":    {"type": "object", "additionalProperties": false},
	    "names":     {"type": "object", "propertyNames": {"maxLength": 2}},
	    "dependent": {"type": "object", "dependentRequired": {"a": ["b"]}}
	  }
	}`
	tests := []struct {
		field string
		value string // JSON, holding the secret
		want  string // a fragment of the reason
	}{
		{"pattern", `"` + secret + `0"`, "at /pattern: does not match the required pattern"},
		{"type", `"` + secret + `"`, "at /type: is a string, want integer"},
		{"enum", `"` + secret + `"`, "at /enum: is not one of the allowed values"},
		{"const", `"` + secret + `"`, "at /const: is not the required value"},
		{"date", `"` + secret + `"`, "at /date: is not a valid date"},
		{"datetime", `"` + secret + `"`, "at /datetime: is not a valid date-time"},
		{"email", `"` + secret + `"`, "at /email: is not a valid email"},
		{"minlen", `"` + secret + `"`, "at /minlen: is shorter than 20 characters"},
		{"maxlen", `"` + secret + `"`, "at /maxlen: is longer than 3 characters"},
		{"minimum", secret, "at /minimum: is below the minimum 99999999999"},
		{"maximum", secret, "at /maximum: is above the maximum 4"},
		{"exmin", secret, "at /exmin: must be above 99999999999"},
		{"exmax", secret, "at /exmax: must be below 4"},
		{"multiple", secret + "1", "at /multiple: is not a multiple of 7"},
		{"unique", `["` + secret + `","` + secret + `"]`, "at /unique: items 0 and 1 are equal"},
		{"maxitems", `["` + secret + `","x"]`, "at /maxitems: has more than 1 items"},
		{"contains", `["` + secret + `"]`, "at /contains"},
		{"not", `"` + secret + `"`, "at /not"},
		{"anyof", `"` + secret + `"`, "at /anyof"},
		{"oneof", `"` + secret + `"`, "at /oneof"},
		{"false", `"` + secret + `"`, "at /false: is not allowed here"},
		{"encoded", `"` + secret + `!"`, "at /encoded: is not base64 encoded"},
		{"closed", `{"` + secret + `": 1}`, "at /closed: unknown a property not allowed"},
		{"names", `{"` + secret + `": 1}`, "is longer than 2 characters"},
		{"dependent", `{"a": "` + secret + `"}`, `at /dependent: missing property "b"`},
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("test.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("test.json")
	if err != nil {
		t.Fatal(err)
	}
	v := &Validator{printer: message.NewPrinter(language.English)}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"` + tt.field + `": ` + tt.value + `}`))
			if err != nil {
				t.Fatal(err)
			}
			err = v.check(s, "test document", inst)
			if err == nil {
				t.Fatal("valid; the test means it to fail")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("reason %q does not contain %q", msg, tt.want)
			}
			assertNoSecret(t, msg)
		})
	}
}

// assertNoSecret fails unless msg is free of the secret and of any run of
// seven of its digits.
func assertNoSecret(t *testing.T, msg string) {
	t.Helper()
	for i := 0; i+7 <= len(secret); i++ {
		if strings.Contains(msg, secret[i:i+7]) {
			t.Fatalf("reason %q carries the value (%s…)", msg, secret[i:i+7])
		}
	}
}

// TestReasonsNeverEchoValuesInEvents sends the bug report's event, and others
// that break the real schemas on a contact, through DecodeEnvelope, which is
// what ingest logs and puts in x-dlq-reason.
func TestReasonsNeverEchoValuesInEvents(t *testing.T) {
	v := newValidator(t)
	const env = `{"event_id":"e1","subject_type":"resident","subject_id":"p1","occurred_at":"2026-01-31T10:00:00+08:00","source":"jinbao","type":"snapshot","data":%s}`
	tests := []struct {
		name, data, want string
	}{
		{"short mobile", `{"person_id":"p1","contact":{"mobile":"1381234567"}}`, "at /contact/mobile: does not match the required pattern"},
		{"mobile as a number", `{"person_id":"p1","contact":{"mobile":13812345678}}`, "at /contact/mobile: is a number, want null or string"},
		{"mobile under an unknown key", `{"person_id":"p1","contact":{"13812345678":"x"}}`, "at /contact: unknown a property not allowed"},
		{"openid as a boolean field", `{"person_id":"p1","channels":{"wechat":{"followed":"13812345678"}}}`, "at /channels/wechat/followed: is a string, want null or boolean"},
		{"mobile as the birth date", `{"person_id":"p1","birth_date":"13812345678"}`, "at /birth_date"},
		{"mobile as the id", `{"person_id":"p1"}`, "at /subject_id: does not match the profile's person_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := strings.Replace(env, "%s", tt.data, 1)
			if tt.name == "mobile as the id" {
				raw = strings.Replace(raw, `"subject_id":"p1"`, `"subject_id":"`+secret+`"`, 1)
			}
			_, err := v.DecodeEnvelope([]byte(raw))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("reason %q does not contain %q", err, tt.want)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

// FuzzReasonsNeverEchoValues plants the secret as the value of a field the
// fuzzer picks, in a shape it picks, and checks that no reason carries it.
func FuzzReasonsNeverEchoValues(f *testing.F) {
	for _, seed := range [][2]string{
		{"contact", `{"mobile":"` + secret + `0"}`},
		{"contact", `{"mobile":` + secret + `}`},
		{"birth_date", `"` + secret + `"`},
		{"disability", `{"level":` + secret + `}`},
		{"gender", `"` + secret + `"`},
		{"channels", `{"wechat":{"openid":` + secret + `}}`},
	} {
		f.Add(seed[0], seed[1])
	}
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, field, value string) {
		if !strings.Contains(value, secret) || !plainName.MatchString(field) || field == "person_id" {
			return
		}
		data := []byte(`{"person_id":"p1","` + field + `":` + value + `}`)
		if !jsonValid(data) {
			return
		}
		err := v.ValidateProfile(KindResident, data)
		if err == nil {
			return
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("reason %q carries the value", err)
		}
	})
}

func jsonValid(b []byte) bool {
	_, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	return err == nil
}
