// Package wechat is policypush's WeChat official-account channel: template
// messages and subscribe notifications (bizsend) through
// github.com/silenceper/wechat/v2, with the stable access token kept in a
// shared cache, errors classified per notify.md §2.6 and secrets redacted.
//
// It builds the account from silenceper's subpackages and never imports the
// root package, whose init turns on debug logging of raw callback XML.
package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"
)

// DefaultAPIBase is WeChat's API host.
const DefaultAPIBase = "https://api.weixin.qq.com"

// DefaultTimeout bounds each HTTP request when Config.HTTPClient is nil.
const DefaultTimeout = 10 * time.Second

// DedupWindow is how long WeChat drops a repeated template send with the
// same openid and client_msg_id.
const DedupWindow = 10 * time.Minute

// The paths silenceper uses (its URLs are fixed to api.weixin.qq.com; the
// router of transport.go moves them to APIBase).
const (
	templateSendURL  = DefaultAPIBase + "/cgi-bin/message/template/send"
	subscribeSendURL = DefaultAPIBase + "/cgi-bin/message/subscribe/bizsend"
)

// Config configures a Client (POLICYPUSH_WECHAT_*).
type Config struct {
	AppID  string
	Secret string
	// Token and EncodingAESKey verify callbacks; only OfficialAccount().GetServer uses them.
	Token          string
	EncodingAESKey string
	// APIBase replaces scheme, host and path prefix of every request
	// (POLICYPUSH_WECHAT_API_BASE); default https://api.weixin.qq.com.
	APIBase string
	// HTTPClient sends the requests; default a client with DefaultTimeout.
	HTTPClient *http.Client
}

// Client sends WeChat notices. It is safe for concurrent use.
type Client struct {
	appID    string
	oa       *officialaccount.OfficialAccount
	token    credential.AccessTokenContextHandle
	cache    Cache
	tokenKey string
	hc       *http.Client
	base     *url.URL
	secret   string
}

// Message is one notice.
type Message struct {
	ToOpenID   string
	TemplateID string
	URL        string            // the page the notice opens (template url / bizsend page)
	Data       map[string]string // keyword ("thing1") → value; Send applies FitData
	// Subscribe sends a subscribe notification (bizsend) instead of a
	// template message.
	Subscribe bool
	// ClientMsgID is sent as client_msg_id on template sends: WeChat drops a
	// repeat for the same openid within about 10 minutes. bizsend has no
	// such field.
	ClientMsgID string
}

