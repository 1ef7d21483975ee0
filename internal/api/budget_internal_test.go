package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// budgetObs records what a budget reports.
type budgetObs struct {
	mu      sync.Mutex
	held    []int64
	refused []string
}

func (o *budgetObs) BodyBytesHeld(n int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held = append(o.held, n)
}

func (o *budgetObs) BodyRefused(reason string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.refused = append(o.refused, reason)
}

func (o *budgetObs) refusals() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.refused...)
}

func refusalOf(err error) string {
	var be *bodyBudgetError
	if errors.As(err, &be) {
		return be.reason
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// Each step takes (or gives) bytes of a budget of 100 with a share of 40
// and no wait; want is the refusal ("" for none) and then what the budget
// and client a hold.
func TestBodyBudgetTakeAndGive(t *testing.T) {
	type step struct {
		give         bool
		client       string
		n, shared    int64
		want         string
		all, clientA int64
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"take and give back", []step{
			{client: "a", n: 30, shared: 20, all: 30, clientA: 20},
			{give: true, client: "a", n: 30, shared: 20, all: 0, clientA: 0},
		}},
		{"unshared bytes only count against the budget", []step{
			{client: "a", n: 90, shared: 0, all: 90, clientA: 0},
			{client: "a", n: 10, shared: 0, all: 100, clientA: 0},
			{client: "a", n: 1, shared: 0, want: RefusedBudgetFull, all: 100, clientA: 0},
		}},
		{"the share bounds one client", []step{
			{client: "a", n: 40, shared: 40, all: 40, clientA: 40},
			{client: "a", n: 1, shared: 1, want: RefusedClientShare, all: 40, clientA: 40},
			{client: "b", n: 40, shared: 40, all: 80, clientA: 40},
			{give: true, client: "a", n: 40, shared: 40, all: 40, clientA: 0},
			{client: "a", n: 10, shared: 10, all: 50, clientA: 10},
		}},
		{"the budget bounds all clients", []step{
			{client: "a", n: 40, shared: 40, all: 40, clientA: 40},
			{client: "b", n: 40, shared: 40, all: 80, clientA: 40},
			{client: "c", n: 30, shared: 30, want: RefusedBudgetFull, all: 80, clientA: 40},
			{client: "c", n: 20, shared: 20, all: 100, clientA: 40},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &budgetObs{}
			b := newBodyBudget(100, 40, time.Millisecond)
			b.obs = obs
			for i, s := range tc.steps {
				var err error
				if s.give {
					b.give(s.client, s.n, s.shared)
				} else {
					err = b.take(context.Background(), s.client, s.n, s.shared)
				}
				if got := refusalOf(err); got != s.want {
					t.Fatalf("step %d: refusal %q, want %q", i, got, s.want)
				}
				if all, mine := b.heldBy("a"); all != s.all || mine != s.clientA {
					t.Fatalf("step %d: held %d, by a %d; want %d and %d", i, all, mine, s.all, s.clientA)
				}
				if s.want != "" {
					if r := obs.refusals(); len(r) == 0 || r[len(r)-1] != s.want {
						t.Fatalf("step %d: observer heard refusals %v, want %s last", i, r, s.want)
					}
				}
			}
			if all, _ := b.heldBy(""); len(obs.held) == 0 || obs.held[len(obs.held)-1] != all {
				t.Fatalf("observer heard %v, budget holds %d", obs.held, all)
			}
		})
	}
}

// A body that does not fit waits, and takes its bytes when another body
// gives its own back; one that stays out of room is refused after the wait.
func TestBodyBudgetWaits(t *testing.T) {
	t.Run("room comes", func(t *testing.T) {
		b := newBodyBudget(100, 100, 10*time.Second)
		if err := b.take(context.Background(), "a", 80, 80); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- b.take(context.Background(), "b", 50, 50) }()
		time.Sleep(50 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("took 50 bytes while 80 of 100 were held: %v", err)
		default:
		}
		b.give("a", 80, 80)
		if err := <-done; err != nil {
			t.Fatalf("after the give: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("the waiter took %s: it was not woken by the give", d)
		}
		if all, _ := b.heldBy("b"); all != 50 {
			t.Fatalf("held %d, want 50", all)
		}
	})
	t.Run("room does not come", func(t *testing.T) {
		obs := &budgetObs{}
		b := newBodyBudget(100, 30, 100*time.Millisecond)
		b.obs = obs
		if err := b.take(context.Background(), "a", 30, 30); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		// A give that frees too little wakes the waiter, which waits on.
		go func() {
			time.Sleep(20 * time.Millisecond)
			b.give("x", 0, 0)
		}()
		err := b.take(context.Background(), "a", 10, 10)
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("refused after %s, before the wait of 100ms", d)
		}
		if refusalOf(err) != RefusedClientShare {
			t.Fatalf("got %v, want a refusal for the client's share", err)
		}
		if r := obs.refusals(); len(r) != 1 || r[0] != RefusedClientShare {
			t.Fatalf("observer heard %v", r)
		}
		if all, mine := b.heldBy("a"); all != 30 || mine != 30 {
			t.Fatalf("a refusal changed what is held: %d, %d", all, mine)
		}
	})
}

