// Package aliyun is the SMS channel through Aliyun 短信服务 (dysmsapi
// 2017-05-25 SendSms), called with the generic darabonba OpenAPI client,
// which signs with ACS3-HMAC-SHA256. OutId is the notice id, so receipts
// (SmsReport) carry it back, and Lookup finds a send by it
// (QuerySendDetails).
package aliyun

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

// DefaultEndpoint is Aliyun's SMS API.
const DefaultEndpoint = "https://dysmsapi.aliyuncs.com"

const (
	action  = "SendSms"
	version = "2017-05-25"
)

// Config configures the channel.
type Config struct {
	AccessKeyID     string
	AccessKeySecret string
	SignName        string
	// Endpoint is an http(s) URL; empty means DefaultEndpoint. http:// is
	// for simulators.
	Endpoint string
	// HTTPClient sends the requests; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Digests says that Template gives a digest (a notice with Members:
	// one message for several) a template of its own
	// (POLICYPUSH_SMS_DIGEST_TEMPLATE); without it, notices go one by one.
	Digests bool
	// Template chooses the template code and params of a notice.
	Template sms.TemplateFunc
	// LookupSettle is how long after a call Lookup answers its absence
	// from QuerySendDetails with sms.ErrNotSettled rather than not found.
	// 0, the default, means never: Aliyun lists a send within seconds, and
	// the dispatcher believes a not-found only SendTimeout + LookupGrace
	// after the call began.
	LookupSettle time.Duration
	// Now is the clock of Lookup; nil means time.Now.
	Now func() time.Time
}

// Channel sends notices by SMS through Aliyun. It is safe for concurrent use.
type Channel struct {
	// The darabonba client is not safe for concurrent use (CallApi writes
	// its Headers field), so each send borrows one from a pool.
	pool      sync.Pool
	newClient func() (*openapi.Client, error)
	sign      string
	tpl       sms.TemplateFunc
	digests   bool
	red       sms.Redactor
	settle    time.Duration
	now       func() time.Time
}

var (
	_ notify.LookupChannel = (*Channel)(nil)
	_ notify.DigestChannel = (*Channel)(nil)
)

// Digests implements notify.DigestChannel.
func (c *Channel) Digests() bool { return c.digests }

// New checks cfg and builds the channel.
func New(cfg Config) (*Channel, error) {
	switch {
	case cfg.AccessKeyID == "" || cfg.AccessKeySecret == "":
		return nil, errors.New("aliyun sms: access key id and secret are required")
	case cfg.SignName == "":
		return nil, errors.New("aliyun sms: sign name is required")
	case cfg.Template == nil:
		return nil, errors.New("aliyun sms: template func is required")
	}
	u, err := sms.ParseEndpoint("aliyun", cfg.Endpoint, DefaultEndpoint)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Channel{
		sign:    cfg.SignName,
		tpl:     cfg.Template,
		digests: cfg.Digests,
		red:     sms.Redactor{Secrets: []string{cfg.AccessKeySecret}},
		settle:  cfg.LookupSettle,
		now:     cfg.Now,
		newClient: func() (*openapi.Client, error) {
			return openapi.NewClient(&openapiutil.Config{
				AccessKeyId:     dara.String(cfg.AccessKeyID),
				AccessKeySecret: dara.String(cfg.AccessKeySecret),
				Endpoint:        dara.String(u.Host),
				Protocol:        dara.String(u.Scheme),
				HttpClient:      httpClient{hc},
			})
		},
	}
	first, err := c.newClient()
	if err != nil {
		return nil, errors.New("aliyun sms: " + c.red.Redact(err.Error(), ""))
	}
	c.pool.Put(first)
	return c, nil
}

// httpClient adapts *http.Client to dara.HttpClient; the transport dara
// builds is ignored in favour of the client's own.
type httpClient struct{ c *http.Client }

func (h httpClient) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return h.c.Do(req)
}

// Name implements notify.Channel.
func (c *Channel) Name() string { return notify.SMS }

