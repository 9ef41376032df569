package rules

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// The reference evaluator: a plain tree walk over expr's AST that follows
// the semantics table of rules/README.md line by line. It is written for
// clarity, not speed, and shares no code with the rewriter, the leaf
// fusion or the run-time functions: it reads the profile struct by
// reflection and does its own date arithmetic with the time package. The
// fast evaluator is held to it by the differential test.

// kleene3 is a three-valued truth value.
type kleene3 int

const (
	triFalse kleene3 = iota
	triUnknown
	triTrue
)

func (t kleene3) verdict() Verdict { return Verdict(t) }

func triOf(b bool) kleene3 {
	if b {
		return triTrue
	}
	return triFalse
}

// Kleene's connectives.
func kAnd(a, b kleene3) kleene3 { return min(a, b) }
func kOr(a, b kleene3) kleene3  { return max(a, b) }
func kNot(a kleene3) kleene3    { return 2 - a }

// rv is a value that is known (ok) or unknown. A known value is an int,
// float64, string, bool, time.Time, []any or robj.
type rv struct {
	ok bool
	v  any
}

var unknownRV = rv{}

func known(v any) rv { return rv{ok: true, v: v} }

// robj is a profile object: a struct value whose fields are read by JSON
// name.
type robj struct{ v reflect.Value }

// refEnv is what a reference evaluation reads.
type refEnv struct {
	kind   string // "resident" or "enterprise"
	root   robj
	now    time.Time // in Asia/Shanghai
	params map[string]any
	elems  []any // the current elements of the enclosing predicates, innermost last
	vars   map[string]any
}

// refEval evaluates src; a problem in src (a construct the reference does
// not know) is returned as an error.
func refEval(src string, env *refEnv) (v rv, err error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return rv{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(runError); ok {
				v, err = unknownRV, nil
				return
			}
			err = fmt.Errorf("reference: %v", r)
		}
	}()
	return env.eval(tree.Node), nil
}

// runError is a run-time error: an index past the end of a list, or a
// remainder by zero. It makes the whole expression unknown, whatever the
// rest of it says.
type runError string

// refCondition is a condition's verdict by the reference.
func refCondition(src string, env *refEnv) (kleene3, error) {
	v, err := refEval(src, env)
	if err != nil {
		return 0, err
	}
	return truth(v), nil
}

func truth(v rv) kleene3 {
	if !v.ok {
		return triUnknown
	}
	return triOf(v.v.(bool))
}

// fromGo reads a profile value: a nil pointer or nil slice is absent.
func fromGo(v reflect.Value) rv {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return unknownRV
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		return known(robj{v})
	case reflect.Slice:
		if v.IsNil() {
			return unknownRV
		}
		out := make([]any, v.Len())
		for i := range out {
			e := fromGo(v.Index(i))
			if !e.ok {
				panic("an absent list element")
			}
			out[i] = e.v
		}
		return known(out)
	case reflect.String:
		return known(v.String())
	case reflect.Int, reflect.Int64:
		return known(int(v.Int()))
	case reflect.Float64:
		return known(v.Float())
	case reflect.Bool:
		return known(v.Bool())
	}
	panic("unsupported profile value " + v.Type().String())
}

func (o robj) field(name string) rv {
	t := o.v.Type()
	for i := 0; i < t.NumField(); i++ {
		if n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); n == name {
			return fromGo(o.v.Field(i))
		}
	}
	panic("no field " + name)
}

