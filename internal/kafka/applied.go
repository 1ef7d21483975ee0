package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/postpipe/postpipe/internal/doc"
)

// ErrWatcherStopped is what WaitApplied returns once the AppliedWatcher is
// shut down (or its Run has ended): nobody polls any more, so whether the
// op is applied cannot be told. The op itself is unaffected.
var ErrWatcherStopped = errors.New("the applied watcher is stopped")

// DefaultAppliedEvery is how often an AppliedWatcher polls while someone
// waits, when NewAppliedWatcher is given 0.
const DefaultAppliedEvery = 20 * time.Millisecond

// appliedFetchTimeout bounds one poll's FetchOffsets, so that a broker that
// does not answer delays the next poll, not every later one.
const appliedFetchTimeout = 5 * time.Second

// AppliedWatcher tells when the sink group has applied an op: the op at
// doc.Version v on a topic is applied once the group's committed offset on
// (topic, v.Partition) is greater than v.Offset. That holds because the
// sink commits an offset only after it has written every record before
// it; a committed offset is the next record to read, so the op at v.Offset
// is behind it. A partition the group has no commit on (a group that never
// ran, or has not yet reached that partition) means not yet applied.
// "Applied" includes an op the sink dead-lettered or took as a replay: it
// means handled, and what the store holds is then final for that op.
//
// One watcher serves every waiter of a process with one poller: while any
// WaitApplied is waiting, Run fetches the group's committed offsets once
// per interval (one kadm FetchOffsets for the group, all topics) and wakes
// every waiter whose partition's committed offset has passed its op; while
// nobody waits it sleeps on a channel and asks the broker nothing. A failed
// fetch is kept (LastError, and in the error of a WaitApplied whose context
// ends) and retried at the next interval: worth logging, not fatal.
type AppliedWatcher struct {
	adm   *kadm.Client
	group string
	every time.Duration

	// wake has room for one signal: WaitApplied leaves it there when it
	// adds a waiter, so an idle Run starts polling.
	wake chan struct{}
	// ran is closed when Run returns; Shutdown waits on it.
	ran chan struct{}

	mu      sync.Mutex
	waiters map[*appliedWaiter]struct{}
	// last is the last successful fetch: an op it shows applied needs no
	// wait (committed offsets only move forward while the sink runs).
	last    kadm.OffsetResponses
	lastErr error
	running bool                    // Run has begun
	stopped bool                    // Shutdown has begun, or Run has ended
	cancel  context.CancelCauseFunc // ends Run's context; set while it runs
}

type appliedWaiter struct {
	topic string
	v     doc.Version
	// done hears nil once the op is applied, or ErrWatcherStopped;
	// buffered, and sent to once, by whoever takes the waiter out of the
	// set (the poller, or shutdown).
	done chan error
}

// NewAppliedWatcher watches the committed offsets of group through adm,
// polling every interval while someone waits (DefaultAppliedEvery when
// every is 0). Start it with Run.
func NewAppliedWatcher(adm *kadm.Client, group string, every time.Duration) *AppliedWatcher {
	if every <= 0 {
		every = DefaultAppliedEvery
	}
	return &AppliedWatcher{
		adm: adm, group: group, every: every,
		wake:    make(chan struct{}, 1),
		ran:     make(chan struct{}),
		waiters: map[*appliedWaiter]struct{}{},
	}
}

