package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/logging"
	"github.com/postpipe/postpipe/internal/post"
)

// logLines decodes JSON log output.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %s: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// syncBuffer is a log sink safe for the handler's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// instrumented is the API as cmd serves it, logging JSON into the returned
// buffer through the request-id handler.
func instrumented(t *testing.T, ins api.Instruments, pub *fakePublisher) (http.Handler, *syncBuffer) {
	t.Helper()
	buf := &syncBuffer{}
	log := slog.New(logging.NewHandler(slog.NewJSONHandler(buf, nil)))
	ins.Log = log
	return api.Instrument(api.New(testLimits, pub, newFakeStore(), nil, log), ins), buf
}

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, given string
		keep        bool
	}{
		{"absent: generated", "", false},
		{"a client's id is kept", "client-7f3a:retry.2/eu@edge+x=1_", true},
		{"longest kept", strings.Repeat("a", 128), true},
		{"too long: replaced", strings.Repeat("a", 129), false},
		{"spaces: replaced", "a b", false},
		{"quote: replaced", `a"b`, false},
		{"non-ASCII: replaced", "ключ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := instrumented(t, api.Instruments{}, &fakePublisher{})
			var header []string
			if tt.given != "" {
				header = []string{api.RequestIDHeader, tt.given}
			}
			rec := do(t, h, http.MethodPost, "/v1/posts", `{"author":""}`, header...)
			id := rec.Header().Get(api.RequestIDHeader)
			if tt.keep && id != tt.given {
				t.Errorf("X-Request-ID = %q, want the client's %q", id, tt.given)
			}
			if !tt.keep && !generatedID.MatchString(id) {
				t.Errorf("X-Request-ID = %q, want a generated id", id)
			}
			if p := problemOf(t, rec, http.StatusUnprocessableEntity); p.RequestID != id {
				t.Errorf("problem requestId = %q, header %q", p.RequestID, id)
			}
		})
	}
	h, _ := instrumented(t, api.Instruments{}, &fakePublisher{})
	a, b := do(t, h, http.MethodGet, "/healthz", ""), do(t, h, http.MethodGet, "/healthz", "")
	if x, y := a.Header().Get(api.RequestIDHeader), b.Header().Get(api.RequestIDHeader); x == y {
		t.Errorf("two requests got the same id %q", x)
	}
}

func TestRequestIDInTheRequestsLogLines(t *testing.T) {
	pub := &fakePublisher{fail: func(post.Post) error { return errors.New("broker gone") }}
	h, buf := instrumented(t, api.Instruments{}, pub)
	rec := do(t, h, http.MethodPost, "/v1/posts", postJSON("x"), api.RequestIDHeader, "req-42")
	p := problemOf(t, rec, http.StatusServiceUnavailable)
	if p.RequestID != "req-42" {
		t.Errorf("problem requestId = %q, want req-42", p.RequestID)
	}
	lines := logLines(t, &buf.Buffer)
	if len(lines) != 1 || lines[0]["msg"] != "dependency unavailable" || lines[0]["request_id"] != "req-42" {
		t.Errorf("log lines = %v, want one warning carrying request_id req-42", lines)
	}
}

func TestAccessLogSample(t *testing.T) {
	for _, tt := range []struct {
		sample float64
		want   int
	}{{0, 0}, {1, 3}} {
		h, buf := instrumented(t, api.Instruments{AccessLogSample: tt.sample}, &fakePublisher{})
		do(t, h, http.MethodPost, "/v1/posts", postJSON("x"), api.RequestIDHeader, "req-1")
		do(t, h, http.MethodGet, "/v1/posts/0190d9e2-0000-7000-8000-000000000000", "")
		do(t, h, http.MethodGet, "/nowhere", "")
		lines := logLines(t, &buf.Buffer)
		if len(lines) != tt.want {
			t.Fatalf("sample %v: %d log lines, want %d: %v", tt.sample, len(lines), tt.want, lines)
		}
		if tt.want == 0 {
			continue
		}
		want := []struct {
			method, route string
			status        float64
		}{
			{"POST", "POST /v1/posts", 202}, {"GET", "GET /v1/posts/{id}", 404}, {"GET", "/", 404},
		}
		for i, l := range lines {
			w := want[i]
			if l["msg"] != "request" || l["method"] != w.method || l["route"] != w.route || l["status"] != w.status ||
				l["duration"] == nil || l["request_id"] == "" || l["request_id"] == nil {
				t.Errorf("access line %d = %v, want %+v with duration and request_id", i, l, w)
			}
		}
		if lines[0]["request_id"] != "req-1" {
			t.Errorf("access line request_id = %v, want req-1", lines[0]["request_id"])
		}
	}
}

