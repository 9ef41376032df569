package aliyun

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

const (
	testAK     = "LTAItestaccesskey"
	testSecret = "SuperSecretAccessKeyValue42"
	testSign   = "政策通"
	testMobile = "13812345678"
)

// percentEncode is RFC 3986 encoding as the ACS3 spec asks: unreserved
// characters stay, everything else is %XX with upper-case hex.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// verifyACS3 checks an ACS3-HMAC-SHA256 signed request as Aliyun's POP
// gateway does (V3 signature spec). It returns the request's body.
func verifyACS3(r *http.Request, ak, secret string) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	auth := r.Header.Get("Authorization")
	const alg = "ACS3-HMAC-SHA256 "
	if !strings.HasPrefix(auth, alg) {
		return nil, fmt.Errorf("authorization %q is not ACS3-HMAC-SHA256", auth)
	}
	fields := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(auth, alg), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		fields[k] = v
	}
	if fields["Credential"] != ak {
		return nil, fmt.Errorf("credential %q", fields["Credential"])
	}
	payloadHash := sha256.Sum256(body)
	if got := r.Header.Get("x-acs-content-sha256"); got != hex.EncodeToString(payloadHash[:]) {
		return nil, fmt.Errorf("x-acs-content-sha256 %q does not match the body", got)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-acs-action", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce", "x-acs-version"} {
		if !contains(signed, must) {
			return nil, fmt.Errorf("header %s not signed", must)
		}
	}
	if !sort.StringsAreSorted(signed) {
		return nil, errors.New("signed headers not sorted")
	}
	if d, err := time.Parse("2006-01-02T15:04:05Z", r.Header.Get("x-acs-date")); err != nil || time.Since(d).Abs() > 15*time.Minute {
		return nil, fmt.Errorf("x-acs-date %q", r.Header.Get("x-acs-date"))
	}
	var ch strings.Builder
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		ch.WriteString(h + ":" + strings.TrimSpace(v) + "\n")
	}
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, percentEncode(k)+"="+percentEncode(q.Get(k)))
	}
	canonical := strings.Join([]string{r.Method, "/", strings.Join(parts, "&"), ch.String(), fields["SignedHeaders"], hex.EncodeToString(payloadHash[:])}, "\n")
	crHash := sha256.Sum256([]byte(canonical))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("ACS3-HMAC-SHA256\n" + hex.EncodeToString(crHash[:])))
	if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return nil, errors.New("signature mismatch")
	}
	return body, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// fake is an Aliyun dysmsapi endpoint: SendSms, and QuerySendDetails
// answered from the sends it accepted. answer gives the status and body
// for a request that passed the signature check; status sets each
// accepted send's SendStatus (default 1, waiting for the receipt).
type fake struct {
	t      *testing.T
	mu     sync.Mutex
	got    []map[string]string
	sent   []sentSMS
	answer func(q map[string]string) (int, any)
	status func(out string) int
}

type sentSMS struct {
	phone, out string
	at         time.Time
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	if _, err := verifyACS3(r, testAK, testSecret); err != nil {
		f.t.Logf("fake: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched with our calculation. server string to sign is:ACS3-HMAC-SHA256\n0123456789abcdef0123456789abcdef0123456789abcdef", "RequestId": "req-sig"})
		return
	}
	action := r.Header.Get("x-acs-action")
	if r.Method != http.MethodPost || r.URL.Path != "/" || (action != "SendSms" && action != "QuerySendDetails") || r.Header.Get("x-acs-version") != "2017-05-25" {
		f.t.Errorf("fake: unexpected %s %s action=%q version=%q", r.Method, r.URL.Path, action, r.Header.Get("x-acs-version"))
	}
	q := map[string]string{"Action": action}
	for k := range r.URL.Query() {
		q[k] = r.URL.Query().Get(k)
	}
	f.mu.Lock()
	f.got = append(f.got, q)
	f.mu.Unlock()
	if f.answer != nil {
		status, body := f.answer(q)
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
		return
	}
	if action == "QuerySendDetails" {
		_ = json.NewEncoder(w).Encode(f.query(q))
		return
	}
	f.mu.Lock()
	f.sent = append(f.sent, sentSMS{phone: q["PhoneNumbers"], out: q["OutId"], at: time.Now()})
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]string{"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"})
}

