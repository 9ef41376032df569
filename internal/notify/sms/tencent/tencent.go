// Package tencent is the SMS channel through Tencent Cloud SMS (SendSms,
// API 2021-01-11), a TC3-HMAC-SHA256 signed JSON POST made with the
// standard library. SessionContext is the notice id, which Lookup finds
// again in the status reports (PullSmsSendStatusByPhoneNumber).
package tencent

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

// DefaultEndpoint is Tencent Cloud's SMS API.
const DefaultEndpoint = "https://sms.tencentcloudapi.com"

// DefaultRegion is used when Config.Region is empty.
const DefaultRegion = "ap-guangzhou"

const (
	service = "sms"
	action  = "SendSms"
	version = "2021-01-11"
	algo    = "TC3-HMAC-SHA256"
	ctype   = "application/json; charset=utf-8"
)

// Config configures the channel. AccessKeyID and AccessKeySecret are
// Tencent's SecretId and SecretKey.
type Config struct {
	AccessKeyID     string
	AccessKeySecret string
	SignName        string
	AppID           string // SmsSdkAppId
	Region          string // default DefaultRegion
	// Endpoint is an http(s) URL; empty means DefaultEndpoint.
	Endpoint string
	// HTTPClient sends the requests; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Digests says that Template gives a digest (a notice with Members:
	// one message for several) a template of its own
	// (POLICYPUSH_SMS_DIGEST_TEMPLATE); without it, notices go one by one.
	Digests bool
	// Template chooses the template id and params of a notice; the params
	// fill TemplateParamSet ordered by key.
	Template sms.TemplateFunc
	// Now is the clock for X-TC-Timestamp and Lookup; nil means time.Now.
	Now func() time.Time
	// LookupSettle is how long after a call Lookup takes its absence from
	// the status reports as never accepted; 0 means DefaultLookupSettle.
	LookupSettle time.Duration
}

// Channel sends notices by SMS through Tencent Cloud. It is safe for
// concurrent use.
type Channel struct {
	cfg  Config
	url  string
	host string
	hc   *http.Client
	red  sms.Redactor
}

var (
	_ notify.LookupChannel = (*Channel)(nil)
	_ notify.DigestChannel = (*Channel)(nil)
)

// Digests implements notify.DigestChannel.
func (c *Channel) Digests() bool { return c.cfg.Digests }

