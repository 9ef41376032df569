// Package receipt takes what providers report back about notices: WeChat's
// TEMPLATESENDJOBFINISH and subscribe_msg_sent_event results and its
// follow/unfollow events on the official-account callback, and the SMS
// delivery reports and opt-out replies of Aliyun and Tencent Cloud.
//
// Handlers only verify, persist and answer: reports arrive in bursts of
// tens of thousands, and a provider that waits too long retries or alarms.
package receipt

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	// Only the util subpackage: the root package's init turns on debug
	// logging of every raw callback, openids included.
	"github.com/silenceper/wechat/v2/util"

	"github.com/policypush/policypush/internal/pii"
)

// Report is one delivery report.
type Report struct {
	Channel       string // "wechat" or "sms"
	ProviderMsgID string // the id the provider returned when the notice was sent (WeChat msgid, Aliyun BizId, Tencent SerialNo/sid)
	Delivered     bool
	Reason        string // when !Delivered, one of: blocked, unreachable_user, server_error, undelivered
	Fallback      bool   // the channel refused this recipient for good: the notice should move on to its next channel
	OptOut        string // non-empty: also record that the notice's subject opted out of Channel, with this source ("wechat_block")
	OpenID        string // WeChat recipient; lets the store find a bizsend notice, which is sent without an id
	NoticeID      string // our notice id as the provider echoes it (Aliyun out_id); finds a notice whose send outcome a crash lost
	At            time.Time
}

// Contact names a recipient as the provider knows it.
type Contact struct {
	Kind  string // "openid" or "mobile"
	Value string // an openid, or an 11-digit mainland mobile
}

// Store persists what callbacks report.
type Store interface {
	// Receipt records a report; known is false when no notice matches.
	Receipt(ctx context.Context, r Report) (known bool, err error)
	// OptOut records that the subjects reachable at c opted out of channel, with source; it returns how many subjects c names.
	OptOut(ctx context.Context, c Contact, channel, source string, at time.Time) (subjects int, err error)
	// OptIn removes the channel opt-outs recorded with source for the subjects at c; it returns how many subjects c names.
	OptIn(ctx context.Context, c Contact, channel, source string, at time.Time) (subjects int, err error)
}

// Observer counts callbacks with bounded labels.
type Observer interface {
	Receipt(channel, status string) // status: delivered, failed, unknown_id, opt_out, opt_in, unknown_contact
	Refused(channel string)         // bad signature / undecryptable
}

// Config holds the WeChat official account's server settings.
type Config struct {
	WeChatToken  string // verifies signatures; "" refuses every WeChat callback with 403
	WeChatAppID  string // checked against the appid inside encrypted messages
	WeChatAESKey string // EncodingAESKey (43 chars); "" refuses encrypted (encrypt_type=aes) messages with 403
}

// Handlers serves the callbacks.
type Handlers struct {
	cfg   Config
	store Store
	obs   Observer
	log   *slog.Logger
	now   func() time.Time
}

// Channels, reasons and sources as the store and the metrics know them.
const (
	chanWeChat = "wechat"
	chanSMS    = "sms"

	reasonBlocked     = "blocked"
	reasonUnreachable = "unreachable_user"
	reasonServer      = "server_error"
	reasonUndelivered = "undelivered"

	srcWeChatBlock       = "wechat_block"
	srcWeChatUnsubscribe = "wechat_unsubscribe"
	srcSMSReply          = "sms_reply"
)

// Body limits: a WeChat event is a few hundred bytes; SMS providers batch
// reports into arrays.
const (
	wechatBodyLimit = 64 << 10
	smsBodyLimit    = 4 << 20
)

