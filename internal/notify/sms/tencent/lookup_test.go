package tencent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

func TestLookup(t *testing.T) {
	yes, no := true, false
	e164 := "+86" + testMobile
	ago := func(d time.Duration) time.Time { return time.Now().Add(-d) }
	many := func(n int) []sentSMS {
		s := make([]sentSMS, n)
		for i := range s {
			s[i] = sentSMS{e164, strconv.Itoa(1000 + i), time.Now()}
		}
		return s
	}
	isSendError := func(reason notify.Reason) func(error) bool {
		return func(err error) bool { var se *notify.SendError; return errors.As(err, &se) && se.Reason == reason }
	}
	cases := []struct {
		name      string
		sent      []sentSMS
		report    func(string) string
		noContext bool
		answer    func(map[string]any) (int, string)
		since     time.Time // zero: five minutes ago
		want      notify.Lookup
		wantErr   func(error) bool
	}{
		{name: "found delivered", sent: []sentSMS{{e164, "41", time.Now()}},
			want: notify.Lookup{Found: true, ProviderMsgID: "5000:1000", Delivered: &yes}},
		{name: "found failed", sent: []sentSMS{{e164, "41", time.Now()}}, report: func(string) string { return "FAIL" },
			want: notify.Lookup{Found: true, ProviderMsgID: "5000:1000", Delivered: &no}},
		{name: "a failed and a delivered send", sent: []sentSMS{{e164, "41", time.Now()}, {e164, "41", time.Now()}},
			report: func() func(string) string {
				i := 0
				return func(string) string { i++; return map[int]string{1: "FAIL", 2: "SUCCESS"}[i] }
			}(),
			want: notify.Lookup{Found: true, ProviderMsgID: "5000:1001", Delivered: &yes}},
		{name: "not found once settled", sent: []sentSMS{{e164, "40", time.Now()}, {"+8613900000000", "41", time.Now()}},
			want: notify.Lookup{}},
		{name: "sent before since is not looked at", sent: []sentSMS{{e164, "41", ago(time.Hour)}},
			want: notify.Lookup{}},
		{name: "waiting for its report, too early", sent: []sentSMS{{e164, "41", time.Now()}}, report: func(string) string { return "" },
			since: ago(time.Second), wantErr: func(err error) bool { return errors.Is(err, sms.ErrNotSettled) }},
		{name: "reports without SessionContext", sent: []sentSMS{{e164, "41", time.Now()}}, noContext: true,
			wantErr: func(err error) bool { return errors.Is(err, ErrNoSessionContext) }},
		{name: "a full pull without it cannot tell", sent: many(100),
			wantErr: func(err error) bool { return err != nil && !errors.Is(err, sms.ErrNotSettled) }},
		{name: "signature refused", answer: func(map[string]any) (int, string) {
			return http.StatusOK, `{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"signature of ` + testMobile + `"},"RequestId":"r"}}`
		}, wantErr: isSendError(notify.ReasonConfig)},
		{name: "throttled", answer: func(map[string]any) (int, string) {
			return http.StatusOK, `{"Response":{"Error":{"Code":"RequestLimitExceeded","Message":"too many for +86` + testMobile + `"},"RequestId":"r"}}`
		}, wantErr: isSendError(notify.ReasonRateLimited)},
		{name: "since beyond the 7 days Tencent keeps", sent: []sentSMS{{e164, "41", time.Now()}}, since: ago(10 * 24 * time.Hour),
			want: notify.Lookup{Found: true, ProviderMsgID: "5000:1000", Delivered: &yes}},
		{name: "gateway 502", answer: func(map[string]any) (int, string) { return http.StatusBadGateway, "<html>bad gateway</html>" },
			wantErr: isSendError(notify.ReasonServerError)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{t: t, sent: tc.sent, report: tc.report, noContext: tc.noContext, answer: tc.answer}
			c := newChannel(t, f)
			since := tc.since
			if since.IsZero() {
				since = ago(5 * time.Minute)
			}
			got, err := c.Lookup(context.Background(), &notify.Notice{ID: 41}, notify.Recipient{Mobile: testMobile}, since)
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("err = %v, want a matching error (got %+v)", err, got)
				}
				checkRedacted(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got.Found, got.ProviderMsgID, deref(got.Delivered)) != fmt.Sprint(tc.want.Found, tc.want.ProviderMsgID, deref(tc.want.Delivered)) {
				t.Errorf("got %+v (delivered %s), want %+v", got, deref(got.Delivered), tc.want)
			}
			if len(f.got) != 0 || len(f.pulls) != 1 {
				t.Fatalf("Lookup made %d sends and %d pulls", len(f.got), len(f.pulls))
			}
			p := f.pulls[0]
			begin := since.Add(-time.Minute)
			if oldest := time.Now().Add(-7*24*time.Hour + time.Hour); begin.Before(oldest) {
				begin = oldest
			}
			if got, _ := p["BeginTime"].(float64); p["PhoneNumber"] != e164 || p["SmsSdkAppId"] != testApp || p["Limit"] != float64(100) ||
				p["Offset"] != float64(0) || time.Unix(int64(got), 0).Sub(begin).Abs() > 2*time.Second {
				t.Errorf("pull %v", p)
			}
		})
	}
}

func deref(b *bool) string {
	if b == nil {
		return "nil"
	}
	return strconv.FormatBool(*b)
}

// TestLookupAfterSend is the dispatcher's use: Send puts the notice id in
// SessionContext and Lookup finds it in the status report.
func TestLookupAfterSend(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f, func(cfg *Config) { cfg.LookupSettle = time.Millisecond })
	since := time.Now()
	if _, err := c.Send(context.Background(), &notify.Notice{ID: 77}, notify.Recipient{Mobile: testMobile}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Millisecond)
	for id, found := range map[int64]bool{77: true, 78: false} {
		got, err := c.Lookup(context.Background(), &notify.Notice{ID: id}, notify.Recipient{Mobile: testMobile}, since)
		if err != nil || got.Found != found {
			t.Errorf("notice %d: %+v, %v; want found %t", id, got, err, found)
		}
	}
	if got, err := c.Lookup(context.Background(), &notify.Notice{ID: 77}, notify.Recipient{}, since); err != nil || got.Found {
		t.Errorf("no mobile: %+v, %v", got, err)
	}
}
