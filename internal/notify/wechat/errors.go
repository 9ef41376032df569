package wechat

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/silenceper/wechat/v2/util"
)

// Class says what the dispatcher should do with a failed send.
type Class int

// The classes of notify.md §2.6.
const (
	// ClassRetryable: try again later with backoff (network, 5xx, -1, rate limits).
	ClassRetryable Class = iota
	// ClassPermanent: WeChat will never reach this user; fall back to the next channel.
	ClassPermanent
	// ClassQuota: the account's daily quota is spent; defer until tomorrow.
	ClassQuota
	// ClassConfig: credentials, permissions, template or request are wrong; alert an operator.
	ClassConfig
)

func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassPermanent:
		return "permanent"
	case ClassQuota:
		return "quota"
	case ClassConfig:
		return "config"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Reasons: a fixed set, safe as metric labels.
const (
	ReasonUnfollowed    = "unfollowed"     // 43004 require subscribe
	ReasonInvalidOpenID = "invalid_openid" // 40003
	ReasonRefused       = "refused"        // 43101 user refused / one-time subscription used
	ReasonBlocked       = "blocked"        // TEMPLATESENDJOBFINISH "failed:user block" (receipts only)
	ReasonQuota         = "quota"          // 45009 daily quota
	ReasonTooFrequent   = "too_frequent"   // 43117 this openid too often
	ReasonRateLimited   = "rate_limited"   // 45011 and friends: per-minute limits
	ReasonConfig        = "config"         // appid, secret, IP whitelist, api permission
	ReasonTemplate      = "template"       // template id invalid or banned
	ReasonBadRequest    = "bad_request"    // 47003 and other argument errors
	ReasonToken         = "token"          // token still rejected after a refresh
	ReasonServer        = "server"         // -1, HTTP 5xx, bad response
	ReasonTimeout       = "timeout"        // deadline exceeded
	ReasonNetwork       = "network"        // connection errors
	ReasonCanceled      = "canceled"       // the caller's context was cancelled
	ReasonUnknown       = "unknown"        // an errcode we do not know: retried, bounded by max attempts
)

// Error is a classified WeChat failure. Its text never holds the app secret,
// an access token or the recipient's openid.
type Error struct {
	Code   int    // WeChat errcode; 0 for transport failures
	Class  Class  // what to do
	Reason string // one of the Reason constants
	Msg    string // redacted detail for logs (WeChat's errmsg or the transport error)
}

func (e *Error) Error() string {
	s := "wechat: " + e.Class.String() + " " + e.Reason
	if e.Code != 0 {
		s += " errcode=" + strconv.Itoa(e.Code)
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	return s
}

type codeClass struct {
	class  Class
	reason string
}

// codes maps WeChat errcodes (notify.md §2.6 and the official global return
// codes) to a class. Codes not listed are ClassRetryable/unknown.
var codes = map[int]codeClass{
	-1:    {ClassRetryable, ReasonServer},
	40001: {ClassRetryable, ReasonToken}, // after the one refresh-and-retry
	40014: {ClassRetryable, ReasonToken},
	42001: {ClassRetryable, ReasonToken},
	41001: {ClassRetryable, ReasonToken}, // access_token missing

	40003: {ClassPermanent, ReasonInvalidOpenID},
	43004: {ClassPermanent, ReasonUnfollowed},
	43101: {ClassPermanent, ReasonRefused},

	45009: {ClassQuota, ReasonQuota},
	43117: {ClassQuota, ReasonTooFrequent},
	45011: {ClassRetryable, ReasonRateLimited},
	45047: {ClassRetryable, ReasonRateLimited},

	40013: {ClassConfig, ReasonConfig}, // invalid appid
	40125: {ClassConfig, ReasonConfig}, // invalid appsecret
	40164: {ClassConfig, ReasonConfig}, // caller IP not whitelisted
	40002: {ClassConfig, ReasonConfig}, // invalid grant_type
	48001: {ClassConfig, ReasonConfig}, // api unauthorized
	50001: {ClassConfig, ReasonConfig}, // user not authorized for this api
	89503: {ClassConfig, ReasonConfig}, // IP needs admin confirmation
	40036: {ClassConfig, ReasonTemplate},
	40037: {ClassConfig, ReasonTemplate},
	43116: {ClassConfig, ReasonTemplate}, // template banned
	47001: {ClassConfig, ReasonBadRequest},
	47003: {ClassConfig, ReasonBadRequest},
	44002: {ClassConfig, ReasonBadRequest},
	40008: {ClassConfig, ReasonBadRequest},
}

// FromCode classifies a WeChat errcode; errmsg is redacted into Msg.
func FromCode(code int, errmsg string) *Error {
	cc, ok := codes[code]
	if !ok {
		cc = codeClass{ClassRetryable, ReasonUnknown}
	}
	return &Error{Code: code, Class: cc.class, Reason: cc.reason, Msg: redact(errmsg)}
}

// tokenCode reports whether code means the access token is stale.
func tokenCode(code int) bool { return code == 40001 || code == 40014 || code == 42001 }

var (
	errcodeRe    = regexp.MustCompile(`errcode=(-?\d+)`)
	errmsgRe     = regexp.MustCompile(`err(?:or)?msg=(.*)$`)
	statusCodeRe = regexp.MustCompile(`statusCode=(\d{3})`)
	secretKVRe   = regexp.MustCompile(`(?i)((?:app)?secret|access_token|accesstoken|token)(["']?\s*[=:]\s*["']?)([^&\s"',}]+)`)
)

// Classify turns any error from a send into an *Error: ours pass through;
// silenceper's *util.CommonError and its untyped "errcode=N" errors are
// mapped by code; non-200 statuses, timeouts and network errors are
// ClassRetryable. nil gives nil.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var we *Error
	if errors.As(err, &we) {
		return we
	}
	msg := redact(err.Error())
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return FromCode(int(ce.ErrCode), ce.ErrMsg)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Class: ClassRetryable, Reason: ReasonTimeout, Msg: msg}
	case errors.Is(err, context.Canceled):
		return &Error{Class: ClassRetryable, Reason: ReasonCanceled, Msg: msg}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return &Error{Class: ClassRetryable, Reason: ReasonTimeout, Msg: msg}
		}
		return &Error{Class: ClassRetryable, Reason: ReasonNetwork, Msg: msg}
	}
	if m := errcodeRe.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		detail := ""
		if mm := errmsgRe.FindStringSubmatch(err.Error()); mm != nil {
			detail = strings.TrimSpace(mm[1])
		}
		return FromCode(code, detail)
	}
	if m := statusCodeRe.FindStringSubmatch(err.Error()); m != nil {
		return &Error{Class: ClassRetryable, Reason: ReasonServer, Msg: msg}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return &Error{Class: ClassRetryable, Reason: ReasonNetwork, Msg: msg}
	}
	return &Error{Class: ClassRetryable, Reason: ReasonUnknown, Msg: msg}
}

// redact removes secret=…, access_token=… (query or JSON style) values.
func redact(s string) string {
	return secretKVRe.ReplaceAllString(s, "${1}${2}REDACTED")
}

// scrubber also removes literal values known to the Client.
type scrubber []string

func (sc scrubber) apply(s string) string {
	s = redact(s)
	for _, v := range sc {
		if len(v) >= 4 {
			s = strings.ReplaceAll(s, v, "REDACTED")
		}
	}
	return s
}

func (sc scrubber) error(e *Error) *Error {
	e.Msg = sc.apply(e.Msg)
	return e
}

func errorf(class Class, reason, format string, args ...any) *Error {
	return &Error{Class: class, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
