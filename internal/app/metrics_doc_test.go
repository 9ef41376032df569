package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/ingest"
)

// metricName is a name of ours, as the README's table writes it (in
// backquotes, perhaps with {labels}) and as the code registers it.
var metricName = regexp.MustCompile(`policypush_[a-z0-9_]+`)

// documentedMetrics returns the metrics the README's table under
// "### Endpoints and metrics" names in its first column.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Endpoints and metrics\n")
	if !ok {
		t.Fatal(`README.md has no "### Endpoints and metrics"`)
	}
	if i := strings.Index(section, "\n#"); i >= 0 {
		section = section[:i]
	}
	names := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`policypush_") {
			continue
		}
		for _, n := range metricName.FindAllString(cells[1], -1) {
			names[n] = true
		}
	}
	if len(names) < 10 {
		t.Fatalf("the README's metrics table names only %d metrics: is it still a table?", len(names))
	}
	return names
}

// registeredMetrics returns the name of every metric the module's code
// (tests aside) declares: the Name of every prometheus.*Opts literal and
// the first argument of every prometheus.NewDesc. A name that is not a
// string literal is reported: the test cannot read it, so it cannot
// check that it is documented.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	fset := token.NewFileSet()
	literal := func(e ast.Expr) (string, bool) {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
			s, err := strconv.Unquote(l.Value)
			return s, err == nil
		}
		return "", false
	}
	isPrometheus := func(e ast.Expr, sel func(string) bool) bool {
		s, ok := e.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		x, ok := s.X.(*ast.Ident)
		return ok && x.Name == "prometheus" && sel(s.Sel.Name)
	}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "../.." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if !isPrometheus(n.Type, func(s string) bool { return strings.HasSuffix(s, "Opts") && s != "ProcessCollectorOpts" }) {
					return true
				}
				for _, el := range n.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); !ok {
						continue
					} else if k.Name == "Namespace" || k.Name == "Subsystem" {
						t.Errorf("%s: a metric named with %s: name it whole, with a literal, so that this test can read it", fset.Position(kv.Pos()), k.Name)
					} else if k.Name == "Name" {
						if s, ok := literal(kv.Value); ok {
							names[s] = true
						} else {
							t.Errorf("%s: a metric whose Name is not a string literal: this test cannot check that it is documented", fset.Position(kv.Pos()))
						}
					}
				}
			case *ast.CallExpr:
				if isPrometheus(n.Fun, func(s string) bool { return s == "NewDesc" }) && len(n.Args) > 0 {
					if s, ok := literal(n.Args[0]); ok {
						names[s] = true
					} else {
						t.Errorf("%s: a Desc whose name is not a string literal: this test cannot check that it is documented", fset.Position(n.Pos()))
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestEveryMetricDocumented: every metric the code registers is a row of
// the README's metrics table (what it means, when to worry), and every
// row names a metric the code still registers. The funnel's gauges
// (policypush_funnel_*) were registered without a row. The names are read
// from the source, which sees a vector before its first observation; and,
// with a database and a broker, from the registry of a running service,
// which sees a name the source builds at run time.
func TestEveryMetricDocumented(t *testing.T) {
	documented := documentedMetrics(t)
	registered := registeredMetrics(t)
	for _, known := range []string{"policypush_events_consumed_total", "policypush_http_rate_limited_total", "policypush_funnel_cases"} {
		if !registered[known] {
			t.Fatalf("the source scan misses %s: it finds %v", known, slices.Sorted(maps.Keys(registered)))
		}
	}
	for n := range registered {
		if !strings.HasPrefix(n, "policypush_") {
			t.Errorf("metric %s: every metric of ours is named policypush_…", n)
		} else if !documented[n] {
			t.Errorf("metric %s is registered but not in README.md's table under \"### Endpoints and metrics\"", n)
		}
	}
	for n := range documented {
		if !registered[n] {
			t.Errorf("README.md's metrics table names %s, which no code registers", n)
		}
	}

	t.Run("running service", func(t *testing.T) {
		e := newEnv(t) // skips under -short
		s := e.start(ingest.Hooks{})
		<-s.addr
		families, err := s.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		seen := 0
		for _, f := range families {
			n := f.GetName()
			if !strings.HasPrefix(n, "policypush_") {
				continue
			}
			seen++
			if !documented[n] {
				t.Errorf("the running service exports %s, which README.md's metrics table does not name", n)
			}
		}
		if seen == 0 {
			t.Errorf("the running service exports no policypush_ metric")
		}
	})
}
