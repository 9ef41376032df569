package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/noticepage"
	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
	"github.com/policypush/policypush/internal/notify/sms/aliyun"
	"github.com/policypush/policypush/internal/notify/sms/tencent"
	"github.com/policypush/policypush/internal/notify/wechat"
	"github.com/policypush/policypush/internal/profile"
	"github.com/policypush/policypush/internal/receipt"
	"github.com/policypush/policypush/internal/rules"
	"github.com/policypush/policypush/internal/store"
	"github.com/policypush/policypush/internal/tokencache"
)

// newDispatcher wires the outbox dispatcher: the recipient of a notice is
// read from the stored profile at send time, SMS goes through the
// configured provider (only log exists so far), and WeChat through the
// official account when it is configured.
func newDispatcher(cfg *config.Config, st *store.Store, set *atomic.Pointer[rules.Set], dm *deliveryMetrics, now func() time.Time, log *slog.Logger) (*notify.Dispatcher, error) {
	smsChannel, err := newSMSChannel(cfg, set, log)
	if err != nil {
		return nil, err
	}
	logDigestConfig(cfg, log)
	channels := []notify.Channel{smsChannel}
	if cfg.WeChatEnabled() {
		// Replicas share the access token through the database.
		tokens := tokencache.New(st.Pool(), st.Sealer(), tokencache.WithErrorHandler(func(err error) {
			log.Warn("wechat token cache", "err", err)
		}))
		c, err := wechat.New(wechat.Config{
			AppID: cfg.WeChatAppID, Secret: cfg.WeChatSecret.Value(), APIBase: cfg.WeChatAPIBase,
			Token: cfg.WeChatToken.Value(), EncodingAESKey: cfg.WeChatAESKey.Value(),
		}, tokens)
		if err != nil {
			return nil, fmt.Errorf("wechat: %w", err)
		}
		channels = append(channels, &wechatChannel{c: c, set: set, defaultTemplate: cfg.WeChatTemplateID, publicURL: cfg.PublicURL,
			digestTemplate: cfg.WeChatDigestTemplate})
	}
	return notify.New(notify.Options{
		Outbox:   st,
		Resolver: &recipients{st: st},
		Withdrawn: func(id string) notify.Reason {
			p := set.Load().Policy(id)
			switch {
			case p == nil: // a removed rule file: the channel reports it
				return ""
			case p.Status == rules.Repealed:
				return notify.ReasonRepealed
			case p.ValidUntil != nil && now().After(p.ValidUntil.AddDate(0, 0, 1)):
				return notify.ReasonExpired
			}
			return ""
		},
		Channels:     channels,
		Observer:     dm,
		Logger:       log,
		QuietHours:   cfg.QuietHours,
		FrequencyCap: cfg.FrequencyCap,
		Rates:        map[string]float64{notify.WeChat: cfg.WeChatRate, notify.SMS: cfg.SMSRate},
		Lease:        cfg.DispatchLease,
		DigestWindow: cfg.DigestWindow,
		Now:          now,
	})
}

// newSMSChannel is the configured SMS provider (POLICYPUSH_SMS_PROVIDER).
func newSMSChannel(cfg *config.Config, set *atomic.Pointer[rules.Set], log *slog.Logger) (notify.Channel, error) {
	tmpl := smsTemplate(set, cfg.SMSTemplate, cfg.SMSSignName, cfg.SMSDigestTemplate, cfg.PublicURL)
	digests := cfg.SMSDigestTemplate != ""
	switch cfg.SMSProvider {
	case "aliyun":
		return aliyun.New(aliyun.Config{AccessKeyID: cfg.SMSAccessKeyID, AccessKeySecret: cfg.SMSAccessKeySecret.Value(),
			SignName: cfg.SMSSignName, Endpoint: cfg.SMSEndpoint, Template: tmpl, Digests: digests})
	case "tencent":
		return tencent.New(tencent.Config{AccessKeyID: cfg.SMSAccessKeyID, AccessKeySecret: cfg.SMSAccessKeySecret.Value(),
			SignName: cfg.SMSSignName, AppID: cfg.SMSAppID, Endpoint: cfg.SMSEndpoint, Template: tmpl, Digests: digests})
	}
	if digests {
		return logDigests{notify.NewLogChannel(notify.SMS, log)}, nil
	}
	return notify.NewLogChannel(notify.SMS, log), nil
}

