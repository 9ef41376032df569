package rules

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/profile"
)

// The differential property test: random well-typed conditions over the
// real profile types, evaluated on random partial profiles at random
// instants, by the fast evaluator and by the reference. Every verdict, the
// failed and unknown lists, the result and the amount must agree.

type gtype int

const (
	gBool gtype = iota
	gInt
	gFloat
	gString
	gDate // a string that holds a date
	gObjList
	gStrList
)

// gfield is a field a generated expression may read.
type gfield struct {
	path string // from the profile root ("hukou.is_local") or the element ("level")
	t    gtype
	elem reflect.Type // gObjList: the element struct
}

// fieldsOf lists the fields under struct type t.
func fieldsOf(t reflect.Type, prefix string) []gfield {
	var out []gfield
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		p := prefix + name
		switch ft.Kind() {
		case reflect.Struct:
			out = append(out, fieldsOf(ft, p+".")...)
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.Struct {
				out = append(out, gfield{path: p, t: gObjList, elem: ft.Elem()})
			} else {
				out = append(out, gfield{path: p, t: gStrList})
			}
		case reflect.String:
			t := gString
			if isDateName(name) {
				t = gDate
			}
			out = append(out, gfield{path: p, t: t})
		case reflect.Int:
			out = append(out, gfield{path: p, t: gInt})
		case reflect.Float64:
			out = append(out, gfield{path: p, t: gFloat})
		case reflect.Bool:
			out = append(out, gfield{path: p, t: gBool})
		}
	}
	return out
}

func isDateName(n string) bool {
	return strings.HasSuffix(n, "date") || strings.HasSuffix(n, "_on") || strings.HasSuffix(n, "_month") || n == "date"
}

var (
	strPool  = []string{"a", "b", "senior", "junior", "employed", "unemployed_registered", "x", ""}
	datePool = []string{"2024-02-29", "2025-02-28", "2025-01-31", "2025-03-31", "2025-06-28", "2025-06-01",
		"2026-11-27", "2026-11-26", "2027-06-30", "1966-11-27", "2000-02-29", "2025-12", "2026-02", "2025-02-30", "bad"}
	atPool = []string{"2024-02-28", "2024-02-29", "2025-02-28", "2025-03-01", "2025-06-01", "2025-12-31",
		"2026-02-28", "2026-03-31", "2026-11-26", "2026-11-27", "2027-02-28T23:59:00+08:00"}
)

// gen generates random expressions for one kind of profile.
type gen struct {
	r      *rand.Rand
	kind   string
	root   []gfield
	scopes [][]gfield // element fields of the enclosing object predicates; nil entry: a string list (#)
	depth  int
	vars   []string // int variables of the enclosing lets
	nvar   int
}

func newGen(r *rand.Rand, kind profile.Kind) *gen {
	var t reflect.Type = reflect.TypeOf(profile.Resident{})
	if kind == profile.KindEnterprise {
		t = reflect.TypeOf(profile.Enterprise{})
	}
	var root []gfield
	for _, f := range fieldsOf(t, "") {
		// Contact and channel fields are refused by lint.
		top, _, _ := strings.Cut(f.path, ".")
		if f.path != "person_id" && f.path != "uscc" && !profile.IsSealed(top) {
			root = append(root, f)
		}
	}
	return &gen{r: r, kind: string(kind), root: root}
}

func (g *gen) pick(t gtype) (string, bool) {
	var cands []string
	for _, f := range g.root {
		if f.t == t || (t == gString && f.t == gDate) {
			cands = append(cands, g.rootRef(f.path))
		}
	}
	if n := len(g.scopes); n > 0 && g.scopes[n-1] != nil {
		for _, f := range g.scopes[n-1] {
			if f.t == t || (t == gString && f.t == gDate) {
				for i := 0; i < 3; i++ { // prefer the element's own fields
					cands = append(cands, "."+f.path)
				}
			}
		}
	}
	if t == gInt {
		for _, v := range g.vars {
			for i := 0; i < 3; i++ {
				cands = append(cands, v)
			}
		}
	}
	if len(cands) == 0 {
		return "", false
	}
	return cands[g.r.IntN(len(cands))], true
}

// rootRef writes a path, sometimes with ?. links.
func (g *gen) rootRef(path string) string {
	parts := strings.Split(path, ".")
	var b strings.Builder
	b.WriteString(g.kind)
	for _, p := range parts {
		if g.r.IntN(6) == 0 {
			b.WriteString("?.")
		} else {
			b.WriteString(".")
		}
		b.WriteString(p)
	}
	return b.String()
}

