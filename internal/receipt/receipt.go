// Package receipt takes what providers report back about notices: WeChat's
// TEMPLATESENDJOBFINISH and subscribe_msg_sent_event results and its
// follow/unfollow events on the official-account callback, and the SMS
// delivery reports and opt-out replies of Aliyun and Tencent Cloud.
//
// Handlers only verify, persist and answer: reports arrive in bursts of
// tens of thousands, and a provider that waits too long retries or alarms.
//
// A callback proves where it came from before it changes anything: SMS
// callbacks carry a secret key in their URL, WeChat callbacks a signature,
// a fresh timestamp and a nonce not seen before, and every callback can be
// limited to the providers' networks. What a callback body reports is
// recorded in one transaction: all of it, or, when any part fails, none.
package receipt

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	// Only the util subpackage: the root package's init turns on debug
	// logging of every raw callback, openids included.
	"github.com/silenceper/wechat/v2/util"

	"github.com/policypush/policypush/internal/httpapi"
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
	// Batch runs fn in one transaction: what fn records through tx
	// commits when fn returns nil, and none of it when fn fails.
	Batch(ctx context.Context, fn func(tx Tx) error) error
	// ForgetNonces deletes the remembered WeChat (timestamp, nonce) pairs
	// whose timestamp is before before (Unix seconds).
	ForgetNonces(ctx context.Context, before int64) error
}

// Tx records one callback body's reports.
type Tx interface {
	// Receipt records a report; known is false when no notice matches. An
	// error wrapping ErrTooEarly leaves tx usable: the report may be for a
	// notice whose send is not recorded yet.
	Receipt(ctx context.Context, r Report) (known bool, err error)
	// OptOut records that the subjects reachable at c opted out of channel, with source; it returns how many subjects c names.
	OptOut(ctx context.Context, c Contact, channel, source string, at time.Time) (subjects int, err error)
	// OptIn removes the channel opt-outs recorded with source for the subjects at c; it returns how many subjects c names.
	OptIn(ctx context.Context, c Contact, channel, source string, at time.Time) (subjects int, err error)
	// FirstSeen remembers a WeChat callback's (timestamp, nonce), shared
	// by every replica; it is false when the pair was remembered before.
	FirstSeen(ctx context.Context, timestamp int64, nonce string) (bool, error)
}

// Observer counts callbacks with bounded labels.
type Observer interface {
	Receipt(channel, status string) // status: delivered, failed, unknown_id, opt_out, opt_in, unknown_contact
	// Refused counts a refused callback; provider is wechat, aliyun or
	// tencent, reason one of the Refused* constants.
	Refused(provider, reason string)
}

// Why a callback is refused (403), as Observer.Refused counts it.
const (
	RefusedKey           = "key"           // an SMS callback without the right ?key=
	RefusedNetwork       = "network"       // from outside Config.Allow
	RefusedSignature     = "signature"     // a WeChat signature that does not match, or no token to check it
	RefusedUndecryptable = "undecryptable" // a signed safe-mode message that does not decrypt for this account
	RefusedStale         = "stale"         // a WeChat timestamp more than Window from the clock
	RefusedReplay        = "replay"        // a WeChat (timestamp, nonce) seen before
	RefusedMode          = "mode"          // plain mode with an AES key configured, or safe mode without one
)

// Window is how far a WeChat callback's timestamp may be from the clock,
// either way. The nonces of accepted callbacks are remembered for twice as
// long, which covers replicas whose clocks differ by up to Window.
const Window = 300 * time.Second

// Config holds the providers' callback settings.
type Config struct {
	WeChatToken  string // verifies signatures; "" refuses every WeChat callback with 403
	WeChatAppID  string // checked against the appid inside encrypted messages
	WeChatAESKey string // EncodingAESKey (43 chars); "" refuses encrypted (encrypt_type=aes) messages, set refuses plain ones, with 403
	// SMSKey is the secret SMS callback URLs carry as ?key=; "" refuses
	// every SMS callback with 403.
	SMSKey string
	// Allow, when not empty, limits every callback to these networks, by
	// the connection's address, or, when the connection is from one of
	// TrustedProxies, by the address those proxies forwarded for (a
	// forwarded-for header from anyone else is what they wrote, and is
	// ignored).
	Allow          []netip.Prefix
	TrustedProxies []netip.Prefix
}

