package config

import (
	"strings"
	"testing"
	"time"
)

// TestCommentRate: POLICYPUSH_COMMENT_RATE is N/duration or off, 5/1h
// unless set.
func TestCommentRate(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  Cap
		bad   bool
	}{
		{"", Cap{N: 5, Period: time.Hour}, false},
		{"2/10m", Cap{N: 2, Period: 10 * time.Minute}, false},
		{"off", Cap{}, false},
		{"0/1h", Cap{}, true},
		{"5 per hour", Cap{}, true},
		{"5/-1h", Cap{}, true},
	} {
		c, err := Load(env(map[string]string{"POLICYPUSH_COMMENT_RATE": tt.value}), "", NeedDatabase)
		switch {
		case tt.bad && (err == nil || !strings.Contains(err.Error(), "POLICYPUSH_COMMENT_RATE")):
			t.Errorf("%q: %v, want a problem naming the variable", tt.value, err)
		case !tt.bad && err != nil:
			t.Errorf("%q: %v", tt.value, err)
		case !tt.bad && c.CommentRate != tt.want:
			t.Errorf("%q: %+v, want %+v", tt.value, c.CommentRate, tt.want)
		}
	}
}
