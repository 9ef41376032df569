package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/silenceper/wechat/v2/util"

	"github.com/policypush/policypush/internal/pgtest"
	"github.com/policypush/policypush/internal/pii"
	"github.com/policypush/policypush/internal/receipt"
	"github.com/policypush/policypush/internal/store"
)

// Issue 12's "callbacks prove where they came from", through the real
// handlers and the real store on PostgreSQL.

const (
	cbToken  = "callback-proof-token"
	cbAppID  = "wx1234567890abcdef"
	cbAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG" // WeChat's documented example key
)

// callbackDB is a migrated database with subjects cb_0…cb_{n-1}: each has
// the mobile 1380000xxxx and the openid o_cb_xxxx, and one SMS notice sent
// as biz-xxxx, plus one WeChat notice sent as msgid 9xxxx.
type callbackDB struct {
	t     *testing.T
	st    *store.Store
	db    *pgx.Conn
	clock clock // the service's; handlers read it concurrently
}

func newCallbackDB(t *testing.T, n int) *callbackDB {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	sealer, _ := pii.NewSealer(bytes.Repeat([]byte{7}, pii.KeySize))
	st, err := store.Open(ctx, url, sealer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var b store.Batch
	for i := range n {
		k := store.SubjectKey{Type: "resident", ID: fmt.Sprintf("cb_%d", i)}
		b.Profiles = append(b.Profiles, store.Profile{Key: k, Version: 1, Data: fmt.Appendf(nil,
			`{"person_id":%q,"contact":{"mobile":"1380000%04d"},"channels":{"wechat":{"openid":"o_cb_%04d"}}}`, k.ID, i, i)})
		for _, p := range []string{"p-sms", "p-wx"} {
			ch := map[string]string{"p-sms": "sms", "p-wx": "wechat"}[p]
			b.Matches = append(b.Matches, store.NewMatch{
				Match:   store.Match{Key: k, PolicyID: p, PolicyVersion: 1, Result: "eligible", Explanation: []byte(`{}`), EvaluatedAt: at},
				Notices: []store.Notice{{Channel: ch, Status: "pending", DueAt: at}},
			})
		}
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error { _, err := tx.Save(ctx, &b); return err }); err != nil {
		t.Fatal(err)
	}
	// Sent, as the dispatcher would have recorded them.
	if _, err := db.Exec(ctx, `UPDATE outbox o SET status = 'sent', sent_at = $1,
    provider_msg_id = CASE o.channel WHEN 'sms' THEN 'biz-' ELSE '9' END || lpad(substr(m.subject_id, 4), 4, '0')
FROM matches m WHERE m.id = o.match_id`, at); err != nil {
		t.Fatal(err)
	}
	c := &callbackDB{t: t, st: st, db: db}
	c.clock.set(at.Add(24 * time.Hour))
	return c
}

// server serves the real callback handlers with cfg on a real listener,
// so that RemoteAddr is the connection's; it returns the base URL and the
// metrics.
func (c *callbackDB) server(cfg receipt.Config) (string, *receiptMetrics) {
	c.t.Helper()
	m := newReceiptMetrics(prometheus.NewRegistry())
	h, err := receipt.New(cfg, receiptStore{st: c.st, metrics: newDeliveryMetrics(prometheus.NewRegistry())}, m,
		slog.New(slog.DiscardHandler), c.clock.now)
	if err != nil {
		c.t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	c.t.Cleanup(srv.Close)
	return srv.URL, m
}

// state is everything a callback may change: every notice's status,
// channel and reason, the opt-outs, the attempts and the nonces.
func (c *callbackDB) state() string {
	c.t.Helper()
	var s string
	err := c.db.QueryRow(c.t.Context(), `SELECT concat_ws(' | ',
    (SELECT string_agg(concat(id, ':', channel, ':', status, ':', coalesce(reason, '')), ',' ORDER BY id) FROM outbox),
    (SELECT string_agg(concat(subject_id, ':', channel, ':', source), ',' ORDER BY subject_id, channel, source) FROM opt_outs),
    (SELECT count(*) FROM notice_attempts),
    (SELECT count(*) FROM callback_nonces))`).Scan(&s)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func (c *callbackDB) count(q string, args ...any) int {
	c.t.Helper()
	var n int
	if err := c.db.QueryRow(c.t.Context(), q, args...).Scan(&n); err != nil {
		c.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// counted is a counter's value.
func counted(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func post(t *testing.T, u, body string) int {
	t.Helper()
	resp, err := http.Post(u, "application/octet-stream", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestForgedSMSCallbacks: the forgeries (an opt-out reply, a
// delivery report and a failure report, for Aliyun and Tencent) without
// the key, with a wrong one, or from outside POLICYPUSH_CALLBACK_ALLOW get
// 403 and change nothing; with the key, from an allowed network, they are
// taken.
func TestForgedSMSCallbacks(t *testing.T) {
	c := newCallbackDB(t, 4)
	const key = "sms-callback-key-for-tests"
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	elsewhere := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	open, openMetrics := c.server(receipt.Config{SMSKey: key})
	fenced, fencedMetrics := c.server(receipt.Config{SMSKey: key, Allow: elsewhere})
	inside, _ := c.server(receipt.Config{SMSKey: key, Allow: loopback})
	bodies := map[string][]string{
		// cb_1 opts out, cb_2's notice is delivered, cb_3's failed.
		"aliyun": {`[{"phone_number":"13800000001","content":"TD"}]`, `[{"biz_id":"biz-0002","success":true}]`, `[{"biz_id":"biz-0003","success":false}]`},
		"tencent": {`{"nationcode":"86","mobile":"13800000001","text":"TD"}`, `[{"sid":"biz-0002","report_status":"SUCCESS"}]`,
			`[{"sid":"biz-0003","report_status":"FAIL"}]`},
	}
	for _, provider := range []string{"aliyun", "tencent"} {
		path := "/sms/callback/" + provider
		for _, tt := range []struct {
			name, base, query string
			metrics           *receiptMetrics
			reason            string
		}{
			{"no key", open, "", openMetrics, "key"},
			{"empty key", open, "?key=", openMetrics, "key"},
			{"wrong key", open, "?key=" + key[:len(key)-1] + "X", openMetrics, "key"},
			{"key as another parameter", open, "?k=" + key, openMetrics, "key"},
			{"outside CALLBACK_ALLOW", fenced, "?key=" + key, fencedMetrics, "network"},
		} {
			t.Run(provider+" "+tt.name, func(t *testing.T) {
				before := c.state()
				for _, body := range bodies[provider] {
					if code := post(t, tt.base+path+tt.query, body); code != http.StatusForbidden {
						t.Errorf("%s: %d, want 403", body, code)
					}
				}
				if after := c.state(); after != before {
					t.Errorf("the database changed:\nbefore %s\n after %s", before, after)
				}
				if n := counted(t, tt.metrics.refused.WithLabelValues("sms", provider, tt.reason)); n < 3 {
					t.Errorf("refused{provider=%s,reason=%s} = %v, want at least 3", provider, tt.reason, n)
				}
			})
		}
		t.Run(provider+" with the key from an allowed network", func(t *testing.T) {
			for _, body := range bodies[provider] {
				if code := post(t, inside+path+"?key="+url.QueryEscape(key), body); code != http.StatusOK {
					t.Errorf("%s: %d, want 200", body, code)
				}
			}
			if n := c.count(`SELECT count(*) FROM opt_outs WHERE subject_id = 'cb_1' AND channel = 'sms' AND source = 'sms_reply'`); n != 1 {
				t.Errorf("cb_1's opt-out: %d rows", n)
			}
			if n := c.count(`SELECT count(*) FROM outbox WHERE provider_msg_id = 'biz-0002' AND status = 'delivered'`); n != 1 {
				t.Error("cb_2's notice is not delivered")
			}
			if n := c.count(`SELECT count(*) FROM outbox WHERE provider_msg_id = 'biz-0003' AND status = 'failed'`); n != 1 {
				t.Error("cb_3's notice is not failed")
			}
		})
		// The next provider starts from the same place.
		if _, err := c.db.Exec(t.Context(), `DELETE FROM opt_outs; DELETE FROM notice_attempts;
UPDATE outbox SET status = 'sent', reason = NULL, last_reason = NULL, delivered_at = NULL`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCallbackBodyOneTransaction: a body of a thousand reports, with
// duplicates, unknown ids and opt-out replies among them, is recorded by
// one transaction (a trigger notes the transaction of every row written);
// a failure at its 600th report leaves nothing of it, and the retry takes
// all of it.
func TestCallbackBodyOneTransaction(t *testing.T) {
	const n = 1000
	c := newCallbackDB(t, n)
	base, m := c.server(receipt.Config{SMSKey: "one-transaction-key-0123"})
	u := base + "/sms/callback/aliyun?key=one-transaction-key-0123"
	if _, err := c.db.Exec(t.Context(), `CREATE TABLE written (xid xid8 NOT NULL);
CREATE FUNCTION note_xact() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO written VALUES (pg_current_xact_id()); RETURN NULL; END $$;
CREATE TRIGGER note_outbox AFTER UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION note_xact();
CREATE TRIGGER note_opt_outs AFTER INSERT ON opt_outs FOR EACH ROW EXECUTE FUNCTION note_xact();
CREATE TRIGGER note_attempts AFTER INSERT ON notice_attempts FOR EACH ROW EXECUTE FUNCTION note_xact();
CREATE FUNCTION fail_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF OLD.provider_msg_id = 'biz-0600' THEN RAISE EXCEPTION 'the database fails mid-body'; END IF; RETURN NEW; END $$;
CREATE TRIGGER fail_at BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION fail_at();`); err != nil {
		t.Fatal(err)
	}
	var items []string
	for i := range n {
		// Every tenth fails; the ones ending in 7 opt out too.
		items = append(items, fmt.Sprintf(`{"biz_id":"biz-%04d","success":%t}`, i, i%10 != 0))
		if i%100 == 7 {
			items = append(items, fmt.Sprintf(`{"phone_number":"1380000%04d","content":"退订"}`, i))
		}
	}
	for i := range 5 {
		items = append(items, fmt.Sprintf(`{"biz_id":"biz-%04d","success":true}`, i+10), fmt.Sprintf(`{"biz_id":"nobody-%d","success":true}`, i))
	}
	body := "[" + strings.Join(items, ",") + "]"

	before := c.state()
	if code := post(t, u, body); code != http.StatusServiceUnavailable {
		t.Fatalf("a body that fails mid-way: %d, want 503 so that Aliyun retries it", code)
	}
	if after := c.state(); after != before {
		t.Errorf("a failed body left part of itself:\nbefore %s\n after %s", before, after)
	}
	if got := counted(t, m.receipts.WithLabelValues("sms", "delivered")); got != 0 {
		t.Errorf("a rolled-back body counted %v deliveries", got)
	}

	if _, err := c.db.Exec(t.Context(), `DROP TRIGGER fail_at ON outbox`); err != nil {
		t.Fatal(err)
	}
	if code := post(t, u, body); code != http.StatusOK {
		t.Fatalf("the retried body: %d, want 200", code)
	}
	if got := c.count(`SELECT count(DISTINCT xid) FROM written`); got != 1 {
		t.Errorf("the body was written by %d transactions, want 1", got)
	}
	if got := c.count(`SELECT count(*) FROM outbox WHERE channel = 'sms' AND status = 'delivered'`); got != n*9/10 {
		t.Errorf("%d delivered, want %d", got, n*9/10)
	}
	if got := c.count(`SELECT count(*) FROM outbox WHERE channel = 'sms' AND status = 'failed' AND reason = 'undelivered'`); got != n/10 {
		t.Errorf("%d failed, want %d", got, n/10)
	}
	if got := c.count(`SELECT count(*) FROM opt_outs WHERE channel = 'sms'`); got != n/100 {
		t.Errorf("%d opt-outs, want %d", got, n/100)
	}
	// Per report as before: duplicates change nothing and count as what
	// they report; unknown ids are counted.
	for status, want := range map[string]float64{"delivered": n*9/10 + 5, "failed": n / 10, "unknown_id": 5, "opt_out": n / 100} {
		if got := counted(t, m.receipts.WithLabelValues("sms", status)); got != want {
			t.Errorf("receipts{status=%s} = %v, want %v", status, got, want)
		}
	}
	again := c.state()
	if code := post(t, u, body); code != http.StatusOK || c.state() != again {
		t.Errorf("the body once more: %d, and the database changed: %t", code, c.state() != again)
	}
}

// wechatURL is a plain-mode callback URL signed with token.
func wechatURL(base, token string, ts int64, nonce string) string {
	t := fmt.Sprint(ts)
	return base + "/wechat/callback?" + url.Values{"timestamp": {t}, "nonce": {nonce}, "signature": {util.Signature(token, t, nonce)}}.Encode()
}

// wechatSafeURL is a safe-mode callback URL: msg_signature covers the
// ciphertext.
func wechatSafeURL(base string, ts int64, nonce, encrypted string) string {
	t := fmt.Sprint(ts)
	return base + "/wechat/callback?" + url.Values{"timestamp": {t}, "nonce": {nonce}, "encrypt_type": {"aes"},
		"signature": {util.Signature(cbToken, t, nonce)}, "msg_signature": {util.Signature(cbToken, t, nonce, encrypted)}}.Encode()
}

func sealedMessage(t *testing.T, xml string) (encrypted, body string) {
	t.Helper()
	enc, err := util.EncryptMsg([]byte("0123456789abcdef"), []byte(xml), cbAppID, cbAESKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(enc), `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[` + string(enc) + `]]></Encrypt></xml>`
}

func unsubscribe(openid string) string {
	return `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[` + openid + `]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>`
}

func blocked(msgID string) string {
	return `<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>` + msgID + `</MsgID><Status><![CDATA[failed:user block]]></Status></xml>`
}

// TestWeChatReplayRefused: the replay (one captured signed
// request, sent again) is refused on the replica that took it and on
// another one sharing the database, in plain and in safe mode, and
// changes nothing; a new nonce is taken. The memory is a row per pair,
// and rows past twice the window are deleted.
func TestWeChatReplayRefused(t *testing.T) {
	c := newCallbackDB(t, 3)
	now := c.clock.now().Unix()
	a, am := c.server(receipt.Config{WeChatToken: cbToken})
	b, bm := c.server(receipt.Config{WeChatToken: cbToken}) // another replica
	first := wechatURL(a, cbToken, now, "1234567890")
	if code := post(t, first, blocked("90001")); code != http.StatusOK {
		t.Fatalf("the first callback: %d", code)
	}
	taken := c.state()
	for _, tt := range []struct {
		name, url, body string
		m               *receiptMetrics
	}{
		{"the same request again", first, blocked("90001"), am},
		{"its triple with another body", first, unsubscribe("o_cb_0002"), am},
		{"at another replica", wechatURL(b, cbToken, now, "1234567890"), unsubscribe("o_cb_0002"), bm},
	} {
		if code := post(t, tt.url, tt.body); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, code)
		}
		if s := c.state(); s != taken {
			t.Errorf("%s changed the database:\nbefore %s\n after %s", tt.name, taken, s)
		}
		if got := counted(t, tt.m.refused.WithLabelValues("wechat", "wechat", "replay")); got < 1 {
			t.Errorf("%s: refused{reason=replay} = %v", tt.name, got)
		}
	}
	if code := post(t, wechatURL(b, cbToken, now, "1234567891"), unsubscribe("o_cb_0002")); code != http.StatusOK {
		t.Errorf("a new nonce: %d", code)
	}
	if n := c.count(`SELECT count(*) FROM opt_outs WHERE subject_id = 'cb_2' AND source = 'wechat_unsubscribe'`); n != 1 {
		t.Errorf("the new callback's unsubscribe: %d rows", n)
	}

	// Safe mode, across replicas too.
	sa, _ := c.server(receipt.Config{WeChatToken: cbToken, WeChatAppID: cbAppID, WeChatAESKey: cbAESKey})
	sb, _ := c.server(receipt.Config{WeChatToken: cbToken, WeChatAppID: cbAppID, WeChatAESKey: cbAESKey})
	enc, body := sealedMessage(t, unsubscribe("o_cb_0001"))
	if code := post(t, wechatSafeURL(sa, now, "555", enc), body); code != http.StatusOK {
		t.Fatalf("safe mode: %d", code)
	}
	if code := post(t, wechatSafeURL(sb, now, "555", enc), body); code != http.StatusForbidden {
		t.Errorf("safe-mode replay at another replica: %d, want 403", code)
	}

	// A failed callback is not remembered: WeChat's retry is taken.
	if _, err := c.db.Exec(t.Context(), `CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'down'; END $$;
CREATE TRIGGER fail BEFORE INSERT ON opt_outs FOR EACH ROW EXECUTE FUNCTION fail();`); err != nil {
		t.Fatal(err)
	}
	retried := wechatURL(a, cbToken, now, "777")
	if code := post(t, retried, unsubscribe("o_cb_0000")); code != http.StatusServiceUnavailable {
		t.Fatalf("with the database failing: %d, want 503", code)
	}
	if _, err := c.db.Exec(t.Context(), `DROP TRIGGER fail ON opt_outs`); err != nil {
		t.Fatal(err)
	}
	if code := post(t, retried, unsubscribe("o_cb_0000")); code != http.StatusOK {
		t.Errorf("the retry of a failed callback: %d, want 200", code)
	}

	// The memory expires: pairs older than twice the window are deleted
	// (at most once a minute, by the next accepted callback), newer ones kept.
	if _, err := c.db.Exec(t.Context(), `INSERT INTO callback_nonces VALUES ($1, 'old'), ($2, 'recent')`, now-601, now-599); err != nil {
		t.Fatal(err)
	}
	c.clock.add(2 * time.Minute)
	if code := post(t, wechatURL(a, cbToken, c.clock.now().Unix(), "888"), unsubscribe("o_cb_0000")); code != http.StatusOK {
		t.Fatalf("a later callback: %d", code)
	}
	horizon := c.clock.now().Unix() - 600
	if n := c.count(`SELECT count(*) FROM callback_nonces WHERE ts < $1`, horizon); n != 0 {
		t.Errorf("%d nonces older than the window's double are kept", n)
	}
	if n := c.count(`SELECT count(*) FROM callback_nonces WHERE ts >= $1`, horizon); n == 0 {
		t.Error("the recent nonces are gone")
	}
}

// TestWeChatStaleTimestamp: the timestamp=1 replay, and any
// timestamp more than 300 s from the service's clock either way, is
// refused before anything is recorded, for messages and for the server
// check; 300 s is still taken.
func TestWeChatStaleTimestamp(t *testing.T) {
	c := newCallbackDB(t, 2)
	now := c.clock.now().Unix()
	base, m := c.server(receipt.Config{WeChatToken: cbToken})
	before := c.state()
	for _, tt := range []struct {
		name string
		ts   int64
	}{{"timestamp=1", 1}, {"301 s old", now - 301}, {"an hour old", now - 3600}, {"301 s ahead", now + 301}, {"a day ahead", now + 86400}} {
		if code := post(t, wechatURL(base, cbToken, tt.ts, "n-"+tt.name), blocked("90001")); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, code)
		}
		resp, err := http.Get(wechatURL(base, cbToken, tt.ts, "c-"+tt.name) + "&echostr=hello")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("server check, %s: %d, want 403", tt.name, resp.StatusCode)
		}
	}
	if s := c.state(); s != before {
		t.Errorf("stale callbacks changed the database:\nbefore %s\n after %s", before, s)
	}
	if got := counted(t, m.refused.WithLabelValues("wechat", "wechat", "stale")); got != 10 {
		t.Errorf("refused{reason=stale} = %v, want 10", got)
	}
	for _, ts := range []int64{now - 300, now + 300} {
		if code := post(t, wechatURL(base, cbToken, ts, fmt.Sprint("edge", ts)), unsubscribe("o_cb_0001")); code != http.StatusOK {
			t.Errorf("timestamp %+d s: %d, want 200", ts-now, code)
		}
	}
	resp, err := http.Get(wechatURL(base, cbToken, now, "check") + "&echostr=hello")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != "hello" {
		t.Errorf("a fresh server check: %d %q", resp.StatusCode, got)
	}
}

// TestWeChatDowngradeRefused: with an AES key configured, a plain-mode
// message, however well signed, is refused and changes nothing: the
// request does not choose its mode.
func TestWeChatDowngradeRefused(t *testing.T) {
	c := newCallbackDB(t, 2)
	now := c.clock.now().Unix()
	base, m := c.server(receipt.Config{WeChatToken: cbToken, WeChatAppID: cbAppID, WeChatAESKey: cbAESKey})
	before := c.state()
	for _, tt := range []struct{ name, url string }{
		{"plain, signed", wechatURL(base, cbToken, now, "d1")},
		{"plain, with a msg_signature", wechatURL(base, cbToken, now, "d2") + "&msg_signature=" + util.Signature(cbToken, fmt.Sprint(now), "d2", "")},
		{"another encrypt_type", wechatURL(base, cbToken, now, "d3") + "&encrypt_type=raw"},
	} {
		if code := post(t, tt.url, unsubscribe("o_cb_0001")); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", tt.name, code)
		}
	}
	if s := c.state(); s != before {
		t.Errorf("a downgraded callback changed the database:\nbefore %s\n after %s", before, s)
	}
	if got := counted(t, m.refused.WithLabelValues("wechat", "wechat", "mode")); got != 3 {
		t.Errorf("refused{reason=mode} = %v, want 3", got)
	}
	enc, body := sealedMessage(t, unsubscribe("o_cb_0001"))
	if code := post(t, wechatSafeURL(base, now, "d4", enc), body); code != http.StatusOK {
		t.Errorf("the same message in safe mode: %d, want 200", code)
	}
	if n := c.count(`SELECT count(*) FROM opt_outs WHERE subject_id = 'cb_1'`); n != 1 {
		t.Errorf("cb_1's unsubscribe in safe mode: %d rows", n)
	}
}

// TestEarlyReceiptInABody: an SMS body with a report that may have
// overtaken its send records the rest in its one transaction and asks for
// the body again; the retry changes nothing of what was recorded and
// takes the report once the send is. A WeChat message with such a report
// is rolled back whole, nonce included, so that WeChat's retry of it is
// not taken for a replay.
func TestEarlyReceiptInABody(t *testing.T) {
	c := newCallbackDB(t, 3)
	const key = "early-receipt-key-0123"
	base, m := c.server(receipt.Config{SMSKey: key, WeChatToken: cbToken})
	// cb_2's notices are being sent: their provider ids are not recorded yet.
	if _, err := c.db.Exec(t.Context(), `UPDATE outbox SET status = 'sending', provider_msg_id = NULL, call_started_at = now()
WHERE match_id IN (SELECT id FROM matches WHERE subject_id = 'cb_2')`); err != nil {
		t.Fatal(err)
	}
	u := base + "/sms/callback/aliyun?key=" + key
	body := `[{"biz_id":"biz-0000","success":true},{"biz_id":"biz-0002","success":true},{"phone_number":"13800000001","content":"TD"}]`
	for range 2 {
		if code := post(t, u, body); code != http.StatusServiceUnavailable {
			t.Fatalf("a body with a report too early: %d, want 503", code)
		}
		if n := c.count(`SELECT count(*) FROM outbox WHERE provider_msg_id = 'biz-0000' AND status = 'delivered'`); n != 1 {
			t.Error("the rest of the body is not recorded")
		}
		if n := c.count(`SELECT count(*) FROM opt_outs WHERE subject_id = 'cb_1'`); n != 1 {
			t.Error("the opt-out in the body is not recorded")
		}
	}
	if got := counted(t, m.receipts.WithLabelValues("sms", "delivered")); got != 2 {
		t.Errorf("receipts{status=delivered} = %v, want 2 (the body twice)", got)
	}

	now := c.clock.now().Unix()
	wx := wechatURL(base, cbToken, now, "4242")
	if code := post(t, wx, blocked("90002")); code != http.StatusServiceUnavailable {
		t.Fatalf("a WeChat report too early: %d, want 503", code)
	}
	if n := c.count(`SELECT count(*) FROM callback_nonces`); n != 0 {
		t.Errorf("the rolled-back message left %d nonces", n)
	}

	// The sends are recorded; the retries are taken.
	if _, err := c.db.Exec(t.Context(), `UPDATE outbox o SET status = 'sent',
    provider_msg_id = CASE o.channel WHEN 'sms' THEN 'biz-0002' ELSE '90002' END
WHERE match_id IN (SELECT id FROM matches WHERE subject_id = 'cb_2')`); err != nil {
		t.Fatal(err)
	}
	if code := post(t, u, body); code != http.StatusOK {
		t.Errorf("the body once the send is recorded: %d, want 200", code)
	}
	if code := post(t, wx, blocked("90002")); code != http.StatusOK {
		t.Errorf("WeChat's retry once the send is recorded: %d, want 200", code)
	}
	if n := c.count(`SELECT count(*) FROM outbox o JOIN matches m ON m.id = o.match_id
WHERE m.subject_id = 'cb_2' AND (o.channel = 'sms' AND o.status = 'delivered' OR o.channel = 'wechat' AND o.status = 'failed')`); n != 2 {
		t.Errorf("cb_2's notices: %d settled, want 2", n)
	}
}