// New returns the handlers. It fails for a malformed EncodingAESKey, or
// one given without the app id that encrypted messages must carry, so a
// misconfiguration shows at start rather than as refused callbacks.
func New(cfg Config, st Store, obs Observer, log *slog.Logger, now func() time.Time) (*Handlers, error) {
	if k := cfg.WeChatAESKey; k != "" {
		key, err := base64.StdEncoding.DecodeString(k + "=")
		if err != nil {
			return nil, fmt.Errorf("wechat EncodingAESKey: %w", err)
		}
		if len(k) != 43 || len(key) != 32 {
			return nil, fmt.Errorf("wechat EncodingAESKey: %d characters decoding to %d bytes, want 43 decoding to 32", len(k), len(key))
		}
		if cfg.WeChatAppID == "" {
			return nil, errors.New("wechat EncodingAESKey given without the app id")
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Handlers{cfg: cfg, store: st, obs: obs, log: log, now: now}, nil
}

// Register adds /wechat/callback, POST /sms/callback/aliyun and POST
// /sms/callback/tencent to mux.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /wechat/callback", h.wechatCheck)
	mux.HandleFunc("POST /wechat/callback", h.wechatEvent)
	mux.HandleFunc("POST /sms/callback/aliyun", h.aliyun)
	mux.HandleFunc("POST /sms/callback/tencent", h.tencent)
}

// signed reports whether got is WeChat's signature of the token and parts:
// the hex SHA-1 of them sorted and joined.
func (h *Handlers) signed(got string, parts ...string) bool {
	if h.cfg.WeChatToken == "" {
		return false
	}
	want := util.Signature(append(parts, h.cfg.WeChatToken)...)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

func (h *Handlers) refuse(w http.ResponseWriter, why string) {
	h.obs.Refused(chanWeChat)
	// The query is not logged: in safe mode it carries the sender's openid.
	h.log.Warn("wechat callback refused", "reason", why)
	http.Error(w, why, http.StatusForbidden)
}

// wechatCheck answers the check WeChat makes when the server URL is
// configured; it is signed like plain messages, even in safe mode.
func (h *Handlers) wechatCheck(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !h.signed(q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
		h.refuse(w, "bad signature")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, q.Get("echostr"))
}

// envelope is a safe-mode message before decryption.
type envelope struct {
	Encrypt string `xml:"Encrypt"`
}

// message is the part of a WeChat message receipts read.
type message struct {
	FromUserName string `xml:"FromUserName"`
	MsgType      string `xml:"MsgType"`
	Event        string `xml:"Event"`
	// TEMPLATESENDJOBFINISH carries its id in MsgID; ordinary messages
	// use MsgId, which XML names do not confuse with it.
	MsgID  string     `xml:"MsgID"`
	Status string     `xml:"Status"`
	Sent   []sentItem `xml:"SubscribeMsgSentEvent>List"`
}

// sentItem is the result of one bizsend in a subscribe_msg_sent_event.
type sentItem struct {
	MsgID     string `xml:"MsgID"`
	ErrorCode string `xml:"ErrorCode"`
}

func (h *Handlers) wechatEvent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	safe := q.Get("encrypt_type") == "aes"
	switch {
	case safe && h.cfg.WeChatAESKey == "":
		h.refuse(w, "encrypted message without an EncodingAESKey")
		return
	case !safe && !h.signed(q.Get("signature"), ts, nonce):
		h.refuse(w, "bad signature")
		return
	}
	body, ok := readBody(w, r, wechatBodyLimit, "bad message", "message too large")
	if !ok {
		return
	}
	if safe {
		var env envelope
		if err := xml.Unmarshal(body, &env); err != nil {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		// msg_signature covers the ciphertext, so nothing forged is decrypted.
		if !h.signed(q.Get("msg_signature"), ts, nonce, env.Encrypt) {
			h.refuse(w, "bad msg_signature")
			return
		}
		var err error
		if _, body, err = util.DecryptMsg(h.cfg.WeChatAppID, env.Encrypt, h.cfg.WeChatAESKey); err != nil {
			h.refuse(w, "undecryptable message")
			return
		}
	}
	var m message
	if err := xml.Unmarshal(body, &m); err != nil {
		http.Error(w, "bad message", http.StatusBadRequest)
		return
	}
	if err := h.wechatMessage(r.Context(), m); err != nil {
		h.log.Warn("wechat callback not recorded", "event", m.Event, "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable) // WeChat retries
		return
	}
	// The plain string even in safe mode: WeChat accepts it, and an
	// encrypted empty reply is what makes it raise "invalid answer" alarms.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "success")
}

// wechatMessage records what m reports; other messages are not ours.
func (h *Handlers) wechatMessage(ctx context.Context, m message) error {
	if m.MsgType != "event" {
		return nil
	}
	openid := strings.TrimSpace(m.FromUserName)
	switch m.Event {
	case "TEMPLATESENDJOBFINISH":
		rep := Report{Channel: chanWeChat, ProviderMsgID: strings.TrimSpace(m.MsgID), At: h.now()}
		switch status := strings.TrimSpace(m.Status); {
		case status == "success":
			rep.Delivered = true
		case strings.Contains(status, "user block"): // the user refuses the account's messages
			rep.Reason, rep.Fallback, rep.OptOut = reasonBlocked, true, srcWeChatBlock
		default: // "failed: system failed", "failed:freq limit"
			rep.Reason = reasonServer
		}
		return h.record(ctx, rep)
	case "subscribe_msg_sent_event":
		for _, it := range m.Sent {
			// bizsend returns no msgid, so the store finds the notice by OpenID.
			rep := Report{Channel: chanWeChat, ProviderMsgID: strings.TrimSpace(it.MsgID), OpenID: openid, At: h.now()}
			switch strings.TrimSpace(it.ErrorCode) {
			case "0":
				rep.Delivered = true
			case "43101": // refused, or the one-time subscription is used up
				rep.Reason, rep.Fallback = reasonUnreachable, true
			default:
				rep.Reason = reasonServer
			}
			// Retrying after a failure records the earlier items again,
			// which the store ignores.
			if err := h.record(ctx, rep); err != nil {
				return err
			}
		}
	case "unsubscribe":
		return h.consent(ctx, Contact{"openid", openid}, chanWeChat, srcWeChatUnsubscribe, false)
	case "subscribe":
		return h.consent(ctx, Contact{"openid", openid}, chanWeChat, srcWeChatUnsubscribe, true)
	}
	return nil
}

// record persists one report and counts it.
func (h *Handlers) record(ctx context.Context, rep Report) error {
	known, err := h.store.Receipt(ctx, rep)
	if err != nil {
		return fmt.Errorf("record %s receipt: %w", rep.Channel, err)
	}
	switch {
	case !known:
		h.obs.Receipt(rep.Channel, "unknown_id")
		args := []any{"channel", rep.Channel, "provider_msg_id", rep.ProviderMsgID}
		if rep.OpenID != "" {
			args = append(args, "openid", pii.MaskOpenID(rep.OpenID))
		}
		h.log.Info("receipt for an unknown notice", args...)
	case rep.Delivered:
		h.obs.Receipt(rep.Channel, "delivered")
	default:
		h.obs.Receipt(rep.Channel, "failed")
	}
	return nil
}

// consent records an opt-out, or with in an opt-in, and counts it.
func (h *Handlers) consent(ctx context.Context, c Contact, channel, source string, in bool) error {
	op, status := h.store.OptOut, "opt_out"
	if in {
		op, status = h.store.OptIn, "opt_in"
	}
	n := 0
	if c.Value != "" {
		var err error
		if n, err = op(ctx, c, channel, source, h.now()); err != nil {
			return fmt.Errorf("record %s %s: %w", channel, status, err)
		}
	}
	if n == 0 {
		h.obs.Receipt(channel, "unknown_contact")
		h.log.Info("consent change for an unknown contact", "channel", channel, "change", status, "contact", mask(c))
		return nil
	}
	h.obs.Receipt(channel, status)
	h.log.Info("consent change recorded", "channel", channel, "change", status, "source", source, "subjects", n, "contact", mask(c))
	return nil
}

func mask(c Contact) string {
	if c.Kind == "mobile" {
		return pii.MaskMobile(c.Value)
	}
	return pii.MaskOpenID(c.Value)
}

// smsReply records an SMS reply: an opt-out word opts the sender out of
// SMS; anything else is not ours.
func (h *Handlers) smsReply(ctx context.Context, nationCode, mobile, text string) error {
	if !isOptOut(text) {
		return nil
	}
	m, ok := mainlandMobile(nationCode, mobile)
	if !ok { // no subject has a number outside the mainland plan
		h.obs.Receipt(chanSMS, "unknown_contact")
		h.log.Info("opt-out reply from an unusable number", "contact", pii.MaskMobile(mobile))
		return nil
	}
	return h.consent(ctx, Contact{"mobile", m}, chanSMS, srcSMSReply, false)
}

// smsReport is the Report of an SMS delivery receipt.
func (h *Handlers) smsReport(providerMsgID, noticeID string, delivered bool) Report {
	rep := Report{Channel: chanSMS, ProviderMsgID: providerMsgID, NoticeID: noticeID, Delivered: delivered, At: h.now()}
	if !delivered {
		rep.Reason = reasonUndelivered
	}
	return rep
}

// answerJSON writes an SMS provider's expected JSON answer.
func answerJSON(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// aliyunItem is one entry of Aliyun's SmsReport (biz_id set) or SmsUp
// (content set) push.
type aliyunItem struct {
	PhoneNumber string `json:"phone_number"`
	Success     bool   `json:"success"`
	BizID       string `json:"biz_id"`
	OutID       string `json:"out_id"`
	Content     string `json:"content"`
}

func (h *Handlers) aliyun(w http.ResponseWriter, r *http.Request) {
	answer := func(code int, body string) { answerJSON(w, code, body) }
	body, ok := readBody(w, r, smsBodyLimit, `{"code":1,"msg":"bad report"}`, `{"code":1,"msg":"report too large"}`)
	if !ok {
		return
	}
	var items []aliyunItem
	if err := json.Unmarshal(body, &items); err != nil {
		answer(http.StatusBadRequest, `{"code":1,"msg":"bad report"}`)
		return
	}
	for _, it := range items {
		var err error
		switch {
		case it.BizID != "":
			err = h.record(r.Context(), h.smsReport(it.BizID, it.OutID, it.Success))
		case it.Content != "":
			err = h.smsReply(r.Context(), "", it.PhoneNumber, it.Content)
		}
		if err != nil {
			// Aliyun retries the whole batch; what was recorded is ignored then.
			h.log.Warn("aliyun callback not recorded", "err", err)
			answer(http.StatusServiceUnavailable, `{"code":1,"msg":"try again"}`)
			return
		}
	}
	answer(http.StatusOK, `{"code":0,"msg":"成功"}`)
}

// tencentStatus is one entry of Tencent Cloud's status callback.
type tencentStatus struct {
	ReportStatus string `json:"report_status"`
	SID          string `json:"sid"`
}

// tencentReply is Tencent Cloud's reply (上行) callback.
type tencentReply struct {
	NationCode string `json:"nationcode"`
	Mobile     string `json:"mobile"`
	Text       string `json:"text"`
}

func (h *Handlers) tencent(w http.ResponseWriter, r *http.Request) {
	answer := func(code int, body string) { answerJSON(w, code, body) }
	body, ok := readBody(w, r, smsBodyLimit, `{"result":1,"errmsg":"bad report"}`, `{"result":1,"errmsg":"report too large"}`)
	if !ok {
		return
	}
	var err error
	// Status reports come as an array, a reply as one object.
	switch body = []byte(strings.TrimSpace(string(body))); {
	case len(body) > 0 && body[0] == '[':
		var items []tencentStatus
		if json.Unmarshal(body, &items) != nil {
			answer(http.StatusBadRequest, `{"result":1,"errmsg":"bad status report"}`)
			return
		}
		for _, it := range items {
			if err = h.record(r.Context(), h.smsReport(it.SID, "", it.ReportStatus == "SUCCESS")); err != nil {
				break
			}
		}
	default:
		var rep tencentReply
		if json.Unmarshal(body, &rep) != nil {
			answer(http.StatusBadRequest, `{"result":1,"errmsg":"bad reply"}`)
			return
		}
		err = h.smsReply(r.Context(), rep.NationCode, rep.Mobile, rep.Text)
	}
	if err != nil {
		h.log.Warn("tencent callback not recorded", "err", err)
		answer(http.StatusServiceUnavailable, `{"result":1,"errmsg":"try again"}`)
		return
	}
	answer(http.StatusOK, `{"result":0,"errmsg":"OK"}`)
}

// readBody reads at most limit bytes of r's body; on failure it answers
// 413 with tooLarge or 400 with bad, in the provider's format, and returns
// false. A cut body is never parsed.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, bad, tooLarge string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, true
	}
	code := http.StatusBadRequest
	if _, over := errors.AsType[*http.MaxBytesError](err); over {
		code, bad = http.StatusRequestEntityTooLarge, tooLarge
	}
	if strings.HasPrefix(bad, "{") {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	_, _ = io.WriteString(w, bad)
	return nil, false
}

// isOptOut reports whether an SMS reply asks to stop: the carriers'
// conventional T/TD/N/R or their Chinese forms. Full-width letters, which
// Chinese input methods often produce, count as their ASCII forms.
func isOptOut(text string) bool {
	t := strings.ToUpper(strings.TrimSpace(strings.Map(func(r rune) rune {
		if r >= '！' && r <= '～' {
			return r - '！' + '!'
		}
		return r
	}, text)))
	switch t {
	case "T", "TD", "N", "R", "退订", "取消", "拒收":
		return true
	}
	return strings.Contains(t, "退订")
}

// mainlandMobile returns the 11-digit mainland form of a number reported
// with an optional nation code or +86/0086/86 prefix; ok is false for any
// other number.
func mainlandMobile(nationCode, mobile string) (m string, ok bool) {
	m = strings.TrimSpace(mobile)
	switch strings.TrimPrefix(strings.TrimSpace(nationCode), "+") {
	case "", "86":
	default:
		return "", false
	}
	for _, prefix := range []string{"+86", "0086", "86"} {
		if rest, cut := strings.CutPrefix(m, prefix); cut && len(rest) == 11 {
			m = rest
			break
		}
	}
	if len(m) != 11 || m[0] != '1' {
		return "", false
	}
	for _, c := range []byte(m) {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return m, true
}
