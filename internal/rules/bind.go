package rules

import (
	"reflect"
	"time"

	"github.com/expr-lang/expr/ast"
)

// The run-time form calls Go functions placed in the program as
// constants, so that a read costs no lookup of a name: the VM pushes the
// function and calls it. Each function has a signature the VM calls without
// reflection (func(any) any, func(any, any) any or func() any) and returns
// pre-boxed values, so a run allocates nothing.
//
// Functions that need the evaluation's state are methods of *Evaluator.
// The compiled programs hold them bound to a template evaluator; each
// evaluator runs its own copies, with the constants re-bound to itself
// (see Evaluator.bindProgram).
//
// Absent data does not stop a run: a read of an absent field marks the
// condition unknown and yields the zero value of the field's type, so the
// rest of the expression runs on without a panic; the value is then
// unknown, and tri.go's three-valued forms decide what that makes of the
// condition.

// bindings replaces the names the rewriter emitted with calls of the
// run-time functions, and remembers the type each call returns.
type bindings struct {
	lay    *layout
	params map[int]reflect.Type
	types  map[*ast.CallNode]reflect.Type
	tmpl   *Evaluator
}

var (
	intType  = reflect.TypeOf(0)
	boolType = reflect.TypeOf(false)
	timeType = reflect.TypeOf(time.Time{})
	listType = reflect.TypeOf([]any{})
	kindType = [...]reflect.Type{kindString: reflect.TypeOf(""), kindInt: intType,
		kindFloat: reflect.TypeOf(0.0), kindBool: boolType, kindList: listType}
)

// fnCall is a call of the Go function fn; typ is what it returns.
func (b *bindings) fnCall(fn any, typ reflect.Type, args ...ast.Node) *ast.CallNode {
	c := &ast.CallNode{Callee: &ast.ConstantNode{Value: fn}, Arguments: args}
	if typ != nil {
		b.types[c] = typ
	}
	return c
}

// bind rewrites the tree in place.
func (b *bindings) bind(root *ast.Node) {
	ast.Walk(root, b)
}

// Visit implements ast.Visitor; the walk is post-order, so arguments are
// bound before the call that takes them.
func (b *bindings) Visit(n *ast.Node) {
	t := b.tmpl
	var with ast.Node
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		switch x.Value {
		case "now":
			with = b.fnCall(t.now, timeType)
		case "__now_year":
			with = b.fnCall(t.nowYear, intType)
		case "__now_month":
			with = b.fnCall(t.nowMonth, intType)
		case "__now_day":
			with = b.fnCall(t.nowDay, intType)
		case idEmpty:
			with = &ast.ConstantNode{Value: []any{}}
		}
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok {
			return
		}
		args := x.Arguments
		intArg := func(i int) int { return args[i].(*ast.IntegerNode).Value }
		switch id.Value {
		case fnRoot:
			with = b.fnCall(t.root, kindType[kindOf(b.lay.slots[intArg(0)])], args[0])
		case fnRootOpt:
			with = b.fnCall(t.rootOpt, nil, args[0])
		case fnParam:
			with = b.fnCall(t.param, b.params[intArg(0)], args[0])
		case fnGet:
			with = b.fnCall(t.check, kindType[intArg(1)>>16], b.fnCall(rtElem, nil, args...))
		case fnOpt:
			with = b.fnCall(rtElemOpt, nil, args...)
		case fnLeaf:
			with = b.fnCall(t.leafBool, boolType, args...)
		case fnLeafE:
			with = b.fnCall(t.leafBoolE, boolType, args...)
		case fnLeaf3:
			with = b.fnCall(t.leaf3, intType, args...)
		case fnLeaf3E:
			with = b.fnCall(t.leaf3E, intType, args...)
		case fnMark:
			with = b.fnCall(t.mark, boolType)
		case fnIs:
			with = b.fnCall(t.is, boolType, args...)
		case fnCo:
			with = b.fnCall(t.co, nil, args...)
		case fnQBegin:
			with = b.fnCall(t.qBegin, listType, args...)
		case fnQStep:
			with = b.fnCall(t.qStep, boolType, args...)
		case fnQEnd:
			with = b.fnCall(t.qEnd, intType, args...)
		case fnIndex:
			with = b.fnCall(rtIndex, nil, args...)
		case fnIndexS:
			with = b.fnCall(t.check, kindType[intArg(2)], b.fnCall(rtOrAbsent, nil, b.fnCall(rtIndex, nil, args[0], args[1]), args[2]))
		case fnMod:
			with = b.fnCall(t.mod, intType, args...)
		case fnStrict:
			with = b.fnCall(rtStrict, nil, args...)
			if bn, ok := args[0].(*ast.BuiltinNode); ok && bn.Name == "count" {
				b.types[with.(*ast.CallNode)] = intType
			}
		case fnRec:
			with = b.fnCall(t.rec, boolType, args[0])
		case fnRec3:
			with = b.fnCall(t.rec3, boolType, args[0])
		case fnT3:
			with = b.fnCall(t.t3, intType, args[0])
		case fnAnd3:
			with = b.fnCall(rtAnd3, intType, args...)
		case fnOr3:
			with = b.fnCall(rtOr3, intType, args...)
		case fnNot3:
			with = b.fnCall(rtNot3, intType, args...)
		case "__age":
			with = b.fnCall(t.age, intType, args[0])
		case "__months_since":
			with = b.fnCall(t.monthsSince, intType, args[0])
		case "__days_since":
			with = b.fnCall(t.daysSince, intType, args[0])
		case "__months_between":
			with = b.fnCall(t.monthsBetween, intType, args[0], args[1])
		case "__year_of":
			with = b.fnCall(t.year, intType, args[0])
		}
	}
	if with != nil {
		with.SetLocation((*n).Location())
		*n = with
	}
}