// A body without a declared length reserves as its buffer grows, and is
// refused, part read, when the budget cannot hold more.
func TestReadAllChunkedGrowsItsReservation(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 200<<10)
	obs := &budgetObs{}
	b := newBodyBudget(1<<20, 1<<20, time.Millisecond)
	b.obs = obs
	req := httptest.NewRequest(http.MethodPost, "/v1/posts:batch", nil)
	res := &reservation{b: b, req: req, max: 1 << 20}
	got, err := readAll(iotest.HalfReader(bytes.NewReader(body)), -1, 1<<20+1, res)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if res.n < int64(len(body)) || res.n > 2*int64(len(body)) {
		t.Fatalf("reserved %d bytes for a body of %d", res.n, len(body))
	}
	if len(obs.held) < 5 || obs.held[0] > 1024 {
		t.Fatalf("reservations %v: want many steps, from a small first one", obs.held)
	}
	res.release()
	if all, _ := b.heldBy(""); all != 0 {
		t.Fatalf("%d bytes held after release", all)
	}

	small := newBodyBudget(64<<10, 64<<10, time.Millisecond)
	res = &reservation{b: small, req: req, max: 1 << 20}
	got, err = readAll(bytes.NewReader(body), -1, 1<<20+1, res)
	if refusalOf(err) != RefusedBudgetFull || len(got) > 64<<10 {
		t.Fatalf("a body of 200 KiB in a budget of 64 KiB: read %d bytes, %v", len(got), err)
	}
	res.release()
	if all, _ := small.heldBy(""); all != 0 {
		t.Fatalf("%d bytes held after release", all)
	}
}

// A client that declares 16 MiB and sends nothing costs a small buffer,
// not 16 MiB.
func TestReadAllDoesNotTrustTheDeclaredLength(t *testing.T) {
	const declared = 16 << 20
	got, err := readAll(iotest.ErrReader(os.ErrDeadlineExceeded), declared, declared+1, nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) || cap(got) > firstReadBytes {
		t.Fatalf("got a buffer of cap %d (%v), want at most %d", cap(got), err, firstReadBytes)
	}
	body := bytes.Repeat([]byte("y"), 100<<10)
	got, err = readAll(bytes.NewReader(body), declared, declared+1, nil)
	if err != nil || !bytes.Equal(got, body) || cap(got) > 2*len(body) {
		t.Fatalf("100 KiB declared as 16 MiB: %d bytes in a buffer of %d, %v", len(got), cap(got), err)
	}
}

// panicPublisher panics while the body is still referenced.
type panicPublisher struct{}

func (panicPublisher) Publish(context.Context, []post.Post) []error { panic("publisher broke") }

// stalled is a body that fails as a read past the deadline does.
type stalled struct{ io.Reader }

func (s stalled) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	if err == io.EOF {
		return n, os.ErrDeadlineExceeded
	}
	return n, err
}

