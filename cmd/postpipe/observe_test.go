package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/testkit"
)

// scrape reads a /metrics page into its families.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// metricValue sums the samples of family name whose labels include want:
// counter and gauge values, histogram sample counts. ok is false when the
// family is absent.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, x := range want {
			if labels[k] != x {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		}
	}
	return v, true
}

// TestMetricsAfterTraffic runs 'api' and 'sink' on a stack, sends accepted,
// repeated (same Idempotency-Key), invalid and poison posts, and checks that
// every family shows that traffic on both admin listeners.
func TestMetricsAfterTraffic(t *testing.T) {
	env := stackEnv(t)
	apiAddr, apiAdmin, sinkAdmin := freeAddr(t), freeAddr(t), freeAddr(t)
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr, "POSTPIPE_ADMIN_ADDR", apiAdmin))
	start(t, "sink", with(env, "POSTPIPE_ADMIN_ADDR", sinkAdmin))
	base := "http://" + apiAddr
	waitReady(t, base)
	// The sink opens its listener only once it reaches the store and broker.
	waitReady(t, "http://"+sinkAdmin)

	const n = 20
	var acc accepted
	postMany(t, base, "metrics", n, 0, &acc)
	for range 2 { // the second record has the id of the first: a duplicate for the sink
		if code := postJSON(t, base+"/v1/posts", input("again"), map[string]string{"Idempotency-Key": "metrics-again"}, nil); code != http.StatusAccepted {
			t.Fatalf("POST with Idempotency-Key: %d", code)
		}
	}
	if code := postJSON(t, base+"/v1/posts", map[string]any{"author": ""}, nil, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("invalid POST: %d", code)
	}
	produceRaw(t, env, &kgo.Record{Topic: env["POSTPIPE_KAFKA_TOPIC"], Key: []byte("poison"), Value: []byte("not JSON")})

	sinkURL := "http://" + sinkAdmin + "/metrics"
	var sinkFams map[string]*dto.MetricFamily
	testkit.Eventually(t, time.Minute, "the sink's metrics to show every record", func() bool {
		sinkFams = scrape(t, sinkURL)
		written, _ := metricValue(sinkFams, "postpipe_sink_documents_written_total", nil)
		dups, _ := metricValue(sinkFams, "postpipe_sink_duplicates_skipped_total", nil)
		dead, _ := metricValue(sinkFams, "postpipe_sink_dlq_records_total", nil)
		return written == n+1 && dups == 1 && dead == 1
	})
	batched, _ := metricValue(sinkFams, "postpipe_sink_batch_records", nil)
	if batched < 1 {
		t.Errorf("postpipe_sink_batch_records has %v batches", batched)
	}
	if sum := sinkFams["postpipe_sink_batch_records"].GetMetric()[0].GetHistogram().GetSampleSum(); sum != n+3 {
		t.Errorf("postpipe_sink_batch_records sums to %v records, want %d (every record, the poison one included)", sum, n+3)
	}
	if v, _ := metricValue(sinkFams, "postpipe_sink_write_duration_seconds", nil); v < 1 {
		t.Errorf("postpipe_sink_write_duration_seconds has %v samples", v)
	}
	// Caught up: every partition the sink read from is present, at zero lag
	// once the batch that wrote the last records is committed too (the
	// counters move just before the commit).
	caughtUp := func(fams map[string]*dto.MetricFamily) (problems []string) {
		for _, name := range []string{"postpipe_sink_lag_records", "postpipe_sink_lag_seconds"} {
			f := fams[name]
			if len(f.GetMetric()) == 0 {
				problems = append(problems, name+": no partitions")
			}
			for _, m := range f.GetMetric() {
				if v := m.GetGauge().GetValue(); v != 0 {
					problems = append(problems, fmt.Sprintf("%s %v = %v", name, m.GetLabel(), v))
				}
			}
		}
		return problems
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(caughtUp(sinkFams)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		sinkFams = scrape(t, sinkURL)
	}
	for _, p := range caughtUp(sinkFams) {
		t.Errorf("after the sink caught up: %s", p)
	}
	if v, ok := metricValue(sinkFams, "go_goroutines", nil); !ok || v == 0 {
		t.Errorf("sink: go_goroutines = %v, %v", v, ok)
	}

	// With an admin listener the metrics are there only, not on the
	// public port.
	if code, _ := probe(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("GET /metrics on the API port with an admin listener: %d, want 404", code)
	}
	url := "http://" + apiAdmin + "/metrics"
	apiFams := scrape(t, url)
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"postpipe_http_requests_total", map[string]string{"route": "POST /v1/posts", "code": "202"}, n + 2},
		{"postpipe_http_requests_total", map[string]string{"route": "POST /v1/posts", "code": "422"}, 1},
		{"postpipe_http_requests_total", map[string]string{"route": "GET /readyz"}, 1},
		{"postpipe_http_request_duration_seconds", map[string]string{"route": "POST /v1/posts"}, n + 3},
		{"postpipe_produce_records_total", map[string]string{"outcome": "acked"}, n + 2},
		{"postpipe_produce_duration_seconds", nil, n + 2},
		{"process_cpu_seconds_total", nil, 0},
		{"go_goroutines", nil, 1},
	} {
		if v, ok := metricValue(apiFams, c.name, c.labels); !ok || v < c.min {
			t.Errorf("%s: %s%v = %v (present %v), want at least %v", url, c.name, c.labels, v, ok, c.min)
		}
	}
	if _, ok := apiFams["postpipe_producer_buffered_records"]; !ok {
		t.Errorf("%s: no postpipe_producer_buffered_records", url)
	}
	for name := range apiFams {
		if strings.HasPrefix(name, "postpipe_sink_") {
			t.Errorf("%s: the api process shows sink family %s", url, name)
		}
	}
	// What deploy/monitoring queries, after this traffic.
	checkMonitoringReferences(t, apiFams, sinkFams)
}

