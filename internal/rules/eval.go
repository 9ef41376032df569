package rules

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/policypush/policypush/internal/profile"
)

// Result is a policy's three-valued verdict for one subject.
type Result uint8

// The results of CONTRACTS.md §3.
const (
	Ineligible Result = iota
	Unknown
	Eligible
)

func (r Result) String() string {
	switch r {
	case Eligible:
		return "eligible"
	case Unknown:
		return "unknown"
	default:
		return "ineligible"
	}
}

// ParseResult parses the names String returns.
func ParseResult(s string) (Result, error) {
	switch s {
	case "eligible":
		return Eligible, nil
	case "unknown":
		return Unknown, nil
	case "ineligible":
		return Ineligible, nil
	}
	return 0, fmt.Errorf("result %q is not one of eligible, ineligible, unknown", s)
}

// Verdict is one condition's three-valued value.
type Verdict uint8

// Condition verdicts.
const (
	False Verdict = iota
	VerdictUnknown
	True
)

func (v Verdict) String() string {
	switch v {
	case True:
		return "true"
	case VerdictUnknown:
		return "unknown"
	default:
		return "false"
	}
}

// Outcome is the result of evaluating one policy for one subject. Bit i of
// Failed (Unknown) is set when condition i is false (unknown).
type Outcome struct {
	Result    Result
	Failed    uint64
	Unknown   uint64
	Amount    float64
	HasAmount bool // Amount is set: the result is eligible and the amount's data is present
}

// Input is a profile prepared for evaluation: flattened once into slots.
// It is immutable and can be evaluated at any instant, by any evaluator.
type Input struct {
	Kind  profile.Kind
	ID    string
	slots []any
}

// Prepare flattens a *profile.Resident or *profile.Enterprise.
func (s *Set) Prepare(p any) (*Input, error) {
	var kind profile.Kind
	var id string
	switch x := p.(type) {
	case *profile.Resident:
		kind, id = profile.KindResident, x.PersonID
	case *profile.Enterprise:
		kind, id = profile.KindEnterprise, x.USCC
	default:
		return nil, fmt.Errorf("rules: cannot evaluate a %T", p)
	}
	lay := s.lay.of(kind)
	in := &Input{Kind: kind, ID: id, slots: make([]any, len(lay.slots))}
	flatten(lay.slots, reflect.ValueOf(p).Elem(), in.slots)
	return in, nil
}

// Instant is an evaluation time with everything that depends on it
// precomputed: the params in force and today's date.
type Instant struct {
	Now              time.Time
	now              any
	today            any // int yyyymmdd
	year, month, day any
	params           []any
}

// At prepares an evaluation at t, which is read in Asia/Shanghai.
func (s *Set) At(t time.Time) *Instant {
	t = t.In(Shanghai)
	seg := sort.Search(len(s.dates), func(i int) bool { return s.dates[i].After(t) })
	y, m, d := t.Date()
	return &Instant{Now: t, now: t, today: y*10000 + int(m)*100 + d,
		year: y, month: int(m), day: d, params: s.segments[seg]}
}

// Applies reports whether the policy is in force at the instant:
// active, and valid_from <= now <= valid_until (the whole day).
func (p *Policy) Applies(at *Instant) bool {
	if p.Status != Active || at.Now.Before(p.ValidFrom) {
		return false
	}
	return p.ValidUntil == nil || at.Now.Before(p.ValidUntil.AddDate(0, 0, 1))
}

// The run-time environment is a map, which expr reads with one hash
// lookup per name (a struct would cost a reflective field access). Its
// values are closures over the evaluator and pre-boxed values, so that a
// run allocates nothing.
//
// Absent data does not stop a run: a read of an absent field marks the
// condition unknown and yields the zero value of the field's type, so that
// the rest of the expression runs on without a panic, and the verdict is
// then discarded as unknown.
type runEnv = map[string]any

// runtimeSample is the environment's shape for the compiler: every name
// with a value of its type.
func runtimeSample() runEnv {
	var f1 func(any) any
	var f2 func(any, any) any
	var f0 func() any
	return runEnv{
		idToday: 0, "now": time.Time{}, "__now_year": 0, "__now_month": 0, "__now_day": 0, idEmpty: []any{},
		fnRoot: f1, fnRootOpt: f1, fnParam: f1, fnGet: f2, fnOpt: f2, fnKnown: f2, fnUnknown: f0, fnRec: f2,
		fnRec3: f2, fnT3: f1, fnAnd3: f2, fnOr3: f2, fnNot3: f1,
		"__age": f2, "__months_since": f2, "__days_since": f2, "__months_between": f2, "__year_of": f1,
	}
}

// Evaluator evaluates policies. It reuses one VM, so it is not safe for
// concurrent use: give each worker its own.
type Evaluator struct {
	set    *Set
	vm     vm.VM
	env    runEnv
	at     *Instant // the instant env is bound to
	slots  []any    // of the input being evaluated
	zeros  []any    // what an absent root slot reads as
	params []any    // in force at the instant being evaluated
	ints   *intBox

	unk             bool // the current condition read absent data
	next            int  // the next condition rec records
	failed, unknown uint64
}

// zeroByKind is what an absent element field reads as, by kind.
var zeroByKind = [...]any{kindString: "", kindInt: 0, kindFloat: 0.0, kindBool: false, kindList: []any{}}

