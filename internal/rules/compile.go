package rules

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/policypush/policypush/internal/profile"
)

// maxConditions bounds a policy's conditions so that an outcome can hold
// them in one bit mask.
const maxConditions = 64

// Policy is a compiled rule. It is immutable and safe for concurrent use.
type Policy struct {
	*Rule
	conds []*program
	// all evaluates every condition in one run, recording each verdict;
	// it saves a VM run per condition.
	all *vm.Program
	// direct holds the conditions when all of them are made of leaves:
	// then they run in Go, without the VM.
	direct []*fpred
	amount *program
	// famount is the amount as one fused operand, when it can be: it is
	// computed in Go without boxing floats.
	famount *operand
	fields  []string
	// condFields are, per condition (in order), the fields it reads.
	condFields [][]string
	// temporal is set when the result can change with time alone.
	temporal   bool
	paramIndex map[string]int // name → index in the set's params vector
	index      int            // in the set's policies
	// form is what every explanation of this policy shares, and plans
	// (per condition) and amountPlan are the reads a compact explanation
	// records, in the form's order (compact.go).
	form       Form
	plans      [][]planRead
	amountPlan []planRead
}

// program is one compiled expression.
type program struct {
	spec  *ExprSpec
	prog  *vm.Program
	reads *reads
}

// Set is a compiled rule set. It loads as a whole or not at all, and it is
// immutable and safe for concurrent use.
type Set struct {
	policies []*Policy
	byID     map[string]*Policy
	lay      layouts
	// Params in force, by time segment: segment i holds from dates[i-1]
	// (inclusive) until dates[i]; segment 0 is before every date.
	dates    []time.Time
	segments [][]any
	ints     *intBox
	// marks says which fields an explanation must not show the value of.
	marks *profile.Marks
	// calendar is the rule directory's holiday calendar, nil without one.
	calendar *Calendar
}

// WithCalendar gives s the rule directory's holiday calendar, for the
// working days that officers' lists count (公示). Call it before s is
// shared.
func (s *Set) WithCalendar(c *Calendar) *Set { s.calendar = c; return s }

// Calendar is the holiday calendar s was loaded with; nil (weekdays
// only, see Calendar.WorkingDay) without one.
func (s *Set) Calendar() *Calendar { return s.calendar }

// Policies returns the policies in id order.
func (s *Set) Policies() []*Policy { return s.policies }

// Policy returns the policy with the given id, or nil.
func (s *Set) Policy(id string) *Policy { return s.byID[id] }

// Fields lists the profile fields the policy reads, as dotted paths; a
// field of an array element is written "array[].field". Later stages use it
// to re-evaluate only the policies an event touched.
func (p *Policy) Fields() []string { return p.fields }

// Temporal reports whether the policy's result can change with time alone:
// it reads now or a date helper, or one of its params changes value after
// valid_from.
func (p *Policy) Temporal() bool { return p.temporal }

// Reads reports whether the policy reads the profile field at path (dotted,
// as in a merge patch) or anything inside or around it.
func (p *Policy) Reads(path string) bool {
	for _, f := range p.fields {
		f, _, _ = strings.Cut(f, "[]")
		if f == path || strings.HasPrefix(f, path+".") || strings.HasPrefix(path, f+".") {
			return true
		}
	}
	return false
}

// Compile compiles a rule set. Every problem in every rule is reported, with
// its position, and then no set is returned.
func Compile(rules []*Rule) (*Set, error) { return compile(rules, true) }

