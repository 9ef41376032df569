package notify

import (
	"time"

	"github.com/policypush/policypush/internal/config"
)

// shanghai is Asia/Shanghai, which has had no daylight saving time since
// 1991; a fixed zone needs no tzdata on the host.
var shanghai = time.FixedZone("CST", 8*60*60)

// localMidnight is the start of now's day in Asia/Shanghai.
func localMidnight(now time.Time) time.Time {
	l := now.In(shanghai)
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, shanghai)
}

// nextMidnight is the start of the next day in Asia/Shanghai, when daily
// provider quotas reset.
func nextMidnight(now time.Time) time.Time { return localMidnight(now).AddDate(0, 0, 1) }

// quietUntil reports whether now falls in the quiet-hours window w and, if
// so, when the window ends.
func quietUntil(w config.Window, now time.Time) (time.Time, bool) {
	mid := localMidnight(now)
	d := now.Sub(mid)
	if !w.Contains(d) {
		return time.Time{}, false
	}
	if d < w.To {
		return mid.Add(w.To), true
	}
	return mid.AddDate(0, 0, 1).Add(w.To), true // across midnight, in the evening part
}

// capUntil reports whether a subject that was sent notices at sent (oldest
// first, all within the period before now) is at the cap c and, if so, when
// enough of them have left the period for one more.
func capUntil(c config.Cap, sent []time.Time, now time.Time) (time.Time, bool) {
	if c.N <= 0 || len(sent) < c.N {
		return time.Time{}, false
	}
	// With len(sent) >= N, the next notice may go once all but N-1 have
	// left the period, that is when sent[len-N] leaves it.
	until := sent[len(sent)-c.N].Add(c.Period)
	if !until.After(now) {
		return time.Time{}, false
	}
	return until, true
}

// Backoff is the bounded exponential backoff of retryable failures:
// Base·2^(attempt-1), at most Max, of which the upper half is jitter.
type Backoff struct {
	Base, Max time.Duration
}

// delay is the wait after the given attempt (1 for the first), with
// jitter j in [0, 1).
func (b Backoff) delay(attempt int, j float64) time.Duration {
	d := b.Base
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d/2 + time.Duration(j*float64(d/2))
}
