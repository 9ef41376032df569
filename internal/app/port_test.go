package app

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/policypush/policypush/internal/adminapi"
	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/ingest"
)

// TestPublicPort is issue 10's "the public port holds" against a running
// service with its two listeners (issue 12): every endpoint that reads a
// body answers an over-long one with 413, whether its length is declared
// or not, the callbacks on the public listener and the API on the internal
// one, and a client that sends its headers a byte at a time to the public
// listener is cut off.
func TestPublicPort(t *testing.T) {
	e := newEnv(t)
	e.cfg.WeChatToken = config.Secret("wx-callback-token")
	e.cfg.PublicAddr = "127.0.0.1:0"
	e.http = func(l *httpapi.Limits) { l.ReadHeader = 300 * time.Millisecond }
	s := e.start(ingest.Hooks{})
	public, internal := <-s.public, <-s.addr

	draft, err := os.ReadFile("../../rules/talent/talent-rent-subsidy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// A valid draft padded past the limit with a comment: cut at the
	// limit, it would be evaluated as if whole.
	pad := func(prefix string, n int) string { return prefix + "\n#" + strings.Repeat("a", n) }
	ts := strconv.FormatInt(now.Unix(), 10)
	wechat := "/wechat/callback?timestamp=" + ts + "&nonce=n1&signature=" + util.Signature(ts, "n1", "wx-callback-token")
	const sms = 4 << 20
	const wx = 64 << 10
	for _, c := range []struct {
		name, method, path string
		auth               bool
		body               string
		json               bool // the answer is JSON
	}{
		{"opt-out", "POST", "/api/subjects/resident/p1/opt-outs", true, `{"channel":"sms","x":"` + strings.Repeat("a", adminapi.MaxBody) + `"}`, true},
		{"requeue", "POST", "/api/notices/requeue", true, `{"ids":[` + strings.Repeat("1,", adminapi.MaxBody/2) + `1]}`, true},
		{"preview a draft", "POST", "/api/policies/preview", true, pad(string(draft), adminapi.MaxBody), true},
		{"wechat callback", "POST", wechat, false, "<xml>" + strings.Repeat("a", wx) + "</xml>", false},
		{"aliyun callback", "POST", "/sms/callback/aliyun?key=" + testCallbackKey, false, "[" + strings.Repeat(" ", sms) + "]", true},
		{"tencent callback", "POST", "/sms/callback/tencent?key=" + testCallbackKey, false, "[" + strings.Repeat(" ", sms) + "]", true},
		{"an endpoint that reads no body", "GET", "/healthz", false, strings.Repeat("a", 5<<20), true},
	} {
		for _, chunked := range []bool{false, true} {
			name := c.name
			if chunked {
				name += ", chunked"
			}
			t.Run(name, func(t *testing.T) {
				var body io.Reader = strings.NewReader(c.body)
				if chunked {
					body = io.MultiReader(body) // hides the length
				}
				addr := internal
				if p, _, _ := strings.Cut(c.path, "?"); httpapi.Public(p) {
					addr = public
				}
				req, err := http.NewRequest(c.method, "http://"+addr+c.path, body)
				if err != nil {
					t.Fatal(err)
				}
				if c.auth {
					req.Header.Set("Authorization", "Bearer "+e.cfg.AdminToken.Value())
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if c.name == "an endpoint that reads no body" && chunked {
					// Nothing reads it, so nothing is cut: the server drops
					// the connection after answering.
					if resp.StatusCode != 200 {
						t.Errorf("%d %s", resp.StatusCode, b)
					}
					return
				}
				if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), "too large") {
					t.Fatalf("%d %.200s, want 413 saying the body is too large", resp.StatusCode, b)
				}
				if c.json && !json.Valid(b) {
					t.Errorf("answer %q is not JSON", b)
				}
			})
		}
	}

	t.Run("slowloris", func(t *testing.T) {
		conn, err := net.Dial("tcp", public)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		for _, b := range []byte("GET /r/x HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n") {
			if _, err := conn.Write([]byte{b}); err != nil {
				break
			}
			time.Sleep(25 * time.Millisecond) // 1.6 s in all
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := io.ReadAll(conn)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("the connection is still open")
		}
		// The server may say 400 or 408 as it closes; it never serves the request.
		if took := time.Since(start); (len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 4")) || took > 1200*time.Millisecond {
			t.Errorf("answered %q, closed after %v; want at most a 4xx, after about 300ms", got, took)
		}
	})
}
