package bench

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParseSample(t *testing.T) {
	tests := []struct {
		line   string
		ok     bool
		name   string
		labels map[string]string
		value  float64
	}{
		{line: "postpipe_producer_requests_total 42", ok: true, name: "postpipe_producer_requests_total", value: 42},
		{line: "postpipe_producer_requests_total 42\n", ok: true, name: "postpipe_producer_requests_total", value: 42},
		{line: "  x_total\t1.5e3  ", ok: true, name: "x_total", value: 1500},
		{line: "x_total 7 1700000000000", ok: true, name: "x_total", value: 7},
		{line: "x:y_total 3", ok: true, name: "x:y_total", value: 3},
		{line: `postpipe_produce_records_total{stream="posts",op="create",outcome="acked"} 10`, ok: true, name: "postpipe_produce_records_total",
			labels: map[string]string{"stream": "posts", "op": "create", "outcome": "acked"}, value: 10},
		{line: `m{a="x } y",b="q\"uote",c="back\\slash",d="new\nline",} 2`, ok: true, name: "m",
			labels: map[string]string{"a": "x } y", "b": `q"uote`, "c": `back\slash`, "d": "new\nline"}, value: 2},
		{line: `m{ a = "1" , b="2" } 3`, ok: true, name: "m", labels: map[string]string{"a": "1", "b": "2"}, value: 3},
		{line: `m{} 4`, ok: true, name: "m", labels: map[string]string{}, value: 4},
		{line: `postpipe_producer_batch_records_bucket{le="+Inf"} 9`, ok: true, name: "postpipe_producer_batch_records_bucket", labels: map[string]string{"le": "+Inf"}, value: 9},
		{line: "m -2", ok: true, name: "m", value: -2},

		{line: ""},
		{line: "   "},
		{line: "# HELP postpipe_producer_requests_total Produce requests written to the brokers."},
		{line: "# TYPE postpipe_producer_requests_total counter"},
		{line: "m NaN"},
		{line: "m +Inf"},
		{line: "m -Inf"},
		{line: "m"},
		{line: "m "},
		{line: "m abc"},
		{line: "m 1 2 3"},
		{line: "m 1 soon"},
		{line: "m1{ 1"},
		{line: `m{a="1" 1`},
		{line: `m{a="1 1`},
		{line: `m{a=1} 1`},
		{line: `m{a="\x"} 1`},
		{line: `m{="1"} 1`},
		{line: `m{a="1"}1`},
		{line: "9m 1"},
		{line: "{a=\"1\"} 1"},
		{line: "m\x001 1"},
		{line: "<html><body>Not Found</body></html>"},
	}
	for _, tt := range tests {
		s, ok := parseSample(tt.line)
		if ok != tt.ok {
			t.Errorf("parseSample(%q): ok %v, want %v (%+v)", tt.line, ok, tt.ok, s)
			continue
		}
		if !ok {
			continue
		}
		if s.name != tt.name || s.value != tt.value || !maps.Equal(s.labels, tt.labels) {
			t.Errorf("parseSample(%q) = %q %v %v, want %q %v %v", tt.line, s.name, s.labels, s.value, tt.name, tt.labels, tt.value)
		}
	}
}

// metricsPage is a /metrics page as the API serves it, with the producer's
// families, others around them, and lines the parser must step over.
const metricsPage = `# HELP postpipe_produce_records_total Records produced, by stream, op and outcome.
# TYPE postpipe_produce_records_total counter
postpipe_produce_records_total{op="create",outcome="acked",stream="posts"} 1000
postpipe_produce_records_total{op="create",outcome="failed",stream="posts"} 3
# HELP postpipe_producer_batch_records Records in each partition batch the brokers accepted.
# TYPE postpipe_producer_batch_records histogram
postpipe_producer_batch_records_bucket{le="1"} 2
postpipe_producer_batch_records_bucket{le="+Inf"} 40
postpipe_producer_batch_records_sum 1200
postpipe_producer_batch_records_count 40
# HELP postpipe_producer_requests_total Produce requests written to the brokers.
# TYPE postpipe_producer_requests_total counter
postpipe_producer_requests_total 30
go_gc_duration_seconds{quantile="0.5"} NaN
garbage that is no sample
postpipe_producer_requests_total{broker="2"} NaN
`

