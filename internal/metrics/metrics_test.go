package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postpipe/postpipe/internal/metrics"
)

// every registers every family and records one of each observation.
func every(t *testing.T) *metrics.Metrics {
	t.Helper()
	m := metrics.New()
	m.HTTP().Served("POST /v1/posts", http.StatusAccepted, time.Millisecond)
	m.Produce(func() int64 { return 3 }, "posts").Produced("posts", "create", "acked", time.Millisecond)
	m.ProducerHooks()
	s := m.Sink("posts")
	s.WriteAttempted("posts", time.Millisecond, errors.New("down"))
	s.BatchDone("posts", 10, 7, 2, 1)
	s.OpsDone("posts", "patch", "applied", 3)
	m.SinkLag(func(yield func(string, int32, int64, float64)) { yield("posts", 2, 5, 1.5) })
	m.BuildInfo("v1.2.3", "0123abc")
	m.InFlight().Inc()
	m.Bodies().BodyRefused("budget_full")
	m.Readiness(map[string]func(context.Context) error{"kafka": func(context.Context) error { return nil }})
	return m
}

func TestFamiliesFollowPrometheusConventions(t *testing.T) {
	problems, err := testutil.GatherAndLint(every(t).Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestBuildInfo(t *testing.T) {
	for _, tt := range []struct{ given, want string }{
		{"4f1c2d9e0b7a", "4f1c2d9e0b7a"},
		{"", "unknown"},
	} {
		m := metrics.New()
		m.BuildInfo("v1.2.3", tt.given)
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var found int
		for _, f := range fams {
			if f.GetName() != "postpipe_build_info" {
				continue
			}
			for _, s := range f.GetMetric() {
				found++
				labels := map[string]string{}
				for _, l := range s.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if s.GetGauge().GetValue() != 1 || labels["version"] != "v1.2.3" ||
					labels["goversion"] != runtime.Version() || labels["revision"] != tt.want {
					t.Errorf("revision %q: build_info = %v %v, want 1 with version v1.2.3, goversion %s and revision %s",
						tt.given, s.GetGauge().GetValue(), labels, runtime.Version(), tt.want)
				}
			}
		}
		if found != 1 {
			t.Errorf("%d postpipe_build_info series, want 1", found)
		}
	}
}

func TestInFlight(t *testing.T) {
	m := metrics.New()
	g := m.InFlight()
	g.Inc()
	g.Inc()
	g.Dec()
	if got, err := testutil.GatherAndCount(m.Registry(), "postpipe_http_requests_in_flight"); err != nil || got != 1 {
		t.Fatalf("%d series (%v), want 1", got, err)
	}
	if v := testutil.ToFloat64(g); v != 1 {
		t.Errorf("in flight = %v, want 1", v)
	}
}

func TestReadinessIsCheckedAtScrape(t *testing.T) {
	m := metrics.New()
	var mongoErr error
	m.Readiness(map[string]func(context.Context) error{
		"kafka":   func(context.Context) error { return nil },
		"mongodb": func(context.Context) error { return mongoErr },
	})
	for _, tt := range []struct {
		name  string
		err   error
		mongo float64
	}{{"passing", nil, 1}, {"failing", errors.New("down"), 0}, {"passing again", nil, 1}} {
		mongoErr = tt.err
		g := gatherGauges(t, m, "postpipe_readiness_check_up", "check")
		if len(g) != 2 || g["kafka"] != 1 || g["mongodb"] != tt.mongo {
			t.Errorf("%s: readiness = %v, want kafka 1 and mongodb %v", tt.name, g, tt.mongo)
		}
	}
}

func TestHTTPCountsByRouteAndStatus(t *testing.T) {
	m := metrics.New()
	h := m.HTTP()
	calls := []struct {
		route  string
		status int
	}{
		{"POST /v1/posts", 202}, {"POST /v1/posts", 202}, {"POST /v1/posts", 503},
		{"GET /readyz", 200}, {"/", 404}, {"POST /v1/posts", 999}, // out of range: code 0
	}
	for _, c := range calls {
		h.Served(c.route, c.status, time.Millisecond)
	}
	want := map[[2]string]int{
		{"POST /v1/posts", "202"}: 2, {"POST /v1/posts", "503"}: 1, {"GET /readyz", "200"}: 1,
		{"/", "404"}: 1, {"POST /v1/posts", "0"}: 1,
	}
	if got, err := testutil.GatherAndCount(m.Registry(), "postpipe_http_requests_total"); err != nil || got != len(want) {
		t.Errorf("%d series (%v), want %d", got, err, len(want))
	}
	g := gatherCounters(t, m, "postpipe_http_requests_total", "route", "code")
	for k, n := range want {
		if g[k] != float64(n) {
			t.Errorf("requests{route=%q,code=%q} = %v, want %d", k[0], k[1], g[k], n)
		}
	}
}

func TestLagIsReadAtScrape(t *testing.T) {
	m := metrics.New()
	records := int64(5)
	m.SinkLag(func(yield func(string, int32, int64, float64)) { yield("posts", 0, records, 0) })
	records = 9
	g := gatherGauges(t, m, "postpipe_sink_lag_records", "partition")
	if g["0"] != 9 {
		t.Errorf("lag of partition 0 = %v, want 9 (the value at scrape time)", g["0"])
	}
}

func gatherCounters(t *testing.T, m *metrics.Metrics, name, l1, l2 string) map[[2]string]float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			var k [2]string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case l1:
					k[0] = l.GetValue()
				case l2:
					k[1] = l.GetValue()
				}
			}
			out[k] = s.GetCounter().GetValue()
		}
	}
	return out
}

func gatherGauges(t *testing.T, m *metrics.Metrics, name, label string) map[string]float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] = s.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

func TestBodies(t *testing.T) {
	m := metrics.New()
	b := m.Bodies()
	b.BodyBytesHeld(300)
	b.BodyBytesHeld(16 << 20)
	b.BodyRefused("client_share")
	b.BodyRefused("client_share")
	if got, err := testutil.GatherAndCount(m.Registry(), "postpipe_http_body_bytes_held", "postpipe_http_body_refusals_total"); err != nil || got != 3 {
		t.Fatalf("%d series (%v), want the gauge and a counter per reason", got, err)
	}
	refused := gatherCounters(t, m, "postpipe_http_body_refusals_total", "reason", "")
	if refused[[2]string{"client_share"}] != 2 || refused[[2]string{"budget_full"}] != 0 {
		t.Errorf("refusals %v, want client_share 2, budget_full 0", refused)
	}
	const want = `
# HELP postpipe_http_body_bytes_held Request body bytes reserved in the body budget: declared or read, not yet released by their handler.
# TYPE postpipe_http_body_bytes_held gauge
postpipe_http_body_bytes_held 1.6777216e+07
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "postpipe_http_body_bytes_held"); err != nil {
		t.Error(err)
	}
}
