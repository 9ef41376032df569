package rules

import (
	"cmp"
	"math"
	"reflect"
	"strconv"
	"unsafe"

	"github.com/expr-lang/expr/ast"
)

// A leaf is a comparison whose operands are reads, params, literals, date
// helpers and arithmetic on them, such as
//
//	resident.insurance.unemployment.cumulative_months >= params.min_months
//	months_since(.issue_date) < 12
//	enterprise.ui.new_claimants_last_year / enterprise.ui.avg_insured_last_year <= 0.055
//
// Most conditions are made of leaves. A leaf runs as one call into Go
// instead of a dozen VM steps, and computes its arithmetic without boxing
// (and so without allocating). Its semantics are expr's: numbers compare
// as numbers whatever their type, / divides as floats, and a leaf that
// reads absent data is unknown.
type leaf struct {
	op   string   // == != < <= > >= in, or "" for a bare boolean read
	code cmpCode  // op, as a code: a switch on a string costs a comparison per case
	fast fastKind // a shape with a direct path, or fastNone
	l, r operand
	elem bool   // reads the current element of a predicate (#)
	q    *quant // a fused any/all/none instead
	p    *fpred // or leaves combined with and, or and not
}

// quant is any, all, none or one over a list of the profile whose
// predicate is made of leaves, run as one Go loop with the semantics of
// the VM's form (see tri.b3): each element's verdict is three-valued, and
// they combine in Kleene's logic.
type quant struct {
	op      string // any, all, none, one
	code    int    // op as a quantifier code (qAny, ...)
	slot    int
	orEmpty bool // written "list ?? []": an absent list is empty
	pred    *fpred
}

// fpred is a predicate made of leaves, and, or and not, in Kleene's logic.
type fpred struct {
	op   string // leaf, and, or, not
	code predCode
	leaf *leaf
	a, b *fpred
}

type operandKind uint8

const (
	opConst operandKind = iota
	opRoot
	opElem
	opParam
	opHelper
	opArith
	opNeg
	opRootOr // a root read with a default: __ro(k) ?? c
	opCount  // count(list, predicate): strict, an unknown element makes it unknown
	opCond   // p ? args[0] : args[1]; an unknown p makes it unknown
	opRound  // round(args[0]), a float as expr's round
	opString // string(args[0]) of an int, formatted as expr's (%v)
	opConcat // args[0] + args[1] of strings
)

type operand struct {
	kind   operandKind
	c      any    // opConst
	k      int    // opRoot, opParam: index; opElem: slot
	name   string // opHelper: the run-time helper; opArith: the operator
	args   []operand
	static int        // kindInt, kindFloat, kindString, kindBool, kindList, or -1 when unknown
	ar     arithCode  // opArith: name as a code
	hp     helperCode // opHelper: name as a code
	p      *fpred     // opCond: the condition
	q      *quant     // opCount: the list and predicate (op unused)
}

// fuser finds the leaves of a rewritten tree.
type fuser struct {
	lay    *layout
	params map[int]reflect.Type
}

// fuse replaces every maximal leaf in the tree with a leaf call.
func (f *fuser) fuse(n *ast.Node) {
	if l, ok := f.leaf(*n); ok {
		args := []ast.Node{&ast.ConstantNode{Value: l}}
		name := fnLeaf
		if l.elem {
			args = append([]ast.Node{&ast.PointerNode{}}, args...)
			name = fnLeafE
		}
		c := call(name, args...)
		c.SetLocation((*n).Location())
		*n = c
		return
	}
	switch x := (*n).(type) {
	case *ast.BinaryNode:
		f.fuse(&x.Left)
		f.fuse(&x.Right)
	case *ast.UnaryNode:
		f.fuse(&x.Node)
	case *ast.ConditionalNode:
		f.fuse(&x.Cond)
		f.fuse(&x.Exp1)
		f.fuse(&x.Exp2)
	case *ast.CallNode:
		for i := range x.Arguments {
			f.fuse(&x.Arguments[i])
		}
	case *ast.BuiltinNode:
		for i := range x.Arguments {
			f.fuse(&x.Arguments[i])
		}
	case *ast.PredicateNode:
		f.fuse(&x.Node)
	case *ast.VariableDeclaratorNode:
		f.fuse(&x.Value)
		f.fuse(&x.Expr)
	case *ast.MemberNode:
		f.fuse(&x.Node)
	case *ast.ArrayNode:
		for i := range x.Nodes {
			f.fuse(&x.Nodes[i])
		}
	}
}