// Send implements notify.Channel: one SendSms to to.Mobile. Its error is a
// *notify.SendError wrapping a redacted *sms.ProviderError.
func (c *Channel) Send(ctx context.Context, n *notify.Notice, to notify.Recipient) (notify.Result, error) {
	mobile := strings.TrimSpace(to.Mobile)
	if mobile == "" {
		return notify.Result{}, sms.Fail(notify.ReasonUnreachableUser, false, true, false,
			&sms.ProviderError{Provider: "aliyun", Message: "no mobile number"})
	}
	code, params, err := c.tpl(n)
	if err != nil || code == "" {
		if err == nil {
			err = errors.New("empty template code")
		}
		return notify.Result{}, sms.Config(notify.ReasonConfig,
			&sms.ProviderError{Provider: "aliyun", Message: "template: " + c.red.Redact(err.Error(), mobile)})
	}
	if params == nil {
		params = map[string]string{}
	}
	tp, err := json.Marshal(params)
	if err != nil {
		return notify.Result{}, sms.Config(notify.ReasonBadRequest, &sms.ProviderError{Provider: "aliyun", Message: "template params: " + err.Error()})
	}
	query := map[string]*string{
		"PhoneNumbers":  dara.String(mobile),
		"SignName":      dara.String(c.sign),
		"TemplateCode":  dara.String(code),
		"TemplateParam": dara.String(string(tp)),
		"OutId":         dara.String(strconv.FormatInt(n.ID, 10)),
	}
	body, err := c.call(ctx, action, query, mobile)
	if err != nil {
		return notify.Result{}, err
	}
	return notify.Result{ProviderMsgID: str(body, "BizId")}, nil
}

// call makes one RPC call and returns its body once Aliyun answered Code
// OK; any other answer is a classified *notify.SendError.
func (c *Channel) call(ctx context.Context, action string, query map[string]*string, mobile string) (map[string]any, error) {
	p := &openapiutil.Params{
		Action:      dara.String(action),
		Version:     dara.String(version),
		Protocol:    dara.String("HTTPS"),
		Pathname:    dara.String("/"),
		Method:      dara.String("POST"),
		AuthType:    dara.String("AK"),
		Style:       dara.String("RPC"),
		ReqBodyType: dara.String("json"),
		BodyType:    dara.String("json"),
	}
	client, _ := c.pool.Get().(*openapi.Client)
	if client == nil {
		var err error
		if client, err = c.newClient(); err != nil {
			return nil, sms.Config(notify.ReasonConfig, &sms.ProviderError{Provider: "aliyun", Message: c.red.Redact(err.Error(), mobile)})
		}
	}
	res, err := client.CallApiWithCtx(ctx, p, &openapiutil.OpenApiRequest{Query: query}, &dara.RuntimeOptions{})
	c.pool.Put(client)
	if err != nil {
		return nil, c.classifyErr(err, mobile)
	}
	body, _ := res["body"].(map[string]any)
	status, _ := res["statusCode"].(int)
	if body == nil {
		return nil, sms.Fail(notify.ReasonServerError, true, false, false,
			&sms.ProviderError{Provider: "aliyun", Status: status, Message: "response without a JSON body"})
	}
	if code := str(body, "Code"); code != "OK" {
		return nil, Classify(code, &sms.ProviderError{
			Provider: "aliyun", Status: status, Code: code,
			Message: c.red.Redact(str(body, "Message"), mobile), RequestID: str(body, "RequestId"),
		})
	}
	return body, nil
}

func str(body map[string]any, k string) string { s, _ := body[k].(string); return s }

// classifyErr classifies an error of the client: an HTTP 4xx/5xx answer
// (a *tea.SDKError with Aliyun's code) or a transport failure.
func (c *Channel) classifyErr(err error, mobile string) *notify.SendError {
	var te *tea.SDKError
	if !errors.As(err, &te) {
		return sms.Transport("aliyun", err, c.red, mobile)
	}
	pe := &sms.ProviderError{
		Provider: "aliyun",
		Status:   tea.IntValue(te.StatusCode),
		Code:     tea.StringValue(te.Code),
		Message:  c.red.Redact(tea.StringValue(te.Message), mobile),
	}
	if pe.Code == "" && pe.Status == 0 {
		return sms.Transport("aliyun", errors.New(tea.StringValue(te.Message)), c.red, mobile)
	}
	se := Classify(pe.Code, pe)
	if se.Reason == notify.ReasonUnknown && pe.Status != 0 {
		switch {
		case pe.Status == http.StatusTooManyRequests:
			return sms.Fail(notify.ReasonRateLimited, true, false, false, pe)
		case pe.Status >= 500:
			return sms.Fail(notify.ReasonServerError, true, false, false, pe)
		case pe.Status >= 400:
			return sms.Config(notify.ReasonBadRequest, pe)
		}
	}
	return se
}