// retype gives the bound calls the types of the values they return, once
// the checker (which sees them as returning any) is done. The compiler then
// skips dereferencing and uses its typed opcodes, such as OpEqualInt.
func (b *bindings) retype(root *ast.Node) {
	for c, t := range b.types {
		c.SetType(t)
	}
	ast.Walk(root, branchTypes{})
}

var anyType = reflect.TypeOf((*any)(nil)).Elem()

// branchTypes corrects the type the checker gave a ternary or ?? that
// chooses between an untyped call (seen as any) and a typed value: it took
// the typed side, and the compiler would then use an int opcode on what may
// be a float. Once the calls are retyped, a node whose two sides differ is
// any. The walk is post-order, so inner nodes are corrected first.
type branchTypes struct{}

func (branchTypes) Visit(n *ast.Node) {
	var a, b ast.Node
	switch x := (*n).(type) {
	case *ast.ConditionalNode:
		a, b = x.Exp1, x.Exp2
	case *ast.BinaryNode:
		if x.Operator != "??" {
			return
		}
		a, b = x.Left, x.Right
	default:
		return
	}
	if ta, tb := a.Type(), b.Type(); ta == nil || tb == nil || ta != tb {
		(*n).SetType(anyType)
	}
}

// The run-time functions.

func (e *Evaluator) root(k any) any {
	i := k.(int)
	if v := e.slots[i]; v != nil {
		return v
	}
	e.unk = true
	return e.zeros[i]
}

func (e *Evaluator) rootOpt(k any) any { return e.slots[k.(int)] }

func (e *Evaluator) param(k any) any {
	if v := e.at.params[k.(int)]; v != nil {
		return v
	}
	e.unk = true
	return 0
}

// absent marks an absent element field, by kind, until check sees it.
type absent int

func rtElem(el, key any) any {
	k := key.(int)
	if v := elemSlot(el, k&0xffff); v != nil {
		return v
	}
	return absent(k >> 16)
}

func (e *Evaluator) check(v any) any {
	if a, ok := v.(absent); ok {
		e.unk = true
		return zeroByKind[a]
	}
	return v
}

func rtElemOpt(el, key any) any { return elemSlot(el, key.(int)&0xffff) }

func elemSlot(el any, i int) any {
	v, _ := el.([]any)
	if i >= len(v) {
		return nil
	}
	return v[i]
}

// mark returns the unknown flag and clears it, so that a three-valued
// form can run inside a value (see tri).
func (e *Evaluator) mark() any {
	u := e.unk
	e.unk = false
	return u
}

// is turns a three-valued verdict into a bool inside a value: the flag is
// what mark saved, and set when the verdict is unknown.
func (e *Evaluator) is(saved, v any) any {
	r := v.(int)
	e.unk = saved.(bool) || r == 1
	return r == 2
}

// co is the left side of ?? when it is more than a field read: nil, which
// ?? replaces, when it read absent data.
func (e *Evaluator) co(saved, v any) any {
	u := e.unk
	e.unk = saved.(bool)
	if u {
		return nil
	}
	return v
}

func rtStrict(v any) any { return v }

func (e *Evaluator) mod(a, b any) any {
	x, y := a.(int), b.(int)
	if y == 0 {
		e.unk = true
		return 0
	}
	return e.ints.box(x % y)
}

