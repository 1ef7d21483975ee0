package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// stuckStore is a store whose reads never finish on their own: each waits
// until its context ends, as a query on an overloaded store would. Writes
// succeed at once.
type stuckStore struct {
	mu      sync.Mutex
	reads   []context.Context // every read's context, in order
	running int
}

func (s *stuckStore) Insert(_ context.Context, p post.Post) (post.Post, error) { return p, nil }

func (s *stuckStore) Get(ctx context.Context, id string) (post.Post, error) {
	return post.Post{}, s.block(ctx, "get post "+id)
}

func (s *stuckStore) List(ctx context.Context, _ post.Query, _ func(post.Post) bool) error {
	return s.block(ctx, "list posts")
}

func (s *stuckStore) block(ctx context.Context, what string) error {
	s.mu.Lock()
	s.reads = append(s.reads, ctx)
	s.running++
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
	return fmt.Errorf("%s: %w", what, ctx.Err())
}

func (s *stuckStore) stats() (reads, running int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reads), s.running
}

func newStuckAPI(limits api.Limits) (http.Handler, *stuckStore) {
	st := &stuckStore{}
	return api.New(limits, &fakePublisher{}, st, nil, slog.New(slog.DiscardHandler)), st
}

// serveAsync serves req in a goroutine; the answer comes on the channel.
func serveAsync(h http.Handler, req *http.Request) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- serve(h, req) }()
	return done
}

// answered waits up to guard for an answer: a read the store never ends
// must still be answered.
func answered(t *testing.T, what string, done <-chan *httptest.ResponseRecorder) *httptest.ResponseRecorder {
	t.Helper()
	select {
	case rec := <-done:
		return rec
	case <-time.After(guard):
		t.Fatalf("%s: no answer within %s", what, guard)
		return nil
	}
}

// TestReadGivesUpAtReadTimeout: a read the store does not finish is ended
// at ReadTimeout (a deadline on its context, which the driver sends as
// maxTimeMS) and answered 503 with Retry-After, not left to run.
func TestReadGivesUpAtReadTimeout(t *testing.T) {
	for _, target := range []string{"/v1/posts?author=ada", "/v1/posts/" + post.KeyedID("x")} {
		t.Run(target, func(t *testing.T) {
			limits := testLimits
			limits.ReadTimeout = 50 * time.Millisecond
			h, st := newStuckAPI(limits)
			began := time.Now()
			rec := answered(t, "GET "+target, serveAsync(h, httptest.NewRequest(http.MethodGet, target, nil)))
			ended := time.Now()
			p := problemOf(t, rec, http.StatusServiceUnavailable)
			assertRetryAfter(t, rec)
			if !strings.Contains(p.Detail, "mongodb") {
				t.Errorf("detail %q does not name the store", p.Detail)
			}
			st.mu.Lock()
			defer st.mu.Unlock()
			if len(st.reads) != 1 {
				t.Fatalf("%d store reads, want 1", len(st.reads))
			}
			// The deadline is ReadTimeout after the read began, which lies
			// between the request and its answer.
			if d, ok := st.reads[0].Deadline(); !ok || d.Before(began.Add(limits.ReadTimeout)) || d.After(ended.Add(limits.ReadTimeout)) {
				t.Errorf("the read's deadline is %v after the request (set: %v), want %s after the read began", d.Sub(began), ok, limits.ReadTimeout)
			}
		})
	}
}

// TestReadGivesUpWhenClientLeaves: the store read ends when the client's
// request context does, and gives its place among MaxReadsInFlight back:
// the next read reaches the store. (The driver closes the connection of a
// cancelled operation, and the store drops the query with it.)
func TestReadGivesUpWhenClientLeaves(t *testing.T) {
	limits := testLimits
	limits.MaxReadsInFlight = 1
	limits.ReadTimeout = time.Hour
	h, st := newStuckAPI(limits)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := serveAsync(h, httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/posts", nil))
		testkit.Eventually(t, guard, "the read reached the store", func() bool { _, running := st.stats(); return running == 1 })
		cancel()
		answered(t, "GET /v1/posts after its client left", done)
		if reads, running := st.stats(); reads != i+1 || running != 0 {
			t.Fatalf("after %d clients left: %d store reads, %d still running; want %d, none", i+1, reads, running, i+1)
		}
	}
}

