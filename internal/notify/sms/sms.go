// Package sms holds what the SMS provider channels share: the template
// callback, the provider error type and the redaction of error text.
//
// The providers live in subpackages (aliyun, tencent); each has a Channel
// that implements notify.Channel and returns *notify.SendError whose Err is
// a *ProviderError.
package sms

import (
	"context"
	"errors"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/pii"
)

// TemplateFunc chooses the provider template and its parameters for a
// notice, from the rule's notify.sms block which the channel cannot see.
// Aliyun uses the params by name; Tencent, which has positional {1}, {2}…
// placeholders, takes them ordered by key.
type TemplateFunc func(n *notify.Notice) (code string, params map[string]string, err error)

// ProviderError is a provider's refusal or a transport failure, with
// redacted text: never a secret, a signature or a full mobile number.
type ProviderError struct {
	Provider  string // aliyun, tencent
	Status    int    // HTTP status; 0 when unknown
	Code      string // the provider's code, e.g. isv.BUSINESS_LIMIT_CONTROL
	Message   string // redacted
	RequestID string
}

func (e *ProviderError) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	if e.Status != 0 {
		b.WriteString(" status=" + strconv.Itoa(e.Status))
	}
	if e.Code != "" {
		b.WriteString(" code=" + e.Code)
	}
	if e.RequestID != "" {
		b.WriteString(" request_id=" + e.RequestID)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// maxMessage bounds provider messages kept in errors.
const maxMessage = 300

var (
	// Hex or base64 signatures and string-to-sign dumps that providers echo.
	signatureRe = regexp.MustCompile(`(?i)(signature["']?\s*[=:]\s*["']?)[^\s,&"'}]+`)
	longHexRe   = regexp.MustCompile(`[0-9a-fA-F]{32,}`)
	stsRe       = regexp.MustCompile(`(?is)(string to sign( is)?:?).*`)
	// Any run of 11+ digits, possibly after + (a mobile in some form).
	digitsRe = regexp.MustCompile(`\+?\d{11,}`)
)

// Redactor removes secrets, signatures and mobile numbers from text.
type Redactor struct {
	Secrets []string // replaced by [redacted]
}

// Redact returns s without the secrets, anything that looks like a
// signature, and with mobile (and any other long digit run) masked.
func (r Redactor) Redact(s, mobile string) string {
	for _, sec := range r.Secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
			if q := url.QueryEscape(sec); q != sec {
				s = strings.ReplaceAll(s, q, "[redacted]")
			}
		}
	}
	if m := strings.TrimPrefix(mobile, "+"); m != "" {
		s = strings.ReplaceAll(s, m, pii.MaskMobile(m))
	}
	s = stsRe.ReplaceAllString(s, "$1 [redacted]")
	s = signatureRe.ReplaceAllString(s, "${1}[redacted]")
	s = longHexRe.ReplaceAllString(s, "[redacted]")
	s = digitsRe.ReplaceAllStringFunc(s, pii.MaskMobile)
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "…"
	}
	return s
}

// Fail builds the dispatcher's error for a classified failure.
func Fail(reason notify.Reason, retry, permanent, quota bool, err error) *notify.SendError {
	return &notify.SendError{Reason: reason, Retry: retry, Permanent: permanent, Quota: quota, Err: err}
}

// Config is a failure that needs an operator: neither retried nor fallen back.
func Config(reason notify.Reason, err error) *notify.SendError {
	return Fail(reason, false, false, false, err)
}

// Transport classifies an error that is not a provider answer: the
// context's deadline and network timeouts are timeout, cancellation and
// other network failures are retried as server_error. The error text is
// redacted; a *url.Error loses its URL, which carries the query.
func Transport(provider string, err error, red Redactor, mobile string) *notify.SendError {
	reason := notify.ReasonServerError
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		reason = notify.ReasonTimeout
	case errors.Is(err, context.Canceled):
		reason = notify.ReasonUnknown
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = ue.Op + ": " + ue.Err.Error()
	}
	pe := &ProviderError{Provider: provider, Message: red.Redact(msg, mobile)}
	return Fail(reason, true, false, false, pe)
}
