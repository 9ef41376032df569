package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/policypush/policypush/internal/profile"
)

// TestFile is a file of test cases for one policy, written beside it as
// <id>_test.yaml.
type TestFile struct {
	File      string
	Policy    string
	PolicyPos Pos
	Cases     []*TestCase
}

// TestCase is one profile, an evaluation time and the expected result.
type TestCase struct {
	Name        string
	Pos         Pos
	At          time.Time
	Profile     []byte // JSON; nil when ProfileFile is set
	ProfileFile string // relative to the test file
	ProfilePos  Pos
	Expect      Result
	Failed      []string // nil: not checked
	Unknown     []string // nil: not checked
	Amount      *float64
	AmountSet   bool // amount was given; a nil Amount then means "no amount"
}

// ParseTestFile parses a test file. Every problem is reported with its
// position.
func ParseTestFile(name string, data []byte) (*TestFile, error) {
	y := &yfile{name: name, lines: strings.Split(string(data), "\n")}
	root := y.document(data)
	if root == nil {
		return nil, y.errs.err()
	}
	tf := &TestFile{File: name}
	m := y.mapping(root, "a test file", []string{"policy", "cases"}, "policy", "cases")
	if m != nil {
		if n := m["policy"]; n != nil {
			tf.Policy = y.str(n, "policy")
			tf.PolicyPos = y.pos(n)
		}
		if n := m["cases"]; n != nil {
			if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
				y.errorf(n, "cases must be a non-empty list")
			} else {
				for _, c := range n.Content {
					if tc := y.testCase(c); tc != nil {
						tf.Cases = append(tf.Cases, tc)
					}
				}
			}
		}
	}
	if err := y.errs.err(); err != nil {
		return nil, err
	}
	return tf, nil
}

func (y *yfile) testCase(n *yaml.Node) *TestCase {
	m := y.mapping(n, "a test case",
		[]string{"name", "at", "profile", "profile_file", "expect", "failed", "unknown", "amount"},
		"name", "at", "expect")
	if m == nil {
		return nil
	}
	tc := &TestCase{Pos: y.pos(n)}
	tc.Name = y.str(m["name"], "name")
	if a := m["at"]; a != nil {
		t, err := ParseTime(a.Value)
		if err != nil || a.Kind != yaml.ScalarNode {
			y.errorf(a, "at %q is neither YYYY-MM-DD nor RFC 3339", a.Value)
		}
		tc.At = t
	}
	switch p, f := m["profile"], m["profile_file"]; {
	case p != nil && f != nil:
		y.errorf(f, "give either profile or profile_file, not both")
	case p != nil:
		if p.Kind != yaml.MappingNode {
			y.errorf(p, "profile must be a mapping")
			break
		}
		var b bytes.Buffer
		y.toJSON(&b, p)
		tc.Profile = b.Bytes()
		tc.ProfilePos = y.pos(p)
	case f != nil:
		tc.ProfileFile = y.str(f, "profile_file")
		tc.ProfilePos = y.pos(f)
	default:
		y.errorf(n, "a test case needs a profile or a profile_file")
	}
	if e := m["expect"]; e != nil {
		r, err := ParseResult(e.Value)
		if err != nil {
			y.errorf(e, "expect %q is not one of eligible, ineligible, unknown", e.Value)
		}
		tc.Expect = r
	}
	tc.Failed = y.names(m["failed"], "failed")
	tc.Unknown = y.names(m["unknown"], "unknown")
	if a := m["amount"]; a != nil {
		tc.AmountSet = true
		if a.Tag != "!!null" {
			v, err := strconv.ParseFloat(a.Value, 64)
			if err != nil || a.Kind != yaml.ScalarNode || (a.Tag != "!!int" && a.Tag != "!!float") {
				y.errorf(a, "amount must be a number or null")
			}
			tc.Amount = &v
		}
	}
	return tc
}

func (y *yfile) names(n *yaml.Node, what string) []string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		y.errorf(n, "%s must be a list of condition names", what)
		return nil
	}
	out := []string{}
	for _, c := range n.Content {
		out = append(out, y.str(c, what+" entry"))
	}
	return out
}

// toJSON writes a YAML node as JSON. Dates stay strings, as in profiles.
func (y *yfile) toJSON(b *bytes.Buffer, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			y.toJSON(b, n.Content[i+1])
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			y.toJSON(b, c)
		}
		b.WriteByte(']')
	case yaml.AliasNode:
		y.toJSON(b, n.Alias)
	default:
		switch n.Tag {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			b.WriteString(n.Value)
		case "!!int", "!!float":
			if f, err := strconv.ParseFloat(n.Value, 64); err == nil {
				v, _ := json.Marshal(f)
				b.Write(v)
				return
			}
			fallthrough
		default:
			v, _ := json.Marshal(n.Value)
			b.Write(v)
		}
	}
}

// RunCase evaluates one test case against its policy and returns what
// differs from the expectation; an empty result means it passed. The
// profile is validated against the schema first.
func RunCase(s *Set, v *profile.Validator, policy *Policy, tc *TestCase, profileJSON []byte) []string {
	if tc.At.Before(policy.ValidFrom) || policy.ValidUntil != nil && !tc.At.Before(policy.ValidUntil.AddDate(0, 0, 1)) {
		return []string{fmt.Sprintf("at %s is outside the policy's validity window", tc.At.Format(time.RFC3339))}
	}
	subject, err := v.Decode(policy.Subject, profileJSON)
	if err != nil {
		var ie *profile.InvalidError
		if errors.As(err, &ie) {
			return []string{"profile breaks the " + string(policy.Subject) + " schema: " + strings.Join(ie.Problems, "; ")}
		}
		return []string{err.Error()}
	}
	in, err := s.Prepare(subject)
	if err != nil {
		return []string{err.Error()}
	}
	o := s.NewEvaluator().Evaluate(policy, in, s.At(tc.At))
	var problems []string
	if o.Result != tc.Expect {
		problems = append(problems, fmt.Sprintf("expected %s, got %s (failed: %s; unknown: %s)",
			tc.Expect, o.Result, quoteList(policy.Names(o.Failed)), quoteList(policy.Names(o.Unknown))))
	}
	if tc.Failed != nil && !sameSet(tc.Failed, policy.Names(o.Failed)) {
		problems = append(problems, fmt.Sprintf("expected failed %s, got %s", quoteList(tc.Failed), quoteList(policy.Names(o.Failed))))
	}
	if tc.Unknown != nil && !sameSet(tc.Unknown, policy.Names(o.Unknown)) {
		problems = append(problems, fmt.Sprintf("expected unknown %s, got %s", quoteList(tc.Unknown), quoteList(policy.Names(o.Unknown))))
	}
	if tc.AmountSet {
		switch {
		case tc.Amount == nil && o.HasAmount:
			problems = append(problems, fmt.Sprintf("expected no amount, got %s", formatAmount(o.Amount)))
		case tc.Amount != nil && !o.HasAmount:
			problems = append(problems, fmt.Sprintf("expected amount %s, got none", formatAmount(*tc.Amount)))
		case tc.Amount != nil && abs(*tc.Amount-o.Amount) > 0.005:
			problems = append(problems, fmt.Sprintf("expected amount %s, got %s", formatAmount(*tc.Amount), formatAmount(o.Amount)))
		}
	}
	return problems
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