// New returns a Client using the stable-token endpoint and cache (shared by
// every Client and replica that should share the token; nil means a new
// MemoryCache).
func New(cfg Config, cache Cache) (*Client, error) {
	if cfg.AppID == "" || cfg.Secret == "" {
		return nil, errors.New("wechat: AppID and Secret are required")
	}
	base, err := parseBase(cfg.APIBase)
	if err != nil {
		return nil, err
	}
	if cache == nil {
		cache = NewMemoryCache()
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	installRouter()
	oa := officialaccount.NewOfficialAccount(&oaconfig.Config{
		AppID:          cfg.AppID,
		AppSecret:      cfg.Secret,
		Token:          cfg.Token,
		EncodingAESKey: cfg.EncodingAESKey,
		Cache:          cache,
		UseStableAK:    true,
	})
	tok, ok := oa.GetContext().AccessTokenHandle.(credential.AccessTokenContextHandle)
	if !ok {
		return nil, errors.New("wechat: silenceper's stable token handle lacks GetAccessTokenContext")
	}
	return &Client{
		appID:    cfg.AppID,
		oa:       oa,
		token:    tok,
		cache:    cache,
		tokenKey: credential.CacheKeyOfficialAccountPrefix + "_stable_access_token_" + cfg.AppID,
		hc:       hc,
		base:     base,
		secret:   cfg.Secret,
	}, nil
}

// OfficialAccount is the underlying silenceper account (for the callback
// server). Its calls reach APIBase only with a context from Context.
func (c *Client) OfficialAccount() *officialaccount.OfficialAccount { return c.oa }

// Context returns ctx marked so that silenceper calls made with it go to
// this Client's APIBase through its HTTP client.
func (c *Client) Context(ctx context.Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// DedupWindow is WeChat's client_msg_id window.
func (c *Client) DedupWindow() time.Duration { return DedupWindow }

type templateSend struct {
	ToUser      string                               `json:"touser"`
	TemplateID  string                               `json:"template_id"`
	URL         string                               `json:"url,omitempty"`
	Data        map[string]*message.TemplateDataItem `json:"data"`
	ClientMsgID string                               `json:"client_msg_id,omitempty"`
}

type subscribeSend struct {
	ToUser     string                                `json:"touser"`
	TemplateID string                                `json:"template_id"`
	Page       string                                `json:"page,omitempty"`
	Data       map[string]*message.SubscribeDataItem `json:"data"`
}

type sendResp struct {
	util.CommonError
	MsgID int64 `json:"msgid"`
}

// Send sends m and returns WeChat's msgid ("" for bizsend, whose id only
// arrives in subscribe_msg_sent_event). Every error is an *Error. A stale
// token (40001, 42001, 40014) is dropped from the cache and the send retried
// once.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	sc := scrubber{c.secret, m.ToOpenID}
	if m.ToOpenID == "" || m.TemplateID == "" {
		return "", errorf(ClassConfig, ReasonBadRequest, "openid and template id are required")
	}
	if !routerInstalled() {
		return "", errorf(ClassConfig, ReasonConfig, "silenceper util.DefaultHTTPClient was replaced; requests would bypass APIBase")
	}
	ctx = c.Context(ctx)
	for attempt := 0; ; attempt++ {
		tok, err := c.token.GetAccessTokenContext(ctx)
		if err != nil {
			e := sc.error(Classify(err))
			if e.Reason == ReasonUnknown && e.Code == 0 {
				e.Reason = ReasonToken
			}
			return "", e
		}
		sc := append(sc, tok)
		id, err := c.post(ctx, tok, m)
		if err == nil {
			return id, nil
		}
		e := sc.error(Classify(err))
		if tokenCode(e.Code) && attempt == 0 {
			c.dropToken(tok)
			continue
		}
		return "", e
	}
}

func (c *Client) post(ctx context.Context, tok string, m Message) (string, error) {
	var body any
	uri := templateSendURL
	fitted := FitData(m.Data)
	if m.Subscribe {
		uri = subscribeSendURL
		data := make(map[string]*message.SubscribeDataItem, len(m.Data))
		for k, v := range fitted {
			data[k] = &message.SubscribeDataItem{Value: v}
		}
		body = subscribeSend{ToUser: m.ToOpenID, TemplateID: m.TemplateID, Page: m.URL, Data: data}
	} else {
		data := make(map[string]*message.TemplateDataItem, len(m.Data))
		for k, v := range fitted {
			data[k] = &message.TemplateDataItem{Value: v}
		}
		body = templateSend{ToUser: m.ToOpenID, TemplateID: m.TemplateID, URL: m.URL, Data: data, ClientMsgID: m.ClientMsgID}
	}
	b, err := util.PostJSONContext(ctx, uri+"?access_token="+tok, body)
	if err != nil {
		return "", err
	}
	var r sendResp
	if err := json.Unmarshal(b, &r); err != nil {
		return "", errorf(ClassRetryable, ReasonServer, "undecodable response (%d bytes)", len(b))
	}
	if r.ErrCode != 0 {
		return "", FromCode(int(r.ErrCode), r.ErrMsg)
	}
	if r.MsgID == 0 {
		return "", nil
	}
	return strconv.FormatInt(r.MsgID, 10), nil
}

// dropToken deletes the cached token if it is still the one WeChat refused,
// so that concurrent senders refresh it once, not once each.
func (c *Client) dropToken(stale string) {
	if v, ok := c.cache.Get(c.tokenKey).(string); ok && v == stale {
		_ = c.cache.Delete(c.tokenKey)
	}
}