func (env *refEnv) eval(n ast.Node) rv {
	switch x := n.(type) {
	case *ast.NilNode:
		return unknownRV
	case *ast.IntegerNode:
		return known(x.Value)
	case *ast.FloatNode:
		return known(x.Value)
	case *ast.StringNode:
		return known(x.Value)
	case *ast.BoolNode:
		return known(x.Value)
	case *ast.ArrayNode:
		out := make([]any, 0, len(x.Nodes))
		for _, e := range x.Nodes {
			v := env.eval(e)
			if !v.ok {
				return unknownRV
			}
			out = append(out, v.v)
		}
		return known(out)
	case *ast.IdentifierNode:
		switch x.Value {
		case env.kind:
			return known(env.root)
		case "now":
			return known(env.now)
		}
		if v, ok := env.vars[x.Value]; ok {
			return known(v)
		}
		panic("unknown name " + x.Value)
	case *ast.VariableDeclaratorNode:
		// let v = X; E is unknown when X is: Kleene's logic does not look
		// through a variable.
		v := env.eval(x.Value)
		if !v.ok {
			return v
		}
		if env.vars == nil {
			env.vars = map[string]any{}
		}
		old, had := env.vars[x.Name]
		env.vars[x.Name] = v.v
		defer func() {
			if had {
				env.vars[x.Name] = old
			} else {
				delete(env.vars, x.Name)
			}
		}()
		return env.eval(x.Expr)
	case *ast.PointerNode:
		if x.Name != "" {
			panic("#" + x.Name)
		}
		return known(env.elems[len(env.elems)-1])
	case *ast.ChainNode:
		// ?. changes nothing: an absent link is unknown, like any absent data.
		return env.eval(x.Node)
	case *ast.MemberNode:
		return env.member(x)
	case *ast.UnaryNode:
		switch x.Operator {
		case "not", "!":
			return triValue(kNot(truth(env.eval(x.Node))))
		case "-":
			v := env.eval(x.Node)
			if !v.ok {
				return v
			}
			switch a := v.v.(type) {
			case int:
				return known(-a)
			case float64:
				return known(-a)
			}
		case "+":
			return env.eval(x.Node)
		}
		panic("unary " + x.Operator)
	case *ast.BinaryNode:
		return env.binary(x)
	case *ast.ConditionalNode:
		switch truth(env.eval(x.Cond)) {
		case triTrue:
			return env.eval(x.Exp1)
		case triFalse:
			return env.eval(x.Exp2)
		}
		return unknownRV
	case *ast.CallNode:
		return env.call(x)
	case *ast.BuiltinNode:
		return env.builtin(x)
	}
	panic(fmt.Sprintf("node %T", n))
}

func triValue(t kleene3) rv {
	if t == triUnknown {
		return unknownRV
	}
	return known(t == triTrue)
}

func (env *refEnv) member(x *ast.MemberNode) rv {
	if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "params" {
		v, ok := env.params[x.Property.(*ast.StringNode).Value]
		if !ok || v == nil {
			return unknownRV
		}
		return known(v)
	}
	base := env.eval(x.Node)
	if !base.ok {
		return unknownRV
	}
	switch b := base.v.(type) {
	case robj:
		return b.field(x.Property.(*ast.StringNode).Value)
	case []any:
		i := env.eval(x.Property)
		if !i.ok {
			return unknownRV
		}
		k := i.v.(int)
		if k < 0 {
			k += len(b)
		}
		if k < 0 || k >= len(b) {
			return unknownRV // no such element: absent data
		}
		return known(b[k])
	}
	panic(fmt.Sprintf("member of %T", base.v))
}

func isNum(v any) bool {
	switch v.(type) {
	case int, float64:
		return true
	}
	return false
}

func num(v any) float64 {
	if i, ok := v.(int); ok {
		return float64(i)
	}
	return v.(float64)
}

