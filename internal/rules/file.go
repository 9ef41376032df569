package rules

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/policypush/policypush/internal/profile"
)

// Shanghai is the time zone of every date in rules (China has had no DST
// since 1991, so a fixed zone needs no tzdata).
var Shanghai = time.FixedZone("CST", 8*3600)

// Rule is one policy file as written, before compilation.
type Rule struct {
	File        string
	ID          string
	Version     int
	Title       string
	Description string
	Domain      string
	Subject     profile.Kind
	Department  string
	Source      Source
	Status      Status
	ValidFrom   time.Time  // midnight Asia/Shanghai
	ValidUntil  *time.Time // inclusive day; nil means open-ended
	Params      []*Param
	Conditions  []*ExprSpec
	Amount      *ExprSpec
	Notify      *Notify
	// Apply says what the person does next (CONTRACTS §7); nil when the
	// rule does not say. Read it through NextSteps, which fills in the
	// defaults.
	Apply *Apply
	// Changes is the version history the rule gives (CONTRACTS §9):
	// what each version changed, newest first; nil when it says nothing.
	Changes []VersionChange
	// Consultation is a draft's window of public comment; nil when the
	// rule has none (see InConsultation).
	Consultation *Consultation
	// Review holds claims for an officer's decision (CONTRACTS §8); without
	// it a claim is approved at once.
	Review bool

	pos map[string]Pos // position of each top-level key's value
}

// ApplyMode is how a grant reaches the person (CONTRACTS §7).
type ApplyMode string

// The modes of apply.mode.
const (
	// ApplyByPerson: the person applies (the default).
	ApplyByPerson ApplyMode = "apply"
	// ApplyConfirm: the bureau pays after the person confirms what
	// Apply.Confirm names.
	ApplyConfirm ApplyMode = "confirm"
	// ApplyAutomatic: paid without application (免申即享).
	ApplyAutomatic ApplyMode = "automatic"
)

// Apply is a rule's apply: what the person does next, shown on the notice
// page.
type Apply struct {
	Mode      ApplyMode  `json:"mode"`
	How       string     `json:"how,omitempty"`
	URL       string     `json:"url,omitempty"`
	Materials []string   `json:"materials,omitempty"`
	Deadline  *time.Time `json:"-"` // inclusive day, midnight Asia/Shanghai; nil: ValidUntil
	Office    string     `json:"office,omitempty"`
	// Confirm is the wording of what the person confirms in mode confirm,
	// such as that the firm's bank account on record is right.
	Confirm string `json:"confirm,omitempty"`
}

// NextSteps is the rule's Apply with its defaults: mode apply, and the
// deadline the end of the policy's validity.
func (r *Rule) NextSteps() Apply {
	a := Apply{Mode: ApplyByPerson}
	if r.Apply != nil {
		a = *r.Apply
		a.Materials = append([]string(nil), r.Apply.Materials...)
		if a.Mode == "" {
			a.Mode = ApplyByPerson
		}
	}
	if a.Deadline == nil {
		a.Deadline = r.ValidUntil
	}
	return a
}

// Source is the policy document a rule implements.
type Source struct {
	Doc string `json:"doc"`
	URL string `json:"url,omitempty"`
}

// Status is a rule's publication state.
type Status string

// The statuses of CONTRACTS.md §3.
const (
	Draft    Status = "draft"
	Active   Status = "active"
	Repealed Status = "repealed"
)

// Param is a dated parameter: each value takes effect on its date.
type Param struct {
	Name   string
	Pos    Pos
	Values []DatedValue // ascending by From
}

// DatedValue is one value of a Param.
type DatedValue struct {
	From  time.Time
	Value any // int, float64, string, bool, or []any of those
	Pos   Pos
}

// ExprSpec is a named expression and where it was written.
type ExprSpec struct {
	Name    string
	Expr    string
	NamePos Pos
	ExprPos Pos
	spans   []span // where the expression's text was written
}

// Notify is a rule's notify block (CONTRACTS.md §3).
type Notify struct {
	Channels  []string `json:"channels,omitempty"`
	OnUnknown bool     `json:"on_unknown"`
	WeChat    *WeChat  `json:"wechat,omitempty"`
	SMS       *SMS     `json:"sms,omitempty"`
}