// probe answers GET url's status and body.
func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestProbesOfAPIAndSink: 'sink' serves /healthz and /readyz on its admin
// listener; once the store goes away both its /readyz and the API's answer
// 503 naming it, while /healthz stays 200.
func TestProbesOfAPIAndSink(t *testing.T) {
	dir := t.TempDir()
	kafkaAddr, mongoAddr := freeAddr(t), freeAddr(t)
	start(t, "stack", map[string]string{"POSTPIPE_DATA_DIR": dir + "/k", "POSTPIPE_STACK_MONGODB": "false", "POSTPIPE_STACK_KAFKA_ADDR": kafkaAddr})
	mongoStack := start(t, "stack", map[string]string{"POSTPIPE_DATA_DIR": dir + "/m", "POSTPIPE_STACK_KAFKA": "false", "POSTPIPE_STACK_MONGODB_ADDR": mongoAddr})
	env := map[string]string{"POSTPIPE_KAFKA_BROKERS": kafkaAddr, "POSTPIPE_MONGODB_URI": "mongodb://" + mongoAddr + "/"}
	apiAddr, sinkAdmin := freeAddr(t), freeAddr(t)
	testkit.Listening(t, 60*time.Second, kafkaAddr, mongoAddr)
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr))
	start(t, "sink", with(env, "POSTPIPE_ADMIN_ADDR", sinkAdmin))
	waitReady(t, "http://"+apiAddr)
	waitReady(t, "http://"+sinkAdmin)
	if code, body := probe(t, "http://"+sinkAdmin+"/readyz"); !strings.Contains(body, `"sink":"ok"`) {
		t.Errorf("sink /readyz: %d %s, want the sink check ok", code, body)
	}
	// An API without an admin listener serves its metrics on its own port.
	if code, _ := probe(t, "http://"+apiAddr+"/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics on an API without an admin listener: %d, want 200", code)
	}

	if err := mongoStack.stop(); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{"http://" + apiAddr, "http://" + sinkAdmin} {
		code, body := probe(t, base+"/readyz")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "mongodb: ") || strings.Contains(body, "kafka: ") {
			t.Errorf("%s/readyz with the store gone: %d %s, want 503 naming mongodb only", base, code, body)
		}
		if code, body := probe(t, base+"/healthz"); code != http.StatusOK {
			t.Errorf("%s/healthz: %d %s, want 200", base, code, body)
		}
	}
}
