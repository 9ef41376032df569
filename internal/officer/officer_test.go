package officer

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, r := range Roles() {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r.String(), got, err)
		}
	}
	for _, s := range []string{"", "Admin", "root", " viewer", "Role(0)"} {
		if _, err := ParseRole(s); err == nil {
			t.Errorf("ParseRole(%q) accepted", s)
		}
	}
	if got := Role(0).String(); got != "Role(0)" {
		t.Errorf("Role(0).String() = %q", got)
	}
}

func TestAllows(t *testing.T) {
	// want[have][need]
	want := map[Role]map[Role]bool{
		Viewer:    {Viewer: true, Reviewer: false, Publisher: false, Admin: false},
		Reviewer:  {Viewer: true, Reviewer: true, Publisher: false, Admin: false},
		Publisher: {Viewer: true, Reviewer: true, Publisher: true, Admin: false},
		Admin:     {Viewer: true, Reviewer: true, Publisher: true, Admin: true},
	}
	for have, row := range want {
		for need, ok := range row {
			if got := have.Allows(need); got != ok {
				t.Errorf("%v.Allows(%v) = %v, want %v", have, need, got, ok)
			}
		}
		if have.Allows(0) {
			t.Errorf("%v allows the zero role", have)
		}
	}
	for _, bad := range []Role{0, -1, Admin + 1} {
		if bad.Allows(Viewer) {
			t.Errorf("%v allows viewer", bad)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"wang.li", "zhang_san-2", "li@hrss", strings.Repeat("a", 64)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "tab\tx", "王丽", "x;y", "a\n", strings.Repeat("a", 65), BootstrapName, CLIName} {
		if err := ValidName(bad); err == nil {
			t.Errorf("ValidName(%q) accepted", bad)
		}
	}
}

func TestToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b {
		t.Fatal("two tokens are equal")
	}
	for _, tok := range []string{a, b} {
		if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
			t.Errorf("token %q: want %s and 43 characters", tok, TokenPrefix)
		}
		if !LooksLikeToken(tok) {
			t.Errorf("LooksLikeToken(%q) = false", tok)
		}
		for _, c := range tok {
			if c <= ' ' || c > '~' {
				t.Errorf("token %q has an unprintable character", tok)
			}
		}
	}
	if h := HashToken(a); len(h) != 32 || bytes.Equal(h, HashToken(b)) || !bytes.Equal(h, HashToken(a)) {
		t.Error("HashToken is not a deterministic 32-byte hash that tells tokens apart")
	}
	for _, bad := range []string{"", "ppo_", "s3cret-admin-token", "ppo_" + strings.Repeat("!", 43), "xyz_" + a[4:], a + "A"} {
		if LooksLikeToken(bad) {
			t.Errorf("LooksLikeToken(%q) = true", bad)
		}
	}
}
