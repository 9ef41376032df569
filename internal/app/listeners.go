package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/policypush/policypush/internal/config"
	"github.com/policypush/policypush/internal/httpapi"
)

// listener is one HTTP server and the socket it serves.
type listener struct {
	name string // the variable that sets its address
	lis  net.Listener
	srv  *http.Server
}

// listen opens the HTTP listeners. With POLICYPUSH_PUBLIC_ADDR unset, one
// serves every route; with it set, the public listener serves only the
// routes the internet must reach (httpapi.Public) and the internal one
// only the others, so /metrics, /api and the console cannot be reached
// through the port the reverse proxy exposes. Both hold to the same limits;
// the rate limit applies to the public routes wherever they are served.
func listen(cfg *config.Config, h http.Handler, lim *httpapi.Limiter, l httpapi.Limits) ([]listener, error) {
	if cfg.PublicAddr == "" {
		ln, err := open("POLICYPUSH_HTTP_ADDR", cfg.HTTPAddr, lim.Wrap(h), l)
		if err != nil {
			return nil, err
		}
		return []listener{ln}, nil
	}
	internal, err := open("POLICYPUSH_HTTP_ADDR", cfg.HTTPAddr, httpapi.Only(h, false), l)
	if err != nil {
		return nil, err
	}
	public, err := open("POLICYPUSH_PUBLIC_ADDR", cfg.PublicAddr, lim.Wrap(httpapi.Only(h, true)), l)
	if err != nil {
		_ = internal.lis.Close()
		return nil, err
	}
	return []listener{internal, public}, nil
}

func open(name, addr string, h http.Handler, l httpapi.Limits) (listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return listener{}, fmt.Errorf("listen on %s %s: %w", name, addr, err)
	}
	return listener{name: name, lis: lis, srv: httpapi.NewServer(h, l)}, nil
}

// serveHTTP serves every listener in g until ctx is done, then shuts them
// all down, giving requests in flight a few seconds.
func serveHTTP(ctx context.Context, g *errgroup.Group, ls []listener) {
	for _, ln := range ls {
		g.Go(func() error {
			if err := ln.srv.Serve(ln.lis); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http (%s): %w", ln.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs := make([]error, len(ls))
		for i, ln := range ls {
			errs[i] = ln.srv.Shutdown(shutdown)
		}
		return errors.Join(errs...)
	})
}
