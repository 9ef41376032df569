package profile

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"
)

// Validation reasons go to the log, to the x-dlq-reason header and to API
// errors, so they name the field and the rule it breaks but never the value:
// a mobile that misses its pattern must not be echoed back. The library's
// own messages quote the value ("'1380000000' does not match pattern"), so
// every kind is described here instead; the schema's side (an enum's
// values, a bound) is the bureau's own text and may be shown.

// reason describes one validation failure without the instance's value.
func reason(k jsonschema.ErrorKind, p *message.Printer) string {
	switch k := k.(type) {
	case *kind.Type:
		return fmt.Sprintf("is a %s, want %s", k.Got, strings.Join(k.Want, " or "))
	case *kind.Enum:
		return "is not one of the allowed values"
	case *kind.Const:
		return "is not the required value"
	case *kind.Format:
		return fmt.Sprintf("is not a valid %s", k.Want)
	case *kind.Pattern:
		return "does not match the required pattern"
	case *kind.MinLength:
		return fmt.Sprintf("is shorter than %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("is longer than %d characters", k.Want)
	case *kind.Minimum:
		return "is below the minimum " + ratString(k.Want)
	case *kind.Maximum:
		return "is above the maximum " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be above " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be below " + ratString(k.Want)
	case *kind.MultipleOf:
		return "is not a multiple of " + ratString(k.Want)
	case *kind.Required:
		return "missing " + names(k.Missing)
	case *kind.AdditionalProperties:
		return "unknown " + names(k.Properties) + " not allowed"
	case *kind.PropertyNames:
		return "a property name breaks the schema"
	case *kind.Dependency:
		return "missing " + names(k.Missing) + ", required with " + names([]string{k.Prop})
	case *kind.DependentRequired:
		return "missing " + names(k.Missing) + ", required with " + names([]string{k.Prop})
	case *kind.MinItems:
		return fmt.Sprintf("has fewer than %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("has more than %d items", k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("has fewer than %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("has more than %d properties", k.Want)
	case *kind.UniqueItems:
		return fmt.Sprintf("items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.ContentEncoding:
		return "is not " + k.Want + " encoded"
	case *kind.ContentMediaType:
		return "is not of media type " + k.Want
	case *kind.InvalidJsonValue:
		return "is not a JSON value"
	case *kind.FalseSchema:
		return "is not allowed here"
	case *kind.Not, *kind.AllOf, *kind.AnyOf, *kind.OneOf, *kind.Group, *kind.Contains,
		*kind.MinContains, *kind.MaxContains, *kind.AdditionalItems, *kind.ContentSchema, *kind.Reference:
		// Messages of structure, with no value in them (counts and
		// indexes at most).
		return k.LocalizedString(p)
	default:
		// A kind a later version adds: its message may quote the value.
		if kp := k.KeywordPath(); len(kp) > 0 {
			return "breaks the schema's " + strings.Join(kp, "/")
		}
		return "breaks the schema"
	}
}

func ratString(r interface{ FloatString(int) string }) string {
	s := r.FloatString(6)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// plainName is what a property name must look like to be shown: the
// schemas' own names are all of this form, and a key that is not (a mobile
// used as a key) is data, not a name.
var plainName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func names(props []string) string {
	var shown []string
	hidden := 0
	for _, n := range props {
		if plainName.MatchString(n) {
			shown = append(shown, strconv.Quote(n))
		} else {
			hidden++
		}
	}
	switch {
	case hidden > 0 && len(shown) == 0 && hidden == 1:
		return "a property"
	case hidden > 0 && len(shown) == 0:
		return fmt.Sprintf("%d properties", hidden)
	case hidden > 0:
		return fmt.Sprintf("%s and %d more", strings.Join(shown, ", "), hidden)
	case len(shown) == 1:
		return "property " + shown[0]
	}
	return "properties " + strings.Join(shown, ", ")
}

// pointer is the instance location with keys that are not plain names (an
// array index is kept) replaced by "*".
func pointer(loc []string) string {
	out := make([]string, len(loc))
	for i, seg := range loc {
		if _, err := strconv.Atoi(seg); (err == nil && len(seg) < 6) || plainName.MatchString(seg) {
			out[i] = seg
		} else {
			out[i] = "*"
		}
	}
	return strings.Join(out, "/")
}