// New checks cfg and builds the channel.
func New(cfg Config) (*Channel, error) {
	switch {
	case cfg.AccessKeyID == "" || cfg.AccessKeySecret == "":
		return nil, errors.New("tencent sms: secret id and key are required")
	case cfg.SignName == "":
		return nil, errors.New("tencent sms: sign name is required")
	case cfg.AppID == "":
		return nil, errors.New("tencent sms: SmsSdkAppId is required")
	case cfg.Template == nil:
		return nil, errors.New("tencent sms: template func is required")
	}
	u, err := sms.ParseEndpoint("tencent", cfg.Endpoint, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LookupSettle <= 0 {
		cfg.LookupSettle = DefaultLookupSettle
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	return &Channel{
		cfg:  cfg,
		url:  u.Scheme + "://" + u.Host + "/",
		host: u.Host,
		hc:   hc,
		red:  sms.Redactor{Secrets: []string{cfg.AccessKeySecret}},
	}, nil
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return notify.SMS }

// E164 turns a mainland mobile into +86… form; numbers already starting
// with + are kept.
func E164(m string) string {
	m = strings.ReplaceAll(strings.TrimSpace(m), " ", "")
	switch {
	case m == "", strings.HasPrefix(m, "+"):
		return m
	case strings.HasPrefix(m, "0086"):
		return "+" + m[2:]
	case strings.HasPrefix(m, "86") && len(m) == 13:
		return "+" + m
	}
	return "+86" + m
}

type sendRequest struct {
	PhoneNumberSet   []string
	SmsSdkAppId      string
	SignName         string
	TemplateId       string
	TemplateParamSet []string
	SessionContext   string
}

type apiError struct {
	Code    string
	Message string
}

// sendResponse is SendSms' Response object.
type sendResponse struct {
	SendStatusSet []struct {
		SerialNo       string
		PhoneNumber    string
		SessionContext string
		Code           string
		Message        string
	}
}

// Send implements notify.Channel: one SendSms to to.Mobile. Its error is a
// *notify.SendError wrapping a redacted *sms.ProviderError.
func (c *Channel) Send(ctx context.Context, n *notify.Notice, to notify.Recipient) (notify.Result, error) {
	mobile := E164(to.Mobile)
	if mobile == "" {
		return notify.Result{}, sms.Fail(notify.ReasonUnreachableUser, false, true, false,
			&sms.ProviderError{Provider: "tencent", Message: "no mobile number"})
	}
	national := strings.TrimPrefix(mobile, "+86")
	code, params, err := c.cfg.Template(n)
	if err != nil || code == "" {
		if err == nil {
			err = errors.New("empty template id")
		}
		return notify.Result{}, sms.Config(notify.ReasonConfig,
			&sms.ProviderError{Provider: "tencent", Message: "template: " + c.red.Redact(err.Error(), national)})
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	set := make([]string, 0, len(keys))
	for _, k := range keys {
		set = append(set, params[k])
	}
	payload, err := json.Marshal(sendRequest{
		PhoneNumberSet:   []string{mobile},
		SmsSdkAppId:      c.cfg.AppID,
		SignName:         c.cfg.SignName,
		TemplateId:       code,
		TemplateParamSet: set,
		SessionContext:   strconv.FormatInt(n.ID, 10),
	})
	if err != nil {
		return notify.Result{}, sms.Config(notify.ReasonBadRequest, &sms.ProviderError{Provider: "tencent", Message: err.Error()})
	}
	raw, status, reqID, err := c.do(ctx, action, payload, national)
	if err != nil {
		return notify.Result{}, err
	}
	var r sendResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return notify.Result{}, sms.Fail(notify.ReasonServerError, true, false, false,
			&sms.ProviderError{Provider: "tencent", Status: status, Message: "unexpected response", RequestID: reqID})
	}
	if len(r.SendStatusSet) == 0 {
		return notify.Result{}, sms.Fail(notify.ReasonServerError, true, false, false,
			&sms.ProviderError{Provider: "tencent", Status: status, Message: "empty SendStatusSet", RequestID: reqID})
	}
	st := r.SendStatusSet[0]
	if st.Code != "Ok" {
		return notify.Result{}, Classify(st.Code, &sms.ProviderError{
			Provider: "tencent", Status: status, Code: st.Code,
			Message: c.red.Redact(st.Message, national), RequestID: reqID,
		})
	}
	return notify.Result{ProviderMsgID: st.SerialNo}, nil
}

// do posts one signed call and returns its Response object once it
// carries no Error, with the HTTP status and the request id; any other
// answer is a classified *notify.SendError with redacted text.
func (c *Channel) do(ctx context.Context, action string, payload []byte, national string) (json.RawMessage, int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(payload))
	if err != nil {
		return nil, 0, "", sms.Config(notify.ReasonConfig, &sms.ProviderError{Provider: "tencent", Message: c.red.Redact(err.Error(), national)})
	}
	now := c.cfg.Now()
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", version)
	req.Header.Set("X-TC-Region", c.cfg.Region)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(now.Unix(), 10))
	auth, sig := Authorization(c.cfg.AccessKeyID, c.cfg.AccessKeySecret, c.host, payload, now)
	req.Header.Set("Authorization", auth)
	red := sms.Redactor{Secrets: []string{c.cfg.AccessKeySecret, sig}}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, "", sms.Transport("tencent", err, red, national)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resp.StatusCode, "", sms.Transport("tencent", err, red, national)
	}
	var env struct {
		Response json.RawMessage
	}
	var head struct {
		Error     *apiError
		RequestId string
	}
	err = json.Unmarshal(body, &env)
	if err == nil {
		err = json.Unmarshal(env.Response, &head)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		pe := &sms.ProviderError{Provider: "tencent", Status: resp.StatusCode, Message: "unexpected response"}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			return nil, resp.StatusCode, "", sms.Fail(notify.ReasonRateLimited, true, false, false, pe)
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			return nil, resp.StatusCode, "", sms.Config(notify.ReasonBadRequest, pe)
		}
		return nil, resp.StatusCode, "", sms.Fail(notify.ReasonServerError, true, false, false, pe)
	}
	if head.Error != nil {
		return nil, resp.StatusCode, head.RequestId, Classify(head.Error.Code, &sms.ProviderError{
			Provider: "tencent", Status: resp.StatusCode, Code: head.Error.Code,
			Message: red.Redact(head.Error.Message, national), RequestID: head.RequestId,
		})
	}
	return env.Response, resp.StatusCode, head.RequestId, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Authorization returns the TC3-HMAC-SHA256 Authorization header of a POST
