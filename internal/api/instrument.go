package api

import (
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/logging"
	"github.com/postpipe/postpipe/internal/tracing"
)

// RequestObserver is told how each request ended; internal/metrics
// implements it. route is the ServeMux pattern that matched ("POST
// /v1/posts", "/" for no route), never the raw path, so its values are few.
type RequestObserver interface {
	Served(route string, status int, d time.Duration)
}

// Gauge counts the requests being served; a prometheus.Gauge is one.
type Gauge interface {
	Inc()
	Dec()
}

// Instruments are what Instrument adds around the API. Every field is
// optional.
type Instruments struct {
	Requests RequestObserver
	// InFlight goes up when a request arrives and down when it is answered.
	InFlight Gauge
	// Log receives the access log lines.
	Log *slog.Logger
	// AccessLogSample is the fraction of requests (0..1) logged when
	// answered; 0 logs none.
	AccessLogSample float64
	// Tracer, when set, traces each request as a server span, continuing
	// a W3C traceparent the client sent.
	Tracer trace.Tracer
}

// RequestIDHeader names the request id a client may send and every answer
// carries.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader as net/http stores it: Header.Get and
// Set canonicalise the name on every call, and this one is not canonical
// as spelled, which made each request pay a string for it twice.
var requestIDKey = http.CanonicalHeaderKey(RequestIDHeader)

// maxRequestIDLen bounds a client's request id: it lands in every log line.
const maxRequestIDLen = 128

// Instrument wraps h (an *API, or anything serving through an
// http.ServeMux) so that every request has an id, in its context and its
// answer, and is measured and, for a sample, logged.
func Instrument(h http.Handler, ins Instruments) http.Handler {
	return &instrumented{next: h, ins: ins}
}

type instrumented struct {
	next http.Handler
	ins  Instruments
}

func (m *instrumented) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.ins.InFlight != nil {
		m.ins.InFlight.Inc()
		defer m.ins.InFlight.Dec() // deferred: a handler's panic must not leak a count
	}
	start := time.Now()
	var given string
	if v := r.Header[requestIDKey]; len(v) > 0 {
		given = v[0]
	}
	id := requestID(given)
	w.Header()[requestIDKey] = []string{id}
	ctx := logging.WithRequestID(r.Context(), id)
	var span trace.Span
	if m.ins.Tracer != nil {
		ctx = tracing.Propagator.Extract(ctx, propagation.HeaderCarrier(r.Header))
		ctx, span = m.ins.Tracer.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
				attribute.String("postpipe.request_id", id),
			))
	}
	r = r.WithContext(ctx)

	sw := statusWriters.Get().(*statusWriter)
	sw.ResponseWriter, sw.status, sw.route, sw.routed = w, 0, "", false
	m.next.ServeHTTP(sw, r)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	// The API's mux reports its route through sw: a handler between here
	// and the mux (requireKey) passes the mux a copy of r, and the
	// ServeMux sets Pattern on that copy only. A bare ServeMux given r
	// itself sets r.Pattern.
	route := r.Pattern
	if sw.routed {
		route = sw.route
	}
	sw.ResponseWriter = nil
	statusWriters.Put(sw)

	d := time.Since(start)
	if span != nil {
		endServerSpan(span, r.Method, route, status)
	}
	if m.ins.Requests != nil {
		m.ins.Requests.Served(route, status, d)
	}
	if m.ins.AccessLogSample > 0 && m.ins.Log != nil && rand.Float64() < m.ins.AccessLogSample {
		m.ins.Log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", status), slog.Duration("duration", d))
	}
}

// endServerSpan names the span after the route that matched (the
// OpenTelemetry HTTP convention: "METHOD route", never the raw path).
func endServerSpan(span trace.Span, method, route string, status int) {
	if _, path, ok := strings.Cut(route, " "); ok {
		route = path
	}
	name := method // no route matched (refused before the mux): the method alone, as the convention says
	if route != "" {
		name += " " + route
	}
	span.SetName(name)
	span.SetAttributes(attribute.String("http.route", route), attribute.Int("http.response.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, http.StatusText(status))
	}
	span.End()
}

// requestID returns the client's id when it is a sane token, else a new
// one: a client must not be able to forge log lines or flood them.
func requestID(given string) string {
	if validRequestID(given) {
		return given
	}
	var raw [16]byte
	lo, hi := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		raw[i], raw[8+i] = byte(lo>>(8*i)), byte(hi>>(8*i))
	}
	var out [32]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=' || c == '@':
		default:
			return false
		}
	}
	return true
}

// statusWriter remembers the status a handler answered and the route the
// mux chose. They are pooled: one per request would be an allocation on
// the hot path.
type statusWriter struct {
	http.ResponseWriter
	status int
	route  string
	routed bool // route was reported, even as "" (no route matched)
}

// routeReporter is the statusWriter as recordRoute finds it.
type routeReporter interface{ reportRoute(pattern string) }

func (w *statusWriter) reportRoute(pattern string) { w.route, w.routed = pattern, true }

// recordRoute tells the Instrument above w (if any) the pattern that
// served the request, looking through writers that wrap it.
func recordRoute(w http.ResponseWriter, pattern string) {
	for {
		if rr, ok := w.(routeReporter); ok {
			rr.reportRoute(pattern)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