// query answers QuerySendDetails as Aliyun does: the sends to one number
// on one date (Asia/Shanghai), a page at a time, TotalCount a string.
func (f *fake) query(q map[string]string) map[string]any {
	size, _ := strconv.Atoi(q["PageSize"])
	page, _ := strconv.Atoi(q["CurrentPage"])
	if size < 1 || size > 50 || page < 1 || len(q["SendDate"]) != 8 || q["PhoneNumber"] == "" {
		return map[string]any{"Code": "isv.INVALID_PARAMETERS", "Message": "bad query", "RequestId": "req-q"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []map[string]any
	for _, s := range f.sent {
		at := s.at.In(sms.Shanghai)
		if s.phone != q["PhoneNumber"] || at.Format("20060102") != q["SendDate"] {
			continue
		}
		st := 1
		if f.status != nil {
			st = f.status(s.out)
		}
		all = append(all, map[string]any{"OutId": s.out, "SendStatus": st, "PhoneNum": s.phone, "ErrCode": "DELIVERED",
			"TemplateCode": "SMS_100001", "Content": "【政策通】…", "SendDate": at.Format("2006-01-02 15:04:05"), "ReceiveDate": at.Format("2006-01-02 15:04:05")})
	}
	from := min((page-1)*size, len(all))
	return map[string]any{"Code": "OK", "Message": "OK", "RequestId": "req-q", "TotalCount": strconv.Itoa(len(all)),
		"SmsSendDetailDTOs": map[string]any{"SmsSendDetailDTO": all[from:min(from+size, len(all))]}}
}

func template(n *notify.Notice) (string, map[string]string, error) {
	return "SMS_100001", map[string]string{"policy": "稳岗返还", "url": "t.cn/r/abc"}, nil
}

func newChannel(t *testing.T, f *fake, mod ...func(*Config)) *Channel {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := Config{AccessKeyID: testAK, AccessKeySecret: testSecret, SignName: testSign, Endpoint: srv.URL, Template: template}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSendOK(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f)
	if c.Name() != notify.SMS {
		t.Fatalf("Name() = %q", c.Name())
	}
	res, err := c.Send(context.Background(), &notify.Notice{ID: 4711}, notify.Recipient{Mobile: testMobile})
	if err != nil {
		t.Fatal(err)
	}
	if res.ProviderMsgID != "900619746936498440^0" {
		t.Errorf("ProviderMsgID = %q", res.ProviderMsgID)
	}
	if len(f.got) != 1 {
		t.Fatalf("fake got %d requests", len(f.got))
	}
	q := f.got[0]
	want := map[string]string{"PhoneNumbers": testMobile, "SignName": testSign, "TemplateCode": "SMS_100001", "OutId": "4711"}
	for k, v := range want {
		if q[k] != v {
			t.Errorf("%s = %q, want %q", k, q[k], v)
		}
	}
	var tp map[string]string
	if err := json.Unmarshal([]byte(q["TemplateParam"]), &tp); err != nil || tp["policy"] != "稳岗返还" || tp["url"] != "t.cn/r/abc" {
		t.Errorf("TemplateParam = %q (%v)", q["TemplateParam"], err)
	}
}

func TestConcurrentSends(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(context.Background(), &notify.Notice{ID: int64(i)}, notify.Recipient{Mobile: testMobile}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(f.got) != 8 {
		t.Errorf("fake got %d requests", len(f.got))
	}
}

func TestWrongSecretIsConfig(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f, func(cfg *Config) { cfg.AccessKeySecret = "WrongSecretValue-XYZ" })
	_, err := c.Send(context.Background(), &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile})
	se := sendError(t, err)
	if se.Retry || se.Permanent || se.Quota || se.Reason != notify.ReasonConfig {
		t.Errorf("got %+v", se)
	}
	checkRedacted(t, err, "WrongSecretValue-XYZ")
	if strings.Contains(err.Error(), "0123456789abcdef0123456789abcdef") {
		t.Errorf("string to sign leaked: %v", err)
	}
}

func sendError(t *testing.T, err error) *notify.SendError {
	t.Helper()
	var se *notify.SendError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a *notify.SendError", err, err)
	}
	var pe *sms.ProviderError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v does not wrap a *sms.ProviderError", err)
	}
	return se
}

