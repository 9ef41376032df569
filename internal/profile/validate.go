package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/policypush/policypush/schemas"
)

// Envelope is a profile event as published on Kafka (CONTRACTS.md §1).
type Envelope struct {
	EventID     string          `json:"event_id"`
	SubjectType Kind            `json:"subject_type"`
	SubjectID   string          `json:"subject_id"`
	OccurredAt  time.Time       `json:"occurred_at"`
	Source      string          `json:"source"`
	Type        EventType       `json:"type"`
	Data        json.RawMessage `json:"data"`
	// Doc is Data decoded, for a snapshot (numbers are json.Number).
	Doc map[string]any `json:"-"`
}

// EventType says how Data relates to the stored profile.
type EventType string

// The event types of CONTRACTS.md §1.
const (
	Snapshot EventType = "snapshot" // Data is the whole profile.
	Patch    EventType = "patch"    // Data is a JSON Merge Patch (RFC 7396).
)

// Validator checks envelopes and profiles against the embedded schemas,
// and against the bounds of limits.go. It is safe for concurrent use.
type Validator struct {
	envelope, resident, enterprise *jsonschema.Schema
	printer                        *message.Printer
	now                            func() time.Time
	numbers                        map[Kind]*numberShape
}

// Option configures a [Validator].
type Option func(*Validator)

// WithClock sets the clock an occurred_at is compared with (see MaxAhead);
// the service passes its own. The default is the system clock.
func WithClock(now func() time.Time) Option {
	return func(v *Validator) {
		if now != nil {
			v.now = now
		}
	}
}

// NewValidator compiles the embedded schemas.
func NewValidator(opts ...Option) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	compile := func(name string) (*jsonschema.Schema, error) {
		raw, err := schemas.FS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read schema %s: %w", name, err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("parse schema %s: %w", name, err)
		}
		if err := c.AddResource(name, doc); err != nil {
			return nil, fmt.Errorf("add schema %s: %w", name, err)
		}
		s, err := c.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("compile schema %s: %w", name, err)
		}
		return s, nil
	}
	v := &Validator{
		printer: message.NewPrinter(language.English),
		now:     time.Now,
		numbers: map[Kind]*numberShape{
			KindResident:   shapeOf(reflect.TypeFor[Resident]()),
			KindEnterprise: shapeOf(reflect.TypeFor[Enterprise]()),
		},
	}
	for _, o := range opts {
		o(v)
	}
	var err error
	if v.envelope, err = compile(schemas.Envelope); err != nil {
		return nil, err
	}
	if v.resident, err = compile(schemas.Resident); err != nil {
		return nil, err
	}
	if v.enterprise, err = compile(schemas.Enterprise); err != nil {
		return nil, err
	}
	return v, nil
}

// InvalidError says why a document does not fit its schema. Problems are
// one line each, "at /json/pointer: what is wrong".
type InvalidError struct {
	What     string // "envelope", "resident profile", "enterprise profile"
	Problems []string
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("invalid %s: %s", e.What, strings.Join(e.Problems, "; "))
}

// ErrInvalid is matched by every *InvalidError and by malformed JSON.
var ErrInvalid = errors.New("invalid")

// Is lets errors.Is(err, ErrInvalid) match.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// DecodeEnvelope parses and validates one event. The envelope's data is
// validated against the profile schema only for snapshots: a patch is
// validated after it has been applied (see ApplyPatch). For a snapshot,
// Doc holds the decoded profile.
//
// Besides the schemas it refuses what the store cannot hold or should not
// believe (limits.go): text that is not UTF-8, NUL, a lone surrogate,
// nesting deeper than MaxDepth, a number beyond ±MaxSafeInteger or an int
// field written with a fraction, a subject_id other than the data's id,
// and an occurred_at more than MaxAhead ahead of the clock.
//
// It parses the message once at the top level, validates the envelope
// without its data, and parses the data once more to validate it: a
// batch's cost is mostly this.
func (v *Validator) DecodeEnvelope(raw []byte) (*Envelope, error) {
	problem, nul := scanRaw(raw)
	if problem != "" {
		return nil, &InvalidError{What: "envelope", Problems: []string{problem}}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, &InvalidError{What: "envelope", Problems: []string{"malformed JSON: " + err.Error()}}
	}
	if nul {
		var doc any
		_ = json.Unmarshal(raw, &doc) // it parsed just above
		return nil, &InvalidError{What: "envelope", Problems: []string{nulProblem(doc)}}
	}
	shape := make(map[string]any, len(top))
	for k, val := range top {
		if k == "data" && len(bytes.TrimSpace(val)) > 0 && bytes.TrimSpace(val)[0] == '{' {
			shape[k] = map[string]any{} // validated on its own below
			continue
		}
		x, err := jsonschema.UnmarshalJSON(bytes.NewReader(val))
		if err != nil {
			return nil, &InvalidError{What: "envelope", Problems: []string{"malformed JSON: " + err.Error()}}
		}
		shape[k] = x
	}
	if err := v.check(v.envelope, "envelope", shape); err != nil {
		return nil, err
	}
	env := Envelope{Data: top["data"]}
	fields := []struct {
		name string
		dst  any
	}{{"event_id", &env.EventID}, {"subject_type", &env.SubjectType}, {"subject_id", &env.SubjectID},
		{"occurred_at", &env.OccurredAt}, {"source", &env.Source}, {"type", &env.Type}}
	for _, f := range fields {
		if err := json.Unmarshal(top[f.name], f.dst); err != nil {
			// The decoder's message can quote the value (a time it could
			// not parse), and reasons never carry values.
			return nil, &InvalidError{What: "envelope", Problems: []string{fmt.Sprintf("at /%s: not a valid value of its type", f.name)}}
		}
	}
	if ahead := env.OccurredAt.Sub(v.now()); ahead > MaxAhead {
		return nil, &InvalidError{What: "envelope", Problems: []string{
			fmt.Sprintf("at /occurred_at: %s ahead of this service's clock, more than %s", ahead.Round(time.Second), MaxAhead)}}
	}
	switch env.Type {
	case Snapshot:
		doc, err := v.profileDoc(env.SubjectType, env.Data)
		if err != nil {
			return nil, err
		}
		if id := subjectID(env.SubjectType, doc); id != env.SubjectID {
			return nil, &InvalidError{What: "envelope", Problems: []string{
				"at /subject_id: does not match the profile's " + idField(env.SubjectType)}}
		}
		env.Doc = doc
	case Patch:
		if err := patchKeepsID(&env); err != nil {
			return nil, err
		}
	}
	return &env, nil
}

