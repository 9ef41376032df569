// Package ruledir reads a directory of rule files and their test files
// (<id>_test.yaml) from disk. It is the I/O edge of package rules, which
// does none.
package ruledir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/policypush/policypush/internal/rules"
)

// Dir is what a directory holds. Problems holds every problem found in
// every file; the files that parsed are still returned, so that linting
// reports problems of all files at once.
type Dir struct {
	Rules []*rules.Rule
	Tests []*rules.TestFile
	// Calendar is the directory's rules.CalendarFile, nil when it has
	// none: the holidays by which a consultation's working days are
	// counted.
	Calendar *rules.Calendar
	Problems rules.Errors
}

// IsTestFile reports whether name is a test file rather than a rule file.
func IsTestFile(name string) bool {
	return strings.HasSuffix(name, "_test.yaml") || strings.HasSuffix(name, "_test.yml")
}

// Read parses every *.yaml and *.yml file under dir. An error is returned
// only when the directory cannot be read; problems in files are in Dir.
func Read(dir string) (*Dir, error) { return ReadWith(dir, rules.ParseOptions{}) }

// ReadWith is Read checking the rules against o.
func ReadWith(dir string, o rules.ParseOptions) (*Dir, error) {
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			names = append(names, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rules directory: %w", err)
	}
	sort.Strings(names)
	d := &Dir{}
	calendar := filepath.Join(dir, rules.CalendarFile)
	for _, name := range names {
		if filepath.Clean(name) == calendar {
			data, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("read holiday calendar: %w", err)
			}
			cal, err := rules.ParseCalendar(name, data)
			d.collect(err)
			d.Calendar = cal
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read rule file: %w", err)
		}
		if IsTestFile(name) {
			tf, err := rules.ParseTestFile(name, data)
			d.collect(err)
			if tf != nil {
				d.Tests = append(d.Tests, tf)
			}
			continue
		}
		r, err := rules.ParseRuleWith(name, data, o)
		d.collect(err)
		if r != nil {
			d.Rules = append(d.Rules, r)
		}
	}
	d.Problems = append(d.Problems, rules.CheckConsultations(d.Rules, d.Calendar)...)
	return d, nil
}

func (d *Dir) collect(err error) {
	if err == nil {
		return
	}
	var es rules.Errors
	if errors.As(err, &es) {
		d.Problems = append(d.Problems, es...)
		return
	}
	d.Problems = append(d.Problems, &rules.Error{Msg: err.Error()})
}

// Compile compiles the rules that parsed. Together with the parse problems
// this reports every problem in the directory; the set is nil unless there
// are none.
func (d *Dir) Compile() (*rules.Set, rules.Errors) {
	problems := append(rules.Errors(nil), d.Problems...)
	set, err := rules.Compile(d.Rules)
	if err != nil {
		var es rules.Errors
		if errors.As(err, &es) {
			problems = append(problems, es...)
		} else {
			problems = append(problems, &rules.Error{Msg: err.Error()})
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return set.WithCalendar(d.Calendar), nil
}

// Load reads and compiles dir; the error lists every problem.
func Load(dir string) (*rules.Set, error) { return LoadWith(dir, rules.ParseOptions{}) }

// LoadWith is Load checking the rules against o.
func LoadWith(dir string, o rules.ParseOptions) (*rules.Set, error) {
	d, err := ReadWith(dir, o)
	if err != nil {
		return nil, err
	}
	set, problems := d.Compile()
	if len(problems) > 0 {
		return nil, problems
	}
	return set, nil
}

// ReadProfile reads a test case's profile file, relative to its test file.
func ReadProfile(tf *rules.TestFile, tc *rules.TestCase) ([]byte, error) {
	if tc.ProfileFile == "" {
		return tc.Profile, nil
	}
	path := tc.ProfileFile
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(tf.File), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read profile_file: %w", err)
	}
	return data, nil
}