// logDigests is the log SMS channel when a digest template is configured.
type logDigests struct{ *notify.LogChannel }

// Digests implements notify.DigestChannel.
func (logDigests) Digests() bool { return true }

// logDigestConfig says once, at start, which channels send each notice
// alone although digests are on, for want of a digest template.
func logDigestConfig(cfg *config.Config, log *slog.Logger) {
	if cfg.DigestWindow <= 0 {
		log.Info("digests off: every notice goes as a message of its own (POLICYPUSH_DIGEST_WINDOW=off)")
		return
	}
	if cfg.WeChatEnabled() && cfg.WeChatDigestTemplate == "" {
		log.Info("no WeChat digest template (POLICYPUSH_WECHAT_DIGEST_TEMPLATE_ID): WeChat sends every notice alone")
	}
	if cfg.SMSDigestTemplate == "" {
		log.Info("no SMS digest template (POLICYPUSH_SMS_DIGEST_TEMPLATE): SMS sends every notice alone")
	}
}

// digestTitles is a digest's {{titles}}: its first notice's title, and
// how many policies it covers, within limit runes (WeChat's 20 for a
// thing field), the title cut first.
func digestTitles(first string, count, limit int) string {
	suffix := fmt.Sprintf("等%d项", count)
	if count == 1 { // a digest sent again without the notices stopped meanwhile
		suffix = ""
	}
	room := limit - utf8.RuneCountInString(suffix)
	if r := []rune(first); len(r) > room {
		first = string(r[:max(room-1, 0)]) + "…"
	}
	return first + suffix
}

// digestTitle is the title of a digest's first notice.
func digestTitle(set *atomic.Pointer[rules.Set], n *notify.Notice) (string, error) {
	p := set.Load().Policy(n.Members[0].PolicyID)
	if p == nil {
		return "", fmt.Errorf("policy %s is no longer in the rule set", n.Members[0].PolicyID)
	}
	return p.Title, nil
}

// smsTemplate picks a notice's SMS template and params from its rule's
// notify.sms block, with the placeholders filled, and, when the rule gives
// the template's wording, with long values shortened so that the message
// fits one segment.
//
// A digest (a notice with Members) gets the digest template digestCode with
// the params count, title (the first notice's, with 等N项 when it covers
// several) and link (the first notice's short link).
func smsTemplate(set *atomic.Pointer[rules.Set], defaultCode, sign, digestCode, publicURL string) sms.TemplateFunc {
	return func(n *notify.Notice) (string, map[string]string, error) {
		if len(n.Members) > 0 {
			title, err := digestTitle(set, n)
			if err != nil {
				return "", nil, err
			}
			return digestCode, map[string]string{
				"count": strconv.Itoa(len(n.Members)), "title": digestTitles(title, len(n.Members), 20),
				"link": publicURL + "/r/" + n.Members[0].ClickToken,
			}, nil
		}
		p := set.Load().Policy(n.PolicyID)
		if p == nil {
			return "", nil, fmt.Errorf("policy %s is no longer in the rule set", n.PolicyID)
		}
		code, params := defaultCode, map[string]string{}
		if p.Notify != nil && p.Notify.SMS != nil {
			if p.Notify.SMS.TemplateCode != "" {
				code = p.Notify.SMS.TemplateCode
			}
			for _, kv := range p.Notify.SMS.Params {
				v, err := renderLink(kv.Value, p, n, publicURL)
				if err != nil {
					return "", nil, err
				}
				params[kv.Key] = v
			}
		}
		if code == "" {
			return "", nil, errors.New("no SMS template: set notify.sms.template_code or POLICYPUSH_SMS_TEMPLATE")
		}
		if p.Notify != nil && p.Notify.SMS != nil && p.Notify.SMS.Text != "" {
			params = sms.Fit(sign, p.Notify.SMS.Text, params)
		}
		return code, params, nil
	}
}

// recipients resolves a subject's channels from its stored profile.
type recipients struct{ st *store.Store }

