package rules

import (
	"fmt"
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"

	"github.com/policypush/policypush/internal/profile"
)

// Names the rewriter introduces. They start with "__", which no rule can
// use: the typed check rejects any name the environment does not declare.
const (
	fnGet     = "__get"  // __get(elem, k): slot k of an array element, or unknown when absent
	fnOpt     = "__opt"  // __opt(elem, k): slot k of an array element, or nil when absent
	fnRoot    = "__r"    // __r(k): root slot k, or unknown when absent
	fnRootOpt = "__ro"   // __ro(k): root slot k, or nil when absent
	fnParam   = "__pa"   // __pa(k): param k in force, or unknown when it has none
	fnRec     = "__rec"  // __rec(i, v): records condition i's verdict v
	fnRec3    = "__rec3" // __rec3(i, v): records a three-valued verdict (0 false, 1 unknown, 2 true)
	fnT3      = "__t3"   // __t3(v): a bool and what it read, as a three-valued verdict
	fnAnd3    = "__and3" // Kleene and, or, not on three-valued verdicts
	fnOr3     = "__or3"
	fnNot3    = "__not3"
	fnLeaf    = "__leaf"   // __leaf(L): a fused comparison (see leaf.go), as a bool
	fnLeafE   = "__leafE"  // __leafE(#, L): the same, reading the current element
	fnLeaf3   = "__leaf3"  // three-valued forms of the two above
	fnLeaf3E  = "__leaf3E" //
	fnMark    = "__mark"   // __mark(): the unknown flag so far, which it clears (see tri)
	fnIs      = "__is"     // __is(mark, v3): v3 as a bool, the flag restored and set when v3 is unknown
	fnCo      = "__co"     // __co(mark, v): v, or nil when it read absent data; the flag restored
	fnQBegin  = "__qb"     // __qb(list, op): starts a quantifier over list
	fnQStep   = "__qs"     // __qs(v3): one element's verdict; false stops the loop
	fnQEnd    = "__qe"     // __qe(_): the quantifier's three-valued verdict
	fnIndex   = "__ix"     // __ix(list, i): element i of a list of objects, or nil
	fnIndexS  = "__ixs"    // __ixs(list, i, kind): element i of a list of scalars, or unknown
	fnMod     = "__mod"    // __mod(a, b): a % b, or unknown when b is 0
	fnStrict  = "__strict" // __strict(v): v; it keeps expr's optimizer from turning count into any
	idEmpty   = "__empty"  // an empty list, shared so that [] does not allocate
)

// helper is a date helper: its run-time name, and whether it also
// receives today.
type helper struct {
	name       string
	needsToday bool
}

var helpers = map[string]helper{
	"age":            {"__age", true},
	"months_since":   {"__months_since", true},
	"days_since":     {"__days_since", true},
	"months_between": {"__months_between", false},
	"year":           {"__year_of", false},
}

// nowMethods are the methods of now that read as precomputed values.
var nowMethods = map[string]string{"Year": "__now_year", "Month": "__now_month", "Day": "__now_day"}

// reads records what an expression reads, for explanations and the
// dependency index.
type reads struct {
	slots  map[int]bool    // root slots
	elems  map[string]bool // "array[].field" paths read inside predicates
	params map[string]bool
	now    bool // reads now or a date helper
}

// ltype is what the rewriter knows about a node's value.
type ltype struct {
	obj   *field   // an object (root, nested, or an array element)
	space ast.Node // for obj: the node whose value is obj's slot vector; nil for root-space objects
	arr   *field   // an array
	elem  bool     // obj is an array element (its value is a []any)
}

// rewriter turns a checked expression into its run-time form: every read
// of the profile or of a param becomes a slot access that signals unknown
// when the slot is absent, and any/all/none over profile arrays become
// three-valued.
type rewriter struct {
	lay    *layout
	params map[string]int // name → index into the params vector
	r      *reads
	vars   map[string]ltype
	err    error
	fuser  *fuser // nil: no fusion
}

type predScope struct {
	elem *field // the element of the array being iterated, or nil
	arr  *field
}

func newReads() *reads {
	return &reads{slots: map[int]bool{}, elems: map[string]bool{}, params: map[string]bool{}}
}

func (w *rewriter) fail(n ast.Node, format string, args ...any) {
	if w.err == nil {
		w.err = &file.Error{Location: n.Location(), Message: fmt.Sprintf(format, args...)}
	}
}

