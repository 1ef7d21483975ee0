package api_test

import (
	"encoding/json"
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
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// guard bounds how long a request may take before the test calls it hung. It
// is no latency assertion: the publisher gives up after a fraction of it.
const guard = 10 * time.Second

// kafkaAPI wires the API to the real publisher and a fake broker. With
// swallow set the broker reads produce requests and never answers them. It
// returns how many produce requests the broker swallowed.
func kafkaAPI(t *testing.T, timeout time.Duration, swallow bool) (http.Handler, *atomic.Int64) {
	t.Helper()
	h, swallowed, _ := kafkaAPIWith(t, testLimits, timeout, swallow)
	return h, swallowed
}

// kafkaAPIWith is kafkaAPI with the API's limits and more client options,
// and it returns the producer too.
func kafkaAPIWith(t *testing.T, limits api.Limits, timeout time.Duration, swallow bool, extra ...kgo.Opt) (http.Handler, *atomic.Int64, *kgo.Client) {
	t.Helper()
	cluster := testkit.Kafka(t, kfake.SeedTopics(1, "posts")) // runs after the client is closed
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
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)

	pub := kafka.NewPublisher(cl, "posts", timeout, kafka.Instruments{})
	return api.New(limits, pub, newFakeStore(), nil, log), &swallowed, cl
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

// postAsync serves a post in the background; the answer arrives on the
// returned channel.
func postAsync(h http.Handler, title string) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(postJSON(title)))
		req.Header.Set("Content-Type", "application/json")
		done <- serve(h, req)
	}()
	return done
}

// TestProducerBufferFull: with the broker silent and the producer's buffer
// full, a post is refused at once with 503, while the posts in the buffer
// still wait for an acknowledgement that never comes and end 503 too.
func TestProducerBufferFull(t *testing.T) {
	size := recordSize(t, "post-1")
	for _, tc := range []struct {
		name string
		opt  kgo.Opt
	}{
		{"records", kgo.MaxBufferedRecords(2)},
		// Two records fit, a third does not, whatever the few bytes by
		// which the timestamps' lengths differ.
		{"bytes", kgo.MaxBufferedBytes(2*size + size/2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The publisher waits longer than the test does: the buffered
			// posts are still pending when the third is refused.
			h, _, cl := kafkaAPIWith(t, testLimits, guard/2, true, tc.opt)
			first, second := postAsync(h, "post-1"), postAsync(h, "post-2")
			testkit.Eventually(t, guard, "two records buffered", func() bool { return cl.BufferedProduceRecords() == 2 })

			rec := serveGuarded(t, h, http.MethodPost, "/v1/posts", postJSON("post-3"))
			p := problemOf(t, rec, http.StatusServiceUnavailable)
			assertRetryAfter(t, rec)
			if p.ID == "" {
				t.Error("503 without the id of the refused post")
			}
			for _, ch := range []<-chan *httptest.ResponseRecorder{first, second} {
				select {
				case rec := <-ch:
					t.Fatalf("a buffered post was answered %d before its timeout: %s", rec.Code, rec.Body)
				default:
				}
			}
			for _, ch := range []<-chan *httptest.ResponseRecorder{first, second} {
				select {
				case rec := <-ch:
					problemOf(t, rec, http.StatusServiceUnavailable) // never a 202 without an ack
				case <-time.After(guard):
					t.Fatal("a buffered post was never answered")
				}
			}
		})
	}
}

// recordSize is about the bytes a post with this title takes in the
// producer's buffer: key plus value.
func recordSize(t *testing.T, title string) int {
	t.Helper()
	var in post.Input
	if err := json.Unmarshal([]byte(postJSON(title)), &in); err != nil {
		t.Fatal(err)
	}
	p := post.New(post.NewID(time.Now()), in, time.Now())
	v, err := post.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return len(p.ID) + len(v)
}

// TestMaxInFlight: one request beyond the bound is refused at once with 503,
// probes are still served, and the slot is given back when the request ends.
func TestMaxInFlight(t *testing.T) {
	limits := testLimits
	limits.MaxInFlight = 1
	h, swallowed, _ := kafkaAPIWith(t, limits, 3*time.Second, true)

	first := postAsync(h, "first")
	testkit.Eventually(t, guard, "the first post reached the broker", func() bool { return swallowed.Load() > 0 })

	rec := serveGuarded(t, h, http.MethodPost, "/v1/posts", postJSON("second"))
	p := problemOf(t, rec, http.StatusServiceUnavailable)
	assertRetryAfter(t, rec)
	if p.ID != "" || !strings.Contains(p.Detail, "in flight") {
		t.Errorf("problem = %+v, want the in-flight limit named and no post id (the post was never read)", p)
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if rec := serveGuarded(t, h, http.MethodGet, probe, ""); rec.Code != http.StatusOK {
			t.Errorf("GET %s = %d while at the limit, want 200", probe, rec.Code)
		}
	}

	select {
	case rec := <-first:
		problemOf(t, rec, http.StatusServiceUnavailable)
	case <-time.After(guard):
		t.Fatal("the first post was never answered")
	}
	// The slot is free again: this post is admitted and reaches the
	// publisher, whose 503 names the post.
	p = problemOf(t, serveGuarded(t, h, http.MethodPost, "/v1/posts", postJSON("third")), http.StatusServiceUnavailable)
	if p.ID == "" {
		t.Errorf("problem = %+v: the third post was refused by the in-flight limit after the slot was freed", p)
	}
}
