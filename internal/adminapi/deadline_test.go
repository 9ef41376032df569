package adminapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/policypush/policypush/internal/httpapi"
	"github.com/policypush/policypush/internal/sweep"

	"github.com/policypush/policypush/internal/testlog"
)

// slowRules previews slowly, as one over a large city does, and fails if
// its context ends first.
type slowRules struct {
	fakeRules
	took time.Duration
}

func (s slowRules) Preview(ctx context.Context, id string, draft []byte) (sweep.Report, error) {
	select {
	case <-time.After(s.took):
		return s.fakeRules.Preview(ctx, id, draft)
	case <-ctx.Done():
		return sweep.Report{}, ctx.Err()
	}
}

// TestPreviewOutlivesServerTimeouts: a preview longer than the server's
// read and write timeouts still answers, and its context is not cancelled.
func TestPreviewOutlivesServerTimeouts(t *testing.T) {
	h, err := New(&fakeStore{}, slowRules{took: 800 * time.Millisecond}, "tok-0123456789", testlog.New(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	l := httpapi.DefaultLimits()
	l.Read, l.Write = 200*time.Millisecond, 300*time.Millisecond
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httpapi.NewServer(mux, l)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	defer func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/policies/p1/preview", ""},
		{"POST", "/api/policies/preview", "id: p2\n"},
	} {
		req, _ := http.NewRequest(c.method, "http://"+lis.Addr().String()+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer tok-0123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, b)
		}
	}
}
