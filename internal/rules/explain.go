package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Explanation says why a policy gave its result for one subject: each
// condition's verdict and the values it read. It is what a match stores,
// so that "why was I notified" always has an answer.
type Explanation struct {
	PolicyID      string           `json:"policy_id"`
	PolicyVersion int              `json:"policy_version"`
	Title         string           `json:"title"`
	SubjectType   string           `json:"subject_type"`
	SubjectID     string           `json:"subject_id"`
	At            time.Time        `json:"at"`
	Applies       bool             `json:"applies"`
	Conditions    []ConditionTrace `json:"conditions"`
	Result        string           `json:"result"`
	Amount        *float64         `json:"amount"`
	AmountReads   []Read           `json:"amount_reads,omitempty"`
}

// ConditionTrace is one condition's verdict and what it read.
type ConditionTrace struct {
	Name    string `json:"name"`
	Expr    string `json:"expr"`
	Verdict string `json:"verdict"`
	Error   string `json:"error,omitempty"`
	// Missing names, for an unknown condition, the absent fields that made
	// it unknown: not every field it reads, only those whose absence
	// decided (rules/README.md), such as
	// resident.benefits_received[1].granted_on.
	Missing []string `json:"missing,omitempty"`
	Reads   []Read   `json:"reads"`
}

// Read is one value an expression read. Absent values are unknown data,
// unless the expression gave them a default (with ?? or ?.). The value of a
// sensitive field (marked in the schema, such as disability.level) is never
// recorded: Sensitive says it was read and withheld.
type Read struct {
	Name      string `json:"name"`
	Value     any    `json:"value,omitempty"`
	Absent    bool   `json:"absent,omitempty"`
	Defaulted bool   `json:"defaulted,omitempty"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Withheld is what an explanation shows in place of a sensitive value.
const Withheld = "（敏感信息，不显示）[sensitive]"

// Explain evaluates p like Evaluate and records, for every condition, its
// verdict and the values it read. It allocates; use it for audit and
// tooling, not in the hot path.
func (e *Evaluator) Explain(p *Policy, in *Input, at *Instant) *Explanation {
	return e.ExplainOutcome(p, in, at, e.Evaluate(p, in, at))
}

// ExplainOutcome is Explain for an outcome the caller has just had from
// Evaluate with the same arguments, which it saves evaluating again.
func (e *Evaluator) ExplainOutcome(p *Policy, in *Input, at *Instant, o Outcome) *Explanation {
	x := &Explanation{
		PolicyID: p.ID, PolicyVersion: p.Version, Title: p.Title,
		SubjectType: string(in.Kind), SubjectID: in.ID, At: at.Now,
		Applies: p.Applies(at) && in.Kind == p.Subject,
		Result:  o.Result.String(),
	}
	lay := e.set.lay.of(p.Subject)
	for i, c := range p.conds {
		t := ConditionTrace{Name: c.spec.Name, Expr: c.spec.Expr, Verdict: True.String(), Reads: e.reads(p, lay, c, in, at)}
		switch {
		case o.Failed&(1<<i) != 0:
			t.Verdict = False.String()
		case o.Unknown&(1<<i) != 0:
			t.Verdict = VerdictUnknown.String()
			e.bind(in, at)
			if err := e.runCond(p, i); err != nil {
				t.Error = err.Error()
			}
			// A construct the walk does not know leaves Missing empty.
			t.Missing, _, _ = e.missingFields(p, c.spec.Expr, in, at)
		}
		x.Conditions = append(x.Conditions, t)
	}
	if o.HasAmount {
		a := o.Amount
		x.Amount = &a
	}
	if p.amount != nil {
		x.AmountReads = e.reads(p, lay, p.amount, in, at)
	}
	return x
}

func (e *Evaluator) reads(p *Policy, lay *layout, c *program, in *Input, at *Instant) []Read {
	var out []Read
	slots := make([]int, 0, len(c.reads.slots))
	for s := range c.reads.slots {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		f := lay.slots[s]
		r := Read{Name: string(lay.kind) + "." + f.path}
		switch v := in.slots[s]; {
		case v == nil:
			r.Absent = true
			r.Defaulted = !c.reads.slots[s]
		case e.set.marks.IsSensitive(lay.kind, f.path):
			r.Sensitive = true
		default:
			r.Value = plain(f, v)
		}
		out = append(out, r)
	}
	params := make([]string, 0, len(c.reads.params))
	for name := range c.reads.params {
		params = append(params, name)
	}
	sort.Strings(params)
	for _, name := range params {
		r := Read{Name: "params." + name}
		if v := at.params[p.paramIndex[name]]; v == nil {
			r.Absent = true
		} else {
			r.Value = v
		}
		out = append(out, r)
	}
	if c.reads.now {
		out = append(out, Read{Name: "now", Value: at.Now.Format(time.RFC3339)})
	}
	return out
}

// plain turns a slot value back into JSON-shaped data: array elements
// become objects keyed by field name.
func plain(f *field, v any) any {
	if f.kind != arrayField || f.elem.kind != objectField {
		return v
	}
	list := v.([]any)
	out := make([]any, len(list))
	for i, el := range list {
		m := map[string]any{}
		for _, ef := range f.elem.space {
			if ev := el.([]any)[ef.slot]; ev != nil {
				m[ef.path] = plain(ef, ev)
			}
		}
		out[i] = m
	}
	return out
}

// WriteText prints an explanation for a person.
func (x *Explanation) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%d %s\n", x.PolicyID, x.PolicyVersion, x.Title)
	fmt.Fprintf(&b, "subject: %s %s\nat: %s\n", x.SubjectType, x.SubjectID, x.At.Format(time.RFC3339))
	if !x.Applies {
		b.WriteString("note: the policy does not apply at this time or to this subject; shown as if it did\n")
	}
	b.WriteString("conditions:\n")
	for _, c := range x.Conditions {
		mark := map[string]string{"true": "✓", "false": "✗", "unknown": "?"}[c.Verdict]
		fmt.Fprintf(&b, "  %s %-7s %s\n", mark, c.Verdict, c.Name)
		fmt.Fprintf(&b, "              expr: %s\n", strings.Join(strings.Fields(c.Expr), " "))
		writeReads(&b, c.Reads)
		if len(c.Missing) > 0 {
			fmt.Fprintf(&b, "              missing: %s\n", strings.Join(c.Missing, ", "))
		}
		if c.Error != "" {
			fmt.Fprintf(&b, "              error: %s\n", strings.ReplaceAll(c.Error, "\n", " "))
		}
	}
	fmt.Fprintf(&b, "result: %s\n", x.Result)
	if x.Amount != nil {
		fmt.Fprintf(&b, "amount: %s 元\n", formatAmount(*x.Amount))
	} else {
		b.WriteString("amount: none\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeReads(b *strings.Builder, reads []Read) {
	for _, r := range reads {
		switch {
		case r.Defaulted:
			fmt.Fprintf(b, "              %s = (absent; the rule gives a default)\n", r.Name)
			continue
		case r.Absent:
			fmt.Fprintf(b, "              %s = (absent: unknown)\n", r.Name)
			continue
		case r.Sensitive:
			fmt.Fprintf(b, "              %s = %s\n", r.Name, Withheld)
			continue
		}
		v, _ := json.Marshal(r.Value)
		fmt.Fprintf(b, "              %s = %s\n", r.Name, v)
	}
}

func formatAmount(a float64) string {
	if a == float64(int64(a)) {
		return fmt.Sprintf("%d", int64(a))
	}
	return fmt.Sprintf("%.2f", a)
}
