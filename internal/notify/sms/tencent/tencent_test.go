package tencent

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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

const (
	testID     = "AKIDtestsecretid"
	testSecret = "TencentSuperSecretKey99"
	testApp    = "1400787878"
	testSign   = "政策通"
	testMobile = "13812345678"
)

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func hexSHA(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// verifyTC3 checks a TC3-HMAC-SHA256 request as Tencent's API gateway
// does and returns its body.
func verifyTC3(r *http.Request, id, secret string) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "TC3-HMAC-SHA256 ")
	if !ok {
		return nil, fmt.Errorf("authorization %q", auth)
	}
	f := map[string]string{}
	for _, kv := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		f[k] = v
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return nil, fmt.Errorf("X-TC-Timestamp %q", r.Header.Get("X-TC-Timestamp"))
	}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	scope := date + "/sms/tc3_request"
	if f["Credential"] != id+"/"+scope {
		return nil, fmt.Errorf("credential %q", f["Credential"])
	}
	var ch strings.Builder
	signed := strings.Split(f["SignedHeaders"], ";")
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		ch.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	if !strings.Contains(f["SignedHeaders"], "host") || !strings.Contains(f["SignedHeaders"], "content-type") {
		return nil, fmt.Errorf("signed headers %q", f["SignedHeaders"])
	}
	canonical := r.Method + "\n" + r.URL.Path + "\n" + r.URL.RawQuery + "\n" + ch.String() + "\n" + f["SignedHeaders"] + "\n" + hexSHA(body)
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + scope + "\n" + hexSHA([]byte(canonical))
	k := mac(mac(mac([]byte("TC3"+secret), date), "sms"), "tc3_request")
	if want := hex.EncodeToString(mac(k, toSign)); !hmac.Equal([]byte(want), []byte(f["Signature"])) {
		return nil, errors.New("signature mismatch")
	}
	return body, nil
}

// fake is Tencent's SMS API: SendSms, and PullSmsSendStatusByPhoneNumber
// answered from the sends it accepted whose status report came (report
// gives it: SUCCESS, FAIL, or "" for none yet; nil means SUCCESS).
// noContext makes it leave SessionContext out of the reports, as Tencent
// does until support enables it.
type fake struct {
	t         *testing.T
	mu        sync.Mutex
	got       []map[string]any // SendSms requests
	pulls     []map[string]any // PullSmsSendStatusByPhoneNumber requests
	sent      []sentSMS
	answer    func(req map[string]any) (int, string)
	report    func(session string) string
	noContext bool
}

type sentSMS struct {
	phone, session string
	at             time.Time
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	body, err := verifyTC3(r, testID, testSecret)
	if err != nil {
		f.t.Logf("fake: %v", err)
		fmt.Fprintf(w, `{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"The provided credentials could not be validated. Signature %s"},"RequestId":"req-auth"}}`, r.Header.Get("Authorization"))
		return
	}
	action := r.Header.Get("X-TC-Action")
	if r.Method != http.MethodPost || (action != "SendSms" && action != "PullSmsSendStatusByPhoneNumber") || r.Header.Get("X-TC-Version") != "2021-01-11" || r.Header.Get("X-TC-Region") != "ap-guangzhou" {
		f.t.Errorf("fake: %s action=%q version=%q region=%q", r.Method, action, r.Header.Get("X-TC-Version"), r.Header.Get("X-TC-Region"))
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("fake: body %v", err)
	}
	f.mu.Lock()
	if action == "SendSms" {
		f.got = append(f.got, req)
	} else {
		f.pulls = append(f.pulls, req)
	}
	f.mu.Unlock()
	if f.answer != nil {
		status, s := f.answer(req)
		w.WriteHeader(status)
		io.WriteString(w, s)
		return
	}
	if action == "PullSmsSendStatusByPhoneNumber" {
		_ = json.NewEncoder(w).Encode(map[string]any{"Response": f.pull(req)})
		return
	}
	phones, _ := req["PhoneNumberSet"].([]any)
	session, _ := req["SessionContext"].(string)
	for _, p := range phones {
		phone, _ := p.(string)
		f.mu.Lock()
		f.sent = append(f.sent, sentSMS{phone: phone, session: session, at: time.Now()})
		f.mu.Unlock()
	}
	fmt.Fprintf(w, `{"Response":{"SendStatusSet":[{"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":"+86%s","Fee":1,"SessionContext":%q,"Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"a0aabda6-cf91-4f3e-a81f-9198114a2279"}}`, testMobile, req["SessionContext"])
}

