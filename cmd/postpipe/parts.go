package main

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// part is one piece of a role: something it runs (a server, the sink),
// something it holds and must close (the store, the producer), or both.
// A role is an ordered list of parts (oklog/run's shape): they start in
// list order and stop in reverse, all under one deadline, so a new piece
// joins the list instead of the role's struct and its stop code.
type part struct {
	name string
	// run runs until ctx ends, which happens when the stop reaches this
	// part, or until it fails. nil: nothing runs, the part is only stopped.
	run func(ctx context.Context) error
	// stop ends the run and releases what the part holds, within ctx (the
	// stop's one deadline). It is called whether or not run started: a
	// role stopped before it ran, or abandoned by its constructor, still
	// closes what was opened. nil: ending run's ctx is enough.
	stop func(ctx context.Context) error
}

// entry is a part in the list, and its run once started.
type entry struct {
	part
	cancel context.CancelFunc // ends run's ctx; nil while the run has not started
	done   chan struct{}      // closed when run has returned; nil while it has not started
	err    error              // run's result, read after done
	taken  bool               // err was returned, by wait or by the stop (under parts.mu)
}

// parts is a role's parts in start order. Constructors add them as they
// open things, so that stopping the parts added so far undoes a start that
// failed half way. The list runs at most once and never after its stop has
// begun; the stop runs once, however often it is asked for.
type parts struct {
	mu      sync.Mutex
	list    []*entry
	started bool          // runAll started the runs
	quit    chan struct{} // closed when the stop begins
	failed  chan *entry   // the first run that ended with an error

	// stopCtx is the one deadline handed to parts built before it exists
	// (see deadline); endStop ends it.
	stopCtx context.Context
	endStop context.CancelCauseFunc

	stopBegun bool          // a stopAll call is running the stop (under mu)
	stopped   chan struct{} // closed when the stop has finished
	stopErr   error         // the stop's result, read after stopped
}

func newParts() *parts {
	ps := &parts{quit: make(chan struct{}), failed: make(chan *entry, 1), stopped: make(chan struct{})}
	ps.stopCtx, ps.endStop = context.WithCancelCause(context.Background())
	return ps
}

// add appends p: it starts after the parts already there and stops before
// them. Parts are added before runAll.
func (ps *parts) add(p part) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.list = append(ps.list, &entry{part: p})
}

// deadline is a context that ends when the stop's ctx does (with its
// cause), or when the stop has finished. A part built before the stop's
// ctx exists finishes through it what it does after its run's ctx has
// ended (the sink's last write and commit), within the one deadline.
func (ps *parts) deadline() context.Context { return ps.stopCtx }

// runAll starts every run, in list order, each in its own goroutine. It
// reports false, starting nothing, when the list already ran or its stop
// has begun.
func (ps *parts) runAll(ctx context.Context) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.started || ps.stopping() {
		return false
	}
	ps.started = true
	for _, e := range ps.list {
		if e.run == nil {
			continue
		}
		// A run outlives ctx: it ends only when the stop reaches its part,
		// so that the parts stop one after another, in reverse.
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		e.cancel, e.done = cancel, make(chan struct{})
		go func() {
			defer close(e.done)
			e.err = e.run(rctx)
			if e.err != nil {
				select {
				case ps.failed <- e: // the first failure; the others wait for the stop
				default:
				}
			}
		}()
	}
	return true
}

// ran reports whether runAll started the runs.
func (ps *parts) ran() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.started
}

// stopping reports whether the stop has begun; ps.mu is held.
func (ps *parts) stopping() bool {
	select {
	case <-ps.quit:
		return true
	default:
		return false
	}
}

// wait blocks until ctx ends, the stop begins or a run fails. It returns
// that run's error, which the stop then does not return again; nil
// otherwise.
func (ps *parts) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-ps.quit:
	case e := <-ps.failed:
		if ps.take(e) {
			return e.err
		}
	}
	return nil
}

// take claims e's error for the one caller that returns it: wait, or the
// stop when wait did not.
func (ps *parts) take(e *entry) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if e.taken {
		return false
	}
	e.taken = true
	return true
}

// stopAll stops the parts in reverse order, all within ctx: each part's
// run's ctx ends, its stop is called, then its run is waited for, before
// the part before it is stopped. It returns the errors of the runs and the
// stops, joined, less the one wait returned. It is safe to call more than
// once, concurrently too: the later calls wait for the first and return its
// result, or context.Cause of their own ctx if it ends first.
func (ps *parts) stopAll(ctx context.Context) error {
	ps.mu.Lock()
	first := !ps.stopBegun
	ps.stopBegun = true
	ps.mu.Unlock()
	if first {
		ps.stopErr = ps.stop(ctx)
		close(ps.stopped)
	}
	// Stopped first: the call that ran the stop may also find its ctx
	// expired (a stop that used its whole deadline), and select picks at
	// random among ready cases; its result is the stop's, not the deadline's.
	select {
	case <-ps.stopped:
		return ps.stopErr
	default:
	}
	select {
	case <-ps.stopped:
		return ps.stopErr
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (ps *parts) stop(ctx context.Context) error {
	ps.mu.Lock()
	close(ps.quit) // runAll starts nothing from now on
	list := slices.Clone(ps.list)
	ps.mu.Unlock()
	defer context.AfterFunc(ctx, func() { ps.endStop(context.Cause(ctx)) })()
	defer ps.endStop(context.Canceled)

	var errs []error
	for _, e := range slices.Backward(list) {
		if e.cancel != nil {
			e.cancel()
		}
		if e.stop != nil {
			if err := e.stop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if e.done != nil {
			<-e.done
			if e.err != nil && ps.take(e) {
				errs = append(errs, e.err)
			}
		}
	}
	return errors.Join(errs...)
}
