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
	date             civil
	year, month, day any
	params           []any
}

// At prepares an evaluation at t, which is read in Asia/Shanghai.
func (s *Set) At(t time.Time) *Instant {
	t = t.In(Shanghai)
	seg := sort.Search(len(s.dates), func(i int) bool { return s.dates[i].After(t) })
	y, m, d := t.Date()
	return &Instant{Now: t, now: t, date: civil{y, int(m), d},
		year: y, month: int(m), day: d, params: s.segments[seg]}
}

// Notifies reports whether a result is to be notified: eligible, or
// unknown when the rule sets notify.on_unknown (CONTRACTS.md §3).
func (p *Policy) Notifies(r Result) bool {
	return r == Eligible || r == Unknown && p.Notify != nil && p.Notify.OnUnknown
}

// Applies reports whether the policy is in force at the instant:
// active, and valid_from <= now <= valid_until (the whole day).
func (p *Policy) Applies(at *Instant) bool {
	if p.Status != Active || at.Now.Before(p.ValidFrom) {
		return false
	}
	return p.ValidUntil == nil || at.Now.Before(p.ValidUntil.AddDate(0, 0, 1))
}

// Evaluator evaluates policies. It reuses one VM, so it is not safe for
// concurrent use: give each worker its own. It runs its own copies of the
// set's programs, bound to itself (see bind.go).
type Evaluator struct {
	set   *Set
	vm    vm.VM
	ints  *intBox
	bound []boundPolicy // by Policy.index

	// Bound for the evaluation in progress.
	slots []any // the input's
	zeros []any // what an absent root slot reads as
	at    *Instant

	scratch []byte // the strings fused leaves make (see scratchString)

	unk                 bool     // the current condition read absent data
	quants              []qframe // the quantifiers in progress, innermost last
	next                int      // the condition being evaluated
	failed, unknownBits uint64
}

// boundPolicy holds a policy's programs as one evaluator runs them.
type boundPolicy struct {
	all    *vm.Program
	conds  []*vm.Program
	amount *vm.Program
}

// zeroByKind is what an absent field reads as, by kind.
var zeroByKind = [...]any{kindString: "", kindInt: 0, kindFloat: 0.0, kindBool: false, kindList: []any{}}

// Set returns the set the evaluator evaluates.
func (e *Evaluator) Set() *Set { return e.set }

// NewEvaluator returns an evaluator for the set.
func (s *Set) NewEvaluator() *Evaluator {
	e := &Evaluator{set: s, ints: s.ints, quants: make([]qframe, 0, 16), scratch: make([]byte, 0, 256)}
	methods := map[uintptr]any{}
	for _, m := range e.methods() {
		methods[reflect.ValueOf(m).Pointer()] = m
	}
	e.bound = make([]boundPolicy, len(s.policies))
	for i, p := range s.policies {
		b := boundPolicy{all: bindProgram(p.all, methods)}
		for _, c := range p.conds {
			b.conds = append(b.conds, bindProgram(c.prog, methods))
		}
		if p.amount != nil {
			b.amount = bindProgram(p.amount.prog, methods)
		}
		e.bound[i] = b
	}
	return e
}

// methods lists the run-time methods programs call. Two method values of
// one method share their code pointer, whatever their receiver, which is
// how bindProgram recognises the template's.
func (e *Evaluator) methods() []any {
	return []any{e.root, e.rootOpt, e.param, e.check, e.mark, e.is, e.co, e.mod, e.qBegin, e.qStep, e.qEnd, e.rec, e.rec3, e.t3,
		e.age, e.monthsSince, e.daysSince, e.monthsBetween, e.year,
		e.now, e.nowYear, e.nowMonth, e.nowDay, e.leafBool, e.leafBoolE, e.leaf3, e.leaf3E}
}

// bindProgram copies p with its method constants bound to another
// evaluator.
func bindProgram(p *vm.Program, methods map[uintptr]any) *vm.Program {
	c := *p
	c.Constants = make([]any, len(p.Constants))
	for i, k := range p.Constants {
		if k != nil && reflect.TypeOf(k).Kind() == reflect.Func {
			if m, ok := methods[reflect.ValueOf(k).Pointer()]; ok {
				k = m
			}
		}
		c.Constants[i] = k
	}
	return &c
}

// civil reads a date for a helper; an unreadable one is unknown data.
func (e *Evaluator) civil(v any) civil {
	c, ok := civilOf(v)
	if !ok {
		e.unk = true
	}
	return c
}

func (e *Evaluator) bind(in *Input, at *Instant) {
	e.slots = in.slots
	e.zeros = e.set.lay.of(in.Kind).zeros
	e.at = at
}

// runCond runs condition i of p on its own, recording its verdict; it
// returns the run-time error that stopped it, if any.
func (e *Evaluator) runCond(p *Policy, i int) error {
	e.next, e.unk = i, false
	e.quants = e.quants[:0]
	_, err := e.vm.Run(e.bound[p.index].conds[i], nil)
	return err
}

// run evaluates a value program (the amount): its value, and whether it is
// known.
func (e *Evaluator) run(prog *vm.Program) (any, bool) {
	e.unk = false
	e.quants = e.quants[:0]
	v, err := e.vm.Run(prog, nil)
	if err != nil || e.unk {
		return nil, false
	}
	return v, true
}

// Evaluate evaluates every condition of p, and its amount when the result
// is eligible. It does not check that p applies at the instant or to the
// input's kind; see Applies. It does not allocate.
func (e *Evaluator) Evaluate(p *Policy, in *Input, at *Instant) Outcome {
	e.bind(in, at)
	e.failed, e.unknownBits, e.unk, e.next = 0, 0, false, 0
	e.quants = e.quants[:0]
	e.scratch = e.scratch[:0]
	b := &e.bound[p.index]
	var err error
	if p.direct != nil {
		for i, c := range p.direct {
			switch c.eval(e, nil) {
			case 0:
				e.failed |= 1 << i
			case 1:
				e.unknownBits |= 1 << i
			}
		}
	} else {
		_, err = e.vm.Run(b.all, nil)
	}
	for err != nil {
		// A run-time error (such as an index past the end of a list)
		// stopped condition e.next: it is unknown, and the rest run one by
		// one.
		e.unknownBits |= 1 << e.next
		e.next, err = e.next+1, nil
		for e.next < len(p.conds) && err == nil {
			err = e.runCond(p, e.next)
		}
	}
	o := Outcome{Failed: e.failed, Unknown: e.unknownBits}
	switch {
	case o.Failed != 0:
		o.Result = Ineligible
	case o.Unknown != 0:
		o.Result = Unknown
	default:
		o.Result = Eligible
		if p.famount != nil {
			e.scratch = e.scratch[:0]
			o.Amount, o.HasAmount = p.famount.eval(e, nil).float()
		} else if b.amount != nil {
			if v, ok := e.run(b.amount); ok {
				o.Amount, o.HasAmount = toFloat(v)
			}
		}
	}
	return o
}

// float is an amount's value as toFloat reads the VM's.
func (v val) float() (float64, bool) {
	switch v.k {
	case kindInt:
		return float64(v.i), true
	case kindFloat:
		if math.IsNaN(v.f) || math.IsInf(v.f, 0) {
			return 0, false
		}
		return v.f, true
	}
	return 0, false
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
