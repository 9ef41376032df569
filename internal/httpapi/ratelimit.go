package httpapi

import (
	"container/list"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// RateLimit bounds how often one client may call the public routes.
type RateLimit struct {
	// PerSecond is the steady rate of requests per client; 0 turns the
	// limit off.
	PerSecond float64
	// Burst is how many requests a client may make at once.
	Burst int
	// Clients bounds how many clients are remembered: when a new one
	// arrives and all are busy, the one seen longest ago is forgotten (it
	// starts again with a full bucket), so a flood from many addresses
	// costs memory up to this bound and no more.
	Clients int
	// TrustedProxies are the reverse proxies and load balancers in front
	// of the public listener. A request from one of them is counted
	// against the client it names in X-Forwarded-For; from anyone else,
	// against its own address, whatever it claims.
	TrustedProxies []netip.Prefix
	// Page, when set, answers a refused client that asks for HTML (see
	// WantsHTML): a citizen who opens /r/{token} or /n/{token} in a
	// phone's browser gets a page, not JSON. Retry-After is set before it
	// is called; it writes the status, 429. Other clients get JSON.
	Page http.Handler
}

// DefaultClients is the number of clients a Limiter remembers unless told.
const DefaultClients = 100_000

// Limiter applies a RateLimit, per client, to the public routes. A client
// is one IPv4 address or one IPv6 /64 (what one household or device is
// given). Provider callbacks are not limited: see Wrap.
type Limiter struct {
	rl      RateLimit
	refill  time.Duration // from empty to a full bucket
	now     func() time.Time
	refused prometheus.Counter

	mu      sync.Mutex
	lru     *list.List // of *client, the most recently seen at the front
	clients map[netip.Prefix]*list.Element
}

type client struct {
	key  netip.Prefix
	lim  *rate.Limiter
	seen time.Time
}

// NewLimiter returns a Limiter for rl and registers its counter of
// refusals on reg. now is its clock (nil: time.Now).
func NewLimiter(rl RateLimit, reg prometheus.Registerer, now func() time.Time) (*Limiter, error) {
	if rl.PerSecond > 0 && rl.Burst < 1 {
		return nil, fmt.Errorf("rate limit: a burst of %d lets nothing through", rl.Burst)
	}
	if rl.Clients <= 0 {
		rl.Clients = DefaultClients
	}
	if now == nil {
		now = time.Now
	}
	l := &Limiter{
		rl: rl, now: now, lru: list.New(), clients: map[netip.Prefix]*list.Element{},
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "policypush_http_rate_limited_total",
			Help: "Requests to the public routes refused with 429 because their client exceeded its rate.",
		}),
	}
	if rl.PerSecond > 0 {
		l.refill = time.Duration(float64(rl.Burst) / rl.PerSecond * float64(time.Second))
	}
	if err := reg.Register(l.refused); err != nil {
		return nil, fmt.Errorf("register the rate limit's metric: %w", err)
	}
	return l, nil
}

// Wrap limits the public routes of h; the internal ones pass untouched.
//
// Provider callbacks are exempt. They come from a few addresses of the
// provider's in bursts — WeChat posts one TEMPLATESENDJOBFINISH per message
// sent, at up to POLICYPUSH_WECHAT_RATE a second, and Aliyun and Tencent push
// delivery reports in batches as fast as their queues drain — so any limit
// low enough to stop one citizen's client would drop real receipts, which
// providers do not always resend. They are checked instead by their
// signature or key, which costs no database work to refuse, and may be
// confined to the providers' networks (POLICYPUSH_CALLBACK_ALLOW); the body
// and time limits of the server hold for them as for any route.
func (l *Limiter) Wrap(h http.Handler) http.Handler {
	if l.rl.PerSecond <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Public(r.URL.Path) || Callback(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		if ok, retry := l.allow(clientKey(ClientIP(r, l.rl.TrustedProxies))); !ok {
			l.refused.Inc()
			secs := int(math.Ceil(retry.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			if l.rl.Page != nil {
				w.Header().Add("Vary", "Accept") // caches keep the page and the JSON apart
				if WantsHTML(r) {
					l.rl.Page.ServeHTTP(w, r)
					return
				}
			}
			writeJSON(w, http.StatusTooManyRequests, map[string]string{
				"error": fmt.Sprintf("too many requests: try again in %d s", secs),
			})
			return
		}
		h.ServeHTTP(w, r)
	})
}

// allow takes one token from key's bucket, or says how long until there
// is one.
func (l *Limiter) allow(key netip.Prefix) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.evictIdle(now)
	e, ok := l.clients[key]
	if ok {
		l.lru.MoveToFront(e)
	} else {
		if l.lru.Len() >= l.rl.Clients {
			l.remove(l.lru.Back())
		}
		e = l.lru.PushFront(&client{key: key, lim: rate.NewLimiter(rate.Limit(l.rl.PerSecond), l.rl.Burst)})
		l.clients[key] = e
	}
	c := e.Value.(*client)
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now) // a refused request costs no token
		return false, d
	}
	return true, 0
}

// evictIdle forgets, from the least recently seen, the clients idle long
// enough for their bucket to be full again: a new bucket is the same, so
// forgetting them changes nothing. This keeps the map to the clients of
// the last few seconds without a goroutine to own.
func (l *Limiter) evictIdle(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		if now.Sub(e.Value.(*client).seen) < l.refill {
			return
		}
		l.remove(e)
	}
}

func (l *Limiter) remove(e *list.Element) {
	delete(l.clients, e.Value.(*client).key)
	l.lru.Remove(e)
}

// Len is how many clients the limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// clientKey is the bucket of a client: its IPv4 address, or its IPv6 /64.
func clientKey(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, err := a.Prefix(bits)
	if err != nil { // the zero Addr: a RemoteAddr that does not parse
		return netip.Prefix{}
	}
	return p
}

// ClientIP is the address of the client that sent r: the peer's, unless
// the peer is one of trusted, in which case it is the nearest address in
// X-Forwarded-For that is not a trusted proxy (each proxy appends the
// address it received from, so the entries further left are the client's
// own claims and cannot be believed). The zero Addr means unknown.
func ClientIP(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !in(peer, trusted) {
		return peer
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseAddr(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			break // a garbled entry: trust nothing to its left
		}
		if !in(a, trusted) {
			return a
		}
		peer = a
	}
	return peer
}

func parseAddr(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

func in(a netip.Addr, nets []netip.Prefix) bool {
	for _, n := range nets {
		if a.IsValid() && n.Contains(a) {
			return true
		}
	}
	return false
}
