package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postpipe/postpipe/internal/stream"
)

// HTTP counts requests by route and status and times them by route. It
// implements api.RequestObserver.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	// routes is copied on write: a request only loads it, so the hot
	// path takes no lock and, once a route and status have been seen,
	// allocates nothing.
	routes atomic.Pointer[map[string]*routeMetrics]
	mu     sync.Mutex // serialises writers of routes
}

type routeMetrics struct {
	stream   string // the stream the route serves ("" for none), a label
	duration prometheus.Observer
	// byStatus holds the counter of each status code seen so far.
	byStatus [600]atomic.Pointer[prometheus.Counter]
}

// HTTP registers the HTTP families.
func (m *Metrics) HTTP() *HTTP {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route pattern, status code and stream (empty for routes of no stream).",
		}, []string{"route", "code", "stream"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from receiving a request to the handler's return, by route pattern and stream.",
			Buckets: latencyBuckets,
		}, []string{"route", "stream"}),
	}
	empty := map[string]*routeMetrics{}
	h.routes.Store(&empty)
	m.reg.MustRegister(h.requests, h.duration)
	return h
}

// Served records one answered request. route is the ServeMux pattern that
// matched, never the raw path, so the label values stay few.
func (h *HTTP) Served(route string, status int, d time.Duration) {
	rm := (*h.routes.Load())[route]
	if rm == nil {
		rm = h.addRoute(route)
	}
	rm.duration.Observe(d.Seconds())
	if status < 0 || status >= len(rm.byStatus) {
		status = 0
	}
	c := rm.byStatus[status].Load()
	if c == nil {
		v := h.requests.WithLabelValues(route, strconv.Itoa(status), rm.stream)
		rm.byStatus[status].CompareAndSwap(nil, &v)
		c = &v
	}
	(*c).Inc()
}

func (h *HTTP) addRoute(route string) *routeMetrics {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.routes.Load()
	if rm := old[route]; rm != nil {
		return rm
	}
	st := stream.OfPath(route)
	rm := &routeMetrics{stream: st, duration: h.duration.WithLabelValues(route, st)}
	next := make(map[string]*routeMetrics, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[route] = rm
	h.routes.Store(&next)
	return rm
}

// Forbidden counts requests refused because their API key does not hold
// the stream. It implements api.ForbiddenObserver.
type Forbidden struct{ refused *prometheus.CounterVec }

// Forbidden registers the family of 403s by key and stream: both come from
// files the operator writes, so their values are few.
func (m *Metrics) Forbidden() *Forbidden {
	f := &Forbidden{refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "http", Name: "forbidden_total",
		Help: "Requests answered 403 because their API key may not use the stream, by key name and stream.",
	}, []string{"key", "stream"})}
	m.reg.MustRegister(f.refused)
	return f
}

// Forbidden records one refusal.
func (f *Forbidden) Forbidden(key, stream string) { f.refused.WithLabelValues(key, stream).Inc() }
