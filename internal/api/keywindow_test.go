package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/config"
)

// TestKeyWindowFloodThroughTheAPI: client A sends 80,000 keyed posts in
// batches, more than the idempotency window holds; client B's key, sent
// before, reused with another body is still answered 409. Before, A's
// posts pushed B's key out of the window: the reuse got a 202 and its post
// would have landed in the dead-letter topic.
func TestKeyWindowFloodThroughTheAPI(t *testing.T) {
	a := newTestAPI(t)
	post := func(path, body, key, from string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		req.RemoteAddr = from
		return serve(a.h, req)
	}
	const b, flooder = "[2001:db8:b::1]:4000", "[2001:db8:a::1]:5000"
	if rec := post("/v1/posts", postJSON("B's post"), "b-order-1", b); rec.Code != http.StatusAccepted {
		t.Fatalf("B's first post: %d %s", rec.Code, rec.Body)
	}
	batch := "[" + strings.Repeat(postJSON("A")+",", config.MaxBatchPosts-1) + postJSON("A") + "]"
	for n := 0; n < 80000; n += config.MaxBatchPosts {
		if rec := post("/v1/posts:batch", batch, fmt.Sprint("a-", n), flooder); rec.Code != http.StatusMultiStatus {
			t.Fatalf("A's batch %d: %d %s", n, rec.Code, rec.Body)
		}
	}
	if got := len(a.pub.published()); got != 80001 {
		t.Fatalf("%d posts published, want 80,001", got)
	}
	rec := post("/v1/posts", postJSON("B's other post"), "b-order-1", b)
	if rec.Code != http.StatusConflict {
		t.Fatalf("B's key reused with another body after A's flood: %d, want 409: %s", rec.Code, rec.Body)
	}
	// The same body is still a retry.
	if rec := post("/v1/posts", postJSON("B's post"), "b-order-1", b); rec.Code != http.StatusAccepted {
		t.Fatalf("B's retry: %d %s", rec.Code, rec.Body)
	}
}
