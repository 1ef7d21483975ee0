package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/testkit"
)

const appliedGroup = "sink"

// appliedHarness is a kfake cluster with a three-partition topic "docs", a
// producer keyed on it, an admin client to commit the group's offsets
// with, and a running watcher polling every 5 ms; fetches counts the
// group's offset fetches, fail makes them fail.
type appliedHarness struct {
	cl      *kgo.Client
	adm     *kadm.Client
	w       *AppliedWatcher
	fetches atomic.Int64
	fail    atomic.Bool
	ran     chan error // Run's result
}

func newAppliedHarness(t *testing.T) *appliedHarness {
	t.Helper()
	h := &appliedHarness{ran: make(chan error, 1)}
	cluster := testkit.Kafka(t, kfake.SeedTopics(3, "docs"))
	cluster.ControlKey(int16(kmsg.OffsetFetch), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		h.fetches.Add(1)
		if !h.fail.Load() {
			return nil, nil, false
		}
		req := kr.(*kmsg.OffsetFetchRequest)
		resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		for _, g := range req.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp, nil, true
	})
	cl, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), ProducerOpts(5*time.Second, 0, "docs")...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	h.cl, h.adm = cl, kadm.NewClient(cl)
	h.w = NewAppliedWatcher(h.adm, appliedGroup, 5*time.Millisecond)
	go func() { h.ran <- h.w.Run(context.Background()) }()
	t.Cleanup(func() {
		if err := h.w.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return h
}

// produce puts a record of key on "docs" and returns its version.
func (h *appliedHarness) produce(t *testing.T, key string) doc.Version {
	t.Helper()
	r := &kgo.Record{Topic: "docs", Key: []byte(key), Value: []byte("{}")}
	if err := h.cl.ProduceSync(t.Context(), r).FirstErr(); err != nil {
		t.Fatalf("produce %s: %v", key, err)
	}
	return doc.Version{Partition: r.Partition, Offset: r.Offset}
}

// commit commits the group's offset at on the partition, as the sink does
// once it has written the records before at.
func (h *appliedHarness) commit(t *testing.T, partition int32, at int64) {
	t.Helper()
	var os kadm.Offsets
	os.Add(kadm.Offset{Topic: "docs", Partition: partition, At: at, LeaderEpoch: -1})
	resp, err := h.adm.CommitOffsets(t.Context(), appliedGroup, os)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit %d@%d: %v", partition, at, err)
	}
}

// wait is WaitApplied within d, in the background.
func (h *appliedHarness) wait(v doc.Version, d time.Duration) <-chan error {
	out := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		out <- h.w.WaitApplied(ctx, "docs", v)
	}()
	return out
}