func (g *gen) lit(t gtype) string {
	switch t {
	case gBool:
		return fmt.Sprint(g.r.IntN(2) == 0)
	case gInt:
		return fmt.Sprint(g.r.IntN(40) - 8)
	case gFloat:
		return fmt.Sprintf("%.1f", float64(g.r.IntN(400))/10-5)
	case gDate:
		return fmt.Sprintf("%q", datePool[g.r.IntN(len(datePool))])
	}
	return fmt.Sprintf("%q", strPool[g.r.IntN(len(strPool))])
}

func (g *gen) leafOr(t gtype, deep func() string) string {
	if g.depth > 3 || g.r.IntN(3) == 0 {
		if s, ok := g.pick(t); ok && g.r.IntN(4) != 0 {
			return s
		}
		return g.lit(t)
	}
	g.depth++
	defer func() { g.depth-- }()
	return deep()
}

func (g *gen) boolean() string {
	return g.leafOr(gBool, func() string {
		switch g.r.IntN(16) {
		case 0, 1:
			return fmt.Sprintf("(%s and %s)", g.boolean(), g.boolean())
		case 2, 3:
			return fmt.Sprintf("(%s or %s)", g.boolean(), g.boolean())
		case 4:
			return fmt.Sprintf("not %s", g.boolean())
		case 5, 6:
			return g.quantifier()
		case 7:
			return fmt.Sprintf("(%s ? %s : %s)", g.boolean(), g.boolean(), g.boolean())
		case 8:
			if s, ok := g.pick(gBool); ok {
				return fmt.Sprintf("(%s ?? %s)", s, g.boolean())
			}
		case 9:
			return fmt.Sprintf("(%s in %s)", g.str(), g.strList())
		case 10:
			op := []string{"==", "!=", "<", "<=", ">=", "startsWith", "endsWith", "contains"}[g.r.IntN(8)]
			return fmt.Sprintf("(%s %s %s)", g.str(), op, g.str())
		case 11:
			l, elem := g.objList()
			g.scopes = append(g.scopes, elem)
			defer func() { g.scopes = g.scopes[:len(g.scopes)-1] }()
			return fmt.Sprintf("(%s in map(%s, %s))", g.lit(gString), l, g.str())
		case 12:
			if g.r.IntN(3) == 0 {
				g.nvar++
				v := fmt.Sprintf("v%d", g.nvar)
				x, ok := g.pick(gInt) // an int, so that % accepts it
				if !ok || g.r.IntN(3) == 0 {
					x = fmt.Sprintf("(%s + %s)", g.lit(gInt), g.lit(gInt))
				}
				g.vars = append(g.vars, v)
				defer func() { g.vars = g.vars[:len(g.vars)-1] }()
				return fmt.Sprintf("(let %s = %s; %s)", v, x, g.boolean())
			}
		}
		op := []string{"==", "!=", "<", "<=", ">", ">="}[g.r.IntN(6)]
		return fmt.Sprintf("(%s %s %s)", g.number(), op, g.number())
	})
}

func (g *gen) quantifier() string {
	q := []string{"any", "all", "none", "one"}[g.r.IntN(4)]
	if g.r.IntN(4) == 0 {
		g.scopes = append(g.scopes, nil)
		defer func() { g.scopes = g.scopes[:len(g.scopes)-1] }()
		l := g.strList()
		op := []string{"==", "!=", "<"}[g.r.IntN(3)]
		return fmt.Sprintf("%s(%s, # %s %s or %s)", q, l, op, g.lit(gString), g.boolean())
	}
	l, elem := g.objList()
	g.scopes = append(g.scopes, elem)
	defer func() { g.scopes = g.scopes[:len(g.scopes)-1] }()
	return fmt.Sprintf("%s(%s, %s)", q, l, g.boolean())
}

func (g *gen) objList() (string, []gfield) {
	var lists []gfield
	for _, f := range g.root {
		if f.t == gObjList {
			lists = append(lists, f)
		}
	}
	f := lists[g.r.IntN(len(lists))]
	s := g.rootRef(f.path)
	if g.r.IntN(3) == 0 {
		s = "(" + s + " ?? [])"
	}
	return s, fieldsOf(f.elem, "")
}