func TestParseProducerMetrics(t *testing.T) {
	tests := []struct {
		name string
		page string
		want producerCounters
		ok   bool
	}{
		{name: "the API's page", page: metricsPage, want: producerCounters{requests: 30, records: 1200, batches: 40}, ok: true},
		{name: "no final newline", page: strings.TrimSuffix(metricsPage, "\n"), want: producerCounters{requests: 30, records: 1200, batches: 40}, ok: true},
		{name: "CRLF", page: strings.ReplaceAll(metricsPage, "\n", "\r\n"), want: producerCounters{requests: 30, records: 1200, batches: 40}, ok: true},
		{name: "summed over label sets", page: metricsPage + "postpipe_producer_requests_total{broker=\"2\"} 5\n", want: producerCounters{requests: 35, records: 1200, batches: 40}, ok: true},
		{name: "no requests family", page: strings.ReplaceAll(metricsPage, "postpipe_producer_requests_total 30", "")},
		{name: "no histogram sum", page: strings.ReplaceAll(metricsPage, "postpipe_producer_batch_records_sum 1200", "")},
		{name: "no histogram count", page: strings.ReplaceAll(metricsPage, "postpipe_producer_batch_records_count 40", "")},
		{name: "requests NaN only", page: strings.ReplaceAll(metricsPage, "postpipe_producer_requests_total 30", "postpipe_producer_requests_total NaN")},
		{name: "a sum that is garbage", page: strings.ReplaceAll(metricsPage, "postpipe_producer_batch_records_sum 1200", "postpipe_producer_batch_records_sum 12x0")},
		{name: "acked records are no batch records", page: "postpipe_produce_records_total{outcome=\"acked\"} 5\npostpipe_producer_requests_total 1\n"},
		{name: "empty", page: ""},
		{name: "a 404 page", page: "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseProducerMetrics(strings.NewReader(tt.page))
			if ok != tt.ok || (ok && got != tt.want) {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestScrapeProducer(t *testing.T) {
	var requests atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(10)
		fmt.Fprintf(w, "postpipe_producer_requests_total %d\npostpipe_producer_batch_records_sum %d\npostpipe_producer_batch_records_count %d\n", n, 3*n, n)
	})
	withMetrics := httptest.NewServer(mux)
	defer withMetrics.Close()
	without := httptest.NewServer(http.NotFoundHandler()) // an API with an admin listener
	defer without.Close()
	client := newClient(time.Second)
	defer client.CloseIdleConnections()

	a, okA := scrapeProducer(t.Context(), client, withMetrics.URL)
	b, okB := scrapeProducer(t.Context(), client, withMetrics.URL)
	if !okA || !okB || a != (producerCounters{10, 30, 10}) || b != (producerCounters{20, 60, 20}) {
		t.Errorf("scrapes %+v %v, %+v %v", a, okA, b, okB)
	}
	if c, ok := scrapeProducer(t.Context(), client, without.URL); ok {
		t.Errorf("a server without /metrics: %+v, ok", c)
	}
	closed := httptest.NewServer(mux)
	closed.Close()
	if c, ok := scrapeProducer(t.Context(), client, closed.URL); ok {
		t.Errorf("an unreachable server: %+v, ok", c)
	}
}

func ptr(v float64) *float64 { return &v }

func TestProducerFigures(t *testing.T) {
	type window struct {
		before, after producerCounters
		okBefore      bool
		okAfter       bool
	}
	ok := func(b, a producerCounters) window { return window{b, a, true, true} }
	tests := []struct {
		name    string
		windows []window
		elapsed time.Duration
		want    *ProducerFigures
	}{
		{name: "one window", elapsed: 2 * time.Second,
			windows: []window{ok(producerCounters{100, 1000, 100}, producerCounters{150, 2500, 200})},
			want:    &ProducerFigures{Requests: 50, RequestsPerSecond: 25, Records: 1500, Batches: 100, RecordsPerRequest: ptr(30), RecordsPerBatch: ptr(15)}},
		{name: "rounds are summed, not averaged", elapsed: 4 * time.Second,
			windows: []window{
				ok(producerCounters{0, 0, 0}, producerCounters{10, 100, 10}),     // 10 per request
				ok(producerCounters{20, 200, 20}, producerCounters{50, 500, 60}), // 10 per request, 7.5 per batch
			},
			want: &ProducerFigures{Requests: 40, RequestsPerSecond: 10, Records: 400, Batches: 50, RecordsPerRequest: ptr(10), RecordsPerBatch: ptr(8)}},
		{name: "nothing produced (noop)", elapsed: time.Second,
			windows: []window{ok(producerCounters{7, 70, 7}, producerCounters{7, 70, 7})},
			want:    &ProducerFigures{}},
		{name: "requests but no batch accepted", elapsed: time.Second,
			windows: []window{ok(producerCounters{7, 70, 7}, producerCounters{9, 70, 7})},
			want:    &ProducerFigures{Requests: 2, RequestsPerSecond: 2, RecordsPerRequest: ptr(0)}},
		{name: "no window", elapsed: time.Second},
		{name: "no metrics", elapsed: time.Second, windows: []window{{okBefore: false, okAfter: false}}},
		{name: "one round unread", elapsed: 2 * time.Second,
			windows: []window{ok(producerCounters{0, 0, 0}, producerCounters{10, 100, 10}), {producerCounters{10, 100, 10}, producerCounters{}, true, false}}},
		{name: "the API restarted", elapsed: time.Second,
			windows: []window{ok(producerCounters{100, 1000, 100}, producerCounters{5, 50, 5})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w producerWindows
			for _, win := range tt.windows {
				w.add(win.before, win.okBefore, win.after, win.okAfter)
			}
			got := w.figures(tt.elapsed)
			if fmt.Sprint(describe(got)) != fmt.Sprint(describe(tt.want)) {
				t.Errorf("got %s, want %s", describe(got), describe(tt.want))
			}
		})
	}
}

func describe(f *ProducerFigures) string {
	if f == nil {
		return "none"
	}
	p := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("requests %d, %v/s, records %d, batches %d, per request %s, per batch %s",
		f.Requests, f.RequestsPerSecond, f.Records, f.Batches, p(f.RecordsPerRequest), p(f.RecordsPerBatch))
}
