package demo

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// The simulators stand in for what lives outside the bureau. They speak
// the providers' wire formats (the same requests the real clients make,
// the same callbacks the providers send), and decide each recipient's fate
// from a hash of its address, so that a city behaves the same every run:
// some users do not follow the account, some block it, some phones do not
// receive.

// fate is 0–99, fixed per address.
func fate(addr string) int {
	h := fnv.New32a()
	h.Write([]byte(addr))
	return int(h.Sum32() % 100)
}

// Shares of the simulated population, in percent.
const (
	shareUnfollowed = 6  // WeChat answers 43004: the notice falls back to SMS
	shareBlocked    = 3  // WeChat accepts, then reports "failed:user block": fallback
	shareSysFailed  = 1  // WeChat reports "failed: system failed"
	shareSMSFailed  = 4  // the carrier does not deliver
	shareClicks     = 35 // of delivered messages with a link (WeChat's, SMS digests), opened (the link is followed once)

	// Of the notices opened, the answers given on the page: the rest only read it.
	shareClaim      = 30 // 确认申领
	shareDispute    = 12 // 信息有误, one condition with a short note
	shareStopPolicy = 6  // 不再接收, this policy
	shareStopAll    = 2  // 不再接收, every proactive notice
)

// receipt is one callback the simulators owe the service.
type receipt struct {
	path  string // /wechat/callback or /sms/callback/aliyun?key=…; "" for a link opened with no callback (an SMS's)
	nonce string // a WeChat callback's nonce: it is signed when it is sent, with the time then, as WeChat does
	body  []byte
	due   time.Time
	click string // a link the recipient opens after the receipt; "" for none
	who   string // the recipient, whose fate decides the answer on the page
}

// receiptDelay is how long after a send its receipt comes: real receipts
// take seconds, and one that came before the service had recorded the
// send would name an id it does not know yet.
const receiptDelay = time.Second

// sims runs the WeChat and Aliyun simulators and sends their receipts to
// the service once it is known.
type sims struct {
	wechatToken string // the callback token, shared with the service
	smsKey      string // the ?key= of SMS callback URLs, shared with the service
	log         *slog.Logger

	wechatURL, smsURL string
	target            atomic.Pointer[string] // the service's base URL

	queue chan receipt
	seq   atomic.Int64
	// busy counts the receipts queued or being delivered, with the page
	// visits after them, so that the demo waits for the last answer.
	busy atomic.Int64

	mu       sync.Mutex
	pending  []smsReport          // Aliyun reports, pushed in batches as Aliyun does
	smsSent  map[string][]smsSend // accepted SendSms calls by phone, for QuerySendDetails
	counts   map[string]int
	servers  []*http.Server
	listener []net.Listener
}

func newSims(wechatToken, smsKey string, log *slog.Logger) (*sims, error) {
	s := &sims{wechatToken: wechatToken, smsKey: smsKey, log: log, queue: make(chan receipt, 100_000), counts: map[string]int{}, smsSent: map[string][]smsSend{}}
	for _, h := range []struct {
		handler http.Handler
		url     *string
	}{{http.HandlerFunc(s.wechat), &s.wechatURL}, {http.HandlerFunc(s.aliyun), &s.smsURL}} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("simulator: %w", err)
		}
		*h.url = "http://" + lis.Addr().String()
		s.listener = append(s.listener, lis)
		s.servers = append(s.servers, &http.Server{Handler: h.handler, ReadHeaderTimeout: 5 * time.Second})
	}
	return s, nil
}

