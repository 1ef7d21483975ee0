package stats

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"
)

func TestBucketBoundsHoldTheirLatencies(t *testing.T) {
	for _, d := range []time.Duration{0, minLatency, minLatency + 1, time.Millisecond, 1234567, 2 * time.Second, time.Hour} {
		i := bucketOf(d)
		if d <= bucketBound(latencyBuckets-1) && d > bucketBound(i) {
			t.Errorf("%v lands in bucket %d bounded by %v", d, i, bucketBound(i))
		}
		if i > 0 && d <= bucketBound(i-1) {
			t.Errorf("%v lands in bucket %d, but bucket %d (bound %v) holds it", d, i, i-1, bucketBound(i-1))
		}
	}
	for i := range latencyBuckets {
		if got := bucketOf(bucketBound(i)); got != i {
			t.Errorf("bucketOf(bound %d = %v) = %d", i, bucketBound(i), got)
		}
	}
}

func TestRequestsCountsTrafficByStatus(t *testing.T) {
	var r Requests
	for _, c := range []struct {
		route  string
		status int
	}{
		{"POST /v1/posts", 202},
		{"POST /v1/posts", 422},
		{"POST /v1/posts:batch", 413},
		{"", 401}, // refused before routing: still what a client saw
		{"", 503},
		{"POST /v1/posts", 503},
		{"GET /v1/posts/{id}", 404},
		{"GET /v1/posts", 500},
		// The dashboard, the probes and the scraper are not traffic.
		{"GET /v1/stats", 200},
		{"GET /{$}", 200},
		{"GET /ui/{file...}", 404},
		{"GET /readyz", 503},
		{"GET /healthz", 200},
		{"GET /metrics", 200},
	} {
		r.Served(c.route, c.status, time.Millisecond)
	}
	got := r.read()
	if got.answered != 8 || got.clientErrors != 4 || got.unavailable != 2 || got.serverErrors != 1 {
		t.Errorf("answered %d, 4xx %d, 503 %d, other 5xx %d; want 8, 4, 2, 1", got.answered, got.clientErrors, got.unavailable, got.serverErrors)
	}
	var writes int64
	for _, n := range got.writes {
		writes += n
	}
	if writes != 4 {
		t.Errorf("%d write latencies recorded, want the 4 POSTs", writes)
	}
}

func TestPercentiles(t *testing.T) {
	var prev, cur [latencyBuckets]int64
	if _, ok := percentiles(&prev, &cur, 0.5); ok {
		t.Error("percentiles of no requests")
	}
	// Counted before the interval: must not weigh in.
	prev[bucketOf(time.Minute)] = 1000
	cur[bucketOf(time.Minute)] = 1000
	// 98 fast writes, 2 slow ones.
	cur[bucketOf(2*time.Millisecond)] += 98
	cur[bucketOf(800*time.Millisecond)] += 2
	ms, ok := percentiles(&prev, &cur, 0.5, 0.98, 0.99)
	if !ok {
		t.Fatal("no percentiles")
	}
	for i, c := range []struct{ lo, hi float64 }{{2, 2 * 1.19}, {2, 2 * 1.19}, {800, 800 * 1.19}} {
		if ms[i] < c.lo || ms[i] > c.hi {
			t.Errorf("quantile %d = %v ms, want within [%v, %v]", i, ms[i], c.lo, c.hi)
		}
	}
}

