package api

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimitedError is a request over its client's rate.
type rateLimitedError struct {
	retryAfter time.Duration
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("too many requests; retry in %ds", retryAfter(e.retryAfter))
}

func (a *API) limitRate(next http.Handler, l *limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.refuseFraming(w, r) {
			return
		}
		if wait := l.take(clientOf(r)); wait > 0 {
			a.fail(w, r, &rateLimitedError{retryAfter: wait})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientOf names whom a request is counted against: its API key, else the
// client it came from, the unit the connection cap counts too (clientUnit:
// an IPv4 address or an IPv6 /64), so rotating addresses inside one /64
// gets no fresh bucket. Behind a proxy that address is the proxy's, so all
// clients share one bucket; forwarded headers are not trusted because any
// client can set them.
func clientOf(r *http.Request) string {
	if name := KeyName(r.Context()); name != "" {
		return "key " + name
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil { // not host:port (a test's or a unix socket's address)
		return "addr " + r.RemoteAddr
	}
	var buf [64]byte
	return string(clientUnit(ap.Addr()).AppendTo(append(buf[:0], "addr "...)))
}

// maxClients bounds the limiter's memory whatever the number of addresses a
// client sends from.
const maxClients = 10000

// limiter is a token bucket per client, each a rate.Limiter.
type limiter struct {
	rate  rate.Limit // tokens per second
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(perSecond float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: map[string]*rate.Limiter{}}
}

// maxRetryAfter caps the wait a 429 announces. At a tiny rate the true wait
// can be years (or, computed in time.Duration, overflow); a client told to
// come back within the hour and refused again loses nothing.
const maxRetryAfter = time.Hour

// take spends a token of client's bucket and returns 0, or, when the bucket
// is empty, how long until the next token, at most maxRetryAfter and at
// least 1ns.
func (l *limiter) take(client string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxClients {
			l.evict(now)
		}
		b = rate.NewLimiter(l.rate, l.burst) // starts full
		l.buckets[client] = b
	}
	if b.AllowN(now, 1) {
		return 0
	}
	// The wait in float seconds, clamped before it becomes a Duration, so
	// no rate, however small, can overflow it.
	secs := (1 - b.TokensAt(now)) / float64(l.rate)
	if !(secs < maxRetryAfter.Seconds()) { // NaN and +Inf too
		return maxRetryAfter
	}
	return max(time.Duration(math.Ceil(secs*float64(time.Second))), 1)
}

// evict drops the buckets that have refilled (forgetting them changes
// nothing: a new bucket starts full). If that frees less than an eighth of
// the room, arbitrary buckets go too, down to seven eighths: memory stays
// bounded at the price of a fresh allowance for those clients, and the
// next eviction (a scan of every bucket) is at least maxClients/8 new
// clients away, so many active addresses cannot make each request a scan.
func (l *limiter) evict(now time.Time) {
	for c, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.burst) {
			delete(l.buckets, c)
		}
	}
	for c := range l.buckets {
		if len(l.buckets) <= maxClients-maxClients/8 {
			return
		}
		delete(l.buckets, c)
	}
}

// size is the number of clients remembered.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is the Retry-After value for a wait: whole seconds, at least 1
// and at most maxRetryAfter.
func retryAfter(wait time.Duration) int {
	wait = min(wait, maxRetryAfter) // a Duration is at most ~292 years: no overflow below
	return max(1, int(math.Ceil(wait.Seconds())))
}