// run serves until ctx ends, and delivers receipts to the service.
func (s *sims) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, srv := range s.servers {
		g.Go(func() error {
			if err := srv.Serve(s.listener[i]); err != http.ErrServerClosed {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		for _, srv := range s.servers {
			_ = srv.Close()
		}
		return nil
	})
	// WeChat sends one callback per message; several at once.
	for range 4 {
		g.Go(func() error {
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-ctx.Done():
					return nil
				case r := <-s.queue:
					if d := time.Until(r.due); d > 0 {
						select {
						case <-ctx.Done():
							return nil
						case <-time.After(d):
						}
					}
					if r.path != "" {
						s.deliver(ctx, client, r)
					}
					if r.click != "" {
						s.open(ctx, r.click, r.who)
					}
					s.busy.Add(-1)
				}
			}
		})
	}
	// Aliyun pushes its reports in batches.
	g.Go(func() error {
		client := &http.Client{Timeout: 10 * time.Second}
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			s.mu.Lock()
			var batch []map[string]any
			now := time.Now()
			for len(s.pending) > 0 && len(batch) < 500 && !s.pending[0].due.After(now) {
				batch = append(batch, s.pending[0].report)
				s.pending = s.pending[1:]
			}
			s.mu.Unlock()
			if len(batch) > 0 {
				body, _ := json.Marshal(batch)
				s.deliver(ctx, client, receipt{path: "/sms/callback/aliyun?key=" + url.QueryEscape(s.smsKey), body: body})
			}
		}
	})
	return g.Wait()
}

// deliver posts a callback, retrying while the service is not up or asks
// for a retry, as the providers do.
func (s *sims) deliver(ctx context.Context, client *http.Client, r receipt) {
	for attempt := 0; attempt < 50; attempt++ {
		if base := s.target.Load(); base != nil {
			path := r.path
			if r.nonce != "" {
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				path += "?" + url.Values{"signature": {signature(s.wechatToken, ts, r.nonce)}, "timestamp": {ts}, "nonce": {r.nonce}}.Encode()
			}
			resp, err := client.Post(*base+path, "application/octet-stream", bytes.NewReader(r.body))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	s.log.Warn("simulator gave up a callback", "path", strings.SplitN(r.path, "?", 2)[0])
}

// open follows a notice's short link as a recipient's phone would: /r/
// redirects to the notice's page /n/{token}. The recipient reads the
// notice (GET /public/notices/{token}, as the page does) and, for a share
// fixed by its fate, answers: claims, disputes a condition or stops.
func (s *sims) open(ctx context.Context, link, who string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.count("clicked")
	page := resp.Request.URL // after the redirect
	token, ok := strings.CutPrefix(page.Path, "/n/")
	if resp.StatusCode != http.StatusOK || !ok || token == "" {
		return
	}
	base := page.Scheme + "://" + page.Host + "/public/notices/" + url.PathEscape(token)
	var v struct {
		PolicyID   string `json:"policy_id"`
		Conditions []struct {
			Name string `json:"name"`
		} `json:"conditions"`
		Apply struct {
			Mode string `json:"mode"`
		} `json:"apply"`
		Actions []string `json:"actions"`
	}
	if s.call(ctx, client, http.MethodGet, base, nil, &v) != nil {
		return
	}
	can := func(a string) bool { return slices.Contains(v.Actions, a) }
	f := fate("answer:" + who + v.PolicyID)
	switch {
	case f < shareClaim:
		if can("claim") && s.call(ctx, client, http.MethodPost, base+"/claim", map[string]bool{"confirm": v.Apply.Mode == "confirm"}, nil) == nil {
			s.count("claimed")
		}
	case f < shareClaim+shareDispute:
		if can("dispute") && len(v.Conditions) > 0 {
			c := v.Conditions[fate("condition:"+who+v.PolicyID)%len(v.Conditions)].Name
			if s.call(ctx, client, http.MethodPost, base+"/dispute", map[string]any{"conditions": []string{c}, "note": "这一条与我的实际情况不符，请核实。"}, nil) == nil {
				s.count("disputed")
			}
		}
	case f < shareClaim+shareDispute+shareStopPolicy+shareStopAll:
		scope := "policy"
		if f >= shareClaim+shareDispute+shareStopPolicy {
			scope = "all"
		}
		if can("stop") && s.call(ctx, client, http.MethodPost, base+"/stop", map[string]string{"scope": scope}, nil) == nil {
			s.count("stopped_" + scope)
		}
	}
}

// call makes one request to the notice's JSON endpoints, with body (if
// any) as JSON, and decodes the answer into out (if any).
func (s *sims) call(ctx context.Context, client *http.Client, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		s.log.Warn("simulated answer refused", "route", method+" "+strings.SplitN(u, "/public/notices/", 2)[0]+"/public/notices/…", "status", resp.StatusCode)
		return fmt.Errorf("%s: %s", method, resp.Status)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

func (s *sims) count(what string) {
	s.mu.Lock()
	s.counts[what]++
	s.mu.Unlock()
}

// wechat answers stable_token, template/send and subscribe/bizsend, and
// queues the TEMPLATESENDJOBFINISH or subscribe_msg_sent_event callback.
func (s *sims) wechat(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var body struct {
		ToUser     string `json:"touser"`
		TemplateID string `json:"template_id"`
		URL        string `json:"url"`
		Page       string `json:"page"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body)
	switch r.URL.Path {
	case "/cgi-bin/stable_token":
		fmt.Fprint(w, `{"access_token":"DEMO_ACCESS_TOKEN_0001","expires_in":7200}`)
		return
	case "/cgi-bin/message/template/send", "/cgi-bin/message/subscribe/bizsend":
	default:
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("access_token") != "DEMO_ACCESS_TOKEN_0001" {
		fmt.Fprint(w, `{"errcode":40001,"errmsg":"invalid credential"}`)
		return
	}
	f := fate("wx:" + body.ToUser)
	if f < shareUnfollowed {
		s.count("wechat_unfollowed")
		fmt.Fprint(w, `{"errcode":43004,"errmsg":"require subscribe"}`)
		return
	}
	id := 3_000_000_000 + s.seq.Add(1)
	status := "success"
	switch {
	case f < shareUnfollowed+shareBlocked:
		status = "failed:user block"
	case f < shareUnfollowed+shareBlocked+shareSysFailed:
		status = "failed: system failed"
	}
	s.count("wechat_" + status)
	ts, nonce := strconv.FormatInt(time.Now().Unix(), 10), strconv.FormatInt(id, 36)
	var xml string
	if r.URL.Path == "/cgi-bin/message/subscribe/bizsend" {
		code, st := 0, "success"
		if status != "success" {
			code, st = 43101, "refuse"
		}
		xml = fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent><List><TemplateId><![CDATA[%s]]></TemplateId><MsgID>%d</MsgID><ErrorCode>%d</ErrorCode><ErrorStatus><![CDATA[%s]]></ErrorStatus></List></SubscribeMsgSentEvent></xml>`,
			body.ToUser, ts, body.TemplateID, id, code, st)
		fmt.Fprint(w, `{"errcode":0,"errmsg":"ok"}`)
	} else {
		xml = fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_demo]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName><CreateTime>%s</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%d</MsgID><Status><![CDATA[%s]]></Status></xml>`,
			body.ToUser, ts, id, status)
		fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":%d}`, id)
	}
	click := body.URL + body.Page
	if status != "success" || fate("click:"+body.ToUser+body.TemplateID+click) >= shareClicks {
		click = ""
	}
	s.busy.Add(1)
	select {
	case s.queue <- receipt{path: "/wechat/callback", nonce: nonce, body: []byte(xml), due: time.Now().Add(receiptDelay), click: click, who: body.ToUser}:
	default:
		s.busy.Add(-1)
		s.log.Warn("simulator receipt queue full; a WeChat receipt is dropped")
	}
}