func (r *recipients) Resolve(ctx context.Context, subjectType, subjectID string) (notify.Recipient, error) {
	k := store.SubjectKey{Type: subjectType, ID: subjectID}
	var p store.Profile
	var found bool
	err := r.st.InTx(ctx, func(tx *store.Tx) error {
		ps, err := tx.Profiles(ctx, []store.SubjectKey{k})
		p, found = ps[k]
		return err
	})
	if err != nil {
		return notify.Recipient{}, err
	}
	if !found {
		return notify.Recipient{}, notify.ErrNoRecipient
	}
	subject, err := profile.DecodeValid(profile.Kind(subjectType), p.Data)
	if err != nil {
		return notify.Recipient{}, err
	}
	to := notify.RecipientOf(subject)
	// Opt-outs recorded outside the profile: receipts, replies, the API.
	outs, err := r.st.OptOuts(ctx, k)
	if err != nil {
		return notify.Recipient{}, err
	}
	for _, o := range outs {
		if !slices.Contains(to.OptOut, o.Channel) {
			to.OptOut = append(to.OptOut, o.Channel)
		}
	}
	return to, nil
}

// wechatChannel sends a policy's notify.wechat message.
type wechatChannel struct {
	c               *wechat.Client
	set             *atomic.Pointer[rules.Set]
	defaultTemplate string
	publicURL       string
	digestTemplate  string // POLICYPUSH_WECHAT_DIGEST_TEMPLATE_ID
}

// Digests implements notify.DigestChannel.
func (w *wechatChannel) Digests() bool { return w.digestTemplate != "" }

// sendDigest sends a digest as one template message: thing1 is {{titles}}
// (the first title, and 等N项), number2 is {{count}}, and the message opens
// {{link}}, the first notice's short link, whose page lists every open
// notice of the person. client_msg_id is the digest id.
func (w *wechatChannel) sendDigest(ctx context.Context, n *notify.Notice, to notify.Recipient) (string, error) {
	title, err := digestTitle(w.set, n)
	if err != nil {
		return "", &notify.SendError{Reason: notify.ReasonConfig, Err: err}
	}
	count := len(n.Members)
	return w.c.Send(ctx, wechat.Message{ToOpenID: to.OpenID, TemplateID: w.digestTemplate, ClientMsgID: strconv.FormatInt(n.ID, 10),
		URL:  w.publicURL + "/r/" + n.Members[0].ClickToken,
		Data: map[string]string{"thing1": digestTitles(title, count, 20), "number2": strconv.Itoa(count)}})
}

func (w *wechatChannel) Name() string { return notify.WeChat }

// DedupWindow implements notify.IdempotentChannel: WeChat drops a repeated
// client_msg_id within it.
func (w *wechatChannel) DedupWindow() time.Duration { return w.c.DedupWindow() }

// Dedups implements notify.Deduper: a subscribe message (bizsend) has no
// client_msg_id, so WeChat delivers a repeat of it again. A notice whose
// policy has left the rule set counts as not deduplicated: never guess.
func (w *wechatChannel) Dedups(n *notify.Notice) bool {
	if len(n.Members) > 0 {
		return true // a digest is a template message
	}
	p := w.set.Load().Policy(n.PolicyID)
	if p == nil {
		return false
	}
	return p.Notify == nil || p.Notify.WeChat == nil || !p.Notify.WeChat.Subscribe
}

func (w *wechatChannel) Send(ctx context.Context, n *notify.Notice, to notify.Recipient) (notify.Result, error) {
	if len(n.Members) > 0 {
		return w.result(w.sendDigest(ctx, n, to))
	}
	p := w.set.Load().Policy(n.PolicyID)
	if p == nil {
		return notify.Result{}, &notify.SendError{Reason: notify.ReasonConfig, Err: fmt.Errorf("policy %s is no longer in the rule set", n.PolicyID)}
	}
	m := wechat.Message{ToOpenID: to.OpenID, TemplateID: w.defaultTemplate, ClientMsgID: strconv.FormatInt(n.ID, 10), Data: map[string]string{}}
	if p.Notify != nil && p.Notify.WeChat != nil {
		wc := p.Notify.WeChat
		if wc.TemplateID != "" {
			m.TemplateID = wc.TemplateID
		}
		m.Subscribe = wc.Subscribe
		for _, kv := range wc.Data {
			v, err := renderLink(kv.Value, p, n, w.publicURL)
			if err != nil {
				return notify.Result{}, &notify.SendError{Reason: notify.ReasonConfig, Err: err}
			}
			m.Data[kv.Key] = v
		}
	}
	if n.ClickToken != "" {
		// Every notice opens its short link, which records the click and
		// leads to the notice page, whether or not the rule names a url.
		m.URL = noticeLink(w.publicURL, n.ClickToken)
	}
	if m.TemplateID == "" {
		return notify.Result{}, &notify.SendError{Reason: notify.ReasonConfig, Err: errors.New("no WeChat template: set notify.wechat.template_id or POLICYPUSH_WECHAT_TEMPLATE_ID")}
	}
	return w.result(w.c.Send(ctx, m))
}