// NewEvaluator returns an evaluator for the set.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s, ints: s.ints}
	e.env = runEnv{
		idEmpty:   []any{},
		fnRoot:    e.root,
		fnRootOpt: func(k any) any { return e.slots[k.(int)] },
		fnParam: func(k any) any {
			if v := e.params[k.(int)]; v != nil {
				return v
			}
			e.unk = true
			return 0
		},
		fnGet:     e.get,
		fnOpt:     func(el, k any) any { return elemSlot(el, k.(int)&0xffff) },
		fnKnown:   known,
		fnUnknown: func() any { e.unk = true; return false },
		fnRec:     e.rec,
		fnRec3:    e.rec3,
		fnT3:      e.t3,
		fnAnd3:    func(a, b any) any { return min(a.(int), b.(int)) },
		fnOr3:     func(a, b any) any { return max(a.(int), b.(int)) },
		fnNot3:    func(a any) any { return 2 - a.(int) },
		"__age": func(d, today any) any {
			return e.ints.box(monthsBetween(e.civil(d), e.civil(today)) / 12)
		},
		"__months_since": func(d, today any) any {
			return e.ints.box(monthsBetween(e.civil(d), e.civil(today)))
		},
		"__days_since": func(d, today any) any {
			return e.ints.box(e.civil(today).days() - e.civil(d).days())
		},
		"__months_between": func(a, b any) any {
			return e.ints.box(monthsBetween(e.civil(a), e.civil(b)))
		},
		"__year_of": func(d any) any { return e.ints.box(e.civil(d).y) },
	}
	return e
}

func (e *Evaluator) root(k any) any {
	i := k.(int)
	if v := e.slots[i]; v != nil {
		return v
	}
	e.unk = true
	return e.zeros[i]
}

func (e *Evaluator) get(el, k any) any {
	key := k.(int)
	if v := elemSlot(el, key&0xffff); v != nil {
		return v
	}
	e.unk = true
	return zeroByKind[key>>16]
}

func elemSlot(el any, i int) any {
	v, _ := el.([]any)
	if i >= len(v) {
		return nil
	}
	return v[i]
}

func known(elem, mask any) any {
	v, _ := elem.([]any)
	m := mask.(int)
	for i := 0; m != 0; i, m = i+1, m>>1 {
		if m&1 == 1 && (i >= len(v) || v[i] == nil) {
			return false
		}
	}
	return true
}

// civil reads a date for a helper; an unreadable one is unknown data.
func (e *Evaluator) civil(v any) civil {
	c, ok := civilOf(v)
	if !ok {
		e.unk = true
	}
	return c
}

// rec records condition i's verdict v and returns true, so that the
// all-conditions program runs on to the next condition.
func (e *Evaluator) rec(i, v any) any {
	bit := uint64(1) << i.(int)
	b, isBool := v.(bool)
	switch {
	case e.unk || !isBool:
		e.unknown |= bit
	case !b:
		e.failed |= bit
	}
	e.unk = false
	e.next++
	return true
}

// t3 turns a bool, and whether the reads that made it found absent data,
// into a three-valued verdict: 0 false, 1 unknown, 2 true.
func (e *Evaluator) t3(v any) any {
	b, isBool := v.(bool)
	unk := e.unk
	e.unk = false
	switch {
	case unk || !isBool:
		return 1
	case b:
		return 2
	}
	return 0
}

// rec3 records condition i's three-valued verdict v.
func (e *Evaluator) rec3(i, v any) any {
	bit := uint64(1) << i.(int)
	switch {
	case e.unk || v.(int) == 1:
		e.unknown |= bit
	case v.(int) == 0:
		e.failed |= bit
	}
	e.unk = false
	e.next++
	return true
}

func (e *Evaluator) bind(in *Input, at *Instant) {
	e.slots = in.slots
	e.zeros = e.set.lay.of(in.Kind).zeros
	e.params = at.params
	if e.at != at {
		e.at = at
		e.env[idToday], e.env["now"] = at.today, at.now
		e.env["__now_year"], e.env["__now_month"], e.env["__now_day"] = at.year, at.month, at.day
	}
}

// run evaluates one program: its value, whether the value is known, and a
// run-time error (such as an index past the end of a list), which also
// makes the value unknown.
func (e *Evaluator) run(p *program) (any, bool, error) {
	e.unk = false
	v, err := e.vm.Run(p.prog, e.env)
	if err != nil {
		return nil, false, err
	}
	if e.unk {
		return nil, false, nil
	}
	return v, true, nil
}

// Evaluate evaluates every condition of p, and its amount when the result
// is eligible. It does not check that p applies at the instant or to the
// input's kind; see Applies. It does not allocate.
func (e *Evaluator) Evaluate(p *Policy, in *Input, at *Instant) Outcome {
	e.bind(in, at)
	e.failed, e.unknown, e.unk, e.next = 0, 0, false, 0
	_, err := e.vm.Run(p.all, e.env)
	for err != nil {
		// A run-time error (such as an index past the end of a list)
		// stopped condition e.next: it is unknown, and the rest run one by
		// one.
		e.unknown |= 1 << e.next
		e.next, e.unk, err = e.next+1, false, nil
		for e.next < len(p.conds) && err == nil {
			_, err = e.vm.Run(p.conds[e.next].prog, e.env)
		}
	}
	o := Outcome{Failed: e.failed, Unknown: e.unknown}
	switch {
	case o.Failed != 0:
		o.Result = Ineligible
	case o.Unknown != 0:
		o.Result = Unknown
	default:
		o.Result = Eligible
		if p.amount != nil {
			if v, ok, _ := e.run(p.amount); ok {
				o.Amount, o.HasAmount = toFloat(v)
			}
		}
	}
	return o
}

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, false
		}
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// Names returns the names of the conditions whose bits are set in mask.
func (p *Policy) Names(mask uint64) []string {
	out := []string{}
	for i, c := range p.Conditions {
		if mask&(1<<i) != 0 {
			out = append(out, c.Name)
		}
	}
	return out
}