func (g *gen) strList() string {
	switch g.r.IntN(4) {
	case 0:
		if s, ok := g.pick(gStrList); ok {
			return "(" + s + " ?? [])"
		}
	case 1:
		if s, ok := g.pick(gStrList); ok {
			return s
		}
	case 2:
		return "params.p_list"
	}
	n := g.r.IntN(3)
	items := make([]string, n)
	for i := range items {
		items[i] = g.lit(gString)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

func (g *gen) str() string {
	return g.leafOr(gString, func() string {
		switch g.r.IntN(8) {
		case 0:
			return "params.p_str"
		case 3:
			return fmt.Sprintf("(%s + %s)", g.str(), g.str())
		case 4:
			return fmt.Sprintf("%s(%s)", []string{"upper", "lower"}[g.r.IntN(2)], g.str())
		case 5:
			if s, ok := g.pick(gStrList); ok && g.r.IntN(2) == 0 {
				return fmt.Sprintf("%s[%d]", s, g.r.IntN(3)-1)
			}
			l, elem := g.objList()
			var fs []string
			for _, f := range elem {
				if f.t == gString || f.t == gDate {
					fs = append(fs, f.path)
				}
			}
			if len(fs) == 0 {
				break
			}
			f := fs[g.r.IntN(len(fs))]
			switch g.r.IntN(4) {
			case 0:
				return fmt.Sprintf("first(%s).%s", l, f)
			case 1:
				return fmt.Sprintf("last(%s).%s", l, f)
			case 2:
				g.scopes = append(g.scopes, elem)
				p := g.boolean()
				g.scopes = g.scopes[:len(g.scopes)-1]
				return fmt.Sprintf("find(%s, %s).%s", l, p, f)
			}
			return fmt.Sprintf("%s[%d].%s", l, g.r.IntN(2), f)
		case 1:
			if s, ok := g.pick(gString); ok {
				return fmt.Sprintf("(%s ?? %s)", s, g.lit(gString))
			}
		case 2:
			return fmt.Sprintf("(%s ? %s : %s)", g.boolean(), g.str(), g.str())
		}
		if s, ok := g.pick(gString); ok {
			return s
		}
		return g.lit(gDate)
	})
}

func (g *gen) date() string {
	if s, ok := g.pick(gDate); ok && g.r.IntN(5) != 0 {
		return s
	}
	return g.lit(gDate)
}

func (g *gen) number() string {
	if g.r.IntN(8) == 0 {
		return g.leafOr(gFloat, func() string {
			if g.r.IntN(2) == 0 {
				return fmt.Sprintf("(%s / %s)", g.number(), g.number())
			}
			return fmt.Sprintf("(%s * 1.5)", g.number())
		})
	}
	return g.leafOr(gInt, func() string {
		switch g.r.IntN(14) {
		case 0, 1:
			h := []string{"age", "months_since", "days_since", "year"}[g.r.IntN(4)]
			return fmt.Sprintf("%s(%s)", h, g.date())
		case 2:
			return fmt.Sprintf("months_between(%s, %s)", g.date(), g.date())
		case 3:
			return "params.p_int"
		case 4:
			op := []string{"+", "-", "*"}[g.r.IntN(3)]
			return fmt.Sprintf("(%s %s %s)", g.number(), op, g.number())
		case 5:
			return fmt.Sprintf("(%s ? %s : %s)", g.boolean(), g.number(), g.number())
		case 6:
			if s, ok := g.pick(gInt); ok {
				return fmt.Sprintf("(%s ?? %s)", s, g.lit(gInt))
			}
		case 7:
			l, elem := g.objList()
			g.scopes = append(g.scopes, elem)
			defer func() { g.scopes = g.scopes[:len(g.scopes)-1] }()
			return fmt.Sprintf("count(%s, %s)", l, g.boolean())
		case 8:
			if g.r.IntN(2) == 0 {
				return fmt.Sprintf("len(%s)", g.strList())
			}
			l, _ := g.objList()
			return fmt.Sprintf("len(%s)", l)
		case 9:
			return "now.Year()"
		case 10:
			switch g.r.IntN(4) {
			case 0:
				i, ok := g.pick(gInt)
				if !ok {
					i = g.lit(gInt)
				}
				return fmt.Sprintf("(%s %% %d)", i, g.r.IntN(5))
			case 1:
				return fmt.Sprintf("(-%s)", g.number())
			case 2:
				return fmt.Sprintf("len(%s)", g.str())
			}
			l, elem := g.objList()
			g.scopes = append(g.scopes, elem)
			defer func() { g.scopes = g.scopes[:len(g.scopes)-1] }()
			return fmt.Sprintf("len(filter(%s, %s))", l, g.boolean())
		case 11:
			l, elem := g.objList()
			g.scopes = append(g.scopes, elem)
			defer func() { g.scopes = g.scopes[:len(g.scopes)-1] }()
			return fmt.Sprintf("sum(%s, %s)", l, g.number())
		}
		if s, ok := g.pick(gInt); ok {
			return s
		}
		return g.lit(gInt)
	})
}

// genProfile fills a profile struct at random: each field absent, or
// present with a value near the literals the generator writes.
func genProfile(r *rand.Rand, v reflect.Value, name string) {
	switch v.Kind() {
	case reflect.Pointer:
		if r.IntN(4) == 0 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		genProfile(r, v.Elem(), name)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			n, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			genProfile(r, v.Field(i), n)
		}
	case reflect.Slice:
		switch r.IntN(5) {
		case 0:
			return // absent
		case 1:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		n := 1 + r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			genProfile(r, s.Index(i), name)
		}
		v.Set(s)
	case reflect.String:
		if isDateName(name) {
			v.SetString(datePool[r.IntN(len(datePool))])
		} else {
			v.SetString(strPool[r.IntN(len(strPool))])
		}
	case reflect.Int:
		v.SetInt(int64(r.IntN(40) - 8))
	case reflect.Float64:
		v.SetFloat(float64(r.IntN(400))/10 - 5)
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	}
}

const diffParams = "  p_int: {2020-01-01: 12, 2026-01-01: 6}\n  p_str: {2020-01-01: senior}\n  p_list: {2020-01-01: [a, senior]}\n"

// diffBatch is one generated policy: nconds conditions and an amount.
type diffBatch struct {
	kind   profile.Kind
	conds  []string
	amount string
	set    *Set
	ev     *Evaluator
	vm     *Evaluator // the same policy compiled without leaf fusion, or nil
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func newDiffBatch(t testing.TB, r *rand.Rand, nconds int) *diffBatch {
	kind := profile.KindResident
	if r.IntN(3) == 0 {
		kind = profile.KindEnterprise
	}
	g := newGen(r, kind)
	b := &diffBatch{kind: kind, amount: g.number()}
	for i := 0; i < nconds; i++ {
		b.conds = append(b.conds, g.boolean())
	}
	quoted := make([]string, len(b.conds))
	for i, c := range b.conds {
		quoted[i] = yamlQuote(c)
	}
	b.set = mustSet(t, policyYAML(string(kind), diffParams, yamlQuote(b.amount), quoted...))
	// A second policy with one condition that always holds, so that the
	// amount is computed every time.
	b.ev = b.set.NewEvaluator()
	if r.IntN(4) == 0 {
		// Every condition in the VM too, so that the rewritten programs are
		// held to the reference, not only the fused leaves.
		rule, err := ParseRule("t.yaml", []byte(policyYAML(string(kind), diffParams, yamlQuote(b.amount), quoted...)))
		if err != nil {
			t.Fatal(err)
		}
		vmSet, err := compile([]*Rule{rule}, false)
		if err != nil {
			t.Fatal(err)
		}
		b.vm = vmSet.NewEvaluator()
	}
	return b
}

// check evaluates the batch on one random profile at one random instant.
func (b *diffBatch) check(t testing.TB, r *rand.Rand) int {
	var p any = &profile.Resident{PersonID: "p"}
	if b.kind == profile.KindEnterprise {
		p = &profile.Enterprise{USCC: "e"}
	}
	genProfile(r, reflect.ValueOf(p).Elem(), "")
	when, err := ParseTime(atPool[r.IntN(len(atPool))])
	if err != nil {
		t.Fatal(err)
	}
	in, err := b.set.Prepare(p)
	if err != nil {
		t.Fatal(err)
	}
	pol := b.set.Policy("t")
	inst := b.set.At(when)
	o := b.ev.Evaluate(pol, in, inst)
	env := &refEnv{kind: string(b.kind), root: robj{reflect.ValueOf(p).Elem()}, now: inst.Now,
		params: map[string]any{}}
	for _, pr := range pol.Params {
		for _, v := range pr.Values {
			if !v.From.After(inst.Now) {
				env.params[pr.Name] = v.Value
			}
		}
	}
	var failed, unknown uint64
	for i, c := range b.conds {
		v, err := refCondition(c, env)
		if err != nil {
			t.Fatalf("reference on %s: %v", c, err)
		}
		switch v {
		case triFalse:
			failed |= 1 << i
		case triUnknown:
			unknown |= 1 << i
		}
		if got := verdictOf(o, i); got != v.verdict() {
			t.Fatalf("condition %s\nprofile %s\nat %s: engine %s, reference %s", c, jsonOf(p), inst.Now.Format(time.RFC3339), got, v.verdict())
		}
		if r.IntN(16) == 0 {
			// The explanation's walk gives the same verdict.
			missing, wv, err := b.ev.missingFields(pol, c, in, inst)
			if err != nil {
				t.Fatalf("explaining %s: %v", c, err)
			}
			if wv != v.verdict() || (wv != VerdictUnknown && missing != nil) {
				t.Fatalf("condition %s\nprofile %s\nat %s: explanation %s %v, reference %s", c, jsonOf(p), inst.Now.Format(time.RFC3339), wv, missing, v.verdict())
			}
		}
	}
	if o.Failed != failed || o.Unknown != unknown {
		t.Fatalf("failed/unknown masks differ")
	}
	if b.vm != nil {
		vp := b.vm.set.Policy("t")
		vin, err := b.vm.set.Prepare(p)
		if err != nil {
			t.Fatal(err)
		}
		vo := b.vm.Evaluate(vp, vin, b.vm.set.At(when))
		for i, c := range b.conds {
			if verdictOf(vo, i) != verdictOf(o, i) {
				t.Fatalf("condition %s\nprofile %s\nat %s: VM without fusion %s, reference %s", c, jsonOf(p), inst.Now.Format(time.RFC3339), verdictOf(vo, i), verdictOf(o, i))
			}
		}
		va, vhas := b.vm.amountOf(vp, vin, b.vm.set.At(when))
		fa, fhas := b.ev.amountOf(pol, in, inst)
		if va != fa || vhas != fhas {
			t.Fatalf("amount %s: VM without fusion %v/%v, fused %v/%v", b.amount, va, vhas, fa, fhas)
		}
	}
	want := Eligible
	switch {
	case failed != 0:
		want = Ineligible
	case unknown != 0:
		want = Unknown
	}
	if o.Result != want {
		t.Fatalf("result %s, reference %s", o.Result, want)
	}
	// The amount, as if the policy were eligible.
	am, hasAm := b.ev.amountOf(pol, in, inst)
	ra, err := refEval(b.amount, env)
	if err != nil {
		t.Fatalf("reference on amount %s: %v", b.amount, err)
	}
	rhas := ra.ok && !math.IsNaN(num(ra.v)) && !math.IsInf(num(ra.v), 0)
	if hasAm != rhas || (rhas && am != num(ra.v)) {
		t.Fatalf("amount %s\nprofile %s\nat %s: engine %v/%v, reference %v/%v", b.amount, jsonOf(p), inst.Now.Format(time.RFC3339), am, hasAm, ra.v, rhas)
	}
	return len(b.conds) + 1
}

func verdictOf(o Outcome, i int) Verdict {
	switch {
	case o.Failed&(1<<i) != 0:
		return False
	case o.Unknown&(1<<i) != 0:
		return VerdictUnknown
	}
	return True
}

// diffCases is how many cases TestEngineMatchesReference checks: a
// million in a plain run, fewer under the race detector (ten times
// slower) and with -short.
func diffCases() int {
	switch {
	case testing.Short():
		return 20_000
	case raceEnabled:
		return 150_000
	}
	return 1_000_000
}

// diffSeed repeats a run of TestEngineMatchesReference: each run draws a
// new seed, so that runs add up to more cases, and logs it.
var diffSeed = flag.Uint64("diff.seed", 0, "seed for TestEngineMatchesReference (0: a new one)")

func TestEngineMatchesReference(t *testing.T) {
	seed := *diffSeed
	if seed == 0 {
		seed = rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano()))).Uint64()
	}
	r := rand.New(rand.NewPCG(11, seed))
	t.Logf("seed %d (repeat with go test -run TestEngineMatchesReference -args -diff.seed %d)", seed, seed)
	want, n, exprs := diffCases(), 0, 0
	for n < want {
		b := newDiffBatch(t, r, 32)
		exprs += len(b.conds) + 1
		for j := 0; j < 150 && n < want; j++ {
			n += b.check(t, r)
		}
	}
	t.Logf("%d cases over %d random expressions agree", n, exprs)
}

func FuzzEngineMatchesReference(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(11), uint64(49))
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		r := rand.New(rand.NewPCG(s1, s2))
		b := newDiffBatch(t, r, 4)
		for j := 0; j < 20; j++ {
			b.check(t, r)
		}
	})
}

// amountOf computes p's amount whatever the conditions' verdicts.
func (e *Evaluator) amountOf(p *Policy, in *Input, at *Instant) (float64, bool) {
	e.bind(in, at)
	b := &e.bound[p.index]
	if b.amount == nil {
		return 0, false
	}
	v, ok := e.run(b.amount)
	if !ok {
		return 0, false
	}
	return toFloat(v)
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
