package citizenweb

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOneHotline: the hotline is one constant, Hotline. No other Go file
// of the module (tests aside) writes the number as a string of its own,
// so that changing it changes every page and message at once; the notice
// page and the consultations each used to keep a copy.
func TestOneHotline(t *testing.T) {
	self, err := filepath.Abs("citizenweb.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files int
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != "../.." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		if abs, _ := filepath.Abs(path); abs == self {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && strings.Contains(s, Hotline) && !strings.Contains(s, "掌上"+Hotline) {
				t.Errorf("%s: %s writes the hotline itself; use citizenweb.Hotline", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read only %d Go files: is the walk at the module's root?", files)
	}
}