// smsReport is an Aliyun report waiting for its time.
type smsReport struct {
	due    time.Time
	report map[string]any
}

func signature(token, timestamp, nonce string) string {
	parts := []string{token, timestamp, nonce}
	sort.Strings(parts)
	sum := sha1.Sum([]byte(strings.Join(parts, "")))
	return hex.EncodeToString(sum[:])
}

// smsSend is a SendSms call the Aliyun simulator accepted.
type smsSend struct {
	out       string
	at        time.Time
	delivered bool
}

// aliyun answers SendSms and QuerySendDetails (RPC calls of the darabonba
// client, signed ACS3-HMAC-SHA256) and queues the SmsReport.
func (s *sims) aliyun(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	action := r.Header.Get("x-acs-action")
	if action != "SendSms" && action != "QuerySendDetails" || !strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-HMAC-SHA256 ") {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"Code":"MissingParameter","Message":"not a signed SendSms or QuerySendDetails call"}`)
		return
	}
	q := r.URL.Query()
	if q.Get("PhoneNumbers") == "" && q.Get("PhoneNumber") == "" {
		_ = r.ParseForm()
		q = r.Form
	}
	if action == "QuerySendDetails" {
		s.querySendDetails(w, q)
		return
	}
	phone, out := q.Get("PhoneNumbers"), q.Get("OutId")
	biz := fmt.Sprintf("%d^0", 900_000_000_000+s.seq.Add(1))
	ok := fate("sms:"+phone) >= shareSMSFailed
	s.count(fmt.Sprintf("sms_delivered_%t", ok))
	errCode := "DELIVERED"
	if !ok {
		errCode = "MK:0001"
	}
	at := time.Now()
	now := at.Format("2006-01-02 15:04:05")
	s.mu.Lock()
	s.pending = append(s.pending, smsReport{due: time.Now().Add(receiptDelay), report: map[string]any{"phone_number": phone, "send_time": now, "report_time": now,
		"success": ok, "err_code": errCode, "err_msg": errCode, "sms_size": "1", "biz_id": biz, "out_id": out}})
	s.smsSent[phone] = append(s.smsSent[phone], smsSend{out: out, at: at, delivered: ok})
	s.mu.Unlock()
	// An SMS that carries a link (a digest's ${link}): the phone's owner
	// opens it, for a share, after it arrived.
	var params map[string]string
	_ = json.Unmarshal([]byte(q.Get("TemplateParam")), &params)
	if link := params["link"]; ok && strings.Contains(link, "/r/") && fate("click:"+phone+link) < shareClicks {
		s.busy.Add(1)
		select {
		case s.queue <- receipt{due: at.Add(2 * receiptDelay), click: link, who: phone}:
		default:
			s.busy.Add(-1)
			s.log.Warn("simulator queue full; an SMS link is not opened")
		}
	}
	fmt.Fprintf(w, `{"Code":"OK","Message":"OK","BizId":%q,"RequestId":"demo-%s"}`, biz, out)
}