// WeChat is the template or subscribe message a rule sends.
type WeChat struct {
	TemplateID string `json:"template_id,omitempty"`
	// Subscribe sends a subscribe message (bizsend) instead of a template message.
	Subscribe bool       `json:"subscribe,omitempty"`
	URL       string     `json:"url,omitempty"`
	Data      []KeyValue `json:"data,omitempty"`
}

// SMS is the SMS template a rule sends.
type SMS struct {
	TemplateCode string `json:"template_code,omitempty"`
	// Text is the approved template's wording, with ${name} placeholders
	// naming keys of Params; empty when the rule does not say it, and then
	// the message is not checked.
	Text   string     `json:"text,omitempty"`
	Params []KeyValue `json:"params,omitempty"`
}

// The length limits of an SMS text (research/notify.md §3.2), mirrored
// from package notify/sms, which rules cannot import: a message of up to
// smsSegmentRunes characters, the signature included, is billed as one.
const (
	smsSegmentRunes = 70
	// smsSignatureReserve is the room kept for the signature 【…】 that the
	// provider puts in front: the brackets and up to 8 characters, which
	// covers a bureau's short name such as 某市人社局.
	smsSignatureReserve = 10
	// AssumedPublicURLRunes is the length of POLICYPUSH_PUBLIC_URL that
	// lint assumes when it is not told the real one (ParseOptions): a
	// bureau's short domain, https:// and a host of up to 16 characters
	// such as rs.xxcity.gov.cn.
	AssumedPublicURLRunes = 24
	// ClickTokenRunes is the length of a notice's click token (22
	// characters of base64url, package store).
	ClickTokenRunes = 22
)

// ParseOptions is what ParseRuleWith checks against.
type ParseOptions struct {
	// PublicURL is POLICYPUSH_PUBLIC_URL when it is known (set in lint's
	// environment, or the service's own): the one-segment check of an SMS
	// counts {{link}} as exactly PublicURL/r/{token}. "" counts a public
	// URL of AssumedPublicURLRunes characters.
	PublicURL string
}

// LinkRunes is what {{link}} counts in the one-segment check of an SMS.
func (o ParseOptions) LinkRunes() int { return o.publicURLRunes() + len("/r/") + ClickTokenRunes }

func (o ParseOptions) publicURLRunes() int {
	if u := strings.TrimRight(o.PublicURL, "/"); u != "" {
		return utf8.RuneCountInString(u)
	}
	return AssumedPublicURLRunes
}

// KeyValue is one entry of an ordered map of templates.
type KeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Pos   Pos    `json:"-"`
}

// Channels a notify block may name.
var knownChannels = map[string]bool{"wechat": true, "sms": true}

var (
	idPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	paramPattern     = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	placeholderRegex = regexp.MustCompile(`\{\{\s*([^}]*?)\s*\}\}`)
	domains          = []string{"employment", "social_insurance", "talent", "labor_relations"}
)

// yfile reports problems against one YAML file.
type yfile struct {
	name  string
	lines []string
	errs  Errors
	opts  ParseOptions
}

func (y *yfile) pos(n *yaml.Node) Pos { return Pos{File: y.name, Line: n.Line, Col: n.Column} }

func (y *yfile) errorf(n *yaml.Node, format string, args ...any) {
	y.errs.add(y.pos(n), format, args...)
}

// document parses data and returns its root node, or nil after recording
// the syntax error.
func (y *yfile) document(data []byte) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		msg := err.Error()
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// yaml.v3 reports "yaml: line N: message".
			if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
				if n, m, ok := strings.Cut(rest, ":"); ok {
					if v, err := strconv.Atoi(n); err == nil {
						line, msg = v, strings.TrimSpace(m)
					}
				}
			} else {
				msg = strings.TrimPrefix(msg, "yaml: ")
			}
		}
		y.errs.add(Pos{File: y.name, Line: line, Col: 1}, "malformed YAML: %s", msg)
		return nil
	}
	if len(doc.Content) == 0 {
		y.errs.add(Pos{File: y.name, Line: 1, Col: 1}, "empty file")
		return nil
	}
	return doc.Content[0]
}