func ident(name string) ast.Node { return &ast.IdentifierNode{Value: name} }

func call(name string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{Callee: ident(name), Arguments: args}
}

// value rewrites a node whose value is used; a whole root-space object has
// no value.
func (w *rewriter) value(n *ast.Node, sc []*predScope, opt bool) ltype {
	t := w.rewrite(n, sc, opt)
	if t.obj != nil && !t.elem {
		w.fail(*n, "read a field of %s, not the whole object", objName(w.lay, t.obj))
	}
	return t
}

func objName(l *layout, f *field) string {
	if f == l.root {
		return string(l.kind)
	}
	return string(l.kind) + "." + f.path
}

func (w *rewriter) rewrite(n *ast.Node, sc []*predScope, opt bool) ltype {
	switch x := (*n).(type) {
	case *ast.IdentifierNode:
		switch x.Value {
		case string(w.lay.kind):
			return ltype{obj: w.lay.root}
		case "params":
			w.fail(x, "read one param, such as params.NAME")
		case "now":
			w.r.now = true
		default:
			if t, ok := w.vars[x.Value]; ok {
				return t
			}
		}
	case *ast.PointerNode:
		if x.Name == "" && len(sc) > 0 {
			s := sc[len(sc)-1]
			if s.elem != nil && s.elem.kind == objectField {
				return ltype{obj: s.elem, space: x, elem: true}
			}
		}
	case *ast.ChainNode:
		// ?. changes nothing: an absent link is unknown like any absent
		// data (rules/README.md); only ?? gives it a value.
		return w.rewrite(&x.Node, sc, opt)
	case *ast.MemberNode:
		return w.member(n, x, sc, opt)
	case *ast.BinaryNode:
		defer w.simplifyBoolCompare(n)
		if x.Operator == "??" {
			// A plain field read on the left reads absent as nil, which ??
			// replaces; any other left side is handled by tri.value.
			// A list defaulted with ?? is still the profile's list.
			l := w.value(&x.Left, sc, isFieldRead(x.Left))
			w.value(&x.Right, sc, false)
			return ltype{arr: l.arr}
		}
		w.value(&x.Left, sc, opt)
		w.value(&x.Right, sc, opt)
		if x.Operator == "%" {
			// A remainder by zero is unknown, not a run-time error.
			w.replace(n, call(fnMod, x.Left, x.Right))
		}
	case *ast.UnaryNode:
		w.value(&x.Node, sc, opt)
	case *ast.ConditionalNode:
		w.value(&x.Cond, sc, opt)
		w.value(&x.Exp1, sc, opt)
		w.value(&x.Exp2, sc, opt)
	case *ast.CallNode:
		for i := range x.Arguments {
			w.value(&x.Arguments[i], sc, opt)
		}
		id, ok := x.Callee.(*ast.IdentifierNode)
		if !ok {
			if m, ok := x.Callee.(*ast.MemberNode); ok && len(x.Arguments) == 0 {
				now, isIdent := m.Node.(*ast.IdentifierNode)
				prop, isName := m.Property.(*ast.StringNode)
				if isIdent && isName && now.Value == "now" && nowMethods[prop.Value] != "" {
					w.r.now = true
					w.replace(n, ident(nowMethods[prop.Value]))
					break
				}
			}
			w.rewrite(&x.Callee, sc, opt) // another method of now
			break
		}
		if h, ok := helpers[id.Value]; ok {
			w.r.now = w.r.now || h.needsToday
			id.Value = h.name
		}
	case *ast.BuiltinNode:
		return w.builtin(n, x, sc, opt)
	case *ast.VariableDeclaratorNode:
		t := w.value(&x.Value, sc, opt)
		old, had := w.vars[x.Name]
		w.vars[x.Name] = t
		w.value(&x.Expr, sc, opt)
		if had {
			w.vars[x.Name] = old
		} else {
			delete(w.vars, x.Name)
		}
	case *ast.SequenceNode:
		for i := range x.Nodes {
			w.value(&x.Nodes[i], sc, opt)
		}
	case *ast.ArrayNode:
		if len(x.Nodes) == 0 {
			w.replace(n, ident(idEmpty))
			break
		}
		for i := range x.Nodes {
			w.value(&x.Nodes[i], sc, opt)
		}
	case *ast.MapNode:
		for i := range x.Pairs {
			w.value(&x.Pairs[i], sc, opt)
		}
	case *ast.PairNode:
		w.value(&x.Key, sc, opt)
		w.value(&x.Value, sc, opt)
	case *ast.SliceNode:
		t := w.value(&x.Node, sc, opt)
		if x.From != nil {
			w.value(&x.From, sc, opt)
		}
		if x.To != nil {
			w.value(&x.To, sc, opt)
		}
		return ltype{arr: t.arr}
	case *ast.PredicateNode:
		w.value(&x.Node, sc, opt)
	}
	return ltype{}
}

