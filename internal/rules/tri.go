package rules

import (
	"fmt"

	"github.com/expr-lang/expr/ast"
)

// tri gives a rewritten, fused tree its three-valued run-time form, the
// semantics table of rules/README.md.
//
// Values are strict: a read of absent data sets the evaluator's unknown
// flag and yields a zero value, so an arithmetic, comparison or string
// result that used it is unknown. Booleans are three-valued (0 false,
// 1 unknown, 2 true) wherever Kleene's logic can decide what strictness
// cannot: and, or, not, the ternary's condition, ?? and the quantifiers.
//
// b3 produces the three-valued form of a boolean node. It relies on the
// flag being clear when it starts, and leaves it clear: each atom (a
// comparison or a read) turns the flag into its verdict and clears it
// (__t3). value rewrites a value; a boolean inside it is computed by b3
// between __mark, which saves and clears the flag, and __is, which
// restores it, set when the boolean is unknown.
type tri struct{ nvar int }

// recordNode wraps a condition so that running it records its verdict.
func recordNode(n ast.Node) ast.Node {
	k := &tri{}
	v3 := k.b3(n)
	if c, ok := v3.(*ast.CallNode); ok {
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == fnT3 {
			// An atom: rec reads the unknown flag itself, one call fewer.
			return call(fnRec, c.Arguments[0])
		}
	}
	return call(fnRec3, v3)
}

// Quantifier codes for __qb.
const (
	qAny = iota
	qAll
	qNone
	qOne
)

var quantifierCodes = map[string]int{"any": qAny, "all": qAll, "none": qNone, "one": qOne}

// predicateValues are builtins whose predicate decides which elements
// count: an unknown predicate makes the result unknown.
var predicateValues = map[string]bool{"count": true, "filter": true, "find": true, "findIndex": true,
	"findLast": true, "findLastIndex": true}

func (k *tri) b3(n ast.Node) ast.Node {
	if p, ok := predOf(n, false); ok && p.op != "leaf" {
		// and, or and not over fused leaves: one Go call, in Kleene's
		// logic, instead of a let and a ternary per connective.
		l := &leaf{p: p, elem: p.readsElem()}
		if l.elem {
			return call(fnLeaf3E, &ast.PointerNode{}, &ast.ConstantNode{Value: l})
		}
		return call(fnLeaf3, &ast.ConstantNode{Value: l})
	}
	switch x := n.(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "and", "&&":
			return k.shortCircuit(fnAnd3, 0, x)
		case "or", "||":
			return k.shortCircuit(fnOr3, 2, x)
		case "??":
			if !isOptRead(x.Left) {
				// let v = L; v == unknown ? R : v
				return k.let(k.b3(x.Left), func(v string) ast.Node {
					return cond(eqInt(v, 1), k.b3(x.Right), ident(v))
				})
			}
		}
	case *ast.UnaryNode:
		if x.Operator == "not" || x.Operator == "!" {
			return call(fnNot3, k.b3(x.Node))
		}
	case *ast.ConditionalNode:
		// let c = C; c == true ? A : (c == false ? B : unknown)
		return k.let(k.b3(x.Cond), func(c string) ast.Node {
			return cond(eqInt(c, 2), k.b3(x.Exp1), cond(eqInt(c, 0), k.b3(x.Exp2), &ast.IntegerNode{Value: 1}))
		})
	case *ast.BuiltinNode:
		if op, ok := quantifierCodes[x.Name]; ok && len(x.Arguments) == 2 {
			// __qe(all(__qb(L, op), __qs(P))): all only drives the loop.
			k.value(&x.Arguments[0])
			p := x.Arguments[1].(*ast.PredicateNode)
			p.Node = call(fnQStep, k.b3(p.Node))
			loop := &ast.BuiltinNode{Name: "all", Arguments: []ast.Node{call(fnQBegin, x.Arguments[0], &ast.IntegerNode{Value: op}), p}}
			return call(fnQEnd, loop)
		}
	case *ast.CallNode:
		if l, ok := leaf3(x); ok {
			return l
		}
	}
	k.value(&n)
	return call(fnT3, n)
}