// mapping checks that n is a mapping with only the allowed keys, no key
// twice and every required key present. It returns value nodes by key.
func (y *yfile) mapping(n *yaml.Node, what string, allowed []string, required ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		y.errorf(n, "%s must be a mapping", what)
		return nil
	}
	ok := map[string]bool{}
	for _, k := range allowed {
		ok[k] = true
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !ok[k.Value]:
			y.errorf(k, "unknown key %q in %s (allowed: %s)", k.Value, what, strings.Join(allowed, ", "))
		case out[k.Value] != nil:
			y.errorf(k, "key %q appears twice in %s", k.Value, what)
		default:
			out[k.Value] = v
		}
	}
	for _, k := range required {
		if out[k] == nil {
			y.errorf(n, "%s is missing the required key %q", what, k)
		}
	}
	return out
}

func (y *yfile) str(n *yaml.Node, what string) string {
	if n == nil {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		y.errorf(n, "%s must be a string", what)
		return ""
	}
	if strings.TrimSpace(n.Value) == "" {
		y.errorf(n, "%s must not be empty", what)
	}
	return n.Value
}

func (y *yfile) enum(n *yaml.Node, what string, values ...string) string {
	s := y.str(n, what)
	if s == "" {
		return ""
	}
	for _, v := range values {
		if s == v {
			return s
		}
	}
	y.errorf(n, "%s %q is not one of %s", what, s, strings.Join(values, ", "))
	return ""
}

func (y *yfile) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		y.errorf(n, "%s must be true or false", what)
		return false
	}
	return n.Value == "true"
}

