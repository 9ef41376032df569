package main

import (
	"errors"
	"strings"
	"testing"
)

// TestLintSMSLink: lint counts an SMS's {{link}} by the service's public
// URL, from --public-url or POLICYPUSH_PUBLIC_URL: the same text fits one
// SMS behind a short domain and not behind a long one.
func TestLintSMSLink(t *testing.T) {
	const dir = "testdata/smslink"
	tests := []struct {
		name    string
		env     string
		args    []string
		wantErr error
		want    string // a fragment of stdout
	}{
		// 12 + 20 + 3 + 22 + 10 = 67.
		{"short domain", "", []string{"--public-url", "https://rs.sz.gov.cn"}, nil, ""},
		// 12 + 36 + 3 + 22 + 10 = 83.
		{"long domain", "", []string{"--public-url", "https://hrss.example-province.gov.cn"}, errFailed,
			"61 for {{link}} (POLICYPUSH_PUBLIC_URL of 36 characters, /r/ and a 22-character token) and 10 kept for the signature exceed 70 by 13"},
		{"from the environment", "https://hrss.example-province.gov.cn", nil, errFailed, "exceed 70 by 13"},
		{"the flag over the environment", "https://hrss.example-province.gov.cn", []string{"--public-url", "https://rs.sz.gov.cn"}, nil, ""},
		// 12 + 24 + 3 + 22 + 10 = 71.
		{"unknown: 24 assumed", "", nil, errFailed, "POLICYPUSH_PUBLIC_URL unknown, 24 characters assumed"},
		{"not a URL", "", []string{"--public-url", "rs.sz.gov.cn"}, errors.New("POLICYPUSH_PUBLIC_URL"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POLICYPUSH_PUBLIC_URL", tt.env)
			stdout, _, err := policyctl(t, append([]string{"lint", dir}, tt.args...)...)
			switch {
			case tt.wantErr == nil && err != nil, tt.wantErr != nil && err == nil:
				t.Fatalf("error %v, want %v\n%s", err, tt.wantErr, stdout)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr) && !strings.Contains(err.Error(), tt.wantErr.Error()):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(stdout, tt.want) {
				t.Errorf("stdout %q lacks %q", stdout, tt.want)
			}
		})
	}
}