// rtOrAbsent marks a nil v as absent data of the kind.
func rtOrAbsent(v, kind any) any {
	if v == nil {
		return absent(kind.(int))
	}
	return v
}

// rtIndex is list[i], negative i counting from the end; nil past the end.
func rtIndex(list, i any) any {
	l, _ := list.([]any)
	k, _ := i.(int)
	if k < 0 {
		k += len(l)
	}
	if k < 0 || k >= len(l) {
		return nil
	}
	return l[k]
}

// qframe is a quantifier in progress: its verdicts so far.
type qframe struct {
	op                      int
	trues, falses, unknowns int
	listUnknown             bool
}

// emptyList is boxed once: returning a []any as any would allocate.
var emptyList any = []any{}

// qBegin starts a quantifier over list; an unknown list is not iterated.
func (e *Evaluator) qBegin(list, op any) any {
	e.quants = append(e.quants, qframe{op: op.(int), listUnknown: e.unk})
	if e.unk {
		e.unk = false
		return emptyList
	}
	return list
}

// qStep records one element's verdict; it returns false when the
// quantifier is decided, which stops the loop.
func (e *Evaluator) qStep(v any) any {
	f := &e.quants[len(e.quants)-1]
	switch v.(int) {
	case 0:
		f.falses++
	case 1:
		f.unknowns++
	default:
		f.trues++
	}
	return !f.decided()
}

func (e *Evaluator) qEnd(any) any {
	f := e.quants[len(e.quants)-1]
	e.quants = e.quants[:len(e.quants)-1]
	e.unk = false
	if f.listUnknown {
		return 1
	}
	return f.verdict()
}

// decided reports whether the elements seen so far decide the quantifier.
func (f *qframe) decided() bool {
	switch f.op {
	case qAny, qNone:
		return f.trues > 0
	case qAll:
		return f.falses > 0
	}
	return f.trues > 1 // one
}

// verdict is the quantifier's verdict over the elements seen, in Kleene's
// logic: any is the or of the elements, all the and, none not any, and
// one holds when exactly one element does.
func (f *qframe) verdict() int {
	switch f.op {
	case qAny:
		switch {
		case f.trues > 0:
			return 2
		case f.unknowns > 0:
			return 1
		}
		return 0
	case qNone:
		switch {
		case f.trues > 0:
			return 0
		case f.unknowns > 0:
			return 1
		}
		return 2
	case qAll:
		switch {
		case f.falses > 0:
			return 0
		case f.unknowns > 0:
			return 1
		}
		return 2
	}
	switch { // one
	case f.trues > 1:
		return 0
	case f.unknowns > 0:
		return 1
	}
	return verdict(f.trues == 1)
}

// rec records the verdict v of condition e.next and returns true, so that
// the all-conditions program runs on to the next condition.
func (e *Evaluator) rec(v any) any {
	b, isBool := v.(bool)
	switch {
	case e.unk || !isBool:
		e.unknownBits |= 1 << e.next
	case !b:
		e.failed |= 1 << e.next
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

// rec3 records a three-valued verdict, like rec.
func (e *Evaluator) rec3(v any) any {
	switch {
	case e.unk || v.(int) == 1:
		e.unknownBits |= 1 << e.next
	case v.(int) == 0:
		e.failed |= 1 << e.next
	}
	e.unk = false
	e.next++
	return true
}

func rtAnd3(a, b any) any { return min(a.(int), b.(int)) }
func rtOr3(a, b any) any  { return max(a.(int), b.(int)) }
func rtNot3(a any) any    { return 2 - a.(int) }

func (e *Evaluator) age(d any) any {
	return e.ints.box(years(monthsBetween(e.civil(d), e.at.date)))
}

func (e *Evaluator) monthsSince(d any) any {
	return e.ints.box(monthsBetween(e.civil(d), e.at.date))
}

func (e *Evaluator) daysSince(d any) any {
	return e.ints.box(e.at.date.days() - e.civil(d).days())
}

func (e *Evaluator) monthsBetween(a, b any) any {
	return e.ints.box(monthsBetween(e.civil(a), e.civil(b)))
}

func (e *Evaluator) year(d any) any { return e.ints.box(e.civil(d).y) }
func (e *Evaluator) now() any       { return e.at.now }
func (e *Evaluator) nowYear() any   { return e.at.year }
func (e *Evaluator) nowMonth() any  { return e.at.month }
func (e *Evaluator) nowDay() any    { return e.at.day }