// WaitApplied returns nil once the op at v on topic is applied (see
// AppliedWatcher), an error wrapping ctx's error when ctx ends first, or
// one wrapping ErrWatcherStopped when the watcher stops first. Run must be
// running, or be started, for it to return before ctx ends.
func (w *AppliedWatcher) WaitApplied(ctx context.Context, topic string, v doc.Version) error {
	wt := &appliedWaiter{topic: topic, v: v, done: make(chan error, 1)}
	w.mu.Lock()
	switch {
	case w.stopped:
		w.mu.Unlock()
		return fmt.Errorf("wait for the op at %s on %s to be applied: %w", v, topic, ErrWatcherStopped)
	case applied(w.last, topic, v):
		w.mu.Unlock()
		return nil
	}
	w.waiters[wt] = struct{}{}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a signal is pending already
	}

	select {
	case err := <-wt.done:
		if err != nil {
			return fmt.Errorf("wait for the op at %s on %s to be applied: %w", v, topic, err)
		}
		return nil
	case <-ctx.Done():
	}
	w.mu.Lock()
	_, pending := w.waiters[wt]
	delete(w.waiters, wt)
	lastErr := w.lastErr
	w.mu.Unlock()
	if !pending {
		// Settled while ctx ended: that answer stands.
		if err := <-wt.done; err != nil {
			return fmt.Errorf("wait for the op at %s on %s to be applied: %w", v, topic, err)
		}
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("wait for the op at %s on %s to be applied: %w (last fetch of group %s's offsets: %v)", v, topic, ctx.Err(), w.group, lastErr)
	}
	return fmt.Errorf("wait for the op at %s on %s to be applied: %w", v, topic, ctx.Err())
}

// applied reports whether the committed offsets in offs show the op at v on
// topic applied.
func applied(offs kadm.OffsetResponses, topic string, v doc.Version) bool {
	o, ok := offs.Lookup(topic, v.Partition)
	return ok && o.Err == nil && o.At > v.Offset
}

// LastError is the error of the last fetch of the group's offsets, nil
// once one succeeds: for a readiness check or a log line. The watcher
// itself only retries.
func (w *AppliedWatcher) LastError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Run polls for the waiters until ctx ends or Shutdown is called, and
// returns nil then; waiters still pending get ErrWatcherStopped, and so
// does every later WaitApplied. A watcher runs once: Run after Shutdown,
// or a second Run, returns at once.
func (w *AppliedWatcher) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.mu.Lock()
	if w.running || w.stopped {
		w.mu.Unlock()
		return nil
	}
	w.running, w.cancel = true, cancel
	w.mu.Unlock()
	defer close(w.ran)
	defer w.stop()

	t := time.NewTimer(w.every)
	t.Stop()
	defer t.Stop()
	for {
		if !w.hasWaiters() {
			select {
			case <-w.wake:
			case <-ctx.Done():
				return nil
			}
			continue // a waiter may have left already
		}
		// The op a new waiter waits on was acknowledged a moment ago:
		// the sink has yet to read it, so the first look is an interval
		// later. One already seen applied does not wait (WaitApplied).
		t.Reset(w.every)
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
		w.poll(ctx)
	}
}

func (w *AppliedWatcher) hasWaiters() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waiters) > 0
}

// poll fetches the group's committed offsets once and wakes the waiters
// whose ops they show applied.
func (w *AppliedWatcher) poll(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, appliedFetchTimeout)
	offs, err := w.adm.FetchOffsets(fctx, w.group)
	cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			w.lastErr = fmt.Errorf("fetch the committed offsets of group %s: %w", w.group, err)
		}
		return
	}
	w.last, w.lastErr = offs, nil
	for wt := range w.waiters {
		if applied(offs, wt.topic, wt.v) {
			delete(w.waiters, wt)
			wt.done <- nil
		}
	}
}

// stop marks the watcher stopped and fails the waiters still pending.
func (w *AppliedWatcher) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for wt := range w.waiters {
		delete(w.waiters, wt)
		wt.done <- ErrWatcherStopped
	}
}

// errShutdown is the cause Shutdown ends Run's context with.
var errShutdown = errors.New("applied watcher shut down")

// Shutdown stops the watcher: Run returns, the waiters pending get
// ErrWatcherStopped, and Shutdown returns once Run's goroutine has ended
// (at once if Run never ran), or with ctx's error when ctx ends first. It
// is safe to call more than once, and concurrently.
func (w *AppliedWatcher) Shutdown(ctx context.Context) error {
	w.mu.Lock()
	running, cancel := w.running, w.cancel
	w.stopped = true
	w.mu.Unlock()
	if !running {
		w.stop()
		return nil
	}
	cancel(errShutdown)
	select {
	case <-w.ran:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shut down the applied watcher: %w", ctx.Err())
	}
}