func (w *rewriter) member(n *ast.Node, x *ast.MemberNode, sc []*predScope, opt bool) ltype {
	if id, ok := x.Node.(*ast.IdentifierNode); ok && id.Value == "params" {
		if p, ok := x.Property.(*ast.StringNode); ok {
			idx, ok := w.params[p.Value]
			if !ok {
				w.fail(x, "unknown param %q", p.Value)
				return ltype{}
			}
			w.r.params[p.Value] = true
			w.replace(n, call(fnParam, &ast.IntegerNode{Value: idx}))
			return ltype{}
		}
	}
	// An element of an absent list (list[0].field ?? d) is absent too.
	_, indexed := x.Node.(*ast.MemberNode)
	base := w.rewrite(&x.Node, sc, opt && indexed)
	prop, isName := x.Property.(*ast.StringNode)
	switch {
	case base.obj != nil && isName:
		// A rule that read how a subject is reached would put a mobile or an
		// openid into explanations and previews, and would decide
		// reachability, which is the dispatcher's (CONTRACTS.md §3).
		if base.obj == w.lay.root && profile.IsSealed(prop.Value) {
			w.fail(x, "%s.%s is a contact or channel field, which a rule may not read: a rule decides eligibility, the dispatcher decides reachability (contact.*, contacts.* and channels.* are refused)",
				w.lay.kind, prop.Value)
			return ltype{}
		}
		f := base.obj.children[prop.Value]
		if f == nil {
			w.fail(x, "%s has no field %q", objName(w.lay, base.obj), prop.Value)
			return ltype{}
		}
		if f.kind == objectField {
			return ltype{obj: f, space: base.space, elem: false}
		}
		k := &ast.IntegerNode{Value: f.slot}
		switch {
		case base.space != nil:
			k.Value = elemKey(f)
			w.markElem(sc, base, f)
			if opt {
				w.replace(n, call(fnOpt, base.space, k))
			} else {
				w.replace(n, call(fnGet, base.space, k))
			}
		case opt:
			if _, seen := w.r.slots[f.slot]; !seen {
				w.r.slots[f.slot] = false // read, but only with a default
			}
			w.replace(n, call(fnRootOpt, k))
		default:
			w.r.slots[f.slot] = true
			w.replace(n, call(fnRoot, k))
		}
		if f.kind == arrayField {
			return ltype{arr: f}
		}
		return ltype{}
	case base.arr != nil && !isName:
		// An index past the end is absent data, like a missing field,
		// not a run-time error that would hide the rest of the condition.
		w.value(&x.Property, sc, false)
		if base.arr.elem.kind == objectField {
			c := call(fnIndex, x.Node, x.Property)
			w.replace(n, c)
			return ltype{obj: base.arr.elem, space: c, elem: true}
		}
		w.replace(n, call(fnIndexS, x.Node, x.Property, &ast.IntegerNode{Value: kindOf(base.arr.elem)}))
		return ltype{}
	default:
		if isName && base.obj == nil && base.arr == nil {
			return ltype{} // a method or field of something that is not the profile, such as now.Year
		}
		w.value(&x.Property, sc, opt)
		return ltype{}
	}
}

// markElem records an element field read.
func (w *rewriter) markElem(sc []*predScope, base ltype, f *field) {
	for i := len(sc) - 1; i >= 0; i-- {
		s := sc[i]
		if s.elem == base.obj {
			w.r.elems[s.arr.path+"[]."+f.path] = true
			return
		}
	}
	// An element reached by index, first(), find() and so on.
	if arr := w.arrayOf(base.obj); arr != nil {
		w.r.elems[arr.path+"[]."+f.path] = true
	}
}

