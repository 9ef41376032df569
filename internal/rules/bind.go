package rules

import (
	"reflect"
	"time"

	"github.com/expr-lang/expr/ast"
)

// The run-time form calls plain Go functions, placed in the program as
// constants, and passes them the evaluator as $env. A read thus costs no
// lookup of a name: the VM pushes the function and calls it. Each function
// has a signature the VM calls without reflection (func(any, any) any or
// func(any) any) and returns pre-boxed values, so a run allocates nothing.
//
// Absent data does not stop a run: a read of an absent field marks the
// condition unknown and yields the zero value of the field's type, so the
// rest of the expression runs on without a panic; the verdict is then
// recorded as unknown.

// bindings replaces the names the rewriter emitted with calls of the
// run-time functions, and remembers the type each call returns.
type bindings struct {
	lay    *layout
	params map[int]reflect.Type
	types  map[*ast.CallNode]reflect.Type
}

var (
	intType  = reflect.TypeOf(0)
	boolType = reflect.TypeOf(false)
	timeType = reflect.TypeOf(time.Time{})
	listType = reflect.TypeOf([]any{})
	kindType = [...]reflect.Type{kindString: reflect.TypeOf(""), kindInt: intType,
		kindFloat: reflect.TypeOf(0.0), kindBool: boolType, kindList: listType}
)

func envNode() ast.Node { return &ast.IdentifierNode{Value: "$env"} }

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
	var with ast.Node
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		switch x.Value {
		case "now":
			with = b.fnCall(rtNow, timeType, envNode())
		case "__now_year":
			with = b.fnCall(rtNowYear, intType, envNode())
		case "__now_month":
			with = b.fnCall(rtNowMonth, intType, envNode())
		case "__now_day":
			with = b.fnCall(rtNowDay, intType, envNode())
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
			with = b.fnCall(rtRoot, kindType[kindOf(b.lay.slots[intArg(0)])], envNode(), args[0])
		case fnRootOpt:
			with = b.fnCall(rtRootOpt, nil, envNode(), args[0])
		case fnParam:
			with = b.fnCall(rtParam, b.params[intArg(0)], envNode(), args[0])
		case fnGet:
			with = b.fnCall(rtCheck, kindType[intArg(1)>>16], envNode(), b.fnCall(rtElem, nil, args...))
		case fnOpt:
			with = b.fnCall(rtElemOpt, nil, args...)
		case fnKnown:
			with = b.fnCall(rtKnown, boolType, args...)
		case fnUnknown:
			with = b.fnCall(rtUnknown, boolType, envNode())
		case fnRec:
			with = b.fnCall(rtRec, boolType, envNode(), args[0])
		case fnRec3:
			with = b.fnCall(rtRec3, boolType, envNode(), args[0])
		case fnT3:
			with = b.fnCall(rtT3, intType, envNode(), args[0])
		case fnAnd3:
			with = b.fnCall(rtAnd3, intType, args...)
		case fnOr3:
			with = b.fnCall(rtOr3, intType, args...)
		case fnNot3:
			with = b.fnCall(rtNot3, intType, args...)
		case "__age":
			with = b.fnCall(rtAge, intType, envNode(), args[0])
		case "__months_since":
			with = b.fnCall(rtMonthsSince, intType, envNode(), args[0])
		case "__days_since":
			with = b.fnCall(rtDaysSince, intType, envNode(), args[0])
		case "__months_between":
			// Three values do not fit a reflection-free call: stash the first.
			with = b.fnCall(rtMonthsBetween, intType, b.fnCall(rtStash, nil, envNode(), args[0]), args[1])
		case "__year_of":
			with = b.fnCall(rtYear, intType, envNode(), args[0])
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
func (b *bindings) retype() {
	for c, t := range b.types {
		c.SetType(t)
	}
}

// The run-time functions. env is always the *Evaluator.

func rtRoot(env, k any) any {
	e := env.(*Evaluator)
	i := k.(int)
	if v := e.slots[i]; v != nil {
		return v
	}
	e.unk = true
	return e.zeros[i]
}

func rtRootOpt(env, k any) any { return env.(*Evaluator).slots[k.(int)] }

func rtParam(env, k any) any {
	e := env.(*Evaluator)
	if v := e.at.params[k.(int)]; v != nil {
		return v
	}
	e.unk = true
	return 0
}

// absent marks an absent element field, by kind, until rtCheck sees it.
type absent int

func rtElem(el, key any) any {
	k := key.(int)
	if v := elemSlot(el, k&0xffff); v != nil {
		return v
	}
	return absent(k >> 16)
}

func rtCheck(env, v any) any {
	if a, ok := v.(absent); ok {
		env.(*Evaluator).unk = true
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

func rtKnown(el, mask any) any {
	v, _ := el.([]any)
	m := mask.(int)
	for i := 0; m != 0; i, m = i+1, m>>1 {
		if m&1 == 1 && (i >= len(v) || v[i] == nil) {
			return false
		}
	}
	return true
}

func rtUnknown(env any) any {
	env.(*Evaluator).unk = true
	return false
}

// rtRec records the verdict v of condition e.next and returns true, so that
// the all-conditions program runs on to the next condition.
func rtRec(env, v any) any {
	e := env.(*Evaluator)
	b, isBool := v.(bool)
	switch {
	case e.unk || !isBool:
		e.unknown |= 1 << e.next
	case !b:
		e.failed |= 1 << e.next
	}
	e.unk = false
	e.next++
	return true
}

// rtT3 turns a bool, and whether the reads that made it found absent data,
// into a three-valued verdict: 0 false, 1 unknown, 2 true.
func rtT3(env, v any) any {
	e := env.(*Evaluator)
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

// rtRec3 records a three-valued verdict, like rtRec.
func rtRec3(env, v any) any {
	e := env.(*Evaluator)
	switch {
	case e.unk || v.(int) == 1:
		e.unknown |= 1 << e.next
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

func rtAge(env, d any) any {
	e := env.(*Evaluator)
	return e.ints.box(monthsBetween(e.civil(d), e.at.date) / 12)
}

func rtMonthsSince(env, d any) any {
	e := env.(*Evaluator)
	return e.ints.box(monthsBetween(e.civil(d), e.at.date))
}

func rtDaysSince(env, d any) any {
	e := env.(*Evaluator)
	return e.ints.box(e.at.date.days() - e.civil(d).days())
}

func rtStash(env, a any) any {
	env.(*Evaluator).stash = a
	return env
}

func rtMonthsBetween(env, b any) any {
	e := env.(*Evaluator)
	return e.ints.box(monthsBetween(e.civil(e.stash), e.civil(b)))
}

func rtYear(env, d any) any {
	e := env.(*Evaluator)
	return e.ints.box(e.civil(d).y)
}

func rtNow(env any) any      { return env.(*Evaluator).at.now }
func rtNowYear(env any) any  { return env.(*Evaluator).at.year }
func rtNowMonth(env any) any { return env.(*Evaluator).at.month }
func rtNowDay(env any) any   { return env.(*Evaluator).at.day }