func (y *yfile) date(n *yaml.Node, what string) (time.Time, bool) {
	if n.Kind != yaml.ScalarNode {
		y.errorf(n, "%s must be a date YYYY-MM-DD", what)
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006-01-02", n.Value, Shanghai)
	if err != nil {
		y.errorf(n, "%s %q is not a date YYYY-MM-DD", what, n.Value)
		return time.Time{}, false
	}
	return t, true
}

// ParseRule parses one rule file. Every problem found is returned together
// as Errors, each with file:line:col. It assumes a public URL of
// AssumedPublicURLRunes characters; ParseRuleWith is told the real one.
func ParseRule(name string, data []byte) (*Rule, error) {
	return ParseRuleWith(name, data, ParseOptions{})
}

// ParseRuleWith is ParseRule checking against o.
func ParseRuleWith(name string, data []byte, o ParseOptions) (*Rule, error) {
	y := &yfile{name: name, lines: strings.Split(string(data), "\n"), opts: o}
	root := y.document(data)
	if root == nil {
		return nil, y.errs.err()
	}
	r := y.rule(root)
	if err := y.errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

var ruleKeys = []string{"id", "version", "title", "description", "domain", "subject", "department",
	"source", "status", "valid_from", "valid_until", "params", "conditions", "amount", "notify", "apply", "changes",
	"consultation", "review"}

func (y *yfile) rule(root *yaml.Node) *Rule {
	m := y.mapping(root, "a rule", ruleKeys,
		"id", "version", "title", "domain", "subject", "department", "source", "status", "valid_from", "conditions")
	if m == nil {
		return nil
	}
	r := &Rule{File: y.name, pos: map[string]Pos{}}
	for k, v := range m {
		r.pos[k] = y.pos(v)
	}
	if n := m["id"]; n != nil {
		r.ID = y.str(n, "id")
		if r.ID != "" && !idPattern.MatchString(r.ID) {
			y.errorf(n, "id %q may hold only lower-case letters, digits and '-'", r.ID)
		}
	}
	if n := m["version"]; n != nil {
		v, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil || v < 1 {
			y.errorf(n, "version must be a whole number of at least 1")
		}
		r.Version = v
	}
	r.Title = y.str(m["title"], "title")
	if n := m["description"]; n != nil {
		r.Description = y.str(n, "description")
	}
	if n := m["domain"]; n != nil {
		r.Domain = y.enum(n, "domain", domains...)
	}
	if n := m["subject"]; n != nil {
		r.Subject = profile.Kind(y.enum(n, "subject", string(profile.KindResident), string(profile.KindEnterprise)))
	}
	r.Department = y.str(m["department"], "department")
	if n := m["source"]; n != nil {
		if sm := y.mapping(n, "source", []string{"doc", "url"}, "doc"); sm != nil {
			r.Source.Doc = y.str(sm["doc"], "source.doc")
			if u := sm["url"]; u != nil {
				r.Source.URL = y.str(u, "source.url")
				if r.Source.URL != "" && !strings.HasPrefix(r.Source.URL, "https://") && !strings.HasPrefix(r.Source.URL, "http://") {
					y.errorf(u, "source.url %q must start with https://", r.Source.URL)
				}
			}
		}
	}
	if n := m["status"]; n != nil {
		r.Status = Status(y.enum(n, "status", string(Draft), string(Active), string(Repealed)))
	}
	if n := m["valid_from"]; n != nil {
		r.ValidFrom, _ = y.date(n, "valid_from")
	}
	if n := m["valid_until"]; n != nil {
		if t, ok := y.date(n, "valid_until"); ok {
			r.ValidUntil = &t
			if !r.ValidFrom.IsZero() && t.Before(r.ValidFrom) {
				y.errorf(n, "valid_until %s is before valid_from %s", n.Value, r.ValidFrom.Format("2006-01-02"))
			}
		}
	}
	if n := m["params"]; n != nil {
		r.Params = y.params(n, r.ValidFrom)
	}
	if n := m["conditions"]; n != nil {
		r.Conditions = y.conditions(n)
	}
	if n := m["amount"]; n != nil {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
			y.errorf(n, "amount must be an expression")
		} else {
			r.Amount = &ExprSpec{Name: "amount", Expr: n.Value, ExprPos: y.pos(n), NamePos: y.pos(n), spans: y.spans(n)}
		}
	}
	if n := m["notify"]; n != nil {
		r.Notify = y.notify(n, r.Subject)
	}
	if n := m["apply"]; n != nil {
		r.Apply = y.apply(n, r.ValidFrom, r.ValidUntil)
	}
	if n := m["changes"]; n != nil {
		r.Changes = y.changes(n, r.Version)
	}
	if n := m["consultation"]; n != nil {
		r.Consultation = y.consultation(n)
	}
	if n := m["review"]; n != nil {
		r.Review = y.boolean(n, "review")
	}
	return r
}

// VersionChange is what one version of a policy changed, in the words the
// public library shows.
type VersionChange struct {
	Version int    `json:"version"`
	Changes string `json:"changes"`
}

// changes parses a rule's changes: a text saying what this version changed,
// or a mapping from version numbers (1 to the rule's version) to such
// texts, which keeps the earlier versions' notes in the file as well.
func (y *yfile) changes(n *yaml.Node, version int) []VersionChange {
	if n.Kind == yaml.ScalarNode {
		s := y.text(n, "changes")
		if s == "" {
			return nil
		}
		return []VersionChange{{Version: version, Changes: s}}
	}
	if n.Kind != yaml.MappingNode {
		y.errorf(n, "changes must be a text, or a mapping from version numbers to texts")
		return nil
	}
	var out []VersionChange
	seen := map[int]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ver, err := strconv.Atoi(k.Value)
		if k.Kind != yaml.ScalarNode || k.Tag != "!!int" || err != nil || ver < 1 || (version > 0 && ver > version) {
			y.errorf(k, "changes: %q is not a version of this policy (1 to %d)", k.Value, version)
			continue
		}
		if seen[ver] {
			y.errorf(k, "changes: version %d is given twice", ver)
			continue
		}
		seen[ver] = true
		if s := y.text(v, "changes"); s != "" {
			out = append(out, VersionChange{Version: ver, Changes: s})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version > out[j].Version })
	return out
}

// text is str for a text shown as written, where a placeholder would show
// as braces.
func (y *yfile) text(n *yaml.Node, what string) string {
	s := y.str(n, what)
	if m := placeholderRegex.FindString(s); m != "" {
		y.errorf(n, "%s is shown as written: %s would not be filled in here", what, m)
	}
	return s
}

var applyKeys = []string{"mode", "how", "url", "materials", "deadline", "office", "confirm"}

