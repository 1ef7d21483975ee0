package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/postpipe/postpipe/internal/stream"
)

// KeyChecker tells whether a presented API key is valid and whose it is.
// It must take the same time whichever key (if any) matches.
type KeyChecker interface {
	Check(key string) (name string, ok bool)
}

// StreamScoper is a KeyChecker whose keys may be limited to some streams
// (apikey.Set is one): a key used on a stream it does not hold gets 403.
type StreamScoper interface {
	Streams(name string) (streams []string, limited bool)
}

// ForbiddenObserver is told of each request refused because its key does
// not hold the stream (internal/metrics counts them by key and stream).
type ForbiddenObserver interface {
	Forbidden(key, stream string)
}

// forbiddenError is a key used on a stream it does not hold.
type forbiddenError struct {
	key, stream string
	streams     []string
}

func (e *forbiddenError) Error() string {
	return fmt.Sprintf("the API key %s may not use the stream %s; it may use %s", e.key, e.stream, strings.Join(e.streams, ", "))
}

// Guard is what stands in front of the routes. The zero Guard lets every
// request through.
type Guard struct {
	// Keys, when set, makes every path outside Exempt need
	// "Authorization: Bearer <key>".
	Keys   KeyChecker
	Exempt []string
	// RateLimit is the requests per second allowed to each key (to each
	// client, an IPv4 address or an IPv6 /64, for requests without one);
	// 0 means no limit.
	RateLimit float64
	RateBurst int
	// Forbidden, when set, is told of each 403 (a key on a stream it
	// does not hold).
	Forbidden ForbiddenObserver
}

// Guarded returns the API behind g: keys are checked first, so the rate
// limit applies per key name. With keys, /readyz names reason codes only.
// Call it before serving.
func (a *API) Guarded(g Guard) http.Handler {
	var h http.Handler = a
	if g.RateLimit > 0 {
		h = a.limitRate(h, newLimiter(g.RateLimit, g.RateBurst, a.now))
	}
	if g.Keys != nil {
		h = a.requireKey(h, g.Keys, g.Exempt, g.Forbidden)
		// /readyz is exempt (probes carry no key): anyone may read it.
		a.quietProbes = true
	}
	return h
}

type keyNameCtx struct{}

// KeyName is the name of the API key the request presented; "" when keys
// are off or the path is exempt.
func KeyName(ctx context.Context) string {
	name, _ := ctx.Value(keyNameCtx{}).(string)
	return name
}

// errNoKey and errBadKey are answered 401; which one only decides the
// WWW-Authenticate error code (RFC 6750).
var (
	errNoKey  = errors.New("this API needs a key: send Authorization: Bearer <key>")
	errBadKey = errors.New("the API key is not valid")
)

func (a *API) requireKey(next http.Handler, keys KeyChecker, exempt []string, forbidden ForbiddenObserver) http.Handler {
	scoper, _ := keys.(StreamScoper)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.refuseFraming(w, r) {
			return
		}
		if slices.Contains(exempt, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		auth := r.Header.Get("Authorization")
		if auth == "" {
			a.fail(w, r, errNoKey)
			return
		}
		scheme, key, _ := strings.Cut(auth, " ")
		key = strings.TrimSpace(key)
		if !strings.EqualFold(scheme, "Bearer") || key == "" {
			a.fail(w, r, errBadKey)
			return
		}
		name, ok := keys.Check(key)
		if !ok {
			a.fail(w, r, errBadKey)
			return
		}
		if scoper != nil {
			if streams, limited := scoper.Streams(name); limited {
				if st := stream.OfPath(r.URL.Path); st != "" && !slices.Contains(streams, st) {
					if forbidden != nil {
						forbidden.Forbidden(name, st)
					}
					a.log.WarnContext(r.Context(), "API key used on a stream it does not hold", "key", name, "stream", st, "method", r.Method, "path", r.URL.Path)
					a.fail(w, r, &forbiddenError{key: name, stream: st, streams: streams})
					return
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), keyNameCtx{}, name)))
	})
}

// wwwAuthenticate is the challenge of a 401 (RFC 6750 section 3).
func wwwAuthenticate(err error) string {
	if errors.Is(err, errBadKey) {
		return `Bearer realm="postpipe", error="invalid_token"`
	}
	return `Bearer realm="postpipe"`
}