var comparisons = map[string]bool{"==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true, "in": true}

func (f *fuser) leaf(n ast.Node) (*leaf, bool) {
	if b, ok := n.(*ast.BinaryNode); ok && comparisons[b.Operator] {
		l, okL := f.operand(b.Left)
		r, okR := f.operand(b.Right)
		if !okL || !okR || !comparable(b.Operator, l.static, r.static) {
			return nil, false
		}
		lf := &leaf{op: b.Operator, code: cmpCodes[b.Operator], l: l, r: r, elem: l.readsElem() || r.readsElem()}
		lf.fast = fastOf(lf)
		return lf, true
	}
	if o, ok := f.operand(n); ok && o.static == kindBool && (o.kind == opRoot || o.kind == opElem) {
		return &leaf{code: cmpBare, l: o, elem: o.readsElem()}, true
	}
	return nil, false
}

func comparable(op string, l, r int) bool {
	num := func(k int) bool { return k == kindInt || k == kindFloat }
	switch {
	case op == "in":
		return r == kindList && l != kindList && l >= 0
	case num(l) && num(r):
		return true
	case l == kindString && r == kindString:
		return true
	case l == kindBool && r == kindBool:
		return op == "==" || op == "!="
	}
	return false
}

func (o operand) readsElem() bool {
	if o.kind == opElem || o.p != nil && o.p.readsElem() {
		return true
	}
	for _, a := range o.args {
		if a.readsElem() {
			return true
		}
	}
	return false
}

// helperCode is a date helper.
type helperCode uint8

const (
	helperAge helperCode = iota
	helperMonthsSince
	helperDaysSince
	helperYearOf
	helperMonthsBetween
)

var helperCodes = map[string]helperCode{"__age": helperAge, "__months_since": helperMonthsSince, "__days_since": helperDaysSince,
	"__year_of": helperYearOf, "__months_between": helperMonthsBetween}

var helperArity = map[string]int{"__age": 1, "__months_since": 1, "__days_since": 1, "__year_of": 1, "__months_between": 2}

func (f *fuser) operand(n ast.Node) (operand, bool) {
	switch x := n.(type) {
	case *ast.IntegerNode:
		return operand{kind: opConst, c: x.Value, static: kindInt}, true
	case *ast.FloatNode:
		return operand{kind: opConst, c: x.Value, static: kindFloat}, true
	case *ast.StringNode:
		return operand{kind: opConst, c: x.Value, static: kindString}, true
	case *ast.BoolNode:
		return operand{kind: opConst, c: x.Value, static: kindBool}, true
	case *ast.ArrayNode:
		list := make([]any, 0, len(x.Nodes))
		for _, e := range x.Nodes {
			o, ok := f.operand(e)
			if !ok || o.kind != opConst {
				return operand{}, false
			}
			list = append(list, o.c)
		}
		return operand{kind: opConst, c: list, static: kindList}, true
	case *ast.UnaryNode:
		if x.Operator != "-" {
			return operand{}, false
		}
		o, ok := f.operand(x.Node)
		if !ok || (o.static != kindInt && o.static != kindFloat) {
			return operand{}, false
		}
		return operand{kind: opNeg, args: []operand{o}, static: o.static}, true
	case *ast.BinaryNode:
		switch x.Operator {
		case "+", "-", "*", "/":
		case "??":
			return f.orDefault(x)
		default:
			return operand{}, false
		}
		l, okL := f.operand(x.Left)
		r, okR := f.operand(x.Right)
		num := func(k int) bool { return k == kindInt || k == kindFloat }
		if okL && okR && x.Operator == "+" && l.static == kindString && r.static == kindString {
			return operand{kind: opConcat, args: []operand{l, r}, static: kindString}, true
		}
		if !okL || !okR || !num(l.static) || !num(r.static) {
			return operand{}, false
		}
		static := kindInt
		if x.Operator == "/" || l.static == kindFloat || r.static == kindFloat {
			static = kindFloat
		}
		return operand{kind: opArith, name: x.Operator, ar: arithCodes[x.Operator], args: []operand{l, r}, static: static}, true
	case *ast.BuiltinNode:
		return f.builtin(x)
	case *ast.ConditionalNode:
		return f.conditional(x)
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok {
			return operand{}, false
		}
		intArg := func(i int) (int, bool) {
			if i >= len(x.Arguments) {
				return 0, false
			}
			v, ok := x.Arguments[i].(*ast.IntegerNode)
			if !ok {
				return 0, false
			}
			return v.Value, true
		}
		switch id.Value {
		case fnRoot:
			k, _ := intArg(0)
			return operand{kind: opRoot, k: k, static: kindOf(f.lay.slots[k])}, true
		case fnParam:
			k, _ := intArg(0)
			return operand{kind: opParam, k: k, static: kindOfType(f.params[k])}, true
		case fnGet:
			if _, own := x.Arguments[0].(*ast.PointerNode); !own {
				return operand{}, false
			}
			key, _ := intArg(1)
			return operand{kind: opElem, k: key & 0xffff, static: key >> 16}, true
		}
		if arity, ok := helperArity[id.Value]; ok && arity == len(x.Arguments) {
			o := operand{kind: opHelper, name: id.Value, hp: helperCodes[id.Value], static: kindInt}
			for _, a := range x.Arguments {
				ao, ok := f.operand(a)
				if !ok {
					return operand{}, false
				}
				o.args = append(o.args, ao)
			}
			return o, true
		}
	}
	return operand{}, false
}

func kindOfType(t reflect.Type) int {
	if t == nil {
		return -1
	}
	switch t.Kind() {
	case reflect.Int:
		return kindInt
	case reflect.Float64:
		return kindFloat
	case reflect.String:
		return kindString
	case reflect.Bool:
		return kindBool
	case reflect.Slice:
		return kindList
	}
	return -1
}

// val is an operand's value, unboxed.
type val struct {
	k    int // a kind, or -1: absent
	i    int
	f    float64
	s    string
	b    bool
	list []any
}

func valOf(v any) val {
	switch x := v.(type) {
	case int:
		return val{k: kindInt, i: x}
	case float64:
		return val{k: kindFloat, f: x}
	case string:
		return val{k: kindString, s: x}
	case bool:
		return val{k: kindBool, b: x}
	case []any:
		return val{k: kindList, list: x}
	}
	return val{k: -1}
}

func (v val) num() float64 {
	if v.k == kindInt {
		return float64(v.i)
	}
	return v.f
}

// eval returns the leaf's verdict: 0 false, 1 unknown, 2 true.
func (l *leaf) eval(e *Evaluator, el any) int {
	if l.q != nil {
		return l.q.eval(e)
	}
	if l.p != nil {
		return l.p.eval(e, el)
	}
	switch l.fast {
	case fastInts:
		a, okA := l.l.raw(e, el).(int)
		b, okB := l.r.raw(e, el).(int)
		if okA && okB {
			return verdict(order(l.code, cmp.Compare(a, b)))
		}
	case fastStrings:
		a, okA := l.l.raw(e, el).(string)
		b, okB := l.r.raw(e, el).(string)
		if okA && okB {
			if l.code == cmpEq {
				return verdict(a == b)
			}
			if l.code == cmpNe {
				return verdict(a != b)
			}
			return verdict(order(l.code, cmp.Compare(a, b)))
		}
	case fastBools:
		a, okA := l.l.raw(e, el).(bool)
		b, okB := l.r.raw(e, el).(bool)
		if okA && okB {
			return verdict((a == b) == (l.code == cmpEq))
		}
	case fastInStrings:
		a, okA := l.l.raw(e, el).(string)
		list, okB := l.r.raw(e, el).([]any)
		if okA && okB {
			for _, x := range list {
				if xs, ok := x.(string); ok && xs == a {
					return 2
				}
			}
			return 0
		}
	case fastHelperInt:
		b, okB := l.r.raw(e, el).(int)
		if a := l.l.helper(e, el); a.k == kindInt && okB {
			return verdict(order(l.code, cmp.Compare(a.i, b)))
		}
	}
	a := l.l.eval(e, el)
	if a.k < 0 {
		return 1
	}
	if l.code == cmpBare {
		return verdict(a.b)
	}
	b := l.r.eval(e, el)
	if b.k < 0 {
		return 1
	}
	if l.code == cmpIn {
		for _, x := range b.list {
			if eq, ok := equal(a, valOf(x)); ok && eq {
				return 2
			}
		}
		return 0
	}
	var r bool
	switch {
	case a.k == kindString && b.k == kindString:
		r = order(l.code, cmp.Compare(a.s, b.s))
	case a.k == kindInt && b.k == kindInt:
		r = order(l.code, cmp.Compare(a.i, b.i))
	case a.k == kindBool && b.k == kindBool:
		r = (a.b == b.b) == (l.code == cmpEq)
	default:
		x, y := a.num(), b.num()
		switch {
		case x != x || y != y: // NaN compares false, as in Go and expr
			r = l.code == cmpNe
		case x < y:
			r = order(l.code, -1)
		case x > y:
			r = order(l.code, 1)
		default:
			r = order(l.code, 0)
		}
	}
	return verdict(r)
}

func verdict(b bool) int {
	if b {
		return 2
	}
	return 0
}

func equal(a, b val) (bool, bool) {
	switch {
	case a.k == kindString && b.k == kindString:
		return a.s == b.s, true
	case a.k == kindBool && b.k == kindBool:
		return a.b == b.b, true
	case (a.k == kindInt || a.k == kindFloat) && (b.k == kindInt || b.k == kindFloat):
		if a.k == kindInt && b.k == kindInt {
			return a.i == b.i, true
		}
		return a.num() == b.num(), true
	}
	return false, false
}

// fastKind is a leaf shape that has a direct path: both sides plain reads
// or literals of one kind, or a date helper against an int. The direct
// path falls back to the general one when a value is absent or of another
// kind than the layout says, so that both always agree.
type fastKind uint8

const (
	fastNone fastKind = iota
	fastInts
	fastStrings
	fastBools
	fastHelperInt
	fastInStrings
)

func fastOf(l *leaf) fastKind {
	if l.code == cmpIn && l.l.plain() && l.r.plain() && l.l.static == kindString && l.r.static == kindList {
		return fastInStrings
	}
	if l.code == cmpIn || l.code == cmpBare || !l.r.plain() {
		return fastNone
	}
	switch {
	case l.l.kind == opHelper && l.r.static == kindInt:
		return fastHelperInt
	case !l.l.plain() || l.l.static != l.r.static:
		return fastNone
	case l.l.static == kindInt:
		return fastInts
	case l.l.static == kindString:
		return fastStrings
	case l.l.static == kindBool:
		return fastBools
	}
	return fastNone
}

// plain reports whether the operand is a read or a literal, which raw
// returns as stored.
func (o *operand) plain() bool {
	switch o.kind {
	case opConst, opRoot, opElem, opParam:
		return true
	}
	return false
}

// raw is a plain operand's value as stored, nil when absent.
func (o *operand) raw(e *Evaluator, el any) any {
	switch o.kind {
	case opConst:
		return o.c
	case opRoot:
		return e.slots[o.k]
	case opElem:
		return elemSlot(el, o.k)
	case opParam:
		return e.at.params[o.k]
	}
	return nil
}

// cmpCode is a comparison operator.
type cmpCode uint8

const (
	cmpGe cmpCode = iota
	cmpEq
	cmpNe
	cmpLt
	cmpLe
	cmpGt
	cmpIn
	cmpBare // a bare boolean read
)

var cmpCodes = map[string]cmpCode{"==": cmpEq, "!=": cmpNe, "<": cmpLt, "<=": cmpLe, ">": cmpGt, ">=": cmpGe, "in": cmpIn}

// predCode is an fpred's connective.
type predCode uint8

const (
	predLeaf predCode = iota
	predAnd
	predOr
	predNot
)

// arithCode is an arithmetic operator.
type arithCode uint8

const (
	arithAdd arithCode = iota
	arithSub
	arithMul
	arithDiv
)

var arithCodes = map[string]arithCode{"+": arithAdd, "-": arithSub, "*": arithMul, "/": arithDiv}

// orderOp is order for an operator written as a string.
func orderOp(op string, c int) bool { return order(cmpCodes[op], c) }

func order(op cmpCode, c int) bool {
	switch op {
	case cmpEq:
		return c == 0
	case cmpNe:
		return c != 0
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	default: // >=
		return c >= 0
	}
}

func (o *operand) eval(e *Evaluator, el any) val {
	switch o.kind {
	case opConst:
		return valOf(o.c)
	case opRoot:
		if v := e.slots[o.k]; v != nil {
			return valOf(v)
		}
	case opElem:
		if v := elemSlot(el, o.k); v != nil {
			return valOf(v)
		}
	case opParam:
		if v := e.at.params[o.k]; v != nil {
			return valOf(v)
		}
	case opNeg:
		a := o.args[0].eval(e, el)
		a.i, a.f = -a.i, -a.f
		return a
	case opArith:
		return arith(o.ar, o.args[0].eval(e, el), o.args[1].eval(e, el))
	case opHelper:
		return o.helper(e, el)
	case opRootOr:
		if v := e.slots[o.k]; v != nil {
			return valOf(v)
		}
		return o.args[0].eval(e, el)
	case opCount:
		return o.q.count(e)
	case opCond:
		switch o.p.eval(e, el) {
		case 2:
			return o.args[0].eval(e, el)
		case 0:
			return o.args[1].eval(e, el)
		}
	case opRound:
		a := o.args[0].eval(e, el)
		switch a.k {
		case kindInt:
			return val{k: kindFloat, f: float64(a.i)}
		case kindFloat:
			return val{k: kindFloat, f: math.Round(a.f)}
		}
	case opString:
		a := o.args[0].eval(e, el)
		if a.k == kindInt {
			start := len(e.scratch)
			e.scratch = strconv.AppendInt(e.scratch, int64(a.i), 10)
			return val{k: kindString, s: e.scratchString(start)}
		}
	case opConcat:
		a := o.args[0].eval(e, el)
		b := o.args[1].eval(e, el)
		if a.k == kindString && b.k == kindString {
			start := len(e.scratch)
			e.scratch = append(append(e.scratch, a.s...), b.s...)
			return val{k: kindString, s: e.scratchString(start)}
		}
	}
	return val{k: -1}
}

// scratchString is the evaluator's scratch bytes from start as a string,
// without copying. Strings made there live until the evaluation (or the
// quantifier's element) that made them ends; they are only compared or
// parsed, never kept, so nothing sees the bytes change afterwards.
func (e *Evaluator) scratchString(start int) string {
	if len(e.scratch) == start {
		return ""
	}
	return unsafe.String(&e.scratch[start], len(e.scratch)-start)
}

func arith(op arithCode, a, b val) val {
	if a.k < 0 || b.k < 0 {
		return val{k: -1}
	}
	if a.k == kindInt && b.k == kindInt && op != arithDiv {
		switch op {
		case arithAdd:
			return val{k: kindInt, i: a.i + b.i}
		case arithSub:
			return val{k: kindInt, i: a.i - b.i}
		default:
			return val{k: kindInt, i: a.i * b.i}
		}
	}
	x, y := a.num(), b.num()
	switch op {
	case arithAdd:
		return val{k: kindFloat, f: x + y}
	case arithSub:
		return val{k: kindFloat, f: x - y}
	case arithMul:
		return val{k: kindFloat, f: x * y}
	default:
		return val{k: kindFloat, f: x / y}
	}
}

func (o *operand) helper(e *Evaluator, el any) val {
	var ds string
	if a := &o.args[0]; a.plain() {
		s, ok := a.raw(e, el).(string)
		if !ok {
			return val{k: -1}
		}
		ds = s
	} else {
		d := a.eval(e, el)
		if d.k != kindString {
			return val{k: -1}
		}
		ds = d.s
	}
	c, ok := parseCivil(ds)
	if !ok {
		return val{k: -1}
	}
	var n int
	switch o.hp {
	case helperAge:
		n = years(monthsBetween(c, e.at.date))
	case helperMonthsSince:
		n = monthsBetween(c, e.at.date)
	case helperDaysSince:
		n = e.at.date.days() - c.days()
	case helperYearOf:
		n = c.y
	case helperMonthsBetween:
		b := o.args[1].eval(e, el)
		if b.k != kindString {
			return val{k: -1}
		}
		c2, ok := parseCivil(b.s)
		if !ok {
			return val{k: -1}
		}
		n = monthsBetween(c, c2)
	}
	return val{k: kindInt, i: n}
}

// The leaf methods the programs call.

func (e *Evaluator) leafBool(l any) any { return e.leafVerdict(l.(*leaf).eval(e, nil)) }

func (e *Evaluator) leafBoolE(el, l any) any { return e.leafVerdict(l.(*leaf).eval(e, el)) }

func (e *Evaluator) leaf3(l any) any { return l.(*leaf).eval(e, nil) }

func (e *Evaluator) leaf3E(el, l any) any { return l.(*leaf).eval(e, el) }

func (e *Evaluator) leafVerdict(v int) any {
	if v == 1 {
		e.unk = true
		return false
	}
	return v == 2
}

// quantifier fuses any/all/none(list, predicate) when the list is a
// profile list and the predicate is made of leaves.
func (f *fuser) quantifier(x *ast.BuiltinNode) (ast.Node, bool) {
	if f == nil {
		return nil, false
	}
	q := &quant{op: x.Name, code: quantifierCodes[x.Name]}
	var ok bool
	if q.slot, q.orEmpty, ok = listOf(x.Arguments[0]); !ok {
		return nil, false
	}
	body := x.Arguments[1].(*ast.PredicateNode).Node
	f.fuse(&body)
	p, ok := predOf(body, false)
	if !ok {
		return nil, false
	}
	q.pred = p
	return call(fnLeaf, &ast.ConstantNode{Value: &leaf{q: q}}), true
}

// predOf reads a predicate made of leaves, and, or and not, which are
// Kleene's. At the top of a condition (top) the leaves may not read an
// element.
func predOf(n ast.Node, top bool) (*fpred, bool) {
	switch x := n.(type) {
	case *ast.CallNode:
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok || (id.Value != fnLeaf && id.Value != fnLeafE) {
			return nil, false
		}
		l := x.Arguments[len(x.Arguments)-1].(*ast.ConstantNode).Value.(*leaf)
		return &fpred{op: "leaf", code: predLeaf, leaf: l}, !(top && l.elem)
	case *ast.BinaryNode:
		op := map[string]string{"and": "and", "&&": "and", "or": "or", "||": "or"}[x.Operator]
		if op == "" {
			return nil, false
		}
		a, okA := predOf(x.Left, top)
		b, okB := predOf(x.Right, top)
		code := predAnd
		if op == "or" {
			code = predOr
		}
		return &fpred{op: op, code: code, a: a, b: b}, okA && okB
	case *ast.UnaryNode:
		if x.Operator != "not" && x.Operator != "!" {
			return nil, false
		}
		a, ok := predOf(x.Node, top)
		return &fpred{op: "not", code: predNot, a: a}, ok
	}
	return nil, false
}

func (p *fpred) readsElem() bool {
	if p.op == "leaf" {
		return p.leaf.elem
	}
	return p.a.readsElem() || (p.b != nil && p.b.readsElem())
}

// eval is the predicate's verdict, in Kleene's logic; el is the current
// element of the enclosing quantifier.
func (p *fpred) eval(e *Evaluator, el any) int {
	switch p.code {
	case predLeaf:
		return p.leaf.eval(e, el)
	case predNot:
		return 2 - p.a.eval(e, el)
	case predAnd:
		if l := p.a.eval(e, el); l != 0 {
			return min(l, p.b.eval(e, el))
		}
		return 0
	}
	if l := p.a.eval(e, el); l != 2 { // or
		return max(l, p.b.eval(e, el))
	}
	return 2
}

func (q *quant) eval(e *Evaluator) int {
	v := e.slots[q.slot]
	if v == nil && !q.orEmpty {
		return 1
	}
	list, _ := v.([]any)
	f := qframe{op: q.code}
	mark := len(e.scratch)
	for _, el := range list {
		v := q.pred.eval(e, el)
		e.scratch = e.scratch[:mark]
		switch v {
		case 0:
			f.falses++
		case 1:
			f.unknowns++
		default:
			f.trues++
		}
		if f.decided() {
			break
		}
	}
	return f.verdict()
}

// count is count(list, predicate) as a strict value: unknown when the list
// is absent (unless written "?? []") or when any element's predicate is.
func (q *quant) count(e *Evaluator) val {
	v := e.slots[q.slot]
	if v == nil && !q.orEmpty {
		return val{k: -1}
	}
	list, _ := v.([]any)
	n := 0
	mark := len(e.scratch)
	for _, el := range list {
		r := q.pred.eval(e, el)
		e.scratch = e.scratch[:mark]
		switch r {
		case 1:
			return val{k: -1}
		case 2:
			n++
		}
	}
	return val{k: kindInt, i: n}
}

// listOf reads a quantifier's list: a root slot, or one written "?? []".
func listOf(n ast.Node) (slot int, orEmpty, ok bool) {
	switch c := n.(type) {
	case *ast.CallNode:
		id, ok := c.Callee.(*ast.IdentifierNode)
		if !ok || id.Value != fnRoot {
			return 0, false, false
		}
		return c.Arguments[0].(*ast.IntegerNode).Value, false, true
	case *ast.BinaryNode:
		l, okL := c.Left.(*ast.CallNode)
		r, okR := c.Right.(*ast.IdentifierNode)
		if c.Operator != "??" || !okL || !okR || r.Value != idEmpty {
			return 0, false, false
		}
		if id, ok := l.Callee.(*ast.IdentifierNode); !ok || id.Value != fnRootOpt {
			return 0, false, false
		}
		return l.Arguments[0].(*ast.IntegerNode).Value, true, true
	}
	return 0, false, false
}

// builtin fuses count over a profile list with a predicate of leaves,
// round of a number, and string of an int.
func (f *fuser) builtin(x *ast.BuiltinNode) (operand, bool) {
	switch {
	case x.Name == "count" && len(x.Arguments) == 2:
		slot, orEmpty, ok := listOf(x.Arguments[0])
		pn, isPred := x.Arguments[1].(*ast.PredicateNode)
		if !ok || !isPred {
			return operand{}, false
		}
		body := pn.Node
		f.fuse(&body)
		p, ok := predOf(body, false)
		if !ok {
			return operand{}, false
		}
		return operand{kind: opCount, q: &quant{op: "count", slot: slot, orEmpty: orEmpty, pred: p}, static: kindInt}, true
	case x.Name == "round" && len(x.Arguments) == 1:
		a, ok := f.operand(x.Arguments[0])
		if !ok || a.static != kindInt && a.static != kindFloat {
			return operand{}, false
		}
		return operand{kind: opRound, args: []operand{a}, static: kindFloat}, true
	case x.Name == "string" && len(x.Arguments) == 1:
		a, ok := f.operand(x.Arguments[0])
		if !ok || a.static != kindInt {
			return operand{}, false
		}
		return operand{kind: opString, args: []operand{a}, static: kindString}, true
	}
	return operand{}, false
}

// conditional fuses c ? a : b when c is made of leaves and a and b are
// operands of one kind (or both numbers).
func (f *fuser) conditional(x *ast.ConditionalNode) (operand, bool) {
	c := x.Cond
	f.fuse(&c)
	p, ok := predOf(c, false)
	if !ok {
		return operand{}, false
	}
	a, okA := f.operand(x.Exp1)
	b, okB := f.operand(x.Exp2)
	if !okA || !okB || a.static < 0 || b.static < 0 {
		return operand{}, false
	}
	static := a.static
	if a.static != b.static {
		num := func(k int) bool { return k == kindInt || k == kindFloat }
		if !num(a.static) || !num(b.static) {
			return operand{}, false
		}
		static = kindFloat
	}
	if static == kindList || static == kindBool {
		return operand{}, false
	}
	return operand{kind: opCond, p: p, args: []operand{a, b}, static: static}, true
}

// orDefault fuses a root read with a literal default, __ro(k) ?? c.
func (f *fuser) orDefault(x *ast.BinaryNode) (operand, bool) {
	l, ok := x.Left.(*ast.CallNode)
	if !ok {
		return operand{}, false
	}
	if id, ok := l.Callee.(*ast.IdentifierNode); !ok || id.Value != fnRootOpt {
		return operand{}, false
	}
	k := l.Arguments[0].(*ast.IntegerNode).Value
	d, ok := f.operand(x.Right)
	if !ok || d.kind != opConst {
		return operand{}, false
	}
	static := kindOf(f.lay.slots[k])
	if static != d.static {
		return operand{}, false
	}
	return operand{kind: opRootOr, k: k, args: []operand{d}, static: static}, true
}

// amountOf is the amount expression as one fused operand, so that it is
// computed without boxing a float, or nil when it cannot be fused.
func (f *fuser) amountOf(n ast.Node) *operand {
	o, ok := f.operand(n)
	if !ok || o.static != kindInt && o.static != kindFloat || o.readsElem() {
		return nil
	}
	return &o
}