func (w *rewriter) arrayOf(elem *field) *field {
	for _, f := range w.lay.slots {
		if f.kind == arrayField && f.elem == elem {
			return f
		}
	}
	return nil
}

func (w *rewriter) replace(n *ast.Node, with ast.Node) {
	with.SetLocation((*n).Location())
	*n = with
}

var predicateBuiltins = map[string]bool{
	"all": true, "none": true, "any": true, "one": true, "filter": true, "map": true, "count": true,
	"sum": true, "find": true, "findIndex": true, "findLast": true, "findLastIndex": true,
	"groupBy": true, "sortBy": true, "reduce": true,
}

func (w *rewriter) builtin(n *ast.Node, x *ast.BuiltinNode, sc []*predScope, opt bool) ltype {
	if !predicateBuiltins[x.Name] || len(x.Arguments) < 2 {
		var first ltype
		for i := range x.Arguments {
			t := w.value(&x.Arguments[i], sc, opt)
			if i == 0 {
				first = t
			}
		}
		switch x.Name {
		case "first", "last":
			if first.arr != nil && first.arr.elem.kind == objectField {
				return ltype{obj: first.arr.elem, space: x, elem: true}
			}
		case "take", "reverse", "sort", "uniq":
			return ltype{arr: first.arr}
		}
		return ltype{}
	}
	coll := w.value(&x.Arguments[0], sc, opt)
	s := &predScope{arr: coll.arr}
	if coll.arr != nil {
		s.elem = coll.arr.elem
	}
	inner := append(append([]*predScope(nil), sc...), s)
	for i := 1; i < len(x.Arguments); i++ {
		w.value(&x.Arguments[i], inner, opt)
	}
	switch x.Name {
	case "any", "all", "none", "one":
		// Otherwise tri.b3 gives the quantifier its three-valued form.
		if q, ok := w.fuser.quantifier(x); ok {
			w.replace(n, q)
		}
	case "filter":
		return ltype{arr: coll.arr}
	case "find", "findLast":
		if coll.arr != nil && coll.arr.elem.kind == objectField {
			return ltype{obj: coll.arr.elem, space: x, elem: true}
		}
	}
	return ltype{}
}

// Slot kinds, for the zero value an absent element field reads as.
const (
	kindString = iota
	kindInt
	kindFloat
	kindBool
	kindList
)

// elemKey packs an element field's slot and kind into the constant __get
// receives.
func elemKey(f *field) int { return f.slot | kindOf(f)<<16 }

func kindOf(f *field) int {
	if f.kind == arrayField {
		return kindList
	}
	switch leafType(f.leaf).Kind() {
	case reflect.Int:
		return kindInt
	case reflect.Float64:
		return kindFloat
	case reflect.Bool:
		return kindBool
	}
	return kindString
}

// leaf3 turns a fused leaf into its three-valued form.
func leaf3(n ast.Node) (ast.Node, bool) {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return nil, false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	switch {
	case !ok:
		return nil, false
	case id.Value == fnLeaf:
		return call(fnLeaf3, c.Arguments...), true
	case id.Value == fnLeafE:
		return call(fnLeaf3E, c.Arguments...), true
	}
	return nil, false
}

// simplifyBoolCompare turns "flag == true" into "flag" and "flag == false"
// into "!flag" when flag is a checked read of a boolean field: the result
// is the same, in two fewer VM steps.
func (w *rewriter) simplifyBoolCompare(n *ast.Node) {
	x, ok := (*n).(*ast.BinaryNode)
	if !ok || (x.Operator != "==" && x.Operator != "!=") {
		return
	}
	read, lit := x.Left, x.Right
	if _, isLit := read.(*ast.BoolNode); isLit {
		read, lit = lit, read
	}
	b, isLit := lit.(*ast.BoolNode)
	if !isLit || !w.isBoolRead(read) {
		return
	}
	if b.Value == (x.Operator == "==") {
		w.replace(n, read)
		return
	}
	w.replace(n, &ast.UnaryNode{Operator: "!", Node: read})
}

func (w *rewriter) isBoolRead(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	if !ok {
		return false
	}
	switch id.Value {
	case fnRoot:
		f := w.lay.slots[c.Arguments[0].(*ast.IntegerNode).Value]
		return f.kind == leafField && kindOf(f) == kindBool
	case fnGet:
		return c.Arguments[1].(*ast.IntegerNode).Value>>16 == kindBool
	}
	return false
}