// compile compiles a rule set; fuse turns on leaf fusion (see leaf.go),
// which tests turn off to compare against.
func compile(rules []*Rule, fuse bool) (*Set, error) {
	marks, err := profile.LoadMarks()
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	s := &Set{byID: map[string]*Policy{}, lay: newLayouts(), ints: newIntBox(-4096, 65536), marks: marks}
	var errs Errors
	firstFile := map[string]*Rule{}
	nparams := 0
	for _, r := range rules {
		if prev := firstFile[r.ID]; prev != nil {
			errs.add(r.pos["id"], "duplicate policy id %q (also in %s)", r.ID, prev.pos["id"])
			continue
		}
		firstFile[r.ID] = r
		p, perrs := compilePolicy(r, s.lay.of(r.Subject), nparams, fuse)
		errs = append(errs, perrs...)
		if p != nil {
			nparams += len(r.Params)
			s.policies = append(s.policies, p)
			s.byID[r.ID] = p
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	sort.Slice(s.policies, func(i, j int) bool { return s.policies[i].ID < s.policies[j].ID })
	for i, p := range s.policies {
		p.index = i
	}
	s.buildSegments(nparams)
	return s, nil
}

// buildSegments precomputes the params vector for every span of time in
// which no param changes, so that evaluation picks one by binary search.
func (s *Set) buildSegments(n int) {
	seen := map[time.Time]bool{}
	for _, p := range s.policies {
		for _, pr := range p.Params {
			for _, v := range pr.Values {
				if !seen[v.From] {
					seen[v.From] = true
					s.dates = append(s.dates, v.From)
				}
			}
		}
	}
	sort.Slice(s.dates, func(i, j int) bool { return s.dates[i].Before(s.dates[j]) })
	for seg := 0; seg <= len(s.dates); seg++ {
		vec := make([]any, n)
		for _, p := range s.policies {
			for _, pr := range p.Params {
				idx := p.paramIndex[pr.Name]
				for _, v := range pr.Values {
					if seg > 0 && !v.From.After(s.dates[seg-1]) {
						vec[idx] = v.Value
					}
				}
			}
		}
		s.segments = append(s.segments, vec)
	}
}

func compilePolicy(r *Rule, lay *layout, paramBase int, fuse bool) (*Policy, Errors) {
	p := &Policy{Rule: r, paramIndex: map[string]int{}}
	for i, pr := range r.Params {
		p.paramIndex[pr.Name] = paramBase + i
	}
	env := newCheckEnv(lay, r.Params)
	var f *fuser
	if fuse {
		f = &fuser{lay: lay, params: paramTypes(p.paramIndex, env)}
	}
	var errs Errors
	for i, c := range r.Conditions {
		prog, err := compileExpr(c, i, lay, env, p.paramIndex, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.conds = append(p.conds, prog)
	}
	if r.Amount != nil {
		prog, err := compileExpr(r.Amount, -1, lay, env, p.paramIndex, f)
		if err != nil {
			errs = append(errs, err)
		} else {
			p.amount = prog
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	all, err := compileAll(r.Conditions, lay, env, p.paramIndex, f)
	if err != nil {
		return nil, Errors{{Pos: r.pos["conditions"], Msg: "internal error compiling the conditions together: " + err.Error()}}
	}
	p.all = all
	if f != nil {
		p.direct = directConditions(r.Conditions, lay, p.paramIndex, f)
		if r.Amount != nil {
			if tree, _, err := runtimeTree(r.Amount.Expr, lay, p.paramIndex, f); err == nil {
				p.famount = f.amountOf(tree.Node)
			}
		}
	}
	p.indexFields(lay)
	p.newForm(lay)
	return p, nil
}

// indexFields computes the fields the policy reads and whether it is temporal.
func (p *Policy) indexFields(lay *layout) {
	set := map[string]bool{}
	progs := append([]*program(nil), p.conds...)
	if p.amount != nil {
		progs = append(progs, p.amount)
	}
	for _, pr := range progs {
		for slot := range pr.reads.slots {
			set[lay.slots[slot].path] = true
		}
		for e := range pr.reads.elems {
			set[e] = true
			arr, _, _ := strings.Cut(e, "[]")
			set[arr] = true
		}
		if pr.reads.now {
			p.temporal = true
		}
	}
	for _, pr := range p.Params {
		if len(pr.Values) > 1 {
			p.temporal = true
		}
	}
	for f := range set {
		p.fields = append(p.fields, f)
	}
	sort.Strings(p.fields)
	p.condFields = make([][]string, len(p.conds))
	for i, pr := range p.conds {
		p.condFields[i] = programFields(pr, lay)
	}
}

// checkEnv is the typed environment a policy's expressions are checked
// against: the profile with the field types of CONTRACTS.md §2, now, the
// policy's params, and the date helpers.
type checkEnv struct {
	zero   any
	params map[string]reflect.Type
	names  map[string]string // Go type string → a name an officer knows
	// fields lists, by that name, the fields an object has, for "did you
	// mean" hints.
	fields map[string][]string
	lay    *layout
}

func newCheckEnv(lay *layout, params []*Param) *checkEnv {
	ce := &checkEnv{names: map[string]string{}, fields: map[string][]string{}, lay: lay, params: map[string]reflect.Type{}}
	var name func(f *field, n string)
	name = func(f *field, n string) {
		switch f.kind {
		case objectField:
			ce.names[checkType(f).String()] = n
			for _, c := range f.order {
				ce.fields[n] = append(ce.fields[n], c.name)
				name(c, n+"."+c.name)
			}
		case arrayField:
			if f.elem.kind == objectField {
				name(f.elem, n+"[] element")
			}
		}
	}
	name(lay.root, string(lay.kind))
	pfields := make([]reflect.StructField, 0, len(params))
	for i, p := range params {
		ce.params[p.Name] = paramType(p)
		ce.fields["params"] = append(ce.fields["params"], p.Name)
		pfields = append(pfields, reflect.StructField{
			Name: fmt.Sprintf("P%d", i), Type: paramType(p), Tag: reflect.StructTag(fmt.Sprintf(`expr:"%s"`, p.Name)),
		})
	}
	ptype := reflect.StructOf(pfields)
	ce.names[ptype.String()] = "params"
	str, num := reflect.TypeOf(""), reflect.TypeOf(0)
	fields := []reflect.StructField{
		{Name: "Profile", Type: checkType(lay.root), Tag: reflect.StructTag(fmt.Sprintf(`expr:"%s"`, lay.kind))},
		{Name: "Now", Type: reflect.TypeOf(time.Time{}), Tag: `expr:"now"`},
		{Name: "Params", Type: ptype, Tag: `expr:"params"`},
		{Name: "Age", Type: reflect.FuncOf([]reflect.Type{str}, []reflect.Type{num}, false), Tag: `expr:"age"`},
		{Name: "MonthsSince", Type: reflect.FuncOf([]reflect.Type{str}, []reflect.Type{num}, false), Tag: `expr:"months_since"`},
		{Name: "DaysSince", Type: reflect.FuncOf([]reflect.Type{str}, []reflect.Type{num}, false), Tag: `expr:"days_since"`},
		{Name: "MonthsBetween", Type: reflect.FuncOf([]reflect.Type{str, str}, []reflect.Type{num}, false), Tag: `expr:"months_between"`},
		{Name: "Year", Type: reflect.FuncOf([]reflect.Type{str}, []reflect.Type{num}, false), Tag: `expr:"year"`},
	}
	ce.zero = reflect.New(reflect.StructOf(fields)).Elem().Interface()
	return ce
}

func paramType(p *Param) reflect.Type {
	switch v := p.Values[0].Value.(type) {
	case []any:
		if len(v) == 0 {
			return reflect.TypeOf([]any{})
		}
		return reflect.SliceOf(reflect.TypeOf(v[0]))
	default:
		return reflect.TypeOf(v)
	}
}

var structType = regexp.MustCompile(`struct \{[^{}]*(\{[^{}]*\}[^{}]*)*\}`)

// message makes an expr message readable by an officer: generated struct
// types are replaced by the names of the objects they stand for.
func (ce *checkEnv) message(m string) string {
	// Longest first, since nested struct types appear inside outer ones.
	keys := make([]string, 0, len(ce.names))
	for k := range ce.names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		m = strings.ReplaceAll(m, k, ce.names[k])
	}
	m = strings.TrimSpace(structType.ReplaceAllString(m, "object"))
	if sm := noField.FindStringSubmatch(m); sm != nil {
		m = fmt.Sprintf("%s has no field %q", sm[1], sm[2])
		if s := closest(sm[2], ce.fields[sm[1]]); s != "" {
			m += fmt.Sprintf("; did you mean %q?", s)
		}
	}
	if sm := unknownName.FindStringSubmatch(m); sm != nil {
		names := []string{string(ce.lay.kind), "now", "params"}
		for h := range helpers {
			names = append(names, h)
		}
		if s := closest(sm[1], names); s != "" {
			m += fmt.Sprintf("; did you mean %q?", s)
		}
	}
	if sm := notBool.FindStringSubmatch(m); sm != nil {
		m = fmt.Sprintf("a condition must be true or false, but this is a %s", sm[1])
	}
	return m
}

var (
	noField     = regexp.MustCompile(`^type (\S+) has no field (\S+)$`)
	unknownName = regexp.MustCompile(`^unknown name (\S+)$`)
	notBool     = regexp.MustCompile(`^expected bool, but got (\S+)$`)
)

// closest is the candidate nearest to s by edit distance, if it is near.
func closest(s string, candidates []string) string {
	best, bestD := "", min(1+len(s)/4, 3)+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// compileExpr checks spec against the typed environment, then compiles its
// run-time form.
//
// A condition's program records its verdict as condition index (see
// recordNode); the amount (index -1) returns its value.
func compileExpr(spec *ExprSpec, index int, lay *layout, env *checkEnv, params map[string]int, f *fuser) (*program, *Error) {
	isCondition := index >= 0
	fail := func(line, col int, msg string) *Error {
		what := "condition " + fmt.Sprintf("%q", spec.Name)
		if !isCondition {
			what = "amount"
		}
		return &Error{Pos: exprPos(spec, line, col), Msg: what + ": " + msg}
	}
	asFileErr := func(err error) *Error {
		var fe *file.Error
		if errors.As(err, &fe) {
			return fail(fe.Line, fe.Column, env.message(fe.Message))
		}
		return fail(1, 0, env.message(err.Error()))
	}

	// The subject check comes first: "unknown name enterprise" would hide
	// what went wrong.
	tree, err := parser.Parse(spec.Expr)
	if err != nil {
		return nil, asFileErr(err)
	}
	other := profile.KindEnterprise
	if lay.kind == profile.KindEnterprise {
		other = profile.KindResident
	}
	if n := ast.Find(tree.Node, func(n ast.Node) bool {
		id, ok := n.(*ast.IdentifierNode)
		return ok && id.Value == string(other)
	}); n != nil {
		loc := n.Location()
		e := (&file.Error{Location: loc}).Bind(tree.Source)
		return nil, fail(e.Line, e.Column, fmt.Sprintf("the policy's subject is %s, so it cannot read %s", lay.kind, other))
	}

	opts := []expr.Option{expr.Env(env.zero), expr.DisableBuiltin("now")}
	if isCondition {
		opts = append(opts, expr.AsBool(), expr.WarnOnAny())
	}
	checked, err := expr.Compile(spec.Expr, opts...)
	if err != nil {
		return nil, asFileErr(err)
	}
	if !isCondition {
		switch k := checked.Node().Type(); {
		case k == nil:
		case isNumber(k.Kind()):
		default:
			return nil, fail(1, 0, fmt.Sprintf("must be a number of 元, not %s", env.message(k.String())))
		}
	}

	tree, r, err := runtimeTree(spec.Expr, lay, params, f)
	if err != nil {
		return nil, asFileErr(err)
	}
	if isCondition {
		tree.Node = recordNode(tree.Node)
	} else {
		(&tri{}).value(&tree.Node)
	}
	prog, err := finish(tree, lay, paramTypes(params, env))
	if err != nil {
		return nil, fail(1, 0, "internal error compiling the run-time form: "+err.Error())
	}
	return &program{spec: spec, prog: prog, reads: r}, nil
}

func runtimeConfig() *conf.Config {
	config := conf.CreateNew()
	for _, op := range []expr.Option{expr.DisableBuiltin("now")} {
		op(config)
	}
	for name := range config.Disabled {
		delete(config.Builtins, name)
	}
	config.Check()
	return config
}

// runtimeTree parses src and rewrites it into its run-time form.
func runtimeTree(src string, lay *layout, params map[string]int, f *fuser) (*parser.Tree, *reads, error) {
	tree, err := parser.ParseWithConfig(src, runtimeConfig())
	if err != nil {
		return nil, nil, err
	}
	w := &rewriter{lay: lay, params: params, r: newReads(), vars: map[string]ltype{}, fuser: f}
	w.value(&tree.Node, nil, false)
	if w.err != nil {
		return nil, nil, (w.err.(*file.Error)).Bind(tree.Source)
	}
	if f != nil {
		f.fuse(&tree.Node)
	}
	return tree, w.r, nil
}

func finish(tree *parser.Tree, lay *layout, params map[int]reflect.Type) (*vm.Program, error) {
	b := &bindings{lay: lay, params: params, types: map[*ast.CallNode]reflect.Type{}, tmpl: &Evaluator{}}
	b.bind(&tree.Node)
	config := runtimeConfig()
	if _, err := checker.Check(tree, config); err != nil {
		return nil, err
	}
	if err := optimizer.Optimize(&tree.Node, config); err != nil {
		return nil, err
	}
	b.retype(&tree.Node)
	return compiler.Compile(tree, config)
}

// paramTypes maps each param's index to the Go type of its values at run
// time (lists are []any).
func paramTypes(params map[string]int, env *checkEnv) map[int]reflect.Type {
	out := map[int]reflect.Type{}
	for name, idx := range params {
		t := env.params[name]
		if t.Kind() == reflect.Slice {
			t = listType
		}
		out[idx] = t
	}
	return out
}

// compileAll builds the program that evaluates every condition in one run:
// __rec(0, c0) && __rec(1, c1) && ..., where __rec records a verdict and
// returns true.
func compileAll(conds []*ExprSpec, lay *layout, env *checkEnv, params map[string]int, f *fuser) (*vm.Program, error) {
	var all ast.Node
	var src []string
	for _, c := range conds {
		tree, _, err := runtimeTree(c.Expr, lay, params, f)
		if err != nil {
			return nil, err
		}
		src = append(src, c.Expr)
		rec := recordNode(tree.Node)
		if all == nil {
			all = rec
		} else {
			all = &ast.BinaryNode{Operator: "&&", Left: all, Right: rec}
		}
	}
	return finish(&parser.Tree{Node: all, Source: file.NewSource(strings.Join(src, "\n"))}, lay, paramTypes(params, env))
}

// directConditions returns the conditions as fpreds, or nil unless every
// one of them is made of leaves.
func directConditions(conds []*ExprSpec, lay *layout, params map[string]int, f *fuser) []*fpred {
	var out []*fpred
	for _, c := range conds {
		tree, _, err := runtimeTree(c.Expr, lay, params, f)
		if err != nil {
			return nil
		}
		p, ok := predOf(tree.Node, true)
		if !ok {
			return nil
		}
		out = append(out, p)
	}
	return out
}

func isNumber(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.Interface:
		return true
	}
	return false
}