// pull answers PullSmsSendStatusByPhoneNumber: the reports of one E.164
// number's sends within [BeginTime, EndTime], at most Limit.
func (f *fake) pull(req map[string]any) map[string]any {
	phone, _ := req["PhoneNumber"].(string)
	begin, _ := req["BeginTime"].(float64)
	end, _ := req["EndTime"].(float64)
	limit, _ := req["Limit"].(float64)
	if !strings.HasPrefix(phone, "+") || begin <= 0 || limit < 1 || limit > 100 || req["SmsSdkAppId"] != testApp {
		return map[string]any{"Error": map[string]string{"Code": "InvalidParameterValue", "Message": "bad pull"}, "RequestId": "req-p"}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	set := []map[string]any{}
	for i, s := range f.sent {
		at := float64(s.at.Unix())
		if s.phone != phone || at < begin || end > 0 && at > end || len(set) >= int(limit) {
			continue
		}
		status := "SUCCESS"
		if f.report != nil {
			status = f.report(s.session)
		}
		if status == "" {
			continue
		}
		item := map[string]any{"UserReceiveTime": s.at.Unix() + 3, "CountryCode": "86", "SubscriberNumber": strings.TrimPrefix(phone, "+86"),
			"PhoneNumber": phone, "SerialNo": fmt.Sprintf("5000:%d", 1000+i), "ReportStatus": status, "Description": "DELIVRD", "SessionContext": s.session}
		if f.noContext {
			item["SessionContext"] = ""
		}
		set = append(set, item)
	}
	return map[string]any{"PullSmsSendStatusSet": set, "RequestId": "req-p"}
}

func template(*notify.Notice) (string, map[string]string, error) {
	return "1234567", map[string]string{"2_url": "t.cn/r/abc", "1_policy": "稳岗返还"}, nil
}

func newChannel(t *testing.T, f *fake, mod ...func(*Config)) *Channel {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := Config{AccessKeyID: testID, AccessKeySecret: testSecret, SignName: testSign, AppID: testApp, Endpoint: srv.URL, Template: template}
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
	if res.ProviderMsgID != "5000:1045710669157053657849499619" {
		t.Errorf("ProviderMsgID = %q", res.ProviderMsgID)
	}
	got, _ := json.Marshal(f.got[0])
	want := `{"PhoneNumberSet":["+8613812345678"],"SessionContext":"4711","SignName":"政策通","SmsSdkAppId":"1400787878","TemplateId":"1234567","TemplateParamSet":["稳岗返还","t.cn/r/abc"]}`
	if string(got) != want {
		t.Errorf("request\n got %s\nwant %s", got, want)
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
			if _, err := c.Send(context.Background(), &notify.Notice{ID: int64(i)}, notify.Recipient{Mobile: "+86" + testMobile}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(f.got) != 8 {
		t.Errorf("fake got %d", len(f.got))
	}
}

func sendError(t *testing.T, err error) *notify.SendError {
	t.Helper()
	var se *notify.SendError
	var pe *sms.ProviderError
	if !errors.As(err, &se) || !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *notify.SendError with a *sms.ProviderError", err, err)
	}
	return se
}

func checkRedacted(t *testing.T, err error, more ...string) {
	t.Helper()
	for _, x := range append(more, testSecret, testMobile) {
		if strings.Contains(err.Error(), x) {
			t.Errorf("error text %q contains %q", err, x)
		}
	}
}

func TestWrongSecret(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f, func(c *Config) { c.AccessKeySecret = "WrongTencentKey-XYZ" })
	_, err := c.Send(context.Background(), &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile})
	se := sendError(t, err)
	if se.Retry || se.Permanent || se.Quota || se.Reason != notify.ReasonConfig {
		t.Errorf("got %+v", se)
	}
	checkRedacted(t, err, "WrongTencentKey-XYZ")
	if strings.Contains(err.Error(), "Signature=") && !strings.Contains(err.Error(), "Signature=[redacted]") {
		t.Errorf("signature leaked: %v", err)
	}
	if len(f.got) != 0 {
		t.Errorf("fake accepted a bad signature")
	}
}