// to / with a JSON payload, signing content-type and host, and the
// signature alone (for redaction).
func Authorization(secretID, secretKey, host string, payload []byte, t time.Time) (header, signature string) {
	date := t.UTC().Format("2006-01-02")
	canonical := "POST\n/\n\n" +
		"content-type:" + ctype + "\nhost:" + host + "\n\n" +
		"content-type;host\n" + sha256Hex(payload)
	scope := date + "/" + service + "/tc3_request"
	toSign := algo + "\n" + strconv.FormatInt(t.Unix(), 10) + "\n" + scope + "\n" + sha256Hex([]byte(canonical))
	kDate := hmacSHA256([]byte("TC3"+secretKey), date)
	kService := hmacSHA256(kDate, service)
	kSigning := hmacSHA256(kService, "tc3_request")
	signature = hex.EncodeToString(hmacSHA256(kSigning, toSign))
	header = algo + " Credential=" + secretID + "/" + scope + ", SignedHeaders=content-type;host, Signature=" + signature
	return header, signature
}

type class struct {
	reason                  notify.Reason
	retry, permanent, quota bool
}

var (
	retry     = func(r notify.Reason) class { return class{reason: r, retry: true} }
	permanent = func(r notify.Reason) class { return class{reason: r, permanent: true} }
	config    = func(r notify.Reason) class { return class{reason: r} }
	quota     = class{reason: notify.ReasonQuota, quota: true}
)

// codes maps Tencent SMS codes (sms/v20210111/errors.go, notify.md §3.3).
var codes = map[string]class{
	"LimitExceeded.PhoneNumberThirtySecondLimit":     retry(notify.ReasonRateLimited),
	"LimitExceeded.PhoneNumberOneHourLimit":          retry(notify.ReasonRateLimited),
	"LimitExceeded.DeliveryFrequencyLimit":           retry(notify.ReasonRateLimited),
	"RequestLimitExceeded":                           retry(notify.ReasonRateLimited),
	"FailedOperation.MarketingSendTimeConstraint":    retry(notify.ReasonRateLimited),
	"LimitExceeded.PhoneNumberDailyLimit":            quota,
	"LimitExceeded.PhoneNumberSameContentDailyLimit": quota,
	"LimitExceeded.AppDailyLimit":                    quota,
	"LimitExceeded.AppGlobalDailyLimit":              quota,
	"LimitExceeded.AppMainlandChinaDailyLimit":       quota,

	"FailedOperation.PhoneNumberInBlacklist":     permanent(notify.ReasonBlocked), // usually the user unsubscribed
	"InvalidParameterValue.IncorrectPhoneNumber": permanent(notify.ReasonUnreachableUser),
	"FailedOperation.PhoneNumberParseFail":       permanent(notify.ReasonUnreachableUser),
	"UnsupportedOperation.UnsupportedRegion":     permanent(notify.ReasonUnreachableUser),

	"FailedOperation.InsufficientBalanceInSmsPackage": config(notify.ReasonConfig),
	"FailedOperation.SignatureIncorrectOrUnapproved":  config(notify.ReasonConfig),
	"FailedOperation.TemplateIncorrectOrUnapproved":   config(notify.ReasonConfig),
	"InternalError.RequestTimeException":              config(notify.ReasonConfig), // clock skew
	"FailedOperation.ContainSensitiveWord":            config(notify.ReasonBadRequest),
	"LimitExceeded.PhoneNumberCountLimit":             config(notify.ReasonBadRequest),

	"InternalError.Timeout":         retry(notify.ReasonTimeout),
	"InternalError.SendAndRecvFail": retry(notify.ReasonServerError),
}

// Classify maps a Tencent code to the dispatcher's error, wrapping pe.
// Whole families are mapped by prefix; unknown codes are retried with
// reason unknown, bounded by the dispatcher's max attempts.
func Classify(code string, pe *sms.ProviderError) *notify.SendError {
	c, ok := codes[code]
	if !ok {
		family, _, _ := strings.Cut(code, ".")
		switch family {
		case "AuthFailure", "UnauthorizedOperation":
			c = config(notify.ReasonConfig)
		case "InvalidParameter", "InvalidParameterValue", "MissingParameter", "UnknownParameter", "UnsupportedOperation", "InvalidAction":
			c = config(notify.ReasonBadRequest)
		case "InternalError", "ResourceUnavailable":
			c = retry(notify.ReasonServerError)
		case "LimitExceeded":
			c = retry(notify.ReasonRateLimited)
		default:
			c = retry(notify.ReasonUnknown)
		}
	}
	return sms.Fail(c.reason, c.retry, c.permanent, c.quota, pe)
}
