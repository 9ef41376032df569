package sms

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	r := Redactor{Secrets: []string{"s3cr3t+/="}}
	in := "key s3cr3t+/= or s3cr3t%2B%2F%3D; to 13812345678 and +8613912345678; Signature=abcdef0123; sig 0123456789abcdef0123456789abcdef99; string to sign is: POST\n/ x"
	out := r.Redact(in, "13812345678")
	for _, bad := range []string{"s3cr3t", "13812345678", "13912345678", "abcdef0123", "0123456789abcdef0123456789abcdef", "POST"} {
		if strings.Contains(out, bad) {
			t.Errorf("Redact left %q in %q", bad, out)
		}
	}
	if !strings.Contains(out, "138****5678") {
		t.Errorf("mobile not masked: %q", out)
	}
	if got := (&ProviderError{Provider: "aliyun", Status: 200, Code: "isv.X", RequestID: "r1", Message: "m"}).Error(); got != "aliyun status=200 code=isv.X request_id=r1: m" {
		t.Errorf("Error() = %q", got)
	}
}