// Handlers serves the callbacks.
type Handlers struct {
	cfg    Config
	smsKey [sha256.Size]byte // compared in constant time whatever the length given
	store  Store
	obs    Observer
	log    *slog.Logger
	now    func() time.Time
	pruned atomic.Int64 // when (Unix seconds) old nonces were last deleted
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
	return &Handlers{cfg: cfg, smsKey: sha256.Sum256([]byte(cfg.SMSKey)), store: st, obs: obs, log: log, now: now}, nil
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

// refuse answers 403 and counts why; reason is a Refused* constant, why
// a few words for the log and the answer.
func (h *Handlers) refuse(w http.ResponseWriter, provider, reason, why string) {
	h.obs.Refused(provider, reason)
	// The query is not logged: it carries the SMS key, and in WeChat's
	// safe mode the sender's openid.
	h.log.Warn("callback refused", "provider", provider, "reason", reason, "why", why)
	http.Error(w, why, http.StatusForbidden)
}

// allowed reports whether r comes from Config.Allow.
func (h *Handlers) allowed(r *http.Request) bool {
	if len(h.cfg.Allow) == 0 {
		return true
	}
	a := httpapi.ClientIP(r, h.cfg.TrustedProxies)
	if !a.IsValid() {
		return false
	}
	for _, p := range h.cfg.Allow {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// fresh parses a WeChat timestamp and reports whether it is within Window
// of the clock.
func (h *Handlers) fresh(timestamp string) (int64, bool) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 0, false
	}
	d := h.now().Unix() - ts
	return ts, d <= int64(Window/time.Second) && d >= -int64(Window/time.Second)
}

// errReplay is a (timestamp, nonce) seen before.
var errReplay = errors.New("replayed")

// ErrTooEarly is a report that may have overtaken the recording of its
// notice's send. The rest of an SMS body is recorded, and the provider is
// asked (503) to send the body again, which finds the rest recorded and
// changes nothing there. A WeChat message is rolled back whole instead,
// nonce included, so that its retry is not taken for a replay.
var ErrTooEarly = errors.New("receipt too early: try again")

// maxNonce bounds what a signed request can make the nonce memory hold;
// WeChat's nonces are ten digits.
const maxNonce = 128

// wechatCheck answers the check WeChat makes when the server URL is
// configured; it is signed like plain messages, even in safe mode, and
// must be fresh too.
func (h *Handlers) wechatCheck(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(r) {
		h.refuse(w, chanWeChat, RefusedNetwork, "not from an allowed network")
		return
	}
	q := r.URL.Query()
	if !h.signed(q.Get("signature"), q.Get("timestamp"), q.Get("nonce")) {
		h.refuse(w, chanWeChat, RefusedSignature, "bad signature")
		return
	}
	if _, ok := h.fresh(q.Get("timestamp")); !ok {
		h.refuse(w, chanWeChat, RefusedStale, "stale timestamp")
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

// wechatEvent takes a message. The checks run from the cheapest, and
// nothing unsigned reaches the database: network, mode, signature,
// freshness, then the nonce, remembered in the transaction that records
// the message, so that a message that failed is not a replay when WeChat
// retries it.
func (h *Handlers) wechatEvent(w http.ResponseWriter, r *http.Request) {
	if !h.allowed(r) {
		h.refuse(w, chanWeChat, RefusedNetwork, "not from an allowed network")
		return
	}
	q := r.URL.Query()
	ts, nonce := q.Get("timestamp"), q.Get("nonce")
	safe := q.Get("encrypt_type") == "aes"
	switch {
	case safe && h.cfg.WeChatAESKey == "":
		h.refuse(w, chanWeChat, RefusedMode, "encrypted message without an EncodingAESKey")
		return
	case !safe && h.cfg.WeChatAESKey != "":
		// Safe mode is configured: a plain message is a downgrade.
		h.refuse(w, chanWeChat, RefusedMode, "plain message while safe mode is configured")
		return
	case !safe && !h.signed(q.Get("signature"), ts, nonce):
		h.refuse(w, chanWeChat, RefusedSignature, "bad signature")
		return
	}
	body, ok := readBody(w, r, wechatBodyLimit, "bad message", "message too large")
	if !ok {
		return
	}
	var encrypted string
	if safe {
		var env envelope
		if err := xml.Unmarshal(body, &env); err != nil {
			http.Error(w, "bad message", http.StatusBadRequest)
			return
		}
		// msg_signature covers the ciphertext, so nothing forged is decrypted.
		if !h.signed(q.Get("msg_signature"), ts, nonce, env.Encrypt) {
			h.refuse(w, chanWeChat, RefusedSignature, "bad msg_signature")
			return
		}
		encrypted = env.Encrypt
	}
	at, ok := h.fresh(ts)
	if !ok {
		h.refuse(w, chanWeChat, RefusedStale, "stale timestamp")
		return
	}
	if len(nonce) > maxNonce {
		http.Error(w, "bad nonce", http.StatusBadRequest)
		return
	}
	if safe {
		var err error
		if _, body, err = util.DecryptMsg(h.cfg.WeChatAppID, encrypted, h.cfg.WeChatAESKey); err != nil {
			h.refuse(w, chanWeChat, RefusedUndecryptable, "undecryptable message")
			return
		}
	}
	var m message
	if err := xml.Unmarshal(body, &m); err != nil {
		http.Error(w, "bad message", http.StatusBadRequest)
		return
	}
	err := h.inBatch(r.Context(), func(b *batch) error {
		switch first, err := b.tx.FirstSeen(r.Context(), at, nonce); {
		case err != nil:
			return err
		case !first:
			return errReplay
		}
		if err := b.wechatMessage(r.Context(), m); err != nil {
			return err
		}
		if b.early {
			return ErrTooEarly
		}
		return nil
	})
	switch {
	case errors.Is(err, errReplay):
		h.refuse(w, chanWeChat, RefusedReplay, "timestamp and nonce seen before")
		return
	case err != nil:
		h.notRecorded("wechat", err)
		http.Error(w, "try again", http.StatusServiceUnavailable) // WeChat retries
		return
	}
	h.forgetNonces(r.Context())
	// The plain string even in safe mode: WeChat accepts it, and an
	// encrypted empty reply is what makes it raise "invalid answer" alarms.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "success")
}

// forgetNonces deletes the nonces that can no longer be replayed, at most
// once a minute per process, on the request that finds it due: a cheap
// delete by the primary key's leading column, and no goroutine to own.
func (h *Handlers) forgetNonces(ctx context.Context) {
	now := h.now().Unix()
	last := h.pruned.Load()
	if now-last < 60 || !h.pruned.CompareAndSwap(last, now) {
		return
	}
	if err := h.store.ForgetNonces(ctx, now-2*int64(Window/time.Second)); err != nil {
		h.log.Warn("old wechat nonces not deleted; the next callback tries again", "err", err)
		h.pruned.Store(last)
	}
}

// batch is one callback body's transaction; what it counts and logs waits
// for the commit, so that a body that is rolled back counts nothing.
type batch struct {
	h     *Handlers
	tx    Tx
	after []func()
	early bool // a report came too early: ask for the body again
}

// inBatch runs fn in one transaction, then counts and logs what it did.
// When a report came too early, it returns ErrTooEarly after the commit.
func (h *Handlers) inBatch(ctx context.Context, fn func(b *batch) error) error {
	var b *batch
	if err := h.store.Batch(ctx, func(tx Tx) error {
		b = &batch{h: h, tx: tx}
		return fn(b)
	}); err != nil {
		return err
	}
	for _, f := range b.after {
		f()
	}
	if b.early {
		return ErrTooEarly
	}
	return nil
}

// wechatMessage records what m reports; other messages are not ours.
func (b *batch) wechatMessage(ctx context.Context, m message) error {
	h := b.h
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
		return b.record(ctx, rep)
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
			if err := b.record(ctx, rep); err != nil {
				return err
			}
		}
	case "unsubscribe":
		return b.consent(ctx, Contact{"openid", openid}, chanWeChat, srcWeChatUnsubscribe, false)
	case "subscribe":
		return b.consent(ctx, Contact{"openid", openid}, chanWeChat, srcWeChatUnsubscribe, true)
	}
	return nil
}

// record persists one report and, after the commit, counts it.
func (b *batch) record(ctx context.Context, rep Report) error {
	known, err := b.tx.Receipt(ctx, rep)
	if errors.Is(err, ErrTooEarly) {
		b.early = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("record %s receipt: %w", rep.Channel, err)
	}
	b.after = append(b.after, func() { b.h.counted(rep, known) })
	return nil
}

func (h *Handlers) counted(rep Report, known bool) {
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
}

// consent records an opt-out, or with in an opt-in, and, after the
// commit, counts it.
func (b *batch) consent(ctx context.Context, c Contact, channel, source string, in bool) error {
	op, status := b.tx.OptOut, "opt_out"
	if in {
		op, status = b.tx.OptIn, "opt_in"
	}
	n := 0
	if c.Value != "" {
		var err error
		if n, err = op(ctx, c, channel, source, b.h.now()); err != nil {
			return fmt.Errorf("record %s %s: %w", channel, status, err)
		}
	}
	b.after = append(b.after, func() { b.h.consented(c, channel, source, status, n) })
	return nil
}

func (h *Handlers) consented(c Contact, channel, source, status string, n int) {
	if n == 0 {
		h.obs.Receipt(channel, "unknown_contact")
		h.log.Info("consent change for an unknown contact", "channel", channel, "change", status, "contact", mask(c))
		return
	}
	h.obs.Receipt(channel, status)
	h.log.Info("consent change recorded", "channel", channel, "change", status, "source", source, "subjects", n, "contact", mask(c))
}

func mask(c Contact) string {
	if c.Kind == "mobile" {
		return pii.MaskMobile(c.Value)
	}
	return pii.MaskOpenID(c.Value)
}

// smsReply records an SMS reply: an opt-out word opts the sender out of
// SMS; anything else is not ours.
func (b *batch) smsReply(ctx context.Context, nationCode, mobile, text string) error {
	if !isOptOut(text) {
		return nil
	}
	m, ok := mainlandMobile(nationCode, mobile)
	if !ok { // no subject has a number outside the mainland plan
		b.after = append(b.after, func() {
			b.h.obs.Receipt(chanSMS, "unknown_contact")
			b.h.log.Info("opt-out reply from an unusable number", "contact", pii.MaskMobile(mobile))
		})
		return nil
	}
	return b.consent(ctx, Contact{"mobile", m}, chanSMS, srcSMSReply, false)
}

// smsAllowed refuses an SMS callback from outside Config.Allow or without
// the key; it reports whether the callback may go on.
func (h *Handlers) smsAllowed(w http.ResponseWriter, r *http.Request, provider string) bool {
	if !h.allowed(r) {
		h.refuse(w, provider, RefusedNetwork, "not from an allowed network")
		return false
	}
	// Hashes of equal length: the comparison takes the same time whatever
	// was given, and tells nothing of the key's length.
	got := sha256.Sum256([]byte(r.URL.Query().Get("key")))
	if h.cfg.SMSKey == "" || subtle.ConstantTimeCompare(got[:], h.smsKey[:]) != 1 {
		h.refuse(w, provider, RefusedKey, "missing or wrong key")
		return false
	}
	return true
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
	if !h.smsAllowed(w, r, "aliyun") {
		return
	}
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
	err := h.inBatch(r.Context(), func(b *batch) error {
		for _, it := range items {
			var err error
			switch {
			case it.BizID != "":
				err = b.record(r.Context(), h.smsReport(it.BizID, it.OutID, it.Success))
			case it.Content != "":
				err = b.smsReply(r.Context(), "", it.PhoneNumber, it.Content)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Aliyun retries all of it; what was recorded is ignored then.
		h.notRecorded("aliyun", err)
		answer(http.StatusServiceUnavailable, `{"code":1,"msg":"try again"}`)
		return
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
	if !h.smsAllowed(w, r, "tencent") {
		return
	}
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
		err = h.inBatch(r.Context(), func(b *batch) error {
			for _, it := range items {
				if err := b.record(r.Context(), h.smsReport(it.SID, "", it.ReportStatus == "SUCCESS")); err != nil {
					return err
				}
			}
			return nil
		})
	default:
		var rep tencentReply
		if json.Unmarshal(body, &rep) != nil {
			answer(http.StatusBadRequest, `{"result":1,"errmsg":"bad reply"}`)
			return
		}
		err = h.inBatch(r.Context(), func(b *batch) error {
			return b.smsReply(r.Context(), rep.NationCode, rep.Mobile, rep.Text)
		})
	}
	if err != nil {
		h.notRecorded("tencent", err)
		answer(http.StatusServiceUnavailable, `{"result":1,"errmsg":"try again"}`)
		return
	}
	answer(http.StatusOK, `{"result":0,"errmsg":"OK"}`)
}

// notRecorded logs why a callback is answered 503.
func (h *Handlers) notRecorded(provider string, err error) {
	if errors.Is(err, ErrTooEarly) {
		h.log.Info("callback asked again: a report may have overtaken its send", "provider", provider)
		return
	}
	h.log.Warn("callback not recorded", "provider", provider, "err", err)
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
