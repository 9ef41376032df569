package receipt

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type fakeStore struct{ got []string }

func (f *fakeStore) Receipt(_ context.Context, channel, id string, delivered bool, reason string, _ time.Time) (bool, error) {
	f.got = append(f.got, fmt.Sprintf("%s %s %v %s", channel, id, delivered, reason))
	return id != "999", nil
}

type counts map[string]int

func (c counts) Receipt(channel, status string) { c[channel+" "+status]++ }
func (c counts) Refused(channel string)         { c[channel+" refused"]++ }

const token = "callback-token"

func signed(path, ts, nonce string) string {
	return fmt.Sprintf("%s?timestamp=%s&nonce=%s&signature=%s", path, ts, nonce, signature(token, ts, nonce))
}

func TestWeChatCallback(t *testing.T) {
	finish := func(id, status string) string {
		return fmt.Sprintf(`<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oWx1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%s</MsgID><Status><![CDATA[%s]]></Status></xml>`, id, status)
	}
	tests := []struct {
		name, method, url, body string
		code                    int
		answer, stored, counted string
	}{
		{"server check", "GET", signed("/wechat/callback", "1", "n") + "&echostr=abc", "", 200, "abc", "", ""},
		{"delivered", "POST", signed("/wechat/callback", "1", "n"), finish("1001", "success"), 200, "success", "wechat 1001 true ", "wechat delivered"},
		{"blocked", "POST", signed("/wechat/callback", "2", "n"), finish("1002", "failed:user block"), 200, "success", "wechat 1002 false blocked", "wechat failed"},
		{"unknown id", "POST", signed("/wechat/callback", "3", "n"), finish("999", "success"), 200, "success", "wechat 999 true ", "wechat unknown_id"},
		{"forged", "POST", "/wechat/callback?timestamp=1&nonce=n&signature=0000", finish("1003", "success"), 403, "", "", "wechat refused"},
		{"not XML", "POST", signed("/wechat/callback", "4", "n"), "{", 400, "", "", ""},
		{"sms report", "POST", "/sms/callback/aliyun", `[{"phone_number":"13800135678","success":true,"err_code":"DELIVERED","biz_id":"b1","out_id":"7"},{"success":false,"err_code":"UNDELIV","biz_id":"b2"}]`, 200, `{"code":0`, "sms b1 true |sms b2 false undelivered", "sms delivered"},
		{"bad sms report", "POST", "/sms/callback/aliyun", `{`, 400, `"code":1`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, c := &fakeStore{}, counts{}
			mux := http.NewServeMux()
			New(st, token, c, slog.New(slog.DiscardHandler), time.Now).Register(mux)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.url, strings.NewReader(tt.body)))
			if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.answer) {
				t.Errorf("answer %d %q", rec.Code, rec.Body.String())
			}
			if got := strings.Join(st.got, "|"); got != tt.stored {
				t.Errorf("stored %q, want %q", got, tt.stored)
			}
			if tt.counted != "" && c[tt.counted] == 0 {
				t.Errorf("not counted as %q: %v", tt.counted, c)
			}
		})
	}
}