func checkRedacted(t *testing.T, err error, secrets ...string) {
	t.Helper()
	s := err.Error()
	for _, x := range append(secrets, testSecret, testMobile) {
		if strings.Contains(s, x) {
			t.Errorf("error text %q contains %q", s, x)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	type want struct {
		reason                  notify.Reason
		retry, permanent, quota bool
	}
	cases := []struct {
		code, msg string
		status    int
		want      want
	}{
		{"isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5", 200, want{notify.ReasonRateLimited, true, false, false}},
		{"isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10", 200, want{notify.ReasonQuota, false, false, true}},
		{"isv.DAY_LIMIT_CONTROL", "day limit", 200, want{notify.ReasonQuota, false, false, true}},
		{"isv.MOBILE_NUMBER_ILLEGAL", "非法手机号 " + testMobile, 200, want{notify.ReasonUnreachableUser, false, true, false}},
		{"isv.MOBILE_COUNT_OVER_LIMIT", "too many", 200, want{notify.ReasonUnreachableUser, false, true, false}},
		{"isv.SMS_TEMPLATE_ILLEGAL", "template", 200, want{notify.ReasonConfig, false, false, false}},
		{"isv.SMS_SIGNATURE_ILLEGAL", "sign", 200, want{notify.ReasonConfig, false, false, false}},
		{"isv.AMOUNT_NOT_ENOUGH", "money", 200, want{notify.ReasonConfig, false, false, false}},
		{"isv.INVALID_JSON_PARAM", "json", 200, want{notify.ReasonBadRequest, false, false, false}},
		{"isp.SYSTEM_ERROR", "oops", 200, want{notify.ReasonServerError, true, false, false}},
		{"isv.SOMETHING_NEW", "?", 200, want{notify.ReasonUnknown, true, false, false}},
		{"InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404, want{notify.ReasonConfig, false, false, false}},
		{"SignatureDoesNotMatch", "Signature=0a1b2c3d4e5f0a1b2c3d4e5f0a1b2c3d4e5f0a1b secret " + testSecret, 400, want{notify.ReasonConfig, false, false, false}},
		{"Throttling.User", "Request was denied due to user flow control.", 400, want{notify.ReasonRateLimited, true, false, false}},
		{"MissingSomething", "bad", 400, want{notify.ReasonBadRequest, false, false, false}},
		{"ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503, want{notify.ReasonServerError, true, false, false}},
		{"", "", 500, want{notify.ReasonServerError, true, false, false}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d_%s", tc.status, tc.code), func(t *testing.T) {
			f := &fake{t: t, answer: func(map[string]string) (int, any) {
				return tc.status, map[string]string{"Code": tc.code, "Message": tc.msg, "RequestId": "req-1"}
			}}
			c := newChannel(t, f)
			_, err := c.Send(context.Background(), &notify.Notice{ID: 9}, notify.Recipient{Mobile: testMobile})
			se := sendError(t, err)
			got := want{se.Reason, se.Retry, se.Permanent, se.Quota}
			if got != tc.want {
				t.Errorf("got %+v, want %+v (%v)", got, tc.want, err)
			}
			checkRedacted(t, err)
			if tc.code != "" && !strings.Contains(err.Error(), tc.code) {
				t.Errorf("error %q lacks the code", err)
			}
			if strings.Contains(err.Error(), "0a1b2c3d4e5f0a1b2c3d4e5f") {
				t.Errorf("signature leaked: %v", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c, err := New(Config{AccessKeyID: testAK, AccessKeySecret: testSecret, SignName: testSign, Endpoint: srv.URL, Template: template})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Send(ctx, &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile})
	se := sendError(t, err)
	if !se.Retry || se.Reason != notify.ReasonTimeout {
		t.Errorf("got %+v", se)
	}
	checkRedacted(t, err)
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c, err := New(Config{AccessKeyID: testAK, AccessKeySecret: testSecret, SignName: testSign, Endpoint: url, Template: template})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile})
	se := sendError(t, err)
	if !se.Retry || se.Reason != notify.ReasonServerError {
		t.Errorf("got %+v", se)
	}
	checkRedacted(t, err)
}

func TestNoMobileAndTemplateError(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f, func(cfg *Config) {
		cfg.Template = func(*notify.Notice) (string, map[string]string, error) {
			return "", nil, errors.New("rule has no notify.sms block")
		}
	})
	_, err := c.Send(context.Background(), &notify.Notice{ID: 1}, notify.Recipient{})
	if se := sendError(t, err); !se.Permanent || se.Reason != notify.ReasonUnreachableUser {
		t.Errorf("no mobile: %+v", se)
	}
	_, err = c.Send(context.Background(), &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile})
	if se := sendError(t, err); se.Retry || se.Permanent || se.Quota || se.Reason != notify.ReasonConfig {
		t.Errorf("template error: %+v", se)
	}
	if len(f.got) != 0 {
		t.Errorf("fake got %d requests", len(f.got))
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{AccessKeyID: "a", AccessKeySecret: "b", SignName: "s", Template: template}
	if _, err := New(ok); err != nil {
		t.Fatalf("default endpoint: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"no key":      func(c *Config) { c.AccessKeyID = "" },
		"no secret":   func(c *Config) { c.AccessKeySecret = "" },
		"no sign":     func(c *Config) { c.SignName = "" },
		"no template": func(c *Config) { c.Template = nil },
		"bad scheme":  func(c *Config) { c.Endpoint = "ftp://x" },
		"bare host":   func(c *Config) { c.Endpoint = "dysmsapi.aliyuncs.com" },
	} {
		cfg := ok
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		} else if strings.Contains(err.Error(), "b") && cfg.AccessKeySecret == "b" && strings.Contains(err.Error(), `"b"`) {
			t.Errorf("%s: secret in %v", name, err)
		}
	}
}
