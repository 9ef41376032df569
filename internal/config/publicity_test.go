package config

import (
	"strings"
	"testing"
)

func TestPublicityDays(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  int
		bad   bool
	}{
		{"", 5, false},
		{"0", 0, false},
		{"10", 10, false},
		{"-1", 0, true},
		{"61", 0, true},
		{"5d", 0, true},
	} {
		c, err := Load(env(map[string]string{"POLICYPUSH_PUBLICITY_DAYS": tt.value}), "", NeedDatabase)
		switch {
		case tt.bad && (err == nil || !strings.Contains(err.Error(), "POLICYPUSH_PUBLICITY_DAYS")):
			t.Errorf("%q: %v, want a problem naming the variable", tt.value, err)
		case !tt.bad && err != nil:
			t.Errorf("%q: %v", tt.value, err)
		case !tt.bad && c.PublicityDays != tt.want:
			t.Errorf("%q: %d, want %d", tt.value, c.PublicityDays, tt.want)
		}
	}
}