// apply parses a rule's apply block (CONTRACTS §7): what the person does
// next, as the notice page shows it. Every key is optional; confirm is
// required in mode confirm and refused in the others, since only there is
// there a checkbox to word.
func (y *yfile) apply(n *yaml.Node, validFrom time.Time, validUntil *time.Time) *Apply {
	m := y.mapping(n, "apply", applyKeys)
	if m == nil {
		return nil
	}
	a := &Apply{Mode: ApplyByPerson}
	modeKnown := true // a bad mode is reported once, not again by confirm
	if v := m["mode"]; v != nil {
		mode := y.enum(v, "apply.mode", string(ApplyByPerson), string(ApplyConfirm), string(ApplyAutomatic))
		a.Mode, modeKnown = ApplyMode(mode), mode != ""
	}
	if v := m["how"]; v != nil {
		a.How = y.text(v, "apply.how")
	}
	if v := m["url"]; v != nil {
		a.URL = y.str(v, "apply.url")
		if u, err := url.Parse(a.URL); a.URL != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			y.errorf(v, "apply.url %q must be an http(s) URL", a.URL)
		}
	}
	if v := m["materials"]; v != nil {
		if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
			y.errorf(v, "apply.materials must be a non-empty list of texts, such as [身份证, 营业执照]")
		} else {
			for _, c := range v.Content {
				if s := y.text(c, "each of apply.materials"); s != "" {
					a.Materials = append(a.Materials, s)
				}
			}
		}
	}
	if v := m["deadline"]; v != nil {
		if t, ok := y.date(v, "apply.deadline"); ok {
			a.Deadline = &t
			switch {
			case validUntil != nil && t.After(*validUntil):
				y.errorf(v, "apply.deadline %s is after valid_until %s", v.Value, validUntil.Format("2006-01-02"))
			case !validFrom.IsZero() && t.Before(validFrom):
				y.errorf(v, "apply.deadline %s is before valid_from %s", v.Value, validFrom.Format("2006-01-02"))
			}
		}
	}
	if v := m["office"]; v != nil {
		a.Office = y.text(v, "apply.office")
	}
	if v := m["confirm"]; v != nil {
		a.Confirm = y.text(v, "apply.confirm")
		if modeKnown && a.Mode != ApplyConfirm {
			y.errorf(v, "apply.confirm is only for apply.mode confirm; this policy's mode is %s", a.Mode)
		}
	}
	if !modeKnown {
		a.Mode = ApplyByPerson
	}
	if a.Mode == ApplyConfirm && m["confirm"] == nil {
		y.errorf(m["mode"], "apply.mode confirm needs apply.confirm: the wording of what the person confirms, such as 确认单位在本系统登记的银行账户信息无误")
	}
	return a
}

func (y *yfile) params(n *yaml.Node, validFrom time.Time) []*Param {
	m := n
	if m.Kind != yaml.MappingNode {
		y.errorf(n, "params must be a mapping of name to {date: value}")
		return nil
	}
	var out []*Param
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		p := &Param{Name: k.Value, Pos: y.pos(k)}
		switch {
		case !paramPattern.MatchString(k.Value):
			y.errorf(k, "param name %q may hold only lower-case letters, digits and '_'", k.Value)
			continue
		case seen[k.Value]:
			y.errorf(k, "param %q appears twice", k.Value)
			continue
		}
		seen[k.Value] = true
		if v.Kind != yaml.MappingNode || len(v.Content) == 0 {
			y.errorf(v, "param %q must map dates to values, such as {2024-01-01: 12}", k.Value)
			continue
		}
		var kind string
		for j := 0; j+1 < len(v.Content); j += 2 {
			dk, dv := v.Content[j], v.Content[j+1]
			from, ok := y.date(dk, "param "+k.Value+" date")
			if !ok {
				continue
			}
			val, vk, ok := y.paramValue(dv, k.Value)
			if !ok {
				continue
			}
			switch {
			case kind == "":
				kind = vk
			case kind == vk:
			case (kind == "int" && vk == "float") || (kind == "float" && vk == "int"):
				kind = "float"
			default:
				y.errorf(dv, "param %q changes type from %s to %s", k.Value, kind, vk)
				continue
			}
			if len(p.Values) > 0 && !from.After(p.Values[len(p.Values)-1].From) {
				y.errorf(dk, "param %q dates must ascend", k.Value)
				continue
			}
			p.Values = append(p.Values, DatedValue{From: from, Value: val, Pos: y.pos(dv)})
		}
		if kind == "float" {
			for i := range p.Values {
				if iv, ok := p.Values[i].Value.(int); ok {
					p.Values[i].Value = float64(iv)
				}
			}
		}
		if len(p.Values) > 0 && !validFrom.IsZero() && p.Values[0].From.After(validFrom) {
			y.errs.add(p.Pos, "param %q has no value in force on valid_from %s (its first value takes effect %s)",
				p.Name, validFrom.Format("2006-01-02"), p.Values[0].From.Format("2006-01-02"))
		}
		if len(p.Values) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// paramValue decodes a scalar or a list of scalars and names its type.
func (y *yfile) paramValue(n *yaml.Node, name string) (any, string, bool) {
	if n.Kind == yaml.SequenceNode {
		list := make([]any, 0, len(n.Content))
		kind := ""
		for _, c := range n.Content {
			v, k, ok := y.paramValue(c, name)
			if !ok {
				return nil, "", false
			}
			if strings.HasPrefix(k, "list") {
				y.errorf(c, "param %q: lists may not nest", name)
				return nil, "", false
			}
			if kind != "" && kind != k {
				y.errorf(c, "param %q: a list must hold values of one type", name)
				return nil, "", false
			}
			kind = k
			list = append(list, v)
		}
		return list, "list of " + kind, true
	}
	if n.Kind != yaml.ScalarNode {
		y.errorf(n, "param %q: a value must be a number, string, boolean or a list of them", name)
		return nil, "", false
	}
	switch n.Tag {
	case "!!int":
		v, err := strconv.Atoi(n.Value)
		if err != nil {
			y.errorf(n, "param %q: %q is out of range", name, n.Value)
			return nil, "", false
		}
		return v, "int", true
	case "!!float":
		v, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			y.errorf(n, "param %q: %q is not a number", name, n.Value)
			return nil, "", false
		}
		return v, "float", true
	case "!!bool":
		return n.Value == "true", "bool", true
	case "!!null":
		y.errorf(n, "param %q: a value may not be null", name)
		return nil, "", false
	default: // !!str, !!timestamp: dates stay strings, as in profiles
		return n.Value, "string", true
	}
}

