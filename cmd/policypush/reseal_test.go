package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// reseal takes --chunk and the configuration; it needs the PII key.
func TestResealArguments(t *testing.T) {
	t.Setenv("POLICYPUSH_PII_KEY", "")
	tests := []struct {
		name string
		args []string
		want string // in the error or on stderr
	}{
		{"chunk out of range", []string{"reseal", "--chunk", "0"}, "policypush reseal  [--config FILE] [--chunk N]"},
		{"stray argument", []string{"reseal", "now"}, "policypush reseal"},
		{"no key", []string{"reseal", "--chunk", "100"}, "POLICYPUSH_PII_KEY: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stderr)
			if err == nil {
				t.Fatal("run succeeded")
			}
			if got := err.Error() + stderr.String(); !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.name != "no key" && !errors.Is(err, errUsage) {
				t.Errorf("err = %v, want the usage", err)
			}
		})
	}
}
