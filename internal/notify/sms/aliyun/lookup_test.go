package aliyun

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms"
)

func TestLookup(t *testing.T) {
	// Shanghai 2026-12-03 23:59:50 is 15:59:50 UTC.
	lateEvening := time.Date(2026, 12, 3, 23, 59, 50, 0, sms.Shanghai)
	yes, no := true, false
	cases := []struct {
		name    string
		sent    []sentSMS // what the fake accepted earlier
		status  func(out string) int
		answer  func(q map[string]string) (int, any)
		id      int64
		since   time.Time // zero: a minute ago
		now     time.Time // zero: time.Now
		settle  time.Duration
		want    notify.Lookup
		wantErr func(error) bool
		queries int // QuerySendDetails calls, 0: not checked
	}{
		{name: "found delivered", sent: []sentSMS{{testMobile, "41", time.Now()}}, status: func(string) int { return 3 }, id: 41,
			want: notify.Lookup{Found: true, Delivered: &yes}},
		{name: "found waiting for its receipt", sent: []sentSMS{{testMobile, "41", time.Now()}}, id: 41,
			want: notify.Lookup{Found: true}},
		{name: "found failed", sent: []sentSMS{{testMobile, "41", time.Now()}}, status: func(string) int { return 2 }, id: 41,
			want: notify.Lookup{Found: true, Delivered: &no}},
		{name: "two sends, one delivered", sent: []sentSMS{{testMobile, "41", time.Now()}, {testMobile, "41", time.Now()}},
			status: statuses(2, 3), id: 41,
			want: notify.Lookup{Found: true, Delivered: &yes}},
		{name: "not found once settled", sent: []sentSMS{{testMobile, "40", time.Now()}, {"13900000000", "41", time.Now()}}, id: 41,
			want: notify.Lookup{}},
		{name: "not found right after the call, with a settle time", id: 41, since: time.Now().Add(-time.Second), settle: 20 * time.Second,
			wantErr: func(err error) bool { return errors.Is(err, sms.ErrNotSettled) }},
		{name: "on the second page", sent: append(manySends(60, "7"), sentSMS{testMobile, "41", time.Now()}), id: 41,
			want: notify.Lookup{Found: true}, queries: 2},
		{name: "a call across midnight is filed under the next date",
			sent: []sentSMS{{testMobile, "41", lateEvening.Add(20 * time.Second)}}, id: 41,
			since: lateEvening, now: lateEvening.Add(5 * time.Minute),
			want: notify.Lookup{Found: true}, queries: 2},
		{name: "throttled", id: 41, answer: func(map[string]string) (int, any) {
			return http.StatusBadRequest, map[string]string{"Code": "Throttling.User", "Message": "Request was denied due to user flow control. " + testMobile, "RequestId": "r"}
		}, wantErr: func(err error) bool {
			var se *notify.SendError
			return errors.As(err, &se) && se.Reason == notify.ReasonRateLimited
		}},
		{name: "business error in a 200", id: 41, answer: func(map[string]string) (int, any) {
			return http.StatusOK, map[string]string{"Code": "isp.SYSTEM_ERROR", "Message": "系统错误 " + testMobile, "RequestId": "r"}
		}, wantErr: func(err error) bool { var se *notify.SendError; return errors.As(err, &se) && se.Retry }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{t: t, sent: tc.sent, status: tc.status, answer: tc.answer}
			c := newChannel(t, f, func(cfg *Config) {
				cfg.LookupSettle = tc.settle
				if !tc.now.IsZero() {
					cfg.Now = func() time.Time { return tc.now }
				}
			})
			since := tc.since
			if since.IsZero() {
				since = time.Now().Add(-time.Minute)
			}
			got, err := c.Lookup(context.Background(), &notify.Notice{ID: tc.id}, notify.Recipient{Mobile: testMobile}, since)
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
			if got.Found != tc.want.Found || (got.Delivered == nil) != (tc.want.Delivered == nil) ||
				(got.Delivered != nil && *got.Delivered != *tc.want.Delivered) {
				t.Errorf("got %+v (delivered %v), want %+v", got, deref(got.Delivered), tc.want)
			}
			queries := 0
			for _, q := range f.got {
				if q["Action"] != "QuerySendDetails" {
					t.Errorf("Lookup made a %s call", q["Action"])
				}
				queries++
				if q["PhoneNumber"] != testMobile || q["PageSize"] != "50" {
					t.Errorf("query %v", q)
				}
			}
			if tc.queries != 0 && queries != tc.queries {
				t.Errorf("%d queries, want %d", queries, tc.queries)
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

// statuses gives the sends' SendStatus in the order the fake lists them.
func statuses(s ...int) func(string) int {
	i := 0
	return func(string) int { i++; return s[(i-1)%len(s)] }
}

func manySends(n int, out string) []sentSMS {
	s := make([]sentSMS, n)
	for i := range s {
		s[i] = sentSMS{testMobile, out, time.Now()}
	}
	return s
}

// TestLookupAfterSend is the dispatcher's use: a send whose answer was
// lost is found by its notice id.
func TestLookupAfterSend(t *testing.T) {
	f := &fake{t: t, status: func(string) int { return 3 }}
	c := newChannel(t, f)
	since := time.Now()
	if _, err := c.Send(context.Background(), &notify.Notice{ID: 77}, notify.Recipient{Mobile: testMobile}); err != nil {
		t.Fatal(err)
	}
	for id, found := range map[int64]bool{77: true, 78: false} {
		got, err := c.Lookup(context.Background(), &notify.Notice{ID: id}, notify.Recipient{Mobile: " " + testMobile + " "}, since)
		if err != nil || got.Found != found {
			t.Errorf("notice %d: %+v, %v; want found %t", id, got, err, found)
		}
	}
	got, err := c.Lookup(context.Background(), &notify.Notice{ID: 77}, notify.Recipient{}, since)
	if err != nil || got.Found {
		t.Errorf("no mobile: %+v, %v", got, err)
	}
}

func TestLookupWrongSecret(t *testing.T) {
	f := &fake{t: t}
	c := newChannel(t, f, func(cfg *Config) { cfg.AccessKeySecret = "WrongSecretValue-XYZ" })
	_, err := c.Lookup(context.Background(), &notify.Notice{ID: 1}, notify.Recipient{Mobile: testMobile}, time.Now().Add(-time.Hour))
	var se *notify.SendError
	if !errors.As(err, &se) || se.Reason != notify.ReasonConfig {
		t.Fatalf("err = %v", err)
	}
	checkRedacted(t, err, "WrongSecretValue-XYZ")
	if strings.Contains(err.Error(), "0123456789abcdef0123456789abcdef") {
		t.Errorf("string to sign leaked: %v", err)
	}
}