func (k *tri) value(n *ast.Node) {
	switch x := (*n).(type) {
	case *ast.BinaryNode:
		switch x.Operator {
		case "and", "&&", "or", "||":
			*n = k.is(k.b3(x))
			return
		case "??":
			k.value(&x.Left)
			k.value(&x.Right)
			if !isOptRead(x.Left) {
				x.Left = call(fnCo, call(fnMark), x.Left)
			}
			return
		}
		k.value(&x.Left)
		k.value(&x.Right)
	case *ast.UnaryNode:
		if x.Operator == "not" || x.Operator == "!" {
			*n = k.is(k.b3(x))
			return
		}
		k.value(&x.Node)
	case *ast.ConditionalNode:
		x.Cond = k.is(k.b3(x.Cond))
		k.value(&x.Exp1)
		k.value(&x.Exp2)
	case *ast.BuiltinNode:
		if _, ok := quantifierCodes[x.Name]; ok && len(x.Arguments) == 2 {
			*n = k.is(k.b3(x))
			return
		}
		if predicateValues[x.Name] && len(x.Arguments) == 2 {
			k.value(&x.Arguments[0])
			p := x.Arguments[1].(*ast.PredicateNode)
			p.Node = k.is(k.b3(p.Node))
			if x.Name == "count" || x.Name == "filter" {
				// count(L, P) > 0 would become any(L, P), which stops at
				// the first true and so misses a later unknown.
				*n = call(fnStrict, x)
			}
			return
		}
		for i := range x.Arguments {
			k.value(&x.Arguments[i])
		}
	case *ast.PredicateNode:
		k.value(&x.Node)
	case *ast.CallNode:
		for i := range x.Arguments {
			k.value(&x.Arguments[i])
		}
	case *ast.MemberNode:
		k.value(&x.Node)
		k.value(&x.Property)
	case *ast.ChainNode:
		k.value(&x.Node)
	case *ast.VariableDeclaratorNode:
		k.value(&x.Value)
		k.value(&x.Expr)
	case *ast.SequenceNode:
		for i := range x.Nodes {
			k.value(&x.Nodes[i])
		}
	case *ast.ArrayNode:
		for i := range x.Nodes {
			k.value(&x.Nodes[i])
		}
	case *ast.MapNode:
		for i := range x.Pairs {
			k.value(&x.Pairs[i])
		}
	case *ast.PairNode:
		k.value(&x.Key)
		k.value(&x.Value)
	case *ast.SliceNode:
		k.value(&x.Node)
		if x.From != nil {
			k.value(&x.From)
		}
		if x.To != nil {
			k.value(&x.To)
		}
	}
}

// is computes a three-valued form inside a value, as a bool.
func (k *tri) is(v3 ast.Node) ast.Node {
	if c, ok := v3.(*ast.CallNode); ok {
		// A fused leaf as a bool sets the flag itself when it is unknown:
		// one call instead of three.
		if id, ok := c.Callee.(*ast.IdentifierNode); ok && (id.Value == fnLeaf3 || id.Value == fnLeaf3E) {
			name := fnLeaf
			if id.Value == fnLeaf3E {
				name = fnLeafE
			}
			return call(name, c.Arguments...)
		}
	}
	return call(fnIs, call(fnMark), v3)
}

// let is: let v = value; body(v).
func (k *tri) let(value ast.Node, body func(v string) ast.Node) ast.Node {
	k.nvar++
	v := fmt.Sprintf("__k%d", k.nvar)
	return &ast.VariableDeclaratorNode{Name: v, Value: value, Expr: body(v)}
}

// shortCircuit is: let l = L; l == decisive ? decisive : combine(l, R).
// The right side is skipped when the left one decides: a known false for
// and, a known true for or.
func (k *tri) shortCircuit(combine string, decisive int, x *ast.BinaryNode) ast.Node {
	return k.let(k.b3(x.Left), func(v string) ast.Node {
		return cond(eqInt(v, decisive), &ast.IntegerNode{Value: decisive}, call(combine, ident(v), k.b3(x.Right)))
	})
}

func cond(c, a, b ast.Node) ast.Node {
	return &ast.ConditionalNode{Ternary: true, Cond: c, Exp1: a, Exp2: b}
}

func eqInt(v string, i int) ast.Node {
	return &ast.BinaryNode{Operator: "==", Left: ident(v), Right: &ast.IntegerNode{Value: i}}
}

// isOptRead reports whether n is a rewritten field read that yields nil
// for absent data, which ?? itself can default.
func isOptRead(n ast.Node) bool {
	c, ok := n.(*ast.CallNode)
	if !ok {
		return false
	}
	id, ok := c.Callee.(*ast.IdentifierNode)
	return ok && (id.Value == fnRootOpt || id.Value == fnOpt)
}

// isFieldRead reports whether n, as written, reads one field: a.b or a?.b.
func isFieldRead(n ast.Node) bool {
	if c, ok := n.(*ast.ChainNode); ok {
		n = c.Node
	}
	m, ok := n.(*ast.MemberNode)
	if !ok {
		return false
	}
	_, isName := m.Property.(*ast.StringNode)
	return isName
}
