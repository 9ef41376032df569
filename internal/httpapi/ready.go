package httpapi

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
)

// Logged wraps checks so that each logs its error when it starts failing
// or fails differently, and logs again when it recovers: a probe every few
// seconds then writes one line per change, not one per probe. The error is
// redacted first: a driver's error may carry a connection string.
func Logged(log *slog.Logger, checks map[string]Check) map[string]Check {
	out := make(map[string]Check, len(checks))
	for name, check := range checks {
		var (
			mu   sync.Mutex
			last string // the redacted error of the last run; "" when it passed
		)
		out[name] = func(ctx context.Context) error {
			err := check(ctx)
			msg := ""
			if err != nil {
				msg = Redact(err.Error())
			}
			mu.Lock()
			changed := msg != last
			last = msg
			mu.Unlock()
			switch {
			case changed && err != nil:
				log.Warn("readiness check failing", "check", name, "error", msg)
			case changed:
				log.Info("readiness check ok again", "check", name)
			}
			return err
		}
	}
	return out
}

var (
	// scheme://user:password@host: the userinfo goes.
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@`)
	// key=value connection strings (libpq's, pgx's): the password goes.
	passwordKV = regexp.MustCompile(`(?i)(password|passwd|pwd)\s*=\s*('[^']*'|"[^"]*"|\S+)`)
)

// Redact removes what looks like a credential from an error's text: the
// userinfo of a URL and a password=… pair.
func Redact(s string) string {
	s = urlUserinfo.ReplaceAllString(s, "$1<redacted>@")
	return passwordKV.ReplaceAllString(s, "$1=<redacted>")
}
