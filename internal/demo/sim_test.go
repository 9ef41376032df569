package demo

import (
	"context"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/notify"
	"github.com/policypush/policypush/internal/notify/sms/aliyun"

	"github.com/policypush/policypush/internal/testlog"
)

// TestAliyunSimLookup: the simulator answers the channel's
// QuerySendDetails from the SendSms calls it accepted, waiting for the
// receipt at first, then with the recipient's fate.
func TestAliyunSimLookup(t *testing.T) {
	s, err := newSims("token", "sms-callback-key-0123", testlog.New(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	c, err := aliyun.New(aliyun.Config{AccessKeyID: "ak", AccessKeySecret: "secret", SignName: "政策通", Endpoint: s.smsURL,
		Template: func(*notify.Notice) (string, map[string]string, error) { return "SMS_DEMO", nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	to := notify.Recipient{Mobile: "13800000001"}
	since := time.Now()
	if _, err := c.Send(ctx, &notify.Notice{ID: 5}, to); err != nil {
		t.Fatal(err)
	}
	l, err := c.Lookup(ctx, &notify.Notice{ID: 5}, to, since)
	if err != nil || !l.Found || l.Delivered != nil {
		t.Fatalf("before the receipt: %+v, %v", l, err)
	}
	if l, err := c.Lookup(ctx, &notify.Notice{ID: 6}, to, since); err != nil || l.Found {
		t.Fatalf("another notice: %+v, %v", l, err)
	}
	time.Sleep(receiptDelay)
	l, err = c.Lookup(ctx, &notify.Notice{ID: 5}, to, since)
	want := fate("sms:"+to.Mobile) >= shareSMSFailed
	if err != nil || !l.Found || l.Delivered == nil || *l.Delivered != want {
		t.Fatalf("after the receipt: %+v, %v; want delivered %t", l, err, want)
	}
}