func TestSamplerRequestRatesAndLatency(t *testing.T) {
	var accepted int64
	s := newTestSampler(time.Minute, 2*time.Second, &accepted, &scripted{readings: []reading{{offsets: parts(0)}}})
	r := s.Requests()
	ctx := context.Background()
	s.sample(ctx)
	for range 10 {
		r.Served("POST /v1/posts", 202, 3*time.Millisecond)
	}
	for range 4 {
		r.Served("POST /v1/posts", 503, 5*time.Second)
	}
	for range 6 {
		r.Served("POST /v1/posts", 422, time.Millisecond)
	}
	s.sample(ctx)
	s.sample(ctx) // nothing answered in this interval
	snap := s.Snapshot()
	busy, idle := snap.Samples[1], snap.Samples[2]
	if busy.RequestRate != 10 || busy.UnavailableRate != 2 || busy.ClientErrorRate != 3 || busy.ServerErrorRate != 0 {
		t.Errorf("busy interval: %+v, want 10 requests/s, 2 503/s, 3 4xx/s", busy)
	}
	if busy.P50Ms < 3 || busy.P50Ms > 3*1.19 || busy.P99Ms < 5000 || busy.P99Ms > 5000*1.19 {
		t.Errorf("busy interval: p50 %v ms, p99 %v ms; want ~3 and ~5000", busy.P50Ms, busy.P99Ms)
	}
	if idle.RequestRate != 0 || idle.P50Ms != 0 || idle.P99Ms != 0 {
		t.Errorf("idle interval: %+v, want no requests and no latency", idle)
	}
	if tt := snap.Totals; tt.Requests != 20 || tt.Unavailable != 4 || tt.ClientErrors != 6 || tt.ServerErrors != 0 {
		t.Errorf("totals %+v", tt)
	}
}

func TestSamplerReportsDependencyHealth(t *testing.T) {
	var accepted int64
	s := newTestSampler(time.Minute, time.Second, &accepted, &scripted{readings: []reading{{offsets: parts(0)}}})
	storeErr := errors.New("store unreachable")
	var storeDown bool
	s.Check(
		Check{Name: "kafka", Ping: func(context.Context) error { return nil }},
		Check{Name: "mongodb", Ping: func(context.Context) error {
			if storeDown {
				return storeErr
			}
			return nil
		}},
	)
	ctx := context.Background()
	s.sample(ctx)
	first := s.Snapshot().At
	s.sample(ctx)
	h := s.Snapshot().Health
	if len(h) != 2 || h[0].Name != "kafka" || !h[0].OK || h[1].Name != "mongodb" || !h[1].OK || !h[1].Since.Equal(first) {
		t.Fatalf("both up: %+v, want kafka and mongodb ok since the first sample", h)
	}
	storeDown = true
	s.sample(ctx)
	snap := s.Snapshot()
	h = snap.Health
	if !h[0].OK || !h[0].Since.Equal(first) {
		t.Errorf("kafka: %+v, want ok since %v", h[0], first)
	}
	if h[1].OK || h[1].Error != storeErr.Error() || !h[1].Since.Equal(snap.At) {
		t.Errorf("mongodb: %+v, want failing since %v with the error", h[1], snap.At)
	}
}

// Served is on every request's path.
func BenchmarkRequestsServed(b *testing.B) {
	var r Requests
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Served("POST /v1/posts", 202, time.Duration(i%5000)*time.Microsecond)
	}
}

func TestRequestsCountChangesByOp(t *testing.T) {
	var r Requests
	for _, c := range []struct {
		route  string
		status int
	}{
		{"PUT /v1/orders/{id}", 202},
		{"PUT /v1/posts/{id}", 200}, // Prefer: wait, applied
		{"PATCH /v1/orders/{id}", 202},
		{"PATCH /v1/orders/{id}", 422}, // refused: not a change
		{"DELETE /v1/posts/{id}", 204},
		{"DELETE /v1/posts/{id}", 503},
		{"POST /v1/posts", 202}, // a create, counted as a write
	} {
		r.Served(c.route, c.status, time.Millisecond)
	}
	got := r.read().changesByOp()
	if want := map[string]int64{"put": 2, "patch": 1, "delete": 1}; !maps.Equal(got, want) {
		t.Errorf("changes by op %v, want %v", got, want)
	}
	var none Requests
	if got := none.read().changesByOp(); got != nil {
		t.Errorf("changes with none counted: %v, want nil (left out of the JSON)", got)
	}
}