func (y *yfile) conditions(n *yaml.Node) []*ExprSpec {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		y.errorf(n, "conditions must be a non-empty list of {name, expr}")
		return nil
	}
	if len(n.Content) > maxConditions {
		y.errorf(n, "a policy may have at most %d conditions, not %d", maxConditions, len(n.Content))
	}
	var out []*ExprSpec
	names := map[string]bool{}
	for _, c := range n.Content {
		m := y.mapping(c, "a condition", []string{"name", "expr"}, "name", "expr")
		if m == nil || m["name"] == nil || m["expr"] == nil {
			continue
		}
		name := y.str(m["name"], "condition name")
		e := m["expr"]
		if e.Kind != yaml.ScalarNode || e.Tag == "!!null" || strings.TrimSpace(e.Value) == "" {
			y.errorf(e, "condition expr must be an expression")
			continue
		}
		if names[name] {
			y.errorf(m["name"], "condition name %q appears twice", name)
		}
		names[name] = true
		out = append(out, &ExprSpec{Name: name, Expr: e.Value, NamePos: y.pos(m["name"]), ExprPos: y.pos(e), spans: y.spans(e)})
	}
	return out
}

// Placeholders a notify value may use, by subject kind.
func placeholders(kind profile.Kind) map[string]bool {
	p := map[string]bool{"policy.id": true, "policy.title": true, "policy.version": true,
		"policy.valid_until": true, "amount": true, "link": true}
	if kind == profile.KindEnterprise {
		p["subject.name"] = true
	}
	return p
}

