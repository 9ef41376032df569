package rules

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
)

// why finds the absent data that made a condition unknown, for
// explanations: a plain tree walk over the condition with the semantics of
// rules/README.md, which carries, with every unknown value, the fields
// whose absence made it unknown. Kleene's logic drops the fields of a side
// that did not matter: in "A or B" with B true nothing is named, and in
// any(list, .x == 1 and .y == 2) an element ruled out by its x does not
// name its absent y. It allocates and is slow; it runs only to explain.
// The differential test holds its verdicts to the fast evaluator's.

// wv is a value the walk computed: known (ok), or unknown because of the
// fields in why.
type wv struct {
	ok  bool
	v   any // int, float64, string, bool, []any, wobj, time.Time
	why []string
}

// wobj is an object of the profile: a node of the layout and the slot
// vector its fields live in.
type wobj struct {
	f     *field
	slots []any
	path  string // as an officer reads it: resident.benefits_received[1]
}

type walker struct {
	lay   *layout
	p     *Policy
	in    *Input
	at    *Instant
	elems []any
	vars  map[string]any
}

// missingFields names the absent fields that made src unknown, sorted;
// it also returns the walk's verdict.
func (e *Evaluator) missingFields(p *Policy, src string, in *Input, at *Instant) ([]string, Verdict, error) {
	tree, err := parser.Parse(src)
	if err != nil {
		return nil, VerdictUnknown, err
	}
	w := &walker{lay: e.set.lay.of(p.Subject), p: p, in: in, at: at}
	v, err := w.run(tree.Node)
	if err != nil {
		return nil, VerdictUnknown, err
	}
	if v.ok {
		if v.v.(bool) {
			return nil, True, nil
		}
		return nil, False, nil
	}
	set := map[string]bool{}
	for _, f := range v.why {
		set[f] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, VerdictUnknown, nil
}

// walkError is a construct the walk does not know; the explanation then
// names no fields rather than wrong ones.
type walkError struct{ msg string }

func (w *walker) run(n ast.Node) (v wv, err error) {
	defer func() {
		if r := recover(); r != nil {
			we, ok := r.(walkError)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("rules: explaining: %s", we.msg)
		}
	}()
	return w.eval(n), nil
}

func unsupported(format string, args ...any) { panic(walkError{fmt.Sprintf(format, args...)}) }

func kv(v any) wv { return wv{ok: true, v: v} }

func absentAt(path string) wv { return wv{why: []string{path}} }

// unknownOf is unknown because of every unknown among vs.
func unknownOf(vs ...wv) wv {
	var why []string
	for _, v := range vs {
		if !v.ok {
			why = append(why, v.why...)
		}
	}
	return wv{why: why}
}

func (v wv) tri() int {
	if !v.ok {
		return 1
	}
	if b, _ := v.v.(bool); b {
		return 2
	}
	return 0
}

func (w *walker) eval(n ast.Node) wv {
	switch x := n.(type) {
	case *ast.NilNode:
		return wv{}
	case *ast.IntegerNode:
		return kv(x.Value)
	case *ast.FloatNode:
		return kv(x.Value)
	case *ast.StringNode:
		return kv(x.Value)
	case *ast.BoolNode:
		return kv(x.Value)
	case *ast.ArrayNode:
		out := make([]any, 0, len(x.Nodes))
		var bad []wv
		for _, e := range x.Nodes {
			v := w.eval(e)
			if !v.ok {
				bad = append(bad, v)
			}
			out = append(out, v.v)
		}
		if bad != nil {
			return unknownOf(bad...)
		}
		return kv(out)
	case *ast.IdentifierNode:
		switch x.Value {
		case string(w.lay.kind):
			return kv(wobj{f: w.lay.root, slots: w.in.slots, path: string(w.lay.kind)})
		case "now":
			return kv(w.at.Now)
		}
		if v, ok := w.vars[x.Value]; ok {
			return kv(v)
		}
		unsupported("name %s", x.Value)
	case *ast.PointerNode:
		if x.Name != "" || len(w.elems) == 0 {
			unsupported("#%s", x.Name)
		}
		return kv(w.elems[len(w.elems)-1])
	case *ast.ChainNode:
		return w.eval(x.Node)
	case *ast.MemberNode:
		return w.member(x)
	case *ast.UnaryNode:
		v := w.eval(x.Node)
		switch x.Operator {
		case "not", "!":
			if !v.ok {
				return v
			}
			return kv(!v.v.(bool))
		case "-":
			if !v.ok {
				return v
			}
			switch a := v.v.(type) {
			case int:
				return kv(-a)
			case float64:
				return kv(-a)
			}
		case "+":
			return v
		}
		unsupported("unary %s", x.Operator)
	case *ast.BinaryNode:
		return w.binary(x)
	case *ast.ConditionalNode:
		c := w.eval(x.Cond)
		switch c.tri() {
		case 2:
			return w.eval(x.Exp1)
		case 0:
			return w.eval(x.Exp2)
		}
		return c
	case *ast.CallNode:
		return w.call(x)
	case *ast.BuiltinNode:
		return w.builtin(x)
	case *ast.VariableDeclaratorNode:
		v := w.eval(x.Value)
		if !v.ok {
			return v // let is unknown when its value is
		}
		if w.vars == nil {
			w.vars = map[string]any{}
		}
		old, had := w.vars[x.Name]
		w.vars[x.Name] = v.v
		r := w.eval(x.Expr)
		if had {
			w.vars[x.Name] = old
		} else {
			delete(w.vars, x.Name)
		}
		return r
	}
	unsupported("%T", n)
	return wv{}
}

func (w *walker) member(x *ast.MemberNode) wv {
	if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "params" {
		name, _ := x.Property.(*ast.StringNode)
		if name == nil {
			unsupported("params")
		}
		if v := w.at.params[w.p.paramIndex[name.Value]]; v != nil {
			return kv(v)
		}
		return absentAt("params." + name.Value)
	}
	base := w.eval(x.Node)
	if !base.ok {
		return base
	}
	switch b := base.v.(type) {
	case wobj:
		name, _ := x.Property.(*ast.StringNode)
		if name == nil {
			unsupported("a computed field name")
		}
		return b.field(name.Value)
	case []any:
		i := w.eval(x.Property)
		if !i.ok {
			return i
		}
		k, _ := i.v.(int)
		if k < 0 {
			k += len(b)
		}
		if k < 0 || k >= len(b) {
			if p := w.pathOf(x.Node); p != "" {
				return absentAt(fmt.Sprintf("%s[%d]", p, i.v))
			}
			return wv{}
		}
		return kv(b[k])
	}
	unsupported("a field of %T", base.v)
	return wv{}
}

// pathOf names a list for an index past its end.
func (w *walker) pathOf(n ast.Node) string {
	switch x := n.(type) {
	case *ast.MemberNode:
		if name, ok := x.Property.(*ast.StringNode); ok {
			return w.pathOf(x.Node) + "." + name.Value
		}
	case *ast.ChainNode:
		return w.pathOf(x.Node)
	case *ast.IdentifierNode:
		return x.Value
	case *ast.PointerNode:
		if o, ok := w.elems[len(w.elems)-1].(wobj); ok {
			return o.path
		}
	}
	return ""
}

func (o wobj) field(name string) wv {
	c := o.f.children[name]
	if c == nil {
		unsupported("no field %s", name)
	}
	path := o.path + "." + name
	switch c.kind {
	case objectField:
		return kv(wobj{f: c, slots: o.slots, path: path})
	case arrayField:
		if c.slot >= len(o.slots) || o.slots[c.slot] == nil {
			return absentAt(path)
		}
		list := o.slots[c.slot].([]any)
		if c.elem.kind != objectField {
			return kv(list)
		}
		out := make([]any, len(list))
		for i, el := range list {
			out[i] = wobj{f: c.elem, slots: el.([]any), path: fmt.Sprintf("%s[%d]", path, i)}
		}
		return kv(out)
	}
	if c.slot >= len(o.slots) || o.slots[c.slot] == nil {
		return absentAt(path)
	}
	return kv(o.slots[c.slot])
}

func (w *walker) binary(x *ast.BinaryNode) wv {
	switch x.Operator {
	case "and", "&&", "or", "||":
		decisive := 0
		if x.Operator == "or" || x.Operator == "||" {
			decisive = 2
		}
		l := w.eval(x.Left)
		if l.tri() == decisive {
			return l
		}
		r := w.eval(x.Right)
		switch {
		case r.tri() == decisive:
			return r
		case l.ok && r.ok:
			return r
		}
		return unknownOf(l, r)
	case "??":
		if l := w.eval(x.Left); l.ok {
			return l
		}
		return w.eval(x.Right)
	}
	l, r := w.eval(x.Left), w.eval(x.Right)
	if !l.ok || !r.ok {
		return unknownOf(l, r)
	}
	a, b := l.v, r.v
	switch x.Operator {
	case "==":
		return kv(walkEqual(a, b))
	case "!=":
		return kv(!walkEqual(a, b))
	case "<", "<=", ">", ">=":
		return kv(walkOrder(x.Operator, a, b))
	case "in":
		list, ok := b.([]any)
		if !ok {
			unsupported("in on %T", b)
		}
		for _, e := range list {
			if walkEqual(a, e) {
				return kv(true)
			}
		}
		return kv(false)
	case "contains", "startsWith", "endsWith":
		s, t := a.(string), b.(string)
		switch x.Operator {
		case "contains":
			return kv(strings.Contains(s, t))
		case "startsWith":
			return kv(strings.HasPrefix(s, t))
		}
		return kv(strings.HasSuffix(s, t))
	case "+", "-", "*", "/", "%":
		v, ok := walkArith(x.Operator, a, b)
		if !ok {
			return unknownOf(l, r) // a remainder by zero: nothing absent to name
		}
		return kv(v)
	}
	unsupported("operator %s", x.Operator)
	return wv{}
}

func walkNum(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func walkEqual(a, b any) bool {
	if _, isList := a.([]any); isList {
		unsupported("== on lists")
	}
	if _, isList := b.([]any); isList {
		unsupported("== on lists")
	}
	ai, aInt := a.(int)
	bi, bInt := b.(int)
	if aInt && bInt {
		return ai == bi
	}
	if x, ok := walkNum(a); ok {
		y, ok := walkNum(b)
		return ok && x == y
	}
	return a == b
}

func walkOrder(op string, a, b any) bool {
	var c int
	ai, aInt := a.(int)
	bi, bInt := b.(int)
	x, xNum := walkNum(a)
	y, yNum := walkNum(b)
	switch {
	case aInt && bInt:
		c = cmpOf(ai < bi, ai > bi)
	case xNum && yNum:
		if math.IsNaN(x) || math.IsNaN(y) {
			return false
		}
		c = cmpOf(x < y, x > y)
	default:
		s, _ := a.(string)
		t, _ := b.(string)
		c = strings.Compare(s, t)
	}
	return orderOp(op, c)
}

func cmpOf(less, more bool) int {
	switch {
	case less:
		return -1
	case more:
		return 1
	}
	return 0
}

func walkArith(op string, a, b any) (any, bool) {
	if s, ok := a.(string); ok && op == "+" {
		t, _ := b.(string)
		return s + t, true
	}
	ai, aInt := a.(int)
	bi, bInt := b.(int)
	if aInt && bInt {
		switch op {
		case "+":
			return ai + bi, true
		case "-":
			return ai - bi, true
		case "*":
			return ai * bi, true
		case "%":
			if bi == 0 {
				return nil, false
			}
			return ai % bi, true
		}
	}
	x, _ := walkNum(a)
	y, _ := walkNum(b)
	switch op {
	case "+":
		return x + y, true
	case "-":
		return x - y, true
	case "*":
		return x * y, true
	case "/":
		return x / y, true
	}
	unsupported("%s on %T and %T", op, a, b)
	return nil, false
}

func (w *walker) call(x *ast.CallNode) wv {
	if m, ok := x.Callee.(*ast.MemberNode); ok {
		if id, ok := m.Node.(*ast.IdentifierNode); ok && id.Value == "now" {
			name, _ := m.Property.(*ast.StringNode)
			switch {
			case name == nil:
			case name.Value == "Year":
				return kv(w.at.date.y)
			case name.Value == "Day":
				return kv(w.at.date.d)
			}
		}
		unsupported("a method call")
	}
	id, ok := x.Callee.(*ast.IdentifierNode)
	if !ok {
		unsupported("a call")
	}
	var ds []civil
	for _, a := range x.Arguments {
		v := w.eval(a)
		if !v.ok {
			return v
		}
		d, ok := civilOf(v.v)
		if !ok {
			// Not a date: name the field that holds it, if one does.
			if p := w.pathOf(a); p != "" {
				return absentAt(p)
			}
			return wv{}
		}
		ds = append(ds, d)
	}
	switch id.Value {
	case "age":
		return kv(years(monthsBetween(ds[0], w.at.date)))
	case "months_since":
		return kv(monthsBetween(ds[0], w.at.date))
	case "days_since":
		return kv(w.at.date.days() - ds[0].days())
	case "months_between":
		return kv(monthsBetween(ds[0], ds[1]))
	case "year":
		return kv(ds[0].y)
	}
	unsupported("function %s", id.Value)
	return wv{}
}

// each evaluates a predicate body on every element, until it returns false.
func (w *walker) each(list []any, body ast.Node, f func(el any, v wv) bool) {
	for _, el := range list {
		w.elems = append(w.elems, el)
		v := w.eval(body)
		w.elems = w.elems[:len(w.elems)-1]
		if !f(el, v) {
			return
		}
	}
}

func (w *walker) builtin(x *ast.BuiltinNode) wv {
	coll := w.eval(x.Arguments[0])
	if !coll.ok {
		return coll
	}
	switch x.Name {
	case "len":
		switch c := coll.v.(type) {
		case []any:
			return kv(len(c))
		case string:
			return kv(utf8.RuneCountInString(c))
		}
	case "upper":
		return kv(strings.ToUpper(coll.v.(string)))
	case "lower":
		return kv(strings.ToLower(coll.v.(string)))
	}
	list, ok := coll.v.([]any)
	if ok && (x.Name == "first" || x.Name == "last") {
		switch {
		case len(list) == 0:
			if p := w.pathOf(x.Arguments[0]); p != "" {
				return absentAt(p + "[0]")
			}
			return wv{}
		case x.Name == "first":
			return kv(list[0])
		}
		return kv(list[len(list)-1])
	}
	if !ok || len(x.Arguments) != 2 {
		unsupported("builtin %s", x.Name)
	}
	body := x.Arguments[1].(*ast.PredicateNode).Node
	var unknowns []wv
	var out []any
	switch x.Name {
	case "any", "all", "none", "one":
		trues, falses := 0, 0
		w.each(list, body, func(_ any, v wv) bool {
			switch v.tri() {
			case 2:
				trues++
			case 1:
				unknowns = append(unknowns, v)
			default:
				falses++
			}
			switch x.Name {
			case "any", "none":
				return trues == 0
			case "all":
				return falses == 0
			}
			return trues < 2
		})
		f := qframe{op: quantifierCodes[x.Name], trues: trues, falses: falses, unknowns: len(unknowns)}
		switch f.verdict() {
		case 1:
			return unknownOf(unknowns...)
		case 2:
			return kv(true)
		}
		return kv(false)
	case "find":
		var found *wv
		w.each(list, body, func(el any, v wv) bool {
			switch v.tri() {
			case 2:
				f := kv(el)
				found = &f
				return false
			case 1:
				found = &v
				return false
			}
			return true
		})
		if found == nil {
			return wv{} // no element holds: nothing absent to name
		}
		return *found
	case "count", "filter":
		w.each(list, body, func(el any, v wv) bool {
			switch v.tri() {
			case 2:
				out = append(out, el)
			case 1:
				unknowns = append(unknowns, v)
			}
			return true
		})
		switch {
		case unknowns != nil:
			return unknownOf(unknowns...)
		case x.Name == "count":
			return kv(len(out))
		}
		return kv(out)
	case "map", "sum":
		w.each(list, body, func(_ any, v wv) bool {
			if !v.ok {
				unknowns = append(unknowns, v)
			}
			out = append(out, v.v)
			return true
		})
		if unknowns != nil {
			return unknownOf(unknowns...)
		}
		if x.Name == "map" {
			return kv(out)
		}
		isInt, si, sf := true, 0, 0.0
		for _, e := range out {
			if i, ok := e.(int); ok {
				si += i
			} else {
				isInt = false
			}
			f, _ := walkNum(e)
			sf += f
		}
		if isInt {
			return kv(si)
		}
		return kv(sf)
	}
	unsupported("builtin %s", x.Name)
	return wv{}
}
