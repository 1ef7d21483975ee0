package api_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/kafka"
)

// guard bounds how long a request may take before the test calls it hung. It
// is no latency assertion: the publisher gives up after a fraction of it.
const guard = 10 * time.Second

// kafkaAPI wires the API to the real publisher and a fake broker. With
// swallow set the broker reads produce requests and never answers them. It
// returns how many produce requests the broker swallowed.
func kafkaAPI(t *testing.T, timeout time.Duration, swallow bool) (http.Handler, *atomic.Int64) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "posts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close) // runs after the client is closed
	var swallowed atomic.Int64
	if swallow {
		cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
			cluster.KeepControl()
			swallowed.Add(1)
			return nil, nil, true // handled, with no response and no error: the broker stays silent
		})
	}

	log := slog.New(slog.DiscardHandler)
	// kgo refuses a record delivery timeout under 1s; the publisher's own,
	// shorter timeout is what bounds the request.
	opts := append(kafka.ClientOpts(cluster.ListenAddrs(), log), kafka.ProducerOpts(max(timeout, time.Second), 0)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	pub := kafka.NewPublisher(cl, "posts", timeout, kafka.Instruments{})
	return api.New(testLimits, pub, newFakeStore(), nil, log), &swallowed
}

// serveGuarded serves req, failing the test if no answer comes within guard.
func serveGuarded(t *testing.T, h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- serve(h, req) }()
	select {
	case rec := <-done:
		return rec
	case <-time.After(guard):
		t.Fatalf("%s %s did not answer within %s", method, target, guard)
		return nil
	}
}

func TestBrokerNotAnswering(t *testing.T) {
	h, swallowed := kafkaAPI(t, 300*time.Millisecond, true)

	rec := serveGuarded(t, h, http.MethodPost, "/v1/posts", postJSON("lost"))
	p := problemOf(t, rec, http.StatusServiceUnavailable)
	assertRetryAfter(t, rec)
	if loc := rec.Header().Get("Location"); loc != "" {
		t.Errorf("Location = %q although nothing was accepted", loc)
	}
	if p.Instance != "/v1/posts" {
		t.Errorf("instance = %q", p.Instance)
	}

	batch := "[" + postJSON("a") + "," + postJSON("b") + "," + postJSON("c") + "]"
	items := decodeJSON[[]itemBody](t, serveGuarded(t, h, http.MethodPost, "/v1/posts:batch", batch), http.StatusMultiStatus)
	if len(items) != 3 {
		t.Fatalf("got %d results, want 3", len(items))
	}
	for i, it := range items {
		if it.Status != http.StatusServiceUnavailable || it.ID == "" {
			t.Errorf("item %d = %+v, want 503 with the id to retry", i, it)
		}
	}

	// Make sure the 503s came from a broker that got the records and kept
	// quiet, not from a client that never reached it. The client keeps
	// trying after the publisher gave up, so this does not depend on how
	// fast the first attempt was.
	deadline := time.Now().Add(guard)
	for swallowed.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no produce request reached the broker")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBrokerAnswering is the control for TestBrokerNotAnswering: the same
// wiring without the silent broker accepts posts.
func TestBrokerAnswering(t *testing.T) {
	h, _ := kafkaAPI(t, guard, false)
	got := decodeJSON[acceptedBody](t, serveGuarded(t, h, http.MethodPost, "/v1/posts", postJSON("kept")), http.StatusAccepted)
	if got.Status != "accepted" || got.ID == "" {
		t.Errorf("body = %+v", got)
	}
	items := decodeJSON[[]itemBody](t, serveGuarded(t, h, http.MethodPost, "/v1/posts:batch", "["+postJSON("a")+","+postJSON("b")+"]"), http.StatusMultiStatus)
	for i, it := range items {
		if it.Status != http.StatusAccepted {
			t.Errorf("item %d = %+v, want 202", i, it)
		}
	}
}