func (y *yfile) notify(n *yaml.Node, kind profile.Kind) *Notify {
	m := y.mapping(n, "notify", []string{"channels", "on_unknown", "wechat", "sms"})
	if m == nil {
		return nil
	}
	out := &Notify{}
	if c := m["channels"]; c != nil {
		if c.Kind != yaml.SequenceNode || len(c.Content) == 0 {
			y.errorf(c, "notify.channels must be a non-empty list such as [wechat, sms]")
		} else {
			seen := map[string]bool{}
			for _, ch := range c.Content {
				switch {
				case !knownChannels[ch.Value]:
					y.errorf(ch, "unknown channel %q (allowed: wechat, sms)", ch.Value)
				case seen[ch.Value]:
					y.errorf(ch, "channel %q appears twice", ch.Value)
				default:
					seen[ch.Value] = true
					out.Channels = append(out.Channels, ch.Value)
				}
			}
		}
	}
	if u := m["on_unknown"]; u != nil {
		out.OnUnknown = y.boolean(u, "notify.on_unknown")
	}
	allowed := placeholders(kind)
	if w := m["wechat"]; w != nil {
		if wm := y.mapping(w, "notify.wechat", []string{"template_id", "subscribe", "url", "data"}); wm != nil {
			out.WeChat = &WeChat{}
			if t := wm["template_id"]; t != nil {
				out.WeChat.TemplateID = y.str(t, "notify.wechat.template_id")
			}
			if s := wm["subscribe"]; s != nil {
				out.WeChat.Subscribe = y.boolean(s, "notify.wechat.subscribe")
			}
			if u := wm["url"]; u != nil {
				out.WeChat.URL = y.str(u, "notify.wechat.url")
				// The message already links to {{link}}; url is where that
				// link may lead, so it cannot be the link itself.
				noLink := maps.Clone(allowed)
				delete(noLink, "link")
				y.checkTemplate(u, noLink)
				if !strings.HasPrefix(out.WeChat.URL, "https://") && !strings.HasPrefix(out.WeChat.URL, "http://") {
					y.errorf(u, "notify.wechat.url %q must be an http(s) URL", out.WeChat.URL)
				}
			}
			if d := wm["data"]; d != nil {
				out.WeChat.Data = y.templates(d, "notify.wechat.data", allowed)
			}
		}
	}
	if s := m["sms"]; s != nil {
		if sm := y.mapping(s, "notify.sms", []string{"template_code", "text", "params"}); sm != nil {
			out.SMS = &SMS{}
			if t := sm["template_code"]; t != nil {
				out.SMS.TemplateCode = y.str(t, "notify.sms.template_code")
			}
			if p := sm["params"]; p != nil {
				out.SMS.Params = y.templates(p, "notify.sms.params", allowed)
			}
			if t := sm["text"]; t != nil {
				out.SMS.Text = y.str(t, "notify.sms.text")
				if out.SMS.Text != "" {
					y.checkSMSText(t, out.SMS.Params)
				}
			}
		}
	}
	return out
}

func (y *yfile) templates(n *yaml.Node, what string, allowed map[string]bool) []KeyValue {
	if n.Kind != yaml.MappingNode {
		y.errorf(n, "%s must be a mapping of names to text", what)
		return nil
	}
	var out []KeyValue
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			y.errorf(v, "%s.%s must be text", what, k.Value)
			continue
		}
		y.checkTemplate(v, allowed)
		out = append(out, KeyValue{Key: k.Value, Value: v.Value, Pos: y.pos(v)})
	}
	return out
}

func (y *yfile) checkTemplate(n *yaml.Node, allowed map[string]bool) {
	for _, m := range placeholderRegex.FindAllStringSubmatch(n.Value, -1) {
		if m[1] == "subject.name" && !allowed[m[1]] {
			y.errorf(n, "{{subject.name}} is only known for enterprises; this policy's subject is a resident")
			continue
		}
		if !allowed[m[1]] {
			names := make([]string, 0, len(allowed))
			for k := range allowed {
				names = append(names, "{{"+k+"}}")
			}
			sort.Strings(names)
			y.errorf(n, "unknown placeholder {{%s}} (allowed: %s)", m[1], strings.Join(names, ", "))
		}
	}
}

