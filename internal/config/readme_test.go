package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestEveryVariableDocumented fails when a variable the configuration
// reads has no row in the README's Configuration table, so that an
// operator can find every setting in one place. A row may abbreviate the
// names after its first (`POLICYPUSH_OIDC_ISSUER`, `_CLIENT_ID`).
func TestEveryVariableDocumented(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n### Configuration\n")
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	section := text[start+1:]
	if end := strings.Index(section[len("### Configuration"):], "\n### "); end >= 0 {
		section = section[:len("### Configuration")+end]
	}
	full := regexp.MustCompile("`(POLICYPUSH_[A-Z0-9_]+)`")
	short := regexp.MustCompile("`(_[A-Z0-9_]+)`")
	documented := map[string]bool{}
	for _, row := range strings.Split(section, "\n") {
		if !strings.HasPrefix(row, "| `") {
			continue
		}
		first := strings.SplitN(row, "|", 3)[1]
		names := full.FindAllStringSubmatch(first, -1)
		for _, m := range names {
			documented[m[1]] = true
		}
		// An abbreviation completes any of the row's full names' prefixes.
		for _, s := range short.FindAllStringSubmatch(first, -1) {
			for _, m := range names {
				for i := len("POLICYPUSH_"); i < len(m[1]); i++ {
					if m[1][i] == '_' {
						documented[m[1][:i]+s[1]] = true
					}
				}
			}
		}
	}
	for _, name := range known {
		if !documented[name] {
			t.Errorf("%s is read by the configuration but has no row in the README's Configuration table", name)
		}
	}
}