// TestReadLimit: with MaxReadsInFlight reads running, one more is refused
// (after a short wait for a turn) with 503 and Retry-After, while a POST is
// still served: reads cannot take the capacity of the writes.
func TestReadLimit(t *testing.T) {
	limits := testLimits
	limits.MaxInFlight = 10
	limits.MaxReadsInFlight = 2
	limits.ReadTimeout = time.Hour
	h, st := newStuckAPI(limits)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var running []<-chan *httptest.ResponseRecorder
	for _, target := range []string{"/v1/posts", "/v1/posts/" + post.KeyedID("x")} {
		running = append(running, serveAsync(h, httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)))
	}
	testkit.Eventually(t, guard, "two reads reached the store", func() bool { _, n := st.stats(); return n == 2 })

	for _, target := range []string{"/v1/posts?author=ada", "/v1/posts/" + post.KeyedID("y")} {
		rec := answered(t, "a read beyond the bound", serveAsync(h, httptest.NewRequest(http.MethodGet, target, nil)))
		p := problemOf(t, rec, http.StatusServiceUnavailable)
		assertRetryAfter(t, rec)
		if !strings.Contains(p.Detail, "reads in flight") {
			t.Errorf("GET %s: detail %q does not name the read bound", target, p.Detail)
		}
	}
	if reads, _ := st.stats(); reads != 2 {
		t.Errorf("%d store reads, want 2: the refused ones must not reach the store", reads)
	}
	rec := answered(t, "a POST while reads are at their bound", serveAsync(h, httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(postJSON("during")))))
	if rec.Code != http.StatusAccepted {
		t.Errorf("POST while reads are at their bound = %d (%s), want 202", rec.Code, rec.Body)
	}
	cancel()
	for _, done := range running {
		answered(t, "a read whose client left", done)
	}
}

// TestHeadListSkipsTheStore: ServeMux serves HEAD with the GET handler;
// HEAD /v1/posts checks the query and answers the headers without asking
// the store. HEAD /v1/posts/{id} does look the post up (one index read by
// _id), since only that tells 200 from 404.
func TestHeadListSkipsTheStore(t *testing.T) {
	a := newTestAPI(t)
	stored := seed(t, a.store, 3)[0]

	rec := do(t, a.h, http.MethodHead, "/v1/posts?author=alice&limit=5", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Body.Len() != 0 {
		t.Errorf("HEAD /v1/posts = %d, Content-Type %q, %d body bytes; want 200, application/json, none", rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
	}
	if rec := do(t, a.h, http.MethodHead, "/v1/posts?limit=0", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("HEAD /v1/posts?limit=0 = %d, want 400: the query is still checked", rec.Code)
	}
	if rec := do(t, a.h, http.MethodHead, "/v1/posts?cursor=nonsense", ""); rec.Code != http.StatusBadRequest {
		t.Errorf("HEAD /v1/posts?cursor=nonsense = %d, want 400", rec.Code)
	}
	a.store.mu.Lock()
	lists := len(a.store.queries)
	a.store.mu.Unlock()
	if lists != 0 {
		t.Errorf("HEAD /v1/posts ran %d store queries, want none", lists)
	}

	if rec := do(t, a.h, http.MethodHead, "/v1/posts/"+stored.ID, ""); rec.Code != http.StatusOK {
		t.Errorf("HEAD of a stored post = %d, want 200", rec.Code)
	}
	if rec := do(t, a.h, http.MethodHead, "/v1/posts/"+post.KeyedID("never"), ""); rec.Code != http.StatusNotFound {
		t.Errorf("HEAD of an unknown post = %d, want 404", rec.Code)
	}
}