// checkSMSText checks a notify.sms.text against what the provider and the
// law expect of it (research/notify.md §3.2, §4): every ${name} is a param,
// there is a way to refuse further messages, and the fixed wording leaves
// room for the signature and the values within one segment.
func (y *yfile) checkSMSText(n *yaml.Node, params []KeyValue) {
	keys := map[string]bool{}
	values := map[string]string{}
	names := make([]string, 0, len(params))
	for _, kv := range params {
		keys[kv.Key] = true
		values[kv.Key] = kv.Value
		names = append(names, "${"+kv.Key+"}")
	}
	sort.Strings(names)
	// fixed counts the characters whose length is known: the text's own,
	// and in a value with {{link}}, the value's besides its placeholders;
	// links counts the {{link}}s, each of ParseOptions.LinkRunes.
	fixed, links := 0, 0
	for rest := n.Value; ; {
		i := strings.Index(rest, "${")
		j := -1
		if i >= 0 {
			j = strings.IndexByte(rest[i+2:], '}')
		}
		if j < 0 { // no more placeholders: "${" without "}" is plain text
			fixed += utf8.RuneCountInString(rest)
			break
		}
		fixed += utf8.RuneCountInString(rest[:i])
		name := rest[i+2 : i+2+j]
		if v := values[name]; strings.Contains(v, "{{link}}") {
			links += strings.Count(v, "{{link}}")
			fixed += utf8.RuneCountInString(placeholderRegex.ReplaceAllString(v, ""))
		}
		if !keys[name] {
			if len(names) == 0 {
				y.errorf(n, "unknown placeholder ${%s} in notify.sms.text (notify.sms.params has no keys)", name)
			} else {
				y.errorf(n, "unknown placeholder ${%s} in notify.sms.text (allowed: %s)", name, strings.Join(names, ", "))
			}
		}
		rest = rest[i+2+j+1:]
	}
	if !strings.Contains(n.Value, "退订") && !strings.Contains(n.Value, "拒收") {
		y.errorf(n, "notify.sms.text has no opt-out hint: end it with 回T退订 or 拒收请回复R")
	}
	linkRunes := y.opts.LinkRunes()
	if over := fixed + links*linkRunes + smsSignatureReserve - smsSegmentRunes; over > 0 && links > 0 {
		url := fmt.Sprintf("POLICYPUSH_PUBLIC_URL of %d characters", y.opts.publicURLRunes())
		if y.opts.PublicURL == "" {
			url = fmt.Sprintf("POLICYPUSH_PUBLIC_URL unknown, %d characters assumed", AssumedPublicURLRunes)
		}
		y.errorf(n, "notify.sms.text does not fit one SMS: its %d characters besides placeholders, %d for {{link}} (%s, /r/ and a %d-character token) and %d kept for the signature exceed %d by %d",
			fixed, links*linkRunes, url, ClickTokenRunes, smsSignatureReserve, smsSegmentRunes, over)
	} else if over > 0 {
		y.errorf(n, "notify.sms.text does not fit one SMS: its %d characters besides placeholders and %d kept for the signature exceed %d by %d",
			fixed, smsSignatureReserve, smsSegmentRunes, over)
	}
}

// span says where a piece of a scalar's value was written: the value's
// bytes from off on come from line, starting at col (1-based, in
// characters).
type span struct{ off, line, col int }

// spans locates, line by line, the text of a scalar in the source, so that
// a position in an expression maps back to the file even when YAML folded
// or unquoted its lines.
func (y *yfile) spans(n *yaml.Node) []span {
	value := n.Value
	first, col := n.Line, n.Column
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		first, col = n.Line+1, 0
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		col = n.Column + 1
	}
	var out []span
	off := 0
	for ln := first; ln <= len(y.lines) && off < len(value); ln++ {
		raw := y.lines[ln-1]
		start := len(raw) - len(strings.TrimLeft(raw, " \t"))
		if ln == first && col > 0 {
			start = byteOfColumn(raw, col)
		}
		text := strings.TrimRight(raw[start:], " \t\r")
		if text == "" {
			continue
		}
		skip := len(value[off:]) - len(strings.TrimLeft(value[off:], " \n"))
		rest := value[off+skip:]
		// The last line of a quoted scalar ends with its quote.
		for len(text) > 0 && !strings.HasPrefix(rest, text) {
			text = text[:len(text)-1]
		}
		if text == "" {
			break // escapes make the text differ from the source: stop mapping
		}
		out = append(out, span{off: off + skip, line: ln, col: utf8.RuneCountInString(raw[:start]) + 1})
		off += skip + len(text)
	}
	return out
}

func byteOfColumn(s string, col int) int {
	n := 1
	for i := range s {
		if n == col {
			return i
		}
		n++
	}
	return len(s)
}

// exprPos maps a position inside an expression (1-based line, 0-based
// column in characters, as expr reports them) to the file.
func exprPos(spec *ExprSpec, line, col int) Pos {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(spec.Expr[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	for ; col > 0 && off < len(spec.Expr); col-- {
		_, size := utf8.DecodeRuneInString(spec.Expr[off:])
		off += size
	}
	var best *span
	for i := range spec.spans {
		if spec.spans[i].off <= off {
			best = &spec.spans[i]
		}
	}
	if best == nil {
		return spec.ExprPos
	}
	return Pos{File: spec.ExprPos.File, Line: best.line,
		Col: best.col + utf8.RuneCountInString(spec.Expr[best.off:off])}
}

// ParseTime parses an evaluation time: RFC 3339, or YYYY-MM-DD meaning
// midnight Asia/Shanghai.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.ParseInLocation("2006-01-02", s, Shanghai); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 nor YYYY-MM-DD", s)
	}
	return t.In(Shanghai), nil
}
