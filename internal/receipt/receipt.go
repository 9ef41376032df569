// Package receipt takes the providers' delivery reports: WeChat's
// TEMPLATESENDJOBFINISH events on the official-account callback, and
// Aliyun's SmsReport. Handlers only verify, persist and answer, because
// bursts of tens of thousands are normal.
package receipt

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Store records a receipt; known is false for an id no notice was sent as.
type Store interface {
	Receipt(ctx context.Context, channel, providerMsgID string, delivered bool, reason string, at time.Time) (known bool, err error)
}

// Observer counts receipts by channel and status (delivered, failed,
// unknown_id), and refused callbacks.
type Observer interface {
	Receipt(channel, status string)
	Refused(channel string)
}

// Handlers serves the callbacks.
type Handlers struct {
	store       Store
	wechatToken string // verifies WeChat's signature; "" refuses every callback
	obs         Observer
	log         *slog.Logger
	now         func() time.Time
}

// New returns the handlers.
func New(st Store, wechatToken string, obs Observer, log *slog.Logger, now func() time.Time) *Handlers {
	return &Handlers{store: st, wechatToken: wechatToken, obs: obs, log: log, now: now}
}

// Register adds /wechat/callback and /sms/callback/aliyun to mux.
func (h *Handlers) Register(mux *http.ServeMux) {
	mux.HandleFunc("/wechat/callback", h.wechat)
	mux.HandleFunc("POST /sms/callback/aliyun", h.aliyun)
}

// signature is WeChat's: the SHA-1 of the sorted token, timestamp and nonce.
func signature(token, timestamp, nonce string) string {
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// event is the part of a WeChat event message receipts read.
type event struct {
	MsgType       string `xml:"MsgType"`
	Event         string `xml:"Event"`
	TemplateMsgID int64  `xml:"MsgID"` // TEMPLATESENDJOBFINISH carries its id here, not in MsgId
	Status        string `xml:"Status"`
}

func (h *Handlers) wechat(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want := signature(h.wechatToken, q.Get("timestamp"), q.Get("nonce"))
	if h.wechatToken == "" || subtle.ConstantTimeCompare([]byte(want), []byte(q.Get("signature"))) != 1 {
		h.obs.Refused("wechat")
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodGet { // the server check when the URL is configured
		_, _ = io.WriteString(w, q.Get("echostr"))
		return
	}
	var ev event
	if err := xml.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&ev); err != nil {
		http.Error(w, "bad message", http.StatusBadRequest)
		return
	}
	if ev.MsgType == "event" && ev.Event == "TEMPLATESENDJOBFINISH" {
		delivered, reason := ev.Status == "success", ""
		switch {
		case delivered:
		case strings.Contains(ev.Status, "user block"):
			reason = "blocked"
		default:
			reason = "server_error"
		}
		if !h.record(r.Context(), "wechat", strconv.FormatInt(ev.TemplateMsgID, 10), delivered, reason) {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = io.WriteString(w, "success") // WeChat's expected answer; other events are not ours yet
}

// smsReport is one entry of Aliyun's SmsReport.
type smsReport struct {
	Success bool   `json:"success"`
	ErrCode string `json:"err_code"`
	BizID   string `json:"biz_id"`
}

func (h *Handlers) aliyun(w http.ResponseWriter, r *http.Request) {
	var reports []smsReport
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&reports); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":1,"msg":"bad report"}`)
		return
	}
	for _, rep := range reports {
		reason := ""
		if !rep.Success {
			reason = "undelivered"
		}
		if !h.record(r.Context(), "sms", rep.BizID, rep.Success, reason) {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"code":1,"msg":"try again"}`)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"code":0,"msg":"成功"}`)
}

// record persists one receipt; false means the provider should retry.
func (h *Handlers) record(ctx context.Context, channel, id string, delivered bool, reason string) bool {
	known, err := h.store.Receipt(ctx, channel, id, delivered, reason, h.now())
	switch {
	case err != nil:
		h.log.Warn("receipt not recorded", "channel", channel, "err", err)
		return false
	case !known:
		h.obs.Receipt(channel, "unknown_id")
		h.log.Info("receipt for an unknown notice", "channel", channel, "provider_msg_id", id)
	case delivered:
		h.obs.Receipt(channel, "delivered")
	default:
		h.obs.Receipt(channel, "failed")
	}
	return true
}
