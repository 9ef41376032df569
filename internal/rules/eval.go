package rules

import (
	"errors"
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
	boxed any // slots, boxed once
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
	in.boxed = in.slots
	return in, nil
}

// Instant is an evaluation time with everything that depends on it
// precomputed: the params in force and today's date.
type Instant struct {
	Now    time.Time
	now    any
	today  any // int yyyymmdd
	params any // []any
}

// At prepares an evaluation at t, which is read in Asia/Shanghai.
func (s *Set) At(t time.Time) *Instant {
	t = t.In(Shanghai)
	seg := sort.Search(len(s.dates), func(i int) bool { return s.dates[i].After(t) })
	y, m, d := t.Date()
	return &Instant{Now: t, now: t, today: y*10000 + int(m)*100 + d, params: s.segments[seg]}
}

// Applies reports whether the policy is in force at the instant:
// active, and valid_from <= now <= valid_until (the whole day).
func (p *Policy) Applies(at *Instant) bool {
	if p.Status != Active || at.Now.Before(p.ValidFrom) {
		return false
	}
	return p.ValidUntil == nil || at.Now.Before(p.ValidUntil.AddDate(0, 0, 1))
}

// runEnv is the run-time environment. The evaluator passes a pointer to
// it, and every field is an interface or a func, so that reading a field
// neither copies nor allocates.
type runEnv struct {
	S             any                `expr:"__s"`
	P             any                `expr:"__p"`
	Today         any                `expr:"__today"`
	Now           any                `expr:"now"`
	Get           func(any, any) any `expr:"__get"`
	Opt           func(any, any) any `expr:"__opt"`
	Known         func(any, any) any `expr:"__known"`
	Unknown       func() any         `expr:"__unknown"`
	Age           func(any, any) any `expr:"__age"`
	MonthsSince   func(any, any) any `expr:"__months_since"`
	DaysSince     func(any, any) any `expr:"__days_since"`
	MonthsBetween func(any, any) any `expr:"__months_between"`
}

// unknownSignal is what __get panics with; the VM turns the panic into an
// error that wraps errUnknown.
func get(slots, k any) any {
	v, _ := slots.([]any)
	i := k.(int)
	if i >= len(v) || v[i] == nil {
		panic(errUnknown)
	}
	return v[i]
}

func opt(slots, k any) any {
	v, _ := slots.([]any)
	i := k.(int)
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

func unknown() any { panic(errUnknown) }

// Evaluator evaluates policies. It reuses one VM, so it is not safe for
// concurrent use: give each worker its own.
type Evaluator struct {
	set *Set
	vm  vm.VM
	env runEnv
}

// NewEvaluator returns an evaluator for the set.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s}
	ints := s.ints
	e.env = runEnv{
		Get: get, Opt: opt, Known: known, Unknown: unknown,
		Age: func(d, today any) any {
			return ints.box(monthsBetween(civilOf(d), civilOf(today)) / 12)
		},
		MonthsSince: func(d, today any) any {
			return ints.box(monthsBetween(civilOf(d), civilOf(today)))
		},
		DaysSince: func(d, today any) any {
			return ints.box(civilOf(today).days() - civilOf(d).days())
		},
		MonthsBetween: func(a, b any) any {
			return ints.box(monthsBetween(civilOf(a), civilOf(b)))
		},
	}
	return e
}

func (e *Evaluator) bind(in *Input, at *Instant) {
	e.env.S = in.boxed
	e.env.P = at.params
	e.env.Today = at.today
	e.env.Now = at.now
}

// run evaluates one program: the verdict, its value, and an error that is
// not the unknown signal.
func (e *Evaluator) run(p *program, in *Input) (any, bool, error) {
	for _, k := range p.required {
		if in.slots[k] == nil {
			return nil, false, nil
		}
	}
	v, err := e.vm.Run(p.prog, &e.env)
	if err != nil {
		if errors.Is(err, errUnknown) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return v, true, nil
}

// Evaluate evaluates every condition of p, and its amount when the result
// is eligible. It does not check that p applies at the instant or to the
// input's kind; see Applies. It does not allocate.
func (e *Evaluator) Evaluate(p *Policy, in *Input, at *Instant) Outcome {
	e.bind(in, at)
	var o Outcome
	for i, c := range p.conds {
		v, ok, _ := e.run(c, in)
		b, isBool := v.(bool)
		switch {
		case !ok || !isBool:
			o.Unknown |= 1 << i
		case !b:
			o.Failed |= 1 << i
		}
	}
	switch {
	case o.Failed != 0:
		o.Result = Ineligible
	case o.Unknown != 0:
		o.Result = Unknown
	default:
		o.Result = Eligible
		if p.amount != nil {
			if v, ok, _ := e.run(p.amount, in); ok {
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