func TestErrorMapping(t *testing.T) {
	type want struct {
		reason                  notify.Reason
		retry, permanent, quota bool
	}
	status := func(code string) func(map[string]any) (int, string) {
		return func(map[string]any) (int, string) {
			return 200, fmt.Sprintf(`{"Response":{"SendStatusSet":[{"SerialNo":"","PhoneNumber":"+86%s","Fee":0,"Code":%q,"Message":"number +86%s refused"}],"RequestId":"r"}}`, testMobile, code, testMobile)
		}
	}
	reqErr := func(code string) func(map[string]any) (int, string) {
		return func(map[string]any) (int, string) {
			return 200, fmt.Sprintf(`{"Response":{"Error":{"Code":%q,"Message":"nope for %s"},"RequestId":"r"}}`, code, testMobile)
		}
	}
	cases := []struct {
		name   string
		answer func(map[string]any) (int, string)
		want   want
	}{
		{"30s", status("LimitExceeded.PhoneNumberThirtySecondLimit"), want{notify.ReasonRateLimited, true, false, false}},
		{"daily", status("LimitExceeded.PhoneNumberDailyLimit"), want{notify.ReasonQuota, false, false, true}},
		{"blacklist", status("FailedOperation.PhoneNumberInBlacklist"), want{notify.ReasonBlocked, false, true, false}},
		{"bad number", status("InvalidParameterValue.IncorrectPhoneNumber"), want{notify.ReasonUnreachableUser, false, true, false}},
		{"template", status("FailedOperation.TemplateIncorrectOrUnapproved"), want{notify.ReasonConfig, false, false, false}},
		{"balance", status("FailedOperation.InsufficientBalanceInSmsPackage"), want{notify.ReasonConfig, false, false, false}},
		{"new code", status("FailedOperation.SomethingNew"), want{notify.ReasonUnknown, true, false, false}},
		{"sign", reqErr("FailedOperation.SignatureIncorrectOrUnapproved"), want{notify.ReasonConfig, false, false, false}},
		{"auth", reqErr("AuthFailure.SecretIdNotFound"), want{notify.ReasonConfig, false, false, false}},
		{"app", reqErr("UnauthorizedOperation.SmsSdkAppIdVerifyFail"), want{notify.ReasonConfig, false, false, false}},
		{"internal", reqErr("InternalError.SendAndRecvFail"), want{notify.ReasonServerError, true, false, false}},
		{"req limit", reqErr("RequestLimitExceeded"), want{notify.ReasonRateLimited, true, false, false}},
		{"502", func(map[string]any) (int, string) { return 502, "<html>bad gateway</html>" }, want{notify.ReasonServerError, true, false, false}},
		{"empty set", func(map[string]any) (int, string) { return 200, `{"Response":{"SendStatusSet":[],"RequestId":"r"}}` }, want{notify.ReasonServerError, true, false, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newChannel(t, &fake{t: t, answer: tc.answer})
			_, err := c.Send(context.Background(), &notify.Notice{ID: 2}, notify.Recipient{Mobile: testMobile})
			se := sendError(t, err)
			if got := (want{se.Reason, se.Retry, se.Permanent, se.Quota}); got != tc.want {
				t.Errorf("got %+v, want %+v (%v)", got, tc.want, err)
			}
			checkRedacted(t, err)
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
	c, err := New(Config{AccessKeyID: testID, AccessKeySecret: testSecret, SignName: testSign, AppID: testApp, Endpoint: srv.URL, Template: template})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Send(ctx, &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile})
	if se := sendError(t, err); !se.Retry || se.Reason != notify.ReasonTimeout {
		t.Errorf("got %+v", se)
	}
	checkRedacted(t, err)
}

func TestE164(t *testing.T) {
	for in, want := range map[string]string{
		"13812345678": "+8613812345678", "+8613812345678": "+8613812345678",
		"008613812345678": "+8613812345678", "8613812345678": "+8613812345678",
		" 138 1234 5678 ": "+8613812345678", "": "",
	} {
		if got := E164(in); got != want {
			t.Errorf("E164(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := Config{AccessKeyID: "a", AccessKeySecret: "b", SignName: "s", AppID: "1", Template: template}
	if _, err := New(ok); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no id":       func(c *Config) { c.AccessKeyID = "" },
		"no app":      func(c *Config) { c.AppID = "" },
		"no sign":     func(c *Config) { c.SignName = "" },
		"no template": func(c *Config) { c.Template = nil },
		"bad url":     func(c *Config) { c.Endpoint = "sms.tencentcloudapi.com" },
	} {
		cfg := ok
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
