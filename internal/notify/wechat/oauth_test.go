package wechat

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/policypush/policypush/internal/notify/wechat/wechattest"
)

// TestOAuthAgainstFake runs silenceper's officialaccount/oauth, through the
// router, against a fake of WeChat's web authorization: the authorize URL
// moves to the open base, the code's exchange to the API base, and an
// errcode comes back classified, with neither the secret nor the code in
// its text.
func TestOAuthAgainstFake(t *testing.T) {
	fake := wechattest.NewOAuth(testAppID, testSecret)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	a, err := NewOAuth(Config{AppID: testAppID, Secret: testSecret, APIBase: srv.URL}, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}

	to, err := a.AuthorizeURL("https://policy.example.gov.cn/n/abc", "0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(to)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme+"://"+u.Host != srv.URL || u.Path != "/connect/oauth2/authorize" || u.Fragment != "wechat_redirect" ||
		q.Get("appid") != testAppID || q.Get("redirect_uri") != "https://policy.example.gov.cn/n/abc" ||
		q.Get("scope") != "snsapi_base" || q.Get("state") != "0123abcd" || q.Get("response_type") != "code" {
		t.Errorf("authorize URL %s", to)
	}

	code := fake.Code(testOpenID)
	got, err := a.OpenID(context.Background(), code)
	if err != nil || got != testOpenID {
		t.Fatalf("OpenID = %q, %v; want %q", got, err, testOpenID)
	}
	// A code is used once: WeChat's 40163.
	_, err = a.OpenID(context.Background(), code)
	var we *Error
	if !errors.As(err, &we) || we.Code != 40163 {
		t.Fatalf("a used code: %v, want errcode 40163", err)
	}
	for _, secret := range []string{testSecret, code} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q holds %q", err, secret)
		}
	}
	fake.FailWith(40029, "invalid code")
	if _, err := a.OpenID(context.Background(), fake.Code(testOpenID)); !errors.As(err, &we) || we.Code != 40029 {
		t.Errorf("an errcode: %v, want 40029", err)
	}
	fake.FailWith(0, "")
	// A code that would smuggle a parameter into silenceper's URL never
	// leaves.
	before := fake.Exchanges()
	if _, err := a.OpenID(context.Background(), "x&appid=evil"); err == nil || fake.Exchanges() != before {
		t.Errorf("a malformed code: %v, %d exchanges", err, fake.Exchanges()-before)
	}
	// WeChat unreachable: a transport error, without the secret.
	srv.Close()
	_, err = a.OpenID(context.Background(), "abc")
	if err == nil || strings.Contains(err.Error(), testSecret) {
		t.Errorf("unreachable: %v", err)
	}
}
