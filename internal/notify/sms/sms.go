// Package sms holds what the SMS provider channels share: the template
// callback, the provider error type, the redaction of error text, the
// length helpers that keep a notice within one billed segment, and what
// the providers' lookups of earlier sends share (lookup.go).
//
// The providers live in subpackages (aliyun, tencent); each has a Channel
// that implements notify.Channel and returns *notify.SendError whose Err is
// a *ProviderError.
package sms

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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

// Carriers bill an SMS by segment: up to SegmentRunes characters, the
// signature 【…】 included, go in one; a longer message is split into parts of
// MultiSegmentRunes, because each part gives up room to a concatenation
// header. Characters are runes: a Chinese character counts as one, as does
// an ASCII letter.
const (
	SegmentRunes      = 70
	MultiSegmentRunes = 67
)

// minFitRunes is the shortest Fit leaves a shortened value, its "…"
// included: below that a policy title no longer names anything.
const minFitRunes = 4

// Render fills each ${name} of a provider template text (Aliyun's syntax)
// with params[name], as the provider will. A placeholder without a param is
// left as written, so that a missing value shows instead of vanishing, and
// a "${" without its "}" is plain text.
func Render(text string, params map[string]string) string {
	var b strings.Builder
	for {
		name, before, after, ok := nextPlaceholder(text)
		if !ok {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(before)
		if v, found := params[name]; found {
			b.WriteString(v)
		} else {
			b.WriteString("${" + name + "}")
		}
		text = after
	}
}

// nextPlaceholder finds the first ${name} of text and returns the text
// before and after it.
func nextPlaceholder(text string) (name, before, after string, ok bool) {
	i := strings.Index(text, "${")
	if i < 0 {
		return "", "", "", false
	}
	j := strings.IndexByte(text[i+2:], '}')
	if j < 0 {
		return "", "", "", false
	}
	return text[i+2 : i+2+j], text[:i], text[i+2+j+1:], true
}

// Segments is the number of billed segments msg takes, counted in runes:
// 0 for an empty message, 1 up to SegmentRunes, otherwise one per
// MultiSegmentRunes begun.
func Segments(msg string) int {
	n := utf8.RuneCountInString(msg)
	switch {
	case n == 0:
		return 0
	case n <= SegmentRunes:
		return 1
	}
	return (n + MultiSegmentRunes - 1) / MultiSegmentRunes
}

// Fit returns a copy of params shortened so that the message the provider
// builds, "【sign】" and text rendered with params, fits one segment. While it
// does not, the longest value that text uses loses one rune and ends with
// "…"; a value is never cut below 4 runes, nor through a run of digits
// (a title's "60岁" must not become "6…"), and a number is never touched
// (an amount must be exact or absent, never wrong), nor is a URL. When nothing more can
// be shortened Fit returns what it has, and the message takes several
// segments. An empty text means the template's wording is unknown, so
// params come back unchanged.
func Fit(sign, text string, params map[string]string) map[string]string {
	out := maps.Clone(params)
	if text == "" {
		return out
	}
	// Only values that text uses change the length; sorted so that ties
	// between equally long values break the same way every time.
	var keys []string
	for rest := text; ; {
		name, _, after, ok := nextPlaceholder(rest)
		if !ok {
			break
		}
		// A link ({{link}}) cut short leads nowhere: like an amount, it is
		// never shortened.
		if v, found := out[name]; found && !isNumber(v) && !strings.Contains(v, "://") && !slices.Contains(keys, name) {
			keys = append(keys, name)
		}
		rest = after
	}
	slices.Sort(keys)
	prefix := "【" + sign + "】"
	for utf8.RuneCountInString(prefix+Render(text, out)) > SegmentRunes {
		if len(keys) == 0 {
			break
		}
		longest := 0
		for i, k := range keys {
			if utf8.RuneCountInString(out[k]) > utf8.RuneCountInString(out[keys[longest]]) {
				longest = i
			}
		}
		k := keys[longest]
		v, ok := shorten(out[k])
		if !ok {
			// Settled at its shortest: the others may still give way.
			keys = slices.Delete(keys, longest, longest+1)
			continue
		}
		out[k] = v
	}
	return out
}

// shorten drops one rune of v before a trailing "…", or the whole cut-off
// part of a number, and reports false when that would leave fewer than
// minFitRunes runes.
func shorten(v string) (string, bool) {
	r := []rune(v)
	// The result keeps r[:keep] and adds "…": one rune shorter than v,
	// whether v already ends with a "…" of its own or not.
	keep := len(r) - 2
	for keep > 0 && isDigit(r[keep-1]) && isDigit(r[keep]) {
		keep--
	}
	if keep+1 < minFitRunes {
		return v, false
	}
	return string(r[:keep]) + "…", true
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

// isNumber reports whether v is an amount: a decimal number, possibly
// signed, with thousands commas and a trailing 元, as {{amount}} or
// "{{amount}}元" render.
func isNumber(v string) bool {
	v = strings.TrimSuffix(strings.TrimSpace(v), "元")
	v = strings.TrimLeft(v, "+-")
	whole, frac, hasFrac := strings.Cut(v, ".")
	whole = strings.ReplaceAll(whole, ",", "")
	if whole == "" || (hasFrac && frac == "") {
		return false
	}
	for _, s := range []string{whole, frac} {
		for _, c := range s {
			if !isDigit(c) {
				return false
			}
		}
	}
	return true
}

// ParseEndpoint checks a provider's endpoint (POLICYPUSH_SMS_ENDPOINT): an
// http(s) URL with a host and no path; "" is def. provider names it in
// errors.
func ParseEndpoint(provider, endpoint, def string) (*url.URL, error) {
	if endpoint == "" {
		endpoint = def
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s sms: endpoint %q is not an http(s) URL", provider, endpoint)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%s sms: endpoint %q must not have a path", provider, endpoint)
	}
	return u, nil
}
