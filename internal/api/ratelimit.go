package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"time"
)

// rateLimitedError is a request over its client's rate.
type rateLimitedError struct {
	retryAfter time.Duration
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("too many requests; retry in %s", e.retryAfter)
}

func (a *API) limitRate(next http.Handler, l *limiter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wait := l.take(clientOf(r)); wait > 0 {
			a.fail(w, r, &rateLimitedError{retryAfter: wait})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientOf names whom a request is counted against: its API key, else the
// address it came from. Behind a proxy that address is the proxy's, so all
// clients share one bucket; forwarded headers are not trusted because any
// client can set them.
func clientOf(r *http.Request) string {
	if name := KeyName(r.Context()); name != "" {
		return "key " + name
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "addr " + host
}

// maxClients bounds the limiter's memory whatever the number of addresses a
// client sends from.
const maxClients = 10000

// limiter is a token bucket per client.
type limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was last brought up to date
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(max(burst, 1)), now: now, buckets: map[string]*bucket{}}
}

// take spends a token of client's bucket and returns 0, or, when the bucket
// is empty, how long until the next token.
func (l *limiter) take(client string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxClients {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[client] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0
	}
	return time.Duration(math.Ceil((1 - b.tokens) / l.rate * float64(time.Second)))
}

// evict drops the buckets that have refilled (forgetting them changes
// nothing: a new bucket starts full). If every client is active, one
// arbitrary bucket goes, so memory stays bounded at the price of a fresh
// allowance for that client.
func (l *limiter) evict(now time.Time) {
	for c, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, c)
		}
	}
	if len(l.buckets) < maxClients {
		return
	}
	for c := range l.buckets {
		delete(l.buckets, c)
		return
	}
}

// size is the number of clients remembered.
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// retryAfter is the Retry-After value for a wait: whole seconds, at least 1.
func retryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