// querySendDetails lists the sends to one number on one date (yyyyMMdd in
// Asia/Shanghai) a page at a time, as Aliyun does: SendStatus 1 until the
// receipt is due, then 3 delivered or 2 failed.
func (s *sims) querySendDetails(w http.ResponseWriter, q url.Values) {
	size, _ := strconv.Atoi(q.Get("PageSize"))
	page, _ := strconv.Atoi(q.Get("CurrentPage"))
	phone, date := q.Get("PhoneNumber"), q.Get("SendDate")
	if phone == "" || len(date) != 8 || size < 1 || size > 50 || page < 1 {
		fmt.Fprint(w, `{"Code":"isv.INVALID_PARAMETERS","Message":"PhoneNumber, SendDate, PageSize (1-50) and CurrentPage are required"}`)
		return
	}
	cst := time.FixedZone("CST", 8*3600)
	type dto struct {
		OutID        string `json:"OutId"`
		SendStatus   int    `json:"SendStatus"`
		ErrCode      string `json:"ErrCode"`
		PhoneNum     string `json:"PhoneNum"`
		TemplateCode string `json:"TemplateCode"`
		SendDate     string `json:"SendDate"`
		ReceiveDate  string `json:"ReceiveDate"`
	}
	var all []dto
	s.mu.Lock()
	for _, m := range s.smsSent[phone] {
		at := m.at.In(cst)
		if at.Format("20060102") != date {
			continue
		}
		d := dto{OutID: m.out, SendStatus: 1, PhoneNum: phone, TemplateCode: "SMS_DEMO", SendDate: at.Format("2006-01-02 15:04:05")}
		if time.Since(m.at) >= receiptDelay {
			d.SendStatus, d.ErrCode, d.ReceiveDate = 3, "DELIVERED", at.Add(receiptDelay).Format("2006-01-02 15:04:05")
			if !m.delivered {
				d.SendStatus, d.ErrCode = 2, "MK:0001"
			}
		}
		all = append(all, d)
	}
	s.mu.Unlock()
	from := min((page-1)*size, len(all))
	body, _ := json.Marshal(map[string]any{"Code": "OK", "Message": "OK", "RequestId": "demo-query", "TotalCount": strconv.Itoa(len(all)),
		"SmsSendDetailDTOs": map[string]any{"SmsSendDetailDTO": all[from:min(from+size, len(all))]}})
	_, _ = w.Write(body)
}