// result classifies the answer of a WeChat send.
func (w *wechatChannel) result(id string, err error) (notify.Result, error) {
	if err != nil {
		if se := (*notify.SendError)(nil); errors.As(err, &se) {
			return notify.Result{}, se
		}
		we := wechat.Classify(err)
		se := &notify.SendError{Reason: notify.Reason(we.Reason), Err: we}
		switch we.Class {
		case wechat.ClassRetryable:
			se.Retry = true
		case wechat.ClassPermanent:
			se.Reason, se.Permanent = notify.ReasonUnreachableUser, true
		case wechat.ClassQuota:
			se.Reason, se.Quota = notify.ReasonQuota, true
		default:
			se.Reason = notify.ReasonConfig
		}
		if se.Retry {
			switch we.Reason {
			case wechat.ReasonTimeout:
				se.Reason = notify.ReasonTimeout
			case wechat.ReasonRateLimited:
				se.Reason = notify.ReasonRateLimited
			default:
				se.Reason = notify.ReasonServerError
			}
		}
		return notify.Result{}, se
	}
	return notify.Result{ProviderMsgID: id}, nil
}

// noticeLink is a notice's short URL, {{link}} (CONTRACTS §7).
func noticeLink(publicURL, token string) string { return publicURL + "/r/" + token }

// renderLink fills a notify value as render does, and {{link}} with the
// notice's short URL. The token is the one its outbox row got when it was
// first claimed (store.ClaimOutbox keeps it on every later claim), so every
// attempt of a notice, a fallback or a retry after a crash, carries the same
// link, the one its click records. {{link}} goes first so that a title
// holding the text "{{link}}" stays text.
func renderLink(s string, p *rules.Policy, n *notify.Notice, publicURL string) (string, error) {
	if strings.Contains(s, "{{link}}") {
		if n.ClickToken == "" {
			return "", fmt.Errorf("notice %d has no click token to fill {{link}}", n.ID)
		}
		s = strings.ReplaceAll(s, "{{link}}", noticeLink(publicURL, n.ClickToken))
	}
	return render(s, p, n), nil
}

// render fills a notify template's placeholders (CONTRACTS.md §3).
func render(s string, p *rules.Policy, n *notify.Notice) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	until := ""
	if p.ValidUntil != nil {
		until = p.ValidUntil.Format("2006-01-02")
	}
	amount := ""
	if n.Amount != nil {
		amount = strconv.FormatFloat(*n.Amount, 'f', -1, 64)
	}
	return strings.NewReplacer(
		"{{policy.id}}", p.ID, "{{policy.title}}", p.Title, "{{policy.version}}", strconv.Itoa(p.Version),
		"{{policy.valid_until}}", until, "{{amount}}", amount, "{{subject.name}}", n.SubjectName,
	).Replace(s)
}

// deliveryMetrics maps the dispatcher's events to Prometheus, with labels
// from fixed sets.
type deliveryMetrics struct {
	attempts   *prometheus.CounterVec
	failures   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	suppressed *prometheus.CounterVec
	cancelled  *prometheus.CounterVec
	deferred   *prometheus.CounterVec
	fallbacks  *prometheus.CounterVec
	dead       *prometheus.CounterVec
	reconciled *prometheus.CounterVec
}