// routeRecorder is a RequestObserver that remembers what it was told.
type routeRecorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *routeRecorder) Served(route string, status int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d <= 0 {
		route += " (no duration)"
	}
	r.seen = append(r.seen, route+" "+http.StatusText(status))
}

func TestObserverGetsTheRoutePatternAndStatus(t *testing.T) {
	obs := &routeRecorder{}
	h, _ := instrumented(t, api.Instruments{Requests: obs}, &fakePublisher{})
	do(t, h, http.MethodPost, "/v1/posts", postJSON("x"))
	do(t, h, http.MethodGet, "/v1/posts/0190d9e2-0000-7000-8000-000000000000", "")
	do(t, h, http.MethodGet, "/no/such/path/"+strings.Repeat("x", 50), "")
	do(t, h, http.MethodDelete, "/v1/posts", "")
	do(t, h, http.MethodGet, "/healthz", "")
	want := []string{
		"POST /v1/posts Accepted",
		"GET /v1/posts/{id} Not Found",
		"/ Not Found",
		"/ Method Not Allowed",
		"GET /healthz OK",
	}
	if strings.Join(obs.seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("observed:\n%s\nwant:\n%s", strings.Join(obs.seen, "\n"), strings.Join(want, "\n"))
	}
}

// countingGauge records the in-flight count and the highest it reached.
type countingGauge struct {
	mu       sync.Mutex
	now, max int
}

func (g *countingGauge) Inc() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now++
	g.max = max(g.max, g.now)
}

func (g *countingGauge) Dec() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.now--
}

func TestInFlightGauge(t *testing.T) {
	tests := []struct {
		name  string
		panic bool
	}{
		{"answered", false},
		{"handler panics", true}, // net/http recovers it; the count must still go down
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &countingGauge{}
			var during int
			inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				g.mu.Lock()
				during = g.now
				g.mu.Unlock()
				if tt.panic {
					panic(http.ErrAbortHandler)
				}
				w.WriteHeader(http.StatusAccepted)
			})
			h := api.Instrument(inner, api.Instruments{InFlight: g})
			func() {
				defer func() { _ = recover() }()
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/posts", nil))
			}()
			if during != 1 || g.now != 0 || g.max != 1 {
				t.Errorf("in flight while served = %d, after = %d (max %d); want 1, 0", during, g.now, g.max)
			}
		})
	}
}

// TestRouteWithKeysOn: behind requireKey (which hands the mux a copy of the
// request) metrics, access log and span still carry the route; they used
// to get "".
func TestRouteWithKeysOn(t *testing.T) {
	keys, err := apikey.Parse(strings.NewReader(apikey.Line("client-a", testKey)))
	if err != nil {
		t.Fatal(err)
	}
	obs := &routeRecorder{}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	buf := &syncBuffer{}
	log := slog.New(logging.NewHandler(slog.NewJSONHandler(buf, nil)))
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, log)
	h := api.Instrument(a.Guarded(api.Guard{Keys: keys, Exempt: []string{"/healthz"}}), api.Instruments{
		Requests: obs, Log: log, AccessLogSample: 1, Tracer: tp.Tracer("test"),
	})
	auth := []string{"Authorization", "Bearer " + testKey}
	do(t, h, http.MethodPost, "/v1/posts", postJSON("x"), auth...)
	do(t, h, http.MethodGet, "/v1/posts/0190d9e2-0000-7000-8000-000000000000", "", auth...)
	do(t, h, http.MethodGet, "/healthz", "") // exempt: not through requireKey's copy
	do(t, h, http.MethodPost, "/v1/posts", postJSON("x"))
	do(t, h, http.MethodGet, "/nowhere", "", auth...)

	want := []string{"POST /v1/posts Accepted", "GET /v1/posts/{id} Not Found", "GET /healthz OK", " Unauthorized", "/ Not Found"}
	if strings.Join(obs.seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("metrics routes:\n%s\nwant:\n%s", strings.Join(obs.seen, "\n"), strings.Join(want, "\n"))
	}
	var routes []any
	for _, l := range logLines(t, &buf.Buffer) {
		if l["msg"] == "request" {
			routes = append(routes, l["route"])
		}
	}
	if wantLog := []any{"POST /v1/posts", "GET /v1/posts/{id}", "GET /healthz", "", "/"}; fmt.Sprint(routes) != fmt.Sprint(wantLog) {
		t.Errorf("access log routes %q, want %q", routes, wantLog)
	}
	var names []string
	for _, s := range exp.GetSpans() {
		if s.SpanKind == trace.SpanKindServer {
			names = append(names, s.Name)
		}
	}
	if wantSpans := []string{"POST /v1/posts", "GET /v1/posts/{id}", "GET /healthz", "POST", "GET /"}; !slices.Equal(names, wantSpans) {
		t.Errorf("span names %q, want %q", names, wantSpans)
	}
}
