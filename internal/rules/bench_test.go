package rules_test

import (
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/ruledir"
	"github.com/policypush/policypush/internal/rules"
)

// catalogue loads the repository's rules and, as realistic profiles, every
// profile of their test cases.
func catalogue(b *testing.B) (*rules.Set, []*rules.Input) {
	b.Helper()
	d, err := ruledir.Read("../../rules")
	if err != nil {
		b.Fatal(err)
	}
	set, problems := d.Compile()
	if len(problems) > 0 {
		b.Fatal(problems)
	}
	v, err := profile.NewValidator()
	if err != nil {
		b.Fatal(err)
	}
	var inputs []*rules.Input
	for _, tf := range d.Tests {
		p := set.Policy(tf.Policy)
		for _, tc := range tf.Cases {
			data, err := ruledir.ReadProfile(tf, tc)
			if err != nil {
				b.Fatal(err)
			}
			subject, err := v.Decode(p.Subject, data)
			if err != nil {
				b.Fatal(err)
			}
			in, err := set.Prepare(subject)
			if err != nil {
				b.Fatal(err)
			}
			inputs = append(inputs, in)
		}
	}
	return set, inputs
}

// BenchmarkCatalogue evaluates every applicable policy of the catalogue for
// each profile; it reports conditions and profiles per second.
func BenchmarkCatalogue(b *testing.B) {
	set, inputs := catalogue(b)
	at := set.At(time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai))
	var byKind = map[profile.Kind][]*rules.Policy{}
	for _, p := range set.Policies() {
		if p.Applies(at) {
			byKind[p.Subject] = append(byKind[p.Subject], p)
		}
	}
	conds := 0
	for _, in := range inputs {
		for _, p := range byKind[in.Kind] {
			conds += len(p.Conditions)
		}
	}
	ev := set.NewEvaluator()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for _, in := range inputs {
			for _, p := range byKind[in.Kind] {
				ev.Evaluate(p, in, at)
			}
		}
	}
	perOp := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(conds)/perOp, "conditions/s")
	b.ReportMetric(float64(len(inputs))/perOp, "profiles/s")
	b.ReportMetric(perOp*1e9/float64(conds), "ns/condition")
}

// BenchmarkRawExpr is the baseline: one comparison in a plain expr program
// on a map environment, with a reused VM, as expr's own benchmarks run it.
func BenchmarkRawExpr(b *testing.B) {
	env := map[string]any{"months": 27, "min": 12}
	p, err := expr.Compile("months >= min", expr.Env(env), expr.AsBool())
	if err != nil {
		b.Fatal(err)
	}
	var m vm.VM
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Run(p, env); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(1/(b.Elapsed().Seconds()/float64(b.N)), "conditions/s")
}

// BenchmarkPolicy measures each policy of the catalogue on its kind's
// profiles, to find the expensive ones.
func BenchmarkPolicy(b *testing.B) {
	set, inputs := catalogue(b)
	at := set.At(time.Date(2026, 11, 27, 10, 0, 0, 0, rules.Shanghai))
	for _, p := range set.Policies() {
		var ins []*rules.Input
		for _, in := range inputs {
			if in.Kind == p.Subject {
				ins = append(ins, in)
			}
		}
		b.Run(p.ID, func(b *testing.B) {
			ev := set.NewEvaluator()
			b.ReportAllocs()
			for b.Loop() {
				for _, in := range ins {
					ev.Evaluate(p, in, at)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(ins)*len(p.Conditions)), "ns/condition")
		})
	}
}