// countingBody counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// Whatever the answer, and when the handler panics, every reserved byte
// is given back.
func TestBodyBudgetReleasedOnEveryPath(t *testing.T) {
	limits := Limits{MaxBodyBytes: 2048, MaxBatchBodyBytes: 64 << 10, MaxBatchPosts: 2000,
		BodyBudgetBytes: 1 << 20, BodyBudgetPerClient: 256 << 10, BodyBudgetWait: time.Millisecond}
	good := `{"author":"ada","title":"t","content":"c"}`
	big := "[" + strings.Repeat(good+",", 1000) + good + "]" // about 43 KiB: beyond unsharedBytes
	for _, tc := range []struct {
		name   string
		path   string
		body   io.Reader
		length int64 // -1: chunked
		pub    Publisher
		status int
	}{
		{"accepted", "/v1/posts", strings.NewReader(good), int64(len(good)), nil, http.StatusAccepted},
		{"batch accepted", "/v1/posts:batch", strings.NewReader(big), int64(len(big)), nil, http.StatusMultiStatus},
		{"declared over the limit", "/v1/posts", strings.NewReader(good), 4096, nil, http.StatusRequestEntityTooLarge},
		{"chunked over the limit", "/v1/posts", strings.NewReader(strings.Repeat("x", 5000)), -1, nil, http.StatusRequestEntityTooLarge},
		{"body too slow", "/v1/posts:batch", stalled{strings.NewReader(big[:40000])}, int64(len(big)), nil, http.StatusRequestTimeout},
		{"malformed", "/v1/posts:batch", strings.NewReader(big[:len(big)-1]), int64(len(big) - 1), nil, http.StatusBadRequest},
		{"invalid", "/v1/posts", strings.NewReader(`{"author":""}`), 13, nil, http.StatusUnprocessableEntity},
		{"handler panics", "/v1/posts:batch", strings.NewReader(big), int64(len(big)), panicPublisher{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pub := tc.pub
			if pub == nil {
				pub = nopPub{}
			}
			a := New(limits, pub, nil, nil, slog.New(slog.DiscardHandler))
			req := httptest.NewRequest(http.MethodPost, tc.path, tc.body)
			req.ContentLength = tc.length
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			func() {
				defer func() { _ = recover() }()
				a.ServeHTTP(rec, req)
			}()
			if tc.status != 0 && rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tc.status, rec.Body)
			}
			if all, mine := a.budget.heldBy(clientOf(req)); all != 0 || mine != 0 {
				t.Fatalf("after the answer the budget holds %d bytes, %d for the client", all, mine)
			}
		})
	}
}

type nopPub struct{}

func (nopPub) Publish(_ context.Context, posts []post.Post) []error { return make([]error, len(posts)) }

// A body the budget cannot hold is answered 503 with Retry-After before a
// byte of it is read.
func TestBodyOverBudgetIs503Unread(t *testing.T) {
	limits := Limits{MaxBodyBytes: 2048, MaxBatchBodyBytes: 40 << 10, MaxBatchPosts: 100,
		BodyBudgetBytes: 100 << 10, BodyBudgetPerClient: 40 << 10, BodyBudgetWait: 20 * time.Millisecond}
	for _, tc := range []struct {
		name         string
		otherClient  bool
		reason, want string
	}{
		{"the client's share is held", false, RefusedClientShare, "this client's share"},
		{"the budget is held", true, RefusedBudgetFull, "the request body budget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := &budgetObs{}
			a := New(limits, nopPub{}, nil, nil, slog.New(slog.DiscardHandler))
			a.ObserveBodies(obs)
			// Another request of 10.0.0.1 holds 70 KiB (its share beyond
			// unsharedBytes is 38 KiB of 40).
			holder := httptest.NewRequest(http.MethodPost, "/v1/posts:batch", nil)
			holder.RemoteAddr = "10.0.0.1:1000"
			held := reservation{b: a.budget, req: holder, max: 70 << 10}
			if err := held.grow(70 << 10); err != nil {
				t.Fatal(err)
			}
			body := &countingBody{r: strings.NewReader(strings.Repeat(" ", 40<<10))}
			req := httptest.NewRequest(http.MethodPost, "/v1/posts:batch", body)
			req.ContentLength = 40 << 10 // 8 KiB shared: over 10.0.0.1's share, not over 10.0.0.2's; 110 KiB in all
			req.RemoteAddr = "10.0.0.1:2000"
			if tc.otherClient {
				req.RemoteAddr = "10.0.0.2:2000"
			}
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, req)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), tc.want) {
				t.Fatalf("status %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			if body.read != 0 {
				t.Fatalf("%d bytes of the refused body were read", body.read)
			}
			if r := obs.refusals(); len(r) != 1 || r[0] != tc.reason {
				t.Fatalf("observer heard %v, want [%s]", r, tc.reason)
			}
			held.release()
			if all, _ := a.budget.heldBy(""); all != 0 {
				t.Fatalf("%d bytes held at the end", all)
			}
		})
	}
}