func newDeliveryMetrics(r prometheus.Registerer) *deliveryMetrics {
	f := promauto.With(r)
	return &deliveryMetrics{
		attempts: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notifications_total",
			Help: "Provider calls, by channel and result (sent, retry, fallback, failed, deferred, dead)."}, []string{"channel", "result"}),
		failures: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notification_failures_total",
			Help: "Failed provider calls, by channel and reason."}, []string{"channel", "reason"}),
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "policypush_notification_send_seconds",
			Help: "Provider call latency, by channel.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"channel"}),
		suppressed: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notifications_suppressed_total",
			Help: "Notices not sent, by channel and reason (opted_out, no_consent, unreachable)."}, []string{"channel", "reason"}),
		cancelled: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notices_cancelled_total",
			Help: "Waiting notices cancelled because their policy was withdrawn, by reason (repealed, expired)."}, []string{"reason"}),
		deferred: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notifications_deferred_total",
			Help: "Notices deferred, by channel and reason (quiet_hours, frequency_cap, rate_limited, quota)."}, []string{"channel", "reason"}),
		fallbacks: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notification_fallbacks_total",
			Help: "Notices moved to another channel, by the channels and the reason."}, []string{"from", "to", "reason"}),
		dead: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notifications_dead_total",
			Help: "Notices given up after their attempts or age ran out, by channel and reason."}, []string{"channel", "reason"}),
		reconciled: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_notifications_reconciled_total",
			Help: "Notices found in sending after a crash, by channel and what became of them."}, []string{"channel", "result"}),
	}
}

func (m *deliveryMetrics) Attempted(channel string, o notify.Outcome, reason notify.Reason, took time.Duration) {
	m.attempts.WithLabelValues(channel, string(o)).Inc()
	m.latency.WithLabelValues(channel).Observe(took.Seconds())
	if o != notify.OutcomeSent {
		m.failures.WithLabelValues(channel, string(reason)).Inc()
	}
}

func (m *deliveryMetrics) Suppressed(channel string, reason notify.Reason) {
	m.suppressed.WithLabelValues(channel, string(reason)).Inc()
}

func (m *deliveryMetrics) Cancelled(_ string, reason notify.Reason) {
	m.cancelled.WithLabelValues(string(reason)).Inc()
}

func (m *deliveryMetrics) Deferred(channel string, reason notify.Reason) {
	m.deferred.WithLabelValues(channel, string(reason)).Inc()
}

func (m *deliveryMetrics) FellBack(from, to string, reason notify.Reason) {
	m.fallbacks.WithLabelValues(from, to, string(reason)).Inc()
}

func (m *deliveryMetrics) Dead(channel string, reason notify.Reason) {
	m.dead.WithLabelValues(channel, string(reason)).Inc()
}

func (m *deliveryMetrics) Reconciled(channel string, o notify.Outcome) {
	m.reconciled.WithLabelValues(channel, string(o)).Inc()
}

// shortLinks serves /r/{token}: clicks, and for a browser that opens a
// dead link the notice page's own not-found page, the one /n/{token} gives
// an unknown token (a phone's browser opening an SMS's link should not
// get JSON).
func shortLinks(st *store.Store, n *notices, page *noticepage.Page, now func() time.Time) httpapi.ShortLinks {
	return httpapi.ShortLinks{Resolve: clicks(st, n, now), NotFound: page.NotFound()}
}

// clicks resolves a short link: it records the click and redirects to the
// notice's page, /n/{token} (CONTRACTS §7). An expired link gets the
// unknown token's 404, as the page gives both the same one.
func clicks(st *store.Store, n *notices, now func() time.Time) func(ctx context.Context, token string) (string, bool, error) {
	return func(ctx context.Context, token string) (string, bool, error) {
		if !store.IsClickToken(token) {
			return "", false, nil // not a token we issue: no query
		}
		// An expired link is an unknown one here too: the same 404, and
		// no click recorded.
		if _, _, err := n.open(ctx, token); errors.Is(err, noticepage.ErrNotFound) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		_, found, err := st.Click(ctx, token, now())
		if err != nil || !found {
			return "", false, err
		}
		return "/n/" + token, true, nil
	}
}