// refEqual is == on known values.
func refEqual(a, b any) bool {
	if isNum(a) && isNum(b) {
		ai, aInt := a.(int)
		bi, bInt := b.(int)
		if aInt && bInt {
			return ai == bi
		}
		return num(a) == num(b)
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	panic(fmt.Sprintf("== on %T and %T", a, b))
}

// refCompare is <, <=, >, >= on known numbers or strings.
func refCompare(op string, a, b any) bool {
	var c int
	if isNum(a) && isNum(b) {
		ai, aInt := a.(int)
		bi, bInt := b.(int)
		switch {
		case aInt && bInt:
			c = cmpInt(ai, bi)
		default:
			x, y := num(a), num(b)
			if math.IsNaN(x) || math.IsNaN(y) {
				return false
			}
			c = cmpFloat(x, y)
		}
	} else {
		c = strings.Compare(a.(string), b.(string))
	}
	switch op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	panic(op)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (env *refEnv) binary(x *ast.BinaryNode) rv {
	switch x.Operator {
	// The right side is not evaluated when the left decides, which only
	// matters for a run-time error on the right.
	case "and", "&&":
		l := truth(env.eval(x.Left))
		if l == triFalse {
			return known(false)
		}
		return triValue(kAnd(l, truth(env.eval(x.Right))))
	case "or", "||":
		l := truth(env.eval(x.Left))
		if l == triTrue {
			return known(true)
		}
		return triValue(kOr(l, truth(env.eval(x.Right))))
	case "??":
		if l := env.eval(x.Left); l.ok {
			return l
		}
		return env.eval(x.Right)
	}
	l, r := env.eval(x.Left), env.eval(x.Right)
	if !l.ok || !r.ok {
		return unknownRV // every other operator is strict
	}
	a, b := l.v, r.v
	switch x.Operator {
	case "==":
		return known(refEqual(a, b))
	case "!=":
		return known(!refEqual(a, b))
	case "<", "<=", ">", ">=":
		return known(refCompare(x.Operator, a, b))
	case "in":
		for _, e := range b.([]any) {
			if refEqual(a, e) {
				return known(true)
			}
		}
		return known(false)
	case "contains":
		return known(strings.Contains(a.(string), b.(string)))
	case "startsWith":
		return known(strings.HasPrefix(a.(string), b.(string)))
	case "endsWith":
		return known(strings.HasSuffix(a.(string), b.(string)))
	case "+", "-", "*", "/", "%":
		return arithRef(x.Operator, a, b)
	}
	panic("binary " + x.Operator)
}

func arithRef(op string, a, b any) rv {
	if s, ok := a.(string); ok && op == "+" {
		return known(s + b.(string))
	}
	ai, aInt := a.(int)
	bi, bInt := b.(int)
	if aInt && bInt {
		switch op {
		case "+":
			return known(ai + bi)
		case "-":
			return known(ai - bi)
		case "*":
			return known(ai * bi)
		case "%":
			if bi == 0 {
				return unknownRV // no remainder
			}
			return known(ai % bi)
		}
	}
	x, y := num(a), num(b)
	switch op {
	case "+":
		return known(x + y)
	case "-":
		return known(x - y)
	case "*":
		return known(x * y)
	case "/":
		return known(x / y)
	}
	panic("arith " + op)
}

// refDate reads a date argument: "YYYY-MM-DD" or "YYYY-MM" (its first day),
// a real calendar date; anything else is no date, so unknown.
func refDate(v rv) (time.Time, bool) {
	if !v.ok {
		return time.Time{}, false
	}
	s, ok := v.v.(string)
	if !ok {
		return time.Time{}, false
	}
	layout := "2006-01-02"
	if len(s) == 7 {
		layout = "2006-01"
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func today(now time.Time) time.Time {
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// addMonths adds n months to d; a day the target month lacks becomes its
// last day (民法典 第二百零二条: 没有对应日的，月末日为期间的最后一日).
func addMonths(d time.Time, n int) time.Time {
	first := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, n, 0)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d.Day(), last), 0, 0, 0, 0, time.UTC)
}

// refMonths is the number of whole months from a to b: the largest n with
// addMonths(a, n) <= b. It is negative when b is before a.
func refMonths(a, b time.Time) int {
	n := (b.Year()-a.Year())*12 + int(b.Month()) - int(a.Month())
	for addMonths(a, n).After(b) {
		n--
	}
	for !addMonths(a, n+1).After(b) {
		n++
	}
	return n
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (env *refEnv) call(x *ast.CallNode) rv {
	if m, ok := x.Callee.(*ast.MemberNode); ok {
		if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "now" {
			switch m.Property.(*ast.StringNode).Value {
			case "Year":
				return known(env.now.Year())
			case "Month":
				return known(int(env.now.Month()))
			case "Day":
				return known(env.now.Day())
			}
		}
		panic("method call")
	}
	name := x.Callee.(*ast.IdentifierNode).Value
	args := make([]time.Time, len(x.Arguments))
	for i, a := range x.Arguments {
		d, ok := refDate(env.eval(a))
		if !ok {
			return unknownRV
		}
		args[i] = d
	}
	now := today(env.now)
	switch name {
	case "age":
		return known(floorDiv(refMonths(args[0], now), 12))
	case "months_since":
		return known(refMonths(args[0], now))
	case "days_since":
		return known(int(now.Sub(args[0]).Hours() / 24))
	case "months_between":
		return known(refMonths(args[0], args[1]))
	case "year":
		return known(args[0].Year())
	}
	panic("call " + name)
}

// pred evaluates a predicate body on each element of list.
func (env *refEnv) pred(list []any, body ast.Node, each func(el any, v rv) bool) {
	for _, el := range list {
		env.elems = append(env.elems, el)
		v := env.eval(body)
		env.elems = env.elems[:len(env.elems)-1]
		if !each(el, v) {
			return
		}
	}
}

func (env *refEnv) builtin(x *ast.BuiltinNode) rv {
	coll := env.eval(x.Arguments[0])
	if !coll.ok {
		return unknownRV
	}
	switch x.Name {
	case "upper":
		return known(strings.ToUpper(coll.v.(string)))
	case "lower":
		return known(strings.ToLower(coll.v.(string)))
	case "len":
		switch c := coll.v.(type) {
		case []any:
			return known(len(c))
		case string:
			return known(utf8.RuneCountInString(c))
		}
		panic("len")
	}
	list := coll.v.([]any)
	switch x.Name {
	case "first", "last":
		if len(list) == 0 {
			return unknownRV // no such element: absent data
		}
		if x.Name == "first" {
			return known(list[0])
		}
		return known(list[len(list)-1])
	}
	var body ast.Node
	if len(x.Arguments) > 1 {
		body = x.Arguments[1].(*ast.PredicateNode).Node
	}
	switch x.Name {
	case "any", "all", "none", "one":
		trues, unknowns := 0, 0
		falses := 0
		env.pred(list, body, func(_ any, v rv) bool {
			switch truth(v) {
			case triTrue:
				trues++
			case triUnknown:
				unknowns++
			default:
				falses++
			}
			// Stop once decided, which only matters for a run-time error
			// in a later element.
			switch x.Name {
			case "any", "none":
				return trues == 0
			case "all":
				return falses == 0
			}
			return trues < 2
		})
		n := trues + unknowns + falses
		switch x.Name {
		case "any": // the OR over the elements
			switch {
			case trues > 0:
				return known(true)
			case unknowns > 0:
				return unknownRV
			}
			return known(false)
		case "all": // the AND
			switch {
			case trues+unknowns < n:
				return known(false)
			case unknowns > 0:
				return unknownRV
			}
			return known(true)
		case "none": // not any
			switch {
			case trues > 0:
				return known(false)
			case unknowns > 0:
				return unknownRV
			}
			return known(true)
		default: // one: exactly one element holds
			switch {
			case trues >= 2:
				return known(false)
			case unknowns > 0:
				return unknownRV
			}
			return known(trues == 1)
		}
	case "find":
		// The first element that holds; unknown when an element before it
		// is unknown, or when none holds (no such element).
		found := unknownRV
		env.pred(list, body, func(el any, v rv) bool {
			switch truth(v) {
			case triTrue:
				found = known(el)
				return false
			case triUnknown:
				return false
			}
			return true
		})
		return found
	case "count", "filter":
		var out []any
		unknown := false
		env.pred(list, body, func(el any, v rv) bool {
			switch truth(v) {
			case triTrue:
				out = append(out, el)
			case triUnknown:
				unknown = true
			}
			return true
		})
		switch {
		case unknown:
			return unknownRV
		case x.Name == "count":
			return known(len(out))
		}
		return known(append([]any{}, out...))
	case "map":
		var out []any
		unknown := false
		env.pred(list, body, func(_ any, v rv) bool {
			unknown = unknown || !v.ok
			out = append(out, v.v)
			return true
		})
		if unknown {
			return unknownRV
		}
		return known(append([]any{}, out...))
	case "sum":
		if body != nil {
			m := env.builtin(&ast.BuiltinNode{Name: "map", Arguments: x.Arguments})
			if !m.ok {
				return m
			}
			list = m.v.([]any)
		}
		isInt, si, sf := true, 0, 0.0
		for _, e := range list {
			if i, ok := e.(int); ok {
				si += i
			} else {
				isInt = false
			}
			sf += num(e)
		}
		if isInt {
			return known(si)
		}
		return known(sf)
	}
	panic("builtin " + x.Name)
}
