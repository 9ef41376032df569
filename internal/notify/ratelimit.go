package notify

import (
	"sync"
	"time"
)

// bucket is a token bucket of rate tokens per second holding at most burst
// of them. It is safe for concurrent use.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take reserves a token at now and returns how long the caller must wait
// before using it. When that is longer than maxWait it reserves nothing and
// returns false with the wait.
func (b *bucket) take(now time.Time, maxWait time.Duration) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	left := b.tokens - 1
	var wait time.Duration
	if left < 0 {
		wait = time.Duration(-left / b.rate * float64(time.Second))
	}
	if wait > maxWait {
		return wait, false
	}
	b.tokens = left
	return wait, true
}
