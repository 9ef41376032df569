package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
}

// EventType says how Data relates to the stored profile.
type EventType string

// The event types of CONTRACTS.md §1.
const (
	Snapshot EventType = "snapshot" // Data is the whole profile.
	Patch    EventType = "patch"    // Data is a JSON Merge Patch (RFC 7396).
)

// Validator checks envelopes and profiles against the embedded schemas.
// It is safe for concurrent use.
type Validator struct {
	envelope, resident, enterprise *jsonschema.Schema
	printer                        *message.Printer
}

// NewValidator compiles the embedded schemas.
func NewValidator() (*Validator, error) {
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
	v := &Validator{printer: message.NewPrinter(language.English)}
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
// validated after it has been applied (see ValidateProfile).
func (v *Validator) DecodeEnvelope(raw []byte) (*Envelope, error) {
	if err := v.validate(v.envelope, "envelope", raw); err != nil {
		return nil, err
	}
	var env Envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, &InvalidError{What: "envelope", Problems: []string{err.Error()}}
	}
	if env.Type == Snapshot {
		if err := v.ValidateProfile(env.SubjectType, env.Data); err != nil {
			return nil, err
		}
		if id := subjectID(env.SubjectType, env.Data); id != env.SubjectID {
			return nil, &InvalidError{What: "envelope", Problems: []string{
				fmt.Sprintf("at /subject_id: %q does not match the profile's id %q", env.SubjectID, id)}}
		}
	}
	return &env, nil
}

// ValidateProfile checks one profile document of the given kind.
func (v *Validator) ValidateProfile(kind Kind, data []byte) error {
	switch kind {
	case KindResident:
		return v.validate(v.resident, "resident profile", data)
	case KindEnterprise:
		return v.validate(v.enterprise, "enterprise profile", data)
	default:
		return &InvalidError{What: "profile", Problems: []string{fmt.Sprintf("unknown subject_type %q", kind)}}
	}
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

// DecodeValid decodes a profile that has already been validated, such as
// one the store holds; the result is a *Resident or an *Enterprise.
func DecodeValid(kind Kind, data []byte) (any, error) {
	var p any = &Resident{}
	if kind == KindEnterprise {
		p = &Enterprise{}
	}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode %s profile: %w", kind, err)
	}
	return p, nil
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

func (v *Validator) validate(s *jsonschema.Schema, what string, raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return &InvalidError{What: what, Problems: []string{"malformed JSON: " + err.Error()}}
	}
	err = s.Validate(inst)
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
				strings.Join(e.InstanceLocation, "/"), e.ErrorKind.LocalizedString(v.printer)))
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

func subjectID(kind Kind, data []byte) string {
	var ids struct {
		PersonID string `json:"person_id"`
		USCC     string `json:"uscc"`
	}
	_ = json.Unmarshal(data, &ids) // already validated
	if kind == KindEnterprise {
		return ids.USCC
	}
	return ids.PersonID
}