// receiptMetrics counts the providers' delivery reports.
type receiptMetrics struct {
	receipts *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

func newReceiptMetrics(r prometheus.Registerer) *receiptMetrics {
	f := promauto.With(r)
	return &receiptMetrics{
		receipts: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_receipts_total",
			Help: "Callbacks, by channel and status: delivery reports (delivered, failed, unknown_id) and opt-outs (opt_out, opt_in, unknown_contact)."}, []string{"channel", "status"}),
		refused: f.NewCounterVec(prometheus.CounterOpts{Name: "policypush_callbacks_refused_total",
			Help: "Callbacks refused with 403, by channel, provider (wechat, aliyun, tencent) and reason (key, network, signature, undecryptable, stale, replay, mode)."},
			[]string{"channel", "provider", "reason"}),
	}
}

func (m *receiptMetrics) Receipt(channel, status string) {
	m.receipts.WithLabelValues(channel, status).Inc()
}

// Refused keeps the channel label, which alerts and dashboards sum by.
func (m *receiptMetrics) Refused(provider, reason string) {
	channel := notify.SMS
	if provider == notify.WeChat {
		channel = notify.WeChat
	}
	m.refused.WithLabelValues(channel, provider, reason).Inc()
}

// receiptStore adapts the store to the callbacks, and counts the
// fallbacks that receipts cause.
type receiptStore struct {
	st      *store.Store
	metrics *deliveryMetrics
}

// Batch runs a callback body in one transaction. The fallbacks it caused
// are counted once it has committed.
func (a receiptStore) Batch(ctx context.Context, fn func(receipt.Tx) error) error {
	var tx *receiptTx
	if err := a.st.InTx(ctx, func(t *store.Tx) error {
		tx = &receiptTx{tx: t}
		return fn(tx)
	}); err != nil {
		return err
	}
	for _, f := range tx.fellBack {
		a.metrics.FellBack(f[0], f[1], notify.Reason(f[2]))
	}
	return nil
}

func (a receiptStore) ForgetNonces(ctx context.Context, before int64) error {
	_, err := a.st.ForgetNonces(ctx, before)
	return err
}

// receiptTx is one callback body's transaction.
type receiptTx struct {
	tx       *store.Tx
	fellBack [][3]string // from, to, reason
	// sending caches Store.Sending per channel for the body: its reports
	// were all made before it arrived, so a send that begins later is not
	// one of theirs, and a body of unknown ids costs one look-up, not one
	// each.
	sending map[string]bool
}

func (a *receiptTx) Receipt(ctx context.Context, r receipt.Report) (bool, error) {
	out, next, err := a.tx.RecordReceipt(ctx, store.Receipt{
		Channel: r.Channel, ProviderMsgID: r.ProviderMsgID, Delivered: r.Delivered, Reason: r.Reason,
		Fallback: r.Fallback, OptOutSource: r.OptOut, OpenID: r.OpenID, NoticeID: r.NoticeID, At: r.At,
	})
	if err != nil {
		return false, err
	}
	if out == store.ReceiptFallback {
		a.fellBack = append(a.fellBack, [3]string{r.Channel, next, r.Reason})
	}
	if out == store.ReceiptUnknown {
		// A receipt can overtake the recording of its send's answer. While
		// any notice on the channel is in flight, ask the provider to try
		// the whole body again later (it retries a few times) rather than
		// lose it.
		sending, ok := a.sending[r.Channel]
		if !ok {
			var err error
			if sending, err = a.tx.Sending(ctx, r.Channel); err != nil {
				return false, err
			}
			if a.sending == nil {
				a.sending = map[string]bool{}
			}
			a.sending[r.Channel] = sending
		}
		if sending {
			return false, errReceiptEarly
		}
	}
	return out != store.ReceiptUnknown, nil
}

// errReceiptEarly asks the provider to send a receipt again.
var errReceiptEarly = fmt.Errorf("no notice has this id yet, and one on the channel is being sent: %w", receipt.ErrTooEarly)

func (a *receiptTx) OptOut(ctx context.Context, c receipt.Contact, channel, source string, at time.Time) (int, error) {
	return a.tx.OptOutContact(ctx, c.Kind, c.Value, channel, source, at)
}

func (a *receiptTx) OptIn(ctx context.Context, c receipt.Contact, channel, source string, _ time.Time) (int, error) {
	return a.tx.OptInContact(ctx, c.Kind, c.Value, channel, source)
}

func (a *receiptTx) FirstSeen(ctx context.Context, timestamp int64, nonce string) (bool, error) {
	return a.tx.FirstSeenNonce(ctx, timestamp, nonce)
}
