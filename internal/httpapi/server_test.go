package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs NewServer(h, l) on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler, l Limits) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(h, l)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	return lis.Addr().String()
}

// cutOff reports whether the server closes conn within d, reading and
// discarding whatever it answers first.
func cutOff(t *testing.T, conn net.Conn, d time.Duration) bool {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout()) // EOF or reset: closed
}

// trickle writes s a byte at a time, every gap, until the server closes
// conn or s ends; it reports whether all of s was written.
func trickle(conn net.Conn, s string, gap time.Duration) bool {
	for i := range len(s) {
		if _, err := conn.Write([]byte{s[i]}); err != nil {
			return false
		}
		time.Sleep(gap)
	}
	return true
}

// TestServerTimeouts: a client that sends its headers or its body too
// slowly, or keeps an idle connection, is cut off, while a prompt client
// is answered.
func TestServerTimeouts(t *testing.T) {
	l := Limits{ReadHeader: 200 * time.Millisecond, Read: 400 * time.Millisecond, Write: time.Second,
		Idle: 300 * time.Millisecond, MaxHeaderBytes: 4 << 10, MaxBody: 1 << 10}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	addr := serve(t, h, l)
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("slowloris headers", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		// 40 bytes at 20 ms each would take 800 ms, four times the limit.
		// The server may close before or after the last byte; either
		// way it does not wait for the rest.
		trickle(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaa\r\n\r\n", 20*time.Millisecond)
		if !cutOff(t, c, 2*time.Second) {
			t.Fatal("the connection is still open")
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("cut off after %v, want about %v", took, l.ReadHeader)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		trickle(c, strings.Repeat("a", 100), 20*time.Millisecond) // 2 s
		if !cutOff(t, c, 2*time.Second) {
			t.Fatal("the connection is still open")
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("cut off after %v, want about %v", took, l.Read)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("a prompt request: %v %v", resp, err)
		}
		start := time.Now()
		if !cutOff(t, c, 2*time.Second) {
			t.Fatal("the idle connection is still open")
		}
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("cut off after %v, want about %v", took, l.Idle)
		}
	})
	t.Run("header too large", func(t *testing.T) {
		c := dial(t)
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("%v %v, want 431", resp, err)
		}
	})
}

// TestLimitBodies: a body over the limit is refused with 413 and a JSON
// error whether it declares its length or not; the handler never sees it
// as whole.
func TestLimitBodies(t *testing.T) {
	const max = 1 << 10
	h := LimitBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if _, over := errors.AsType[*http.MaxBytesError](err); over {
			TooLarge(w, max)
			return
		}
		_, _ = w.Write(b)
	}), max)
	addr := serve(t, h, Limits{ReadHeader: time.Second, Read: time.Second, Write: time.Second, Idle: time.Second, MaxBody: 1 << 30})
	for _, c := range []struct {
		name    string
		body    string
		chunked bool
		code    int
	}{
		{"at the limit", strings.Repeat("a", max), false, 200},
		{"over, declared", strings.Repeat("a", max+1), false, 413},
		{"over, chunked", strings.Repeat("a", max+1), true, 413},
		{"far over, chunked", strings.Repeat("a", 64*max), true, 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(c.body)
			if c.chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			resp, err := http.Post("http://"+addr+"/", "text/plain", body)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.code {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, c.code)
			}
			if c.code != 413 {
				return
			}
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, "limit is 1024 bytes") {
				t.Errorf("answer %q, want a JSON error that says the limit", b)
			}
		})
	}
}
