package wechat

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestFit(t *testing.T) {
	tests := []struct{ kind, in, want string }{
		{"thing", "稳岗返还", "稳岗返还"},
		{"thing1", "一二三四五六七八九十一二三四五六七八九十", "一二三四五六七八九十一二三四五六七八九十"},
		{"thing1", "一二三四五六七八九十一二三四五六七八九十一", "一二三四五六七八九十一二三四五六七八九…"},
		{"thing2", "第一行\n第二行\r\n第三行", "第一行 第二行 第三行"},
		{"thing", "  a \t b  ", "a b"},
		{"phrase3", "待申请", "待申请"},
		{"phrase3", "已经可以申请了", "已经可以…"},
		{"character_string4", "abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz012345"},
		{"amount2", "1000元", "1000元"},
		{"amount2", "1,000\n元", "1,000 元"},
		{"time3", "2025-12-31", "2025-12-31"},
		{"keyword1", "一二三四五六七八九十一二三四五六七八九十一", "一二三四五六七八九十一二三四五六七八九…"},
		{"thing", "", ""},
	}
	for _, tt := range tests {
		if got := Fit(tt.kind, tt.in); got != tt.want {
			t.Errorf("Fit(%q, %q) = %q, want %q", tt.kind, tt.in, got, tt.want)
		}
	}
	if n := utf8.RuneCountInString(Fit("thing", strings.Repeat("字", 100))); n > 20 {
		t.Errorf("%d runes", n)
	}
	got := FitData(map[string]string{"thing1": "a\nb", "time2": "x"})
	if got["thing1"] != "a b" || got["time2"] != "x" {
		t.Errorf("FitData: %v", got)
	}
}

func TestMemoryCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := NewMemoryCache()
	c.now = func() time.Time { return now }
	_ = c.Set("k", "v", time.Minute)
	if c.Get("k") != "v" || !c.IsExist("k") {
		t.Fatal("missing")
	}
	now = now.Add(time.Minute)
	if c.Get("k") != nil || c.IsExist("k") {
		t.Fatal("not expired")
	}
	_ = c.Set("k", "v", 0)
	if c.IsExist("k") {
		t.Fatal("zero timeout kept")
	}
	_ = c.Set("k", "v", time.Hour)
	_ = c.Delete("k")
	if c.IsExist("k") {
		t.Fatal("not deleted")
	}
}