type class struct {
	reason                  notify.Reason
	retry, permanent, quota bool
}

var (
	retry     = func(r notify.Reason) class { return class{reason: r, retry: true} }
	permanent = func(r notify.Reason) class { return class{reason: r, permanent: true} }
	config    = func(r notify.Reason) class { return class{reason: r} }
)

// codes maps Aliyun's SendSms codes (notify.md §3.2) to a class.
var codes = map[string]class{
	"isv.BUSINESS_LIMIT_CONTROL": retry(notify.ReasonRateLimited), // per-number minute/hour flow control; daily: see Classify
	"isv.DAY_LIMIT_CONTROL":      {reason: notify.ReasonQuota, quota: true},
	"Throttling":                 retry(notify.ReasonRateLimited),
	"Throttling.User":            retry(notify.ReasonRateLimited),
	"Throttling.Api":             retry(notify.ReasonRateLimited),
	"isp.SYSTEM_ERROR":           retry(notify.ReasonServerError),
	"ServiceUnavailable":         retry(notify.ReasonServerError),
	"InternalError":              retry(notify.ReasonServerError),

	"isv.MOBILE_NUMBER_ILLEGAL":   permanent(notify.ReasonUnreachableUser),
	"isv.MOBILE_COUNT_OVER_LIMIT": permanent(notify.ReasonUnreachableUser),

	"isv.SMS_TEMPLATE_ILLEGAL":    config(notify.ReasonConfig),
	"isv.SMS_SIGNATURE_ILLEGAL":   config(notify.ReasonConfig),
	"isv.SMS_SIGN_ILLEGAL":        config(notify.ReasonConfig),
	"isv.AMOUNT_NOT_ENOUGH":       config(notify.ReasonConfig),
	"isv.OUT_OF_SERVICE":          config(notify.ReasonConfig),
	"isv.ACCOUNT_ABNORMAL":        config(notify.ReasonConfig),
	"isv.ACCOUNT_NOT_EXISTS":      config(notify.ReasonConfig),
	"isp.RAM_PERMISSION_DENY":     config(notify.ReasonConfig),
	"InvalidAccessKeyId":          config(notify.ReasonConfig),
	"InvalidAccessKeyId.NotFound": config(notify.ReasonConfig),
	"InvalidAccessKeyId.Inactive": config(notify.ReasonConfig),
	"SignatureDoesNotMatch":       config(notify.ReasonConfig),
	"IncompleteSignature":         config(notify.ReasonConfig),
	"Forbidden.RAM":               config(notify.ReasonConfig),
	"Forbidden.AccessKeyDisabled": config(notify.ReasonConfig),

	"isv.TEMPLATE_MISSING_PARAMETERS": config(notify.ReasonBadRequest),
	"isv.INVALID_PARAMETERS":          config(notify.ReasonBadRequest),
	"isv.INVALID_JSON_PARAM":          config(notify.ReasonBadRequest),
	"isv.PARAM_LENGTH_LIMIT":          config(notify.ReasonBadRequest),
	"isv.PARAM_NOT_SUPPORT_URL":       config(notify.ReasonBadRequest),
	"isv.BLACK_KEY_CONTROL_LIMIT":     config(notify.ReasonBadRequest),
	"MissingParameter":                config(notify.ReasonBadRequest),
	"InvalidParameter":                config(notify.ReasonBadRequest),
}

// Classify maps an Aliyun code to the dispatcher's error, wrapping pe.
// isv.BUSINESS_LIMIT_CONTROL is a retry unless its message names the daily
// limit (天级流控), which is a quota: defer to tomorrow. Unknown codes are
// retried with reason unknown, bounded by the dispatcher's max attempts.
func Classify(code string, pe *sms.ProviderError) *notify.SendError {
	c, ok := codes[code]
	switch {
	case code == "isv.BUSINESS_LIMIT_CONTROL" && (strings.Contains(pe.Message, "天级") || strings.Contains(strings.ToLower(pe.Message), "day")):
		c = class{reason: notify.ReasonQuota, quota: true}
	case !ok && strings.HasPrefix(code, "InvalidAccessKeyId"), !ok && strings.HasPrefix(code, "Forbidden"):
		c = config(notify.ReasonConfig)
	case !ok:
		c = retry(notify.ReasonUnknown)
	}
	return sms.Fail(c.reason, c.retry, c.permanent, c.quota, pe)
}