// patchKeepsID refuses a patch that sets the profile's id to anything but
// the event's subject_id, or removes it.
func patchKeepsID(env *Envelope) error {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(env.Data, &patch); err != nil {
		return &InvalidError{What: "envelope", Problems: []string{"at /data: malformed JSON: " + err.Error()}}
	}
	field := idField(env.SubjectType)
	raw, ok := patch[field]
	if !ok {
		return nil
	}
	var id *string
	if err := json.Unmarshal(raw, &id); err != nil || id == nil {
		return &InvalidError{What: "envelope", Problems: []string{
			fmt.Sprintf("at /data/%s: a patch may not remove or retype the profile's id", field)}}
	}
	if *id != env.SubjectID {
		return &InvalidError{What: "envelope", Problems: []string{
			"at /subject_id: does not match the patch's " + field}}
	}
	return nil
}

func idField(kind Kind) string {
	if kind == KindEnterprise {
		return "uscc"
	}
	return "person_id"
}

// profileDoc validates a profile and returns it decoded (numbers as
// json.Number).
func (v *Validator) profileDoc(kind Kind, data []byte) (map[string]any, error) {
	s, what, err := v.schemaOf(kind)
	if err != nil {
		return nil, err
	}
	problem, nul := scanRaw(data)
	if problem != "" {
		return nil, &InvalidError{What: what, Problems: []string{problem}}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, &InvalidError{What: what, Problems: []string{"malformed JSON: " + err.Error()}}
	}
	if nul {
		return nil, &InvalidError{What: what, Problems: []string{nulProblem(inst)}}
	}
	if err := v.check(s, what, inst); err != nil {
		return nil, err
	}
	if problems := numberProblems(v.numbers[kind], inst, "", nil); len(problems) > 0 {
		sort.Strings(problems)
		return nil, &InvalidError{What: what, Problems: problems}
	}
	doc, _ := inst.(map[string]any) // the schema requires an object
	return doc, nil
}

func (v *Validator) schemaOf(kind Kind) (*jsonschema.Schema, string, error) {
	var s *jsonschema.Schema
	what := "resident profile"
	switch kind {
	case KindResident:
		s = v.resident
	case KindEnterprise:
		s, what = v.enterprise, "enterprise profile"
	default:
		return nil, "", &InvalidError{What: "profile", Problems: []string{fmt.Sprintf("unknown subject_type %q", kind)}}
	}
	return s, what, nil
}

// ValidateProfile checks one profile document of the given kind.
func (v *Validator) ValidateProfile(kind Kind, data []byte) error {
	_, err := v.profileDoc(kind, data)
	return err
}

// DecodeResident validates and decodes a resident profile.
func (v *Validator) DecodeResident(data []byte) (*Resident, error) {
	if err := v.ValidateProfile(KindResident, data); err != nil {
		return nil, err
	}
	var r Resident
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &InvalidError{What: "resident profile", Problems: []string{err.Error()}}
	}
	return &r, nil
}

// DecodeEnterprise validates and decodes an enterprise profile.
func (v *Validator) DecodeEnterprise(data []byte) (*Enterprise, error) {
	if err := v.ValidateProfile(KindEnterprise, data); err != nil {
		return nil, err
	}
	var e Enterprise
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, &InvalidError{What: "enterprise profile", Problems: []string{err.Error()}}
	}
	return &e, nil
}

// Decode validates and decodes a profile of either kind; the result is a
// *Resident or an *Enterprise.
func (v *Validator) Decode(kind Kind, data []byte) (any, error) {
	switch kind {
	case KindResident:
		return v.DecodeResident(data)
	case KindEnterprise:
		return v.DecodeEnterprise(data)
	default:
		return nil, &InvalidError{What: "profile", Problems: []string{fmt.Sprintf("unknown subject_type %q", kind)}}
	}
}

// check validates a decoded document.
func (v *Validator) check(s *jsonschema.Schema, what string, inst any) error {
	err := s.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &InvalidError{What: what, Problems: []string{err.Error()}}
	}
	var problems []string
	var leaves func(e *jsonschema.ValidationError)
	leaves = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			problems = append(problems, fmt.Sprintf("at /%s: %s",
				pointer(e.InstanceLocation), reason(e.ErrorKind, v.printer)))
			return
		}
		for _, c := range e.Causes {
			leaves(c)
		}
	}
	leaves(ve)
	sort.Strings(problems)
	return &InvalidError{What: what, Problems: problems}
}

func subjectID(kind Kind, doc map[string]any) string {
	field := "person_id"
	if kind == KindEnterprise {
		field = "uscc"
	}
	id, _ := doc[field].(string)
	return id
}
