package consult

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxClients bounds the clients the comment limiter remembers; past it,
// those whose bucket has refilled are forgotten (a new bucket is the
// same), and if none has, the map is cleared: a flood from many addresses
// costs memory up to this bound and no more.
const maxClients = 50_000

// limiter allows each client (an IPv4 address or an IPv6 /64) n comments
// per period, in a bucket of n.
type limiter struct {
	n       int
	every   rate.Limit
	refill  time.Duration
	now     func() time.Time
	mu      sync.Mutex
	clients map[netip.Prefix]*rate.Limiter
}

func newLimiter(n int, period time.Duration, now func() time.Time) *limiter {
	l := &limiter{n: n, now: now, clients: map[netip.Prefix]*rate.Limiter{}}
	if n > 0 && period > 0 {
		l.every = rate.Every(period / time.Duration(n))
		l.refill = period
	}
	return l
}

// allow takes one comment from client's bucket, or says how long until
// there is one.
func (l *limiter) allow(client netip.Addr) (bool, time.Duration) {
	if l.n <= 0 || l.refill <= 0 {
		return true, 0
	}
	key := clientKey(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= maxClients {
			l.forget(now)
		}
		b = rate.NewLimiter(l.every, l.n)
		l.clients[key] = b
	}
	res := b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // a refused comment costs no token
		return false, d
	}
	return true, 0
}

func (l *limiter) forget(now time.Time) {
	for k, b := range l.clients {
		if b.TokensAt(now) >= float64(l.n) {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxClients {
		clear(l.clients)
	}
}

// clientKey is a client's bucket: its IPv4 address, or its IPv6 /64.
func clientKey(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // unknown clients share one bucket
	}
	return p
}