// TestWaitAppliedReturnsOnceCommittedPast: an op is not applied while the
// group has no commit on its partition, nor with the commit at its own
// offset (the op is then the next to read); WaitApplied returns once the
// commit passes it.
func TestWaitAppliedReturnsOnceCommittedPast(t *testing.T) {
	h := newAppliedHarness(t)
	v := h.produce(t, "a")

	err := <-h.wait(v, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("no commit: WaitApplied = %v, want the context's deadline", err)
	}
	h.commit(t, v.Partition, v.Offset)
	if err := <-h.wait(v, 100*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("committed at the op's own offset: WaitApplied = %v, want the context's deadline", err)
	}

	got := h.wait(v, 10*time.Second)
	select {
	case err := <-got:
		t.Fatalf("WaitApplied returned %v before the commit", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.commit(t, v.Partition, v.Offset+1)
	if err := <-got; err != nil {
		t.Fatalf("after the commit: WaitApplied = %v", err)
	}
	// Seen applied once, it is applied.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.w.WaitApplied(ctx, "docs", v); err != nil {
		t.Fatalf("an op seen applied, again: %v", err)
	}
}

// TestAppliedWatcherManyWaiters: many waiters on all partitions share one
// fetch per interval; a commit on one partition wakes its waiters only,
// and once nobody waits the watcher stops asking the broker.
func TestAppliedWatcherManyWaiters(t *testing.T) {
	h := newAppliedHarness(t)
	const n = 60
	vs := make([]doc.Version, n)
	end := map[int32]int64{}
	for i := range vs {
		vs[i] = h.produce(t, fmt.Sprint("doc-", i))
		end[vs[i].Partition] = max(end[vs[i].Partition], vs[i].Offset+1)
	}
	if len(end) < 2 {
		t.Fatalf("the keys used partitions %v: want at least two", end)
	}
	var first int32 = vs[0].Partition

	var wg sync.WaitGroup
	results := make([]chan error, n)
	var done atomic.Int64
	for i, v := range vs {
		results[i] = make(chan error, 1)
		wg.Go(func() {
			results[i] <- h.w.WaitApplied(t.Context(), "docs", v)
			done.Add(1)
		})
	}
	h.commit(t, first, end[first])
	for i, v := range vs {
		if v.Partition != first {
			continue
		}
		if err := <-results[i]; err != nil {
			t.Fatalf("waiter at %s: %v", v, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i, v := range vs {
		if v.Partition == first {
			continue
		}
		select {
		case err := <-results[i]:
			t.Fatalf("waiter at %s returned %v with no commit on its partition", v, err)
		default:
		}
	}

	polls := h.fetches.Load()
	for p, at := range end {
		h.commit(t, p, at)
	}
	wg.Wait()
	for i, v := range vs {
		if v.Partition == first {
			continue
		}
		if err := <-results[i]; err != nil {
			t.Fatalf("waiter at %s: %v", v, err)
		}
	}
	if polls > 200 {
		t.Errorf("%d offset fetches for %d waiters: want one per interval, not one per waiter", polls, n)
	}
	idle := h.fetches.Load()
	time.Sleep(100 * time.Millisecond)
	if got := h.fetches.Load(); got != idle {
		t.Errorf("%d offset fetches with nobody waiting, want none", got-idle)
	}
}

// TestAppliedWatcherRetriesFailedFetches: a fetch that fails is kept as
// LastError, named when a waiter's context ends, and retried.
func TestAppliedWatcherRetriesFailedFetches(t *testing.T) {
	h := newAppliedHarness(t)
	v := h.produce(t, "a")
	h.commit(t, v.Partition, v.Offset+1)
	h.fail.Store(true)
	err := <-h.wait(v, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) || h.w.LastError() == nil {
		t.Fatalf("fetches failing: WaitApplied = %v, LastError = %v; want the deadline and the fetch's error", err, h.w.LastError())
	}
	got := h.wait(v, 10*time.Second)
	h.fail.Store(false)
	if err := <-got; err != nil {
		t.Fatalf("fetches recovered: WaitApplied = %v", err)
	}
	if err := h.w.LastError(); err != nil {
		t.Fatalf("LastError after a good fetch = %v", err)
	}
}

// TestAppliedWatcherShutdown: Shutdown fails the pending waiters, waits
// for Run, can be called again, and later waits fail at once.
func TestAppliedWatcherShutdown(t *testing.T) {
	h := newAppliedHarness(t)
	v := h.produce(t, "a")
	pending := h.wait(v, 10*time.Second)
	testkit.Eventually(t, 5*time.Second, "the waiter to be registered", h.w.hasWaiters)
	// Run's goroutine may not have begun yet; Shutdown waits only for a
	// Run that has.
	testkit.Eventually(t, 5*time.Second, "Run to begin", func() bool {
		h.w.mu.Lock()
		defer h.w.mu.Unlock()
		return h.w.running
	})

	if err := h.w.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown's promise is that Run has ended (w.ran closed); Run's value
	// reaches h.ran a moment later, from the harness's goroutine.
	select {
	case <-h.w.ran:
	default:
		t.Fatal("Shutdown returned before Run")
	}
	select {
	case err := <-h.ran:
		if err != nil {
			t.Fatalf("Run = %v after Shutdown, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run's goroutine did not return after Shutdown")
	}
	if err := <-pending; !errors.Is(err, ErrWatcherStopped) {
		t.Fatalf("pending waiter at shutdown: %v, want ErrWatcherStopped", err)
	}
	if err := h.w.Shutdown(t.Context()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := h.w.WaitApplied(t.Context(), "docs", v); !errors.Is(err, ErrWatcherStopped) {
		t.Fatalf("WaitApplied after Shutdown = %v, want ErrWatcherStopped", err)
	}
	if err := h.w.Run(t.Context()); err != nil {
		t.Fatalf("Run after Shutdown = %v, want nil at once", err)
	}
}

// TestAppliedWatcherShutdownWithoutRun: a watcher never run shuts down at
// once, failing its waiters; Shutdowns racing each other all return.
func TestAppliedWatcherShutdownWithoutRun(t *testing.T) {
	w := NewAppliedWatcher(nil, appliedGroup, 0)
	got := make(chan error, 1)
	go func() { got <- w.WaitApplied(t.Context(), "docs", doc.Version{Partition: 0, Offset: 0}) }()
	testkit.Eventually(t, 5*time.Second, "the waiter to be registered", w.hasWaiters)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := w.Shutdown(t.Context()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
	wg.Wait()
	if err := <-got; !errors.Is(err, ErrWatcherStopped) {
		t.Fatalf("waiter: %v, want ErrWatcherStopped", err)
	}
}

// TestAppliedWatcherRunEndsWithItsContext: when Run's context ends, Run
// returns nil and the waiters hear that the watcher stopped.
func TestAppliedWatcherRunEndsWithItsContext(t *testing.T) {
	w := NewAppliedWatcher(nil, appliedGroup, time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	got := make(chan error, 1)
	go func() { got <- w.WaitApplied(t.Context(), "docs", doc.Version{}) }()
	testkit.Eventually(t, 5*time.Second, "the waiter to be registered", w.hasWaiters)
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if err := <-got; !errors.Is(err, ErrWatcherStopped) {
		t.Fatalf("waiter: %v, want ErrWatcherStopped", err)
	}
	if err := w.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown after Run ended: %v", err)
	}
}
