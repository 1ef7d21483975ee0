package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shared is a shooter whose goroutines all fire the same shot.
func shared(fire shot) shooter {
	return func() (shot, func()) { return fire, func() {} }
}

// TestRunClosedKeepsTheUsersTheStagesSay: a step to 3 users holds exactly 3
// requests in flight, never more, and every user leaves at the end with its
// request finished rather than cancelled.
func TestRunClosedKeepsTheUsersTheStagesSay(t *testing.T) {
	const users = 3
	var (
		mu        sync.Mutex
		inFlight  int
		most      int
		cancelled int
		all       = make(chan struct{}) // closed once all users are in flight together
		allOnce   sync.Once
		shots     atomic.Int64
	)
	fire := func(ctx context.Context, _ time.Time) {
		shots.Add(1)
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		if inFlight == users {
			allOnce.Do(func() { close(all) })
		}
		mu.Unlock()
		// Hold the request until every user has one going (or briefly,
		// once they have), so the test sees them together.
		select {
		case <-all:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			mu.Lock()
			cancelled++
			mu.Unlock()
		}
		time.Sleep(time.Millisecond) // no busy loop once the gate is open
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	var running atomic.Int64
	runClosed(t.Context(), []Stage{{0, users}, {300 * time.Millisecond, users}}, time.Now(), shared(fire), &running)

	select {
	case <-all:
	default:
		t.Fatalf("never had %d requests in flight together (at most %d)", users, most)
	}
	if most != users {
		t.Errorf("at most %d requests in flight, want %d", most, users)
	}
	if inFlight != 0 || running.Load() != 0 {
		t.Errorf("after the run: %d in flight, %d users running; want none", inFlight, running.Load())
	}
	if cancelled != 0 {
		t.Errorf("%d requests saw their context cancelled; users leaving should finish theirs", cancelled)
	}
	if shots.Load() < users {
		t.Errorf("%d requests sent, want at least %d", shots.Load(), users)
	}
}

func TestRunClosedStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var started atomic.Int64
	fire := func(ctx context.Context, _ time.Time) {
		if started.Add(1) == 1 {
			cancel()
		}
		<-ctx.Done() // a request that only ends when the run is stopped
	}
	var running atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		runClosed(ctx, []Stage{{0, 4}, {time.Hour, 4}}, time.Now(), shared(fire), &running)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("runClosed did not return after its context ended")
	}
	if running.Load() != 0 {
		t.Errorf("%d users still counted as running", running.Load())
	}
}

// TestRunOpenSendsOnScheduleAndQueuesBehindAStall: with one sender and the
// first request stalled, the next ones wait in line — and get their due
// time, not the time they were sent, so the wait counts in their latency.
func TestRunOpenSendsOnScheduleAndQueuesBehindAStall(t *testing.T) {
	stages := []Stage{{0, 50}, {400 * time.Millisecond, 50}} // one every 20 ms, 20 in all
	start := time.Now()
	type call struct{ due, sent, done time.Time }
	var (
		mu    sync.Mutex
		calls []call
	)
	fire := func(_ context.Context, due time.Time) {
		c := call{due: due, sent: time.Now()}
		mu.Lock()
		first := len(calls) == 0
		mu.Unlock()
		if first {
			time.Sleep(150 * time.Millisecond) // a stalled answer
		}
		c.done = time.Now()
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
	}
	var busy atomic.Int64
	unsent := runOpen(t.Context(), stages, start, 1, shared(fire), &busy)

	if got := int64(len(calls)) + unsent; got != 20 {
		t.Fatalf("%d sent + %d unsent = %d, want the 20 the schedule holds", len(calls), unsent, got)
	}
	if len(calls) < 2 {
		t.Fatalf("only %d requests sent", len(calls))
	}
	for i, c := range calls {
		if want := start.Add(time.Duration(i) * 20 * time.Millisecond); !c.due.Equal(want) {
			t.Errorf("request %d got due time +%s, want +%s: due times must come from the schedule", i, c.due.Sub(start), want.Sub(start))
		}
	}
	// The second request was due 20 ms in, but could only go once the
	// first came back, at least 150 ms in.
	if second := calls[1]; !second.due.Before(calls[0].done) || second.sent.Before(calls[0].done) {
		t.Errorf("the second request (due +%s, sent +%s) did not wait behind the first (done +%s)",
			second.due.Sub(start), second.sent.Sub(start), calls[0].done.Sub(start))
	}
	if busy.Load() != 0 {
		t.Errorf("%d requests still counted in flight", busy.Load())
	}
}

// TestRunOpenStartsTheSendersItNeeds: each request in flight holds a
// connection, and the server bounds a client's connections, so a light
// load must not hold --max-vus of them: answered at once, one request every
// 20 ms needs one connection at a time (a few on a busy machine), not fifty.
func TestRunOpenStartsTheSendersItNeeds(t *testing.T) {
	const maxVUs = 50
	var held, most, shots atomic.Int64
	shoot := func() (shot, func()) {
		n := held.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		return func(context.Context, time.Time) { shots.Add(1) }, func() { held.Add(-1) }
	}
	var busy atomic.Int64
	unsent := runOpen(t.Context(), []Stage{{0, 50}, {400 * time.Millisecond, 50}}, time.Now(), maxVUs, shoot, &busy)
	if shots.Load()+unsent != 20 {
		t.Fatalf("%d sent + %d unsent, want the 20 the schedule holds", shots.Load(), unsent)
	}
	if n := most.Load(); n > 10 {
		t.Errorf("%d connections held at once for %d requests answered at once, want a few", n, shots.Load())
	}
	if held.Load() != 0 {
		t.Errorf("%d connections not given back", held.Load())
	}
}

// TestOpenModelLatencyCountsFromTheDueTime runs the open model through
// the real sender against a server whose first answer stalls. Measured
// from the send, only that one request would be slow; measured from the due
// time, the requests queued behind it are slow too. Only lower bounds are
// checked: a slow machine makes them more true, not less.
func TestOpenModelLatencyCountsFromTheDueTime(t *testing.T) {
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"x","status":"accepted"}`))
	}))
	t.Cleanup(srv.Close)

	start := time.Now()
	rec := newRecorder(start)
	conns := testConns(t, srv.URL, 10*time.Second)
	s := &sender{sc: scenarios[0], conns: conns, path: "/v1/bench/noop", posts: newPosts(newWords(100), "run", "noop", 100), rec: rec}
	var busy atomic.Int64
	unsent := runOpen(t.Context(), []Stage{{0, 20}, {time.Second, 20}}, start, 1, s.shoot, &busy) // one every 50 ms

	res := rec.result("noop", time.Since(start))
	if res.Requests+unsent != 20 {
		t.Fatalf("%d requests + %d unsent, want 20", res.Requests, unsent)
	}
	slow := 0
	rec.mu.Lock()
	for _, b := range rec.all.h.Distribution() {
		if b.From >= (200 * time.Millisecond).Microseconds() {
			slow += int(b.Count)
		}
	}
	rec.mu.Unlock()
	// Due at 0 and 50 ms, both answered after 300 ms at the earliest.
	if slow < 2 {
		t.Errorf("%d requests took 200 ms or more from their due time, want at least 2 (the stalled one and the one queued behind it); p99 %.1f ms, max %.1f ms",
			slow, res.P99, res.Max)
	}
}
