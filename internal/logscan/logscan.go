// Package logscan finds personal data in captured logs: a mainland mobile
// number or a WeChat openid in clear in any slog record. CI runs it over the
// output of the whole test suite (`go test -v`, where every test's service
// logger writes; see internal/testlog), so that a log line that leaks one
// fails the build.
package logscan

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Finding is one offending line, masked so that the report does not leak
// what it found.
type Finding struct {
	Line    int    // 1-based, in the scanned input
	Test    string // the test running when it was written, if known
	What    string // "mobile" or "openid"
	Excerpt string // the line, masked, at most 300 bytes
}

func (f Finding) String() string {
	test := f.Test
	if test == "" {
		test = "(no test)"
	}
	return fmt.Sprintf("line %d, %s: %s in clear: %s", f.Line, test, f.What, f.Excerpt)
}

var (
	// record matches a slog record, text or JSON, also as a test's output
	// indents or prefixes it (t.Log of a child process's stderr).
	record = regexp.MustCompile(`(^|\s)level=[A-Z]+(\+\d+)?\s.*msg=|"level":\s*"[A-Z]+`)
	// mobile is a mainland mobile, optionally with the country code, not
	// part of a longer run of letters or digits (a hash, a timestamp).
	mobile = regexp.MustCompile(`(^|[^0-9A-Za-z])((?:\+?86)?1[3-9][0-9]{9})($|[^0-9A-Za-z])`)
	// openidShape is an official-account openid as the fixtures and the
	// generator write them: "o" and 11 to 40 more of [A-Za-z0-9_-], with
	// at least one capital and one digit (which ordinary words lack).
	openidShape = regexp.MustCompile(`(^|[^0-9A-Za-z_-])(o[0-9A-Za-z_-]{11,40})($|[^0-9A-Za-z_-])`)
	// openidField is any value logged under a key naming an openid.
	openidField = regexp.MustCompile(`(?i)"?open_?id"?\s*[=:]\s*"?([^\s",}]+)`)
	testName    = regexp.MustCompile(`^=== (?:RUN|CONT|PAUSE|NAME)\s+(\S+)`)
	capital     = regexp.MustCompile(`[A-Z]`)
	digit       = regexp.MustCompile(`[0-9]`)
)

// Scan reads r line by line and returns every slog record that carries a
// mobile or an openid in clear. Masked values (138****5678, o***) pass.
func Scan(r io.Reader) ([]Finding, error) {
	var out []Finding
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	test := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := testName.FindStringSubmatch(line); m != nil {
			test = m[1]
			continue
		}
		if !record.MatchString(line) {
			continue
		}
		if what := leak(line); what != "" {
			out = append(out, Finding{Line: n, Test: test, What: what, Excerpt: excerpt(Mask(line))})
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("logscan: %w", err)
	}
	return out, nil
}

// leak names what line carries in clear, or "".
func leak(line string) string {
	if mobile.MatchString(line) {
		return "mobile"
	}
	for _, m := range openidField.FindAllStringSubmatch(line, -1) {
		if v := m[1]; v != "" && !strings.Contains(v, "*") {
			return "openid"
		}
	}
	for _, m := range openidShape.FindAllStringSubmatch(line, -1) {
		if isOpenID(m[2]) {
			return "openid"
		}
	}
	return ""
}

func isOpenID(s string) bool { return capital.MatchString(s[1:]) && digit.MatchString(s) }

// Mask replaces every mobile and openid in s as the service masks them.
func Mask(s string) string {
	for range 2 { // adjacent matches share the separator the pattern consumes
		s = mobile.ReplaceAllStringFunc(s, func(m string) string {
			sm := mobile.FindStringSubmatch(m)
			num := sm[2]
			return sm[1] + num[:len(num)-8] + "****" + num[len(num)-4:] + sm[3]
		})
		s = openidShape.ReplaceAllStringFunc(s, func(m string) string {
			sm := openidShape.FindStringSubmatch(m)
			if !isOpenID(sm[2]) {
				return m
			}
			return sm[1] + "o***" + sm[3]
		})
	}
	s = openidField.ReplaceAllStringFunc(s, func(m string) string {
		sm := openidField.FindStringSubmatch(m)
		if strings.Contains(sm[1], "*") {
			return m
		}
		return strings.TrimSuffix(m, sm[1]) + "***"
	})
	return s
}

func excerpt(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
