package main

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errShutdownTimeout is why a step of a stop was cut short.
var errShutdownTimeout = errors.New("shutdown timeout (POSTPIPE_SHUTDOWN_TIMEOUT) reached")

// deadline is the one deadline a stop must meet: it starts when the stop
// begins, and every step of the stop (draining requests, flushing the
// producer, the sink's last write and commit, closing the store, exporting
// spans) runs within its context, so the steps share POSTPIPE_SHUTDOWN_TIMEOUT
// instead of each getting a slice or a fresh timeout of its own.
type deadline struct {
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
	once    sync.Once
	timer   *time.Timer
}

func newDeadline(timeout time.Duration) *deadline {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &deadline{ctx: ctx, cancel: cancel, timeout: timeout}
}

// beginOn begins the stop when ctx ends.
func (d *deadline) beginOn(ctx context.Context) { context.AfterFunc(ctx, d.begin) }

// begin starts the clock; later calls do nothing.
func (d *deadline) begin() {
	d.once.Do(func() { d.timer = time.AfterFunc(d.timeout, func() { d.cancel(errShutdownTimeout) }) })
}

// context is the deadline's context without starting the clock: it ends
// timeout after the stop began.
func (d *deadline) context() context.Context { return d.ctx }

// stopping starts the clock if the stop had not begun, and returns the
// context every step of the stop runs within.
func (d *deadline) stopping() context.Context {
	d.begin()
	return d.ctx
}

// release frees the timer once everything has stopped.
func (d *deadline) release() {
	d.once.Do(func() {})
	if d.timer != nil {
		d.timer.Stop()
	}
	d.cancel(context.Canceled)
}
