package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// events records what parts did, in order, from any goroutine.
type events struct {
	mu   sync.Mutex
	list []string
}

func (ev *events) add(s string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.list = append(ev.list, s)
}

func (ev *events) get() []string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return slices.Clone(ev.list)
}

// untilDone runs until its ctx ends, then records it.
func untilDone(ev *events, name string) func(context.Context) error {
	return func(ctx context.Context) error {
		<-ctx.Done()
		ev.add(name + " ended")
		return nil
	}
}

func recordStop(ev *events, name string) func(context.Context) error {
	return func(context.Context) error {
		ev.add("stop " + name)
		return nil
	}
}

// The parts stop in reverse order, one after another: a part's run ends
// (its ctx, or its stop, ends it) and is waited for before the part added
// before it is stopped, and the runs outlive the ctx they were started
// with.
func TestLifecyclePartsStopInReverse(t *testing.T) {
	ev := &events{}
	ps := newParts()
	ps.add(part{name: "store", stop: recordStop(ev, "store")}) // a resource only closed
	ps.add(part{name: "admin", run: untilDone(ev, "admin")})   // ended by its ctx
	served := make(chan struct{})
	ps.add(part{name: "http", // ended by its stop, as a server's Shutdown does
		run: func(context.Context) error {
			<-served
			ev.add("http ended")
			return nil
		},
		stop: func(context.Context) error {
			ev.add("stop http")
			close(served)
			return nil
		},
	})
	ps.add(part{name: "sink", run: untilDone(ev, "sink")})

	ctx, cancel := context.WithCancel(context.Background())
	if !ps.runAll(ctx) {
		t.Fatal("runAll started nothing")
	}
	cancel() // Run's ctx ending stops nothing: Shutdown does
	if err := ps.wait(ctx); err != nil {
		t.Fatalf("wait on an ended ctx: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if got := ev.get(); len(got) != 0 {
		t.Fatalf("before the stop: %v; want nothing stopped", got)
	}
	if err := ps.stopAll(context.Background()); err != nil {
		t.Fatalf("stopAll: %v", err)
	}
	want := []string{"sink ended", "stop http", "http ended", "admin ended", "stop store"}
	if got := ev.get(); !slices.Equal(got, want) {
		t.Errorf("stop order:\n got %v\nwant %v", got, want)
	}
}

// The first run that fails is what wait (Run) returns; the stop still
// stops every part in order and returns the other errors, runs' and
// stops', but not that one again.
func TestLifecyclePartsFailure(t *testing.T) {
	errFirst, errLater, errStop := errors.New("first"), errors.New("later"), errors.New("stop failed")
	ev := &events{}
	ps := newParts()
	ps.add(part{name: "admin", run: untilDone(ev, "admin")})
	ps.add(part{name: "store", stop: func(context.Context) error {
		ev.add("stop store")
		return errStop
	}})
	ps.add(part{name: "sink", run: func(context.Context) error { return errFirst }})
	ps.add(part{name: "http", run: func(ctx context.Context) error {
		<-ctx.Done()
		return errLater
	}})
	ps.runAll(context.Background())
	if err := ps.wait(context.Background()); !errors.Is(err, errFirst) {
		t.Fatalf("wait: %v, want %v", err, errFirst)
	}
	err := ps.stopAll(context.Background())
	if !errors.Is(err, errLater) || !errors.Is(err, errStop) {
		t.Errorf("stopAll: %v; want the later run's and the stop's errors", err)
	}
	if errors.Is(err, errFirst) {
		t.Errorf("stopAll: %v; the first failure was returned by wait already", err)
	}
	if want := []string{"stop store", "admin ended"}; !slices.Equal(ev.get(), want) {
		t.Errorf("after a failure: %v, want %v", ev.get(), want)
	}
}

// A failure wait did not return (Run had already returned) is the stop's.
func TestLifecyclePartsFailureAfterRun(t *testing.T) {
	errFailed := errors.New("failed")
	ps := newParts()
	ps.add(part{name: "sink", run: func(context.Context) error { return errFailed }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ps.runAll(ctx)
	if err := ps.wait(ctx); err != nil {
		t.Fatalf("wait on an ended ctx: %v", err)
	}
	if err := ps.stopAll(context.Background()); !errors.Is(err, errFailed) {
		t.Errorf("stopAll: %v, want %v", err, errFailed)
	}
}

// Parts stopped before they ran are all stopped (they close what they
// hold), in reverse, and nothing runs afterwards; wait returns at once.
func TestLifecyclePartsStopBeforeRun(t *testing.T) {
	ev := &events{}
	ps := newParts()
	for _, name := range []string{"tracing", "store", "sink"} {
		ps.add(part{name: name, stop: recordStop(ev, name), run: func(context.Context) error {
			ev.add("run " + name)
			return nil
		}})
	}
	if err := ps.stopAll(context.Background()); err != nil {
		t.Fatalf("stopAll: %v", err)
	}
	if ps.runAll(context.Background()) {
		t.Error("runAll after the stop started the parts")
	}
	if err := ps.wait(context.Background()); err != nil {
		t.Errorf("wait after the stop: %v", err)
	}
	if ps.ran() {
		t.Error("ran after a stop before runAll")
	}
	if want := []string{"stop sink", "stop store", "stop tracing"}; !slices.Equal(ev.get(), want) {
		t.Errorf("got %v, want %v", ev.get(), want)
	}
}

// The list runs once; wait returns when the stop begins.
func TestLifecyclePartsRunOnce(t *testing.T) {
	ev := &events{}
	ps := newParts()
	ps.add(part{name: "admin", run: untilDone(ev, "admin")})
	if !ps.runAll(context.Background()) || ps.runAll(context.Background()) {
		t.Fatal("runAll: want true, then false")
	}
	waited := make(chan error, 1)
	go func() { waited <- ps.wait(context.Background()) }()
	if err := ps.stopAll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Errorf("wait when the stop began: %v", err)
	}
	if want := []string{"admin ended"}; !slices.Equal(ev.get(), want) {
		t.Errorf("got %v, want %v (one run)", ev.get(), want)
	}
}

// The stop runs once: concurrent calls wait for it, a call whose own ctx
// ends first returns its cause, later calls return the stop's result.
func TestLifecyclePartsStopOnce(t *testing.T) {
	errStop := errors.New("stop failed")
	release := make(chan struct{})
	var stops int
	ps := newParts()
	ps.add(part{name: "slow", stop: func(context.Context) error {
		stops++
		<-release
		return errStop
	}})
	first := make(chan error, 1)
	go func() { first <- ps.stopAll(context.Background()) }()
	<-ps.quit // the first call is stopping

	errImpatient := errors.New("impatient")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 20*time.Millisecond, errImpatient)
	defer cancel()
	if err := ps.stopAll(ctx); !errors.Is(err, errImpatient) {
		t.Errorf("a call whose ctx ended during the stop: %v, want %v", err, errImpatient)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = ps.stopAll(context.Background()) })
	}
	close(release)
	wg.Wait()
	if err := <-first; !errors.Is(err, errStop) {
		t.Errorf("the first call: %v, want %v", err, errStop)
	}
	for i, err := range errs {
		if !errors.Is(err, errStop) {
			t.Errorf("concurrent call %d: %v, want %v", i, err, errStop)
		}
	}
	if err := ps.stopAll(context.Background()); !errors.Is(err, errStop) {
		t.Errorf("a later call: %v, want %v", err, errStop)
	}
	if stops != 1 {
		t.Errorf("the part was stopped %d times, want 1", stops)
	}
}

// deadline ends with the stop's ctx, with its cause, so a part built
// before the stop (the sink) finishes its last work within it; and it
// ends when a stop finishes within its time.
func TestLifecyclePartsDeadline(t *testing.T) {
	t.Run("expires", func(t *testing.T) {
		errTimeout := errors.New("timeout")
		ps := newParts()
		dl := ps.deadline()
		var cause error
		ps.add(part{name: "sink", stop: func(context.Context) error {
			<-dl.Done() // a last write that takes the whole deadline
			cause = context.Cause(dl)
			return nil
		}})
		if dl.Err() != nil {
			t.Fatal("the deadline ended before the stop")
		}
		ctx, cancel := context.WithTimeoutCause(context.Background(), 20*time.Millisecond, errTimeout)
		defer cancel()
		if err := ps.stopAll(ctx); err != nil {
			t.Fatalf("stopAll: %v", err)
		}
		if !errors.Is(cause, errTimeout) {
			t.Errorf("the deadline ended with %v, want the stop ctx's cause %v", cause, errTimeout)
		}
	})
	t.Run("released", func(t *testing.T) {
		ps := newParts()
		if err := ps.stopAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ps.deadline().Err() == nil {
			t.Error("the deadline is still open after the stop")
		}
	})
}
