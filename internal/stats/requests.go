package stats

import (
	"math"
	"strings"
	"sync/atomic"
	"time"
)

// Latency buckets: each bound is 2^(1/4) (~19 %) above the previous, from
// 100 µs to ~105 s, so a percentile read from them is off by less than a
// fifth and finding a request's bucket needs no search.
const (
	minLatency     = 100 * time.Microsecond
	bucketsPerStep = 4 // per doubling
	latencyBuckets = 81
)

// bounds[i] is the upper bound of latency bucket i.
var bounds = func() (b [latencyBuckets]time.Duration) {
	for i := range b {
		b[i] = time.Duration(float64(minLatency) * math.Exp2(float64(i)/bucketsPerStep))
	}
	return b
}()

func bucketBound(i int) time.Duration { return bounds[i] }

// bucketOf is the first bucket whose bound is d or more (the last for
// anything longer), by binary search: no float maths on the request path.
func bucketOf(d time.Duration) int {
	lo, hi := 0, latencyBuckets-1
	for lo < hi {
		mid := (lo + hi) / 2
		if bounds[mid] < d {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// notTraffic are the routes that are not the API's clients: the dashboard
// polling itself, the probes and the scraper. Counting them would show the
// dashboard's own load as traffic.
var notTraffic = map[string]bool{
	"GET /v1/stats":      true,
	"GET /{$}":           true,
	"GET /ui/{file...}":  true,
	"GET /healthz":       true,
	"GET /readyz":        true,
	"GET /metrics":       true,
	"GET /openapi.yaml":  true,
	"HEAD /v1/stats":     true,
	"HEAD /{$}":          true,
	"HEAD /ui/{file...}": true,
}

// Requests counts how the API's requests were answered, for the
// dashboard's error rates and latency. It implements the API's request
// observer; Served is on every request's path, so it only adds to atomic
// counters and never allocates.
//
// Requests refused before routing (no key, rate limited, overloaded) have
// no route and are counted: they are what a client saw. Latency is that of
// the write routes ("POST …"): how long a client waits for its 202.
type Requests struct {
	answered     atomic.Int64
	clientErrors atomic.Int64 // 4xx
	unavailable  atomic.Int64 // 503
	serverErrors atomic.Int64 // 5xx other than 503
	writes       [latencyBuckets]atomic.Int64
	// changes counts the ops accepted (2xx) on the changes routes, by
	// method: PUT, PATCH, DELETE.
	changes [3]atomic.Int64
}

// changeMethods are the changes routes' methods, in Requests.changes'
// order, and the ops they are.
var changeMethods = [3]struct{ prefix, op string }{{"PUT ", "put"}, {"PATCH ", "patch"}, {"DELETE ", "delete"}}

// Served records one answered request; route is the pattern that matched.
func (r *Requests) Served(route string, status int, d time.Duration) {
	if notTraffic[route] {
		return
	}
	r.answered.Add(1)
	switch {
	case status == 503:
		r.unavailable.Add(1)
	case status >= 500:
		r.serverErrors.Add(1)
	case status >= 400:
		r.clientErrors.Add(1)
	}
	if strings.HasPrefix(route, "POST ") {
		r.writes[bucketOf(d)].Add(1)
		return
	}
	if status >= 200 && status < 300 {
		for i, m := range changeMethods {
			if strings.HasPrefix(route, m.prefix) {
				r.changes[i].Add(1)
				return
			}
		}
	}
}

// requestCounts is one reading of Requests.
type requestCounts struct {
	answered, clientErrors, unavailable, serverErrors int64
	writes                                            [latencyBuckets]int64
	changes                                           [3]int64
}

// changesByOp is c's accepted changes by op, nil when there were none.
func (c requestCounts) changesByOp() map[string]int64 {
	var out map[string]int64
	for i, n := range c.changes {
		if n > 0 {
			if out == nil {
				out = map[string]int64{}
			}
			out[changeMethods[i].op] = n
		}
	}
	return out
}

func (r *Requests) read() requestCounts {
	c := requestCounts{
		answered: r.answered.Load(), clientErrors: r.clientErrors.Load(),
		unavailable: r.unavailable.Load(), serverErrors: r.serverErrors.Load(),
	}
	for i := range c.writes {
		c.writes[i] = r.writes[i].Load()
	}
	for i := range c.changes {
		c.changes[i] = r.changes[i].Load()
	}
	return c
}

// percentiles returns the q-quantiles, in milliseconds, of the latencies
// counted between prev and cur, each the upper bound of its bucket (never
// under the truth); ok is false when no write was answered in between.
func percentiles(prev, cur *[latencyBuckets]int64, qs ...float64) (ms []float64, ok bool) {
	var delta [latencyBuckets]int64
	var n int64
	for i := range delta {
		delta[i] = max(cur[i]-prev[i], 0)
		n += delta[i]
	}
	if n == 0 {
		return nil, false
	}
	ms = make([]float64, len(qs))
	for j, q := range qs {
		// The rank of the q-quantile: the ceil(q*n)-th smallest latency.
		rank := max(int64(math.Ceil(q*float64(n))), 1)
		var seen int64
		for i, c := range delta {
			if seen += c; seen >= rank {
				ms[j] = float64(bucketBound(i)) / float64(time.Millisecond)
				break
			}
		}
	}
	return ms, true
}
