package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// BodyObserver is told how many body bytes are reserved and why a body
// was refused; internal/metrics implements it.
type BodyObserver interface {
	// BodyBytesHeld is the bytes reserved by the bodies being read or
	// served, after each change.
	BodyBytesHeld(n int64)
	// BodyRefused counts a body answered 503 for want of room; reason is
	// RefusedBudgetFull or RefusedClientShare.
	BodyRefused(reason string)
}

// The reasons a body is refused, as BodyObserver hears them.
const (
	RefusedBudgetFull  = "budget_full"
	RefusedClientShare = "client_share"
)

// DefaultBodyBudgetWait is how long a body that does not fit waits for
// room before it is answered 503: long enough to ride out a burst of
// bodies being decoded (a 16 MiB batch takes tens of milliseconds), short
// enough that a client told to retry is told soon, and that a flood of
// waiting requests holds little.
const DefaultBodyBudgetWait = time.Second

// unsharedBytes of every body count against the budget only, not against
// its client's share. Naming a request's client builds a string; a usual
// post (a few hundred bytes) thus pays only an uncontended lock. One
// client's small bodies are bounded all the same, by its connections
// (POSTPIPE_MAX_CONNS_PER_CLIENT, 512 × 32 KiB = 16 MiB) and by the budget.
const unsharedBytes = 32 << 10

// bodyBudgetError is a body refused because the bytes it needs are not
// free, before it was read.
type bodyBudgetError struct {
	reason string // RefusedBudgetFull or RefusedClientShare
	wait   time.Duration
}

func (e *bodyBudgetError) Error() string {
	if e.reason == RefusedClientShare {
		return fmt.Sprintf("this client's share of the request body budget stayed full for %s", e.wait)
	}
	return fmt.Sprintf("the request body budget stayed full for %s", e.wait)
}

// bodyBudget bounds the body bytes held by all requests at once, and by
// one client's. Bytes are reserved before they are read (the declared
// length) or before a buffer grows (a body without one), so a body that
// cannot be held is refused before it costs memory.
type bodyBudget struct {
	total int64 // bytes all bodies may hold
	share int64 // bytes one client's bodies may hold beyond their unsharedBytes each
	wait  time.Duration
	obs   BodyObserver // nil: none

	mu       sync.Mutex
	held     int64
	byClient map[string]int64 // only clients holding bytes
	// room, when not nil, is closed when bytes are released: it wakes
	// every waiter, each of which tries again. It is made by the first
	// waiter, so a release with nobody waiting costs nothing.
	room chan struct{}
}

func newBodyBudget(total, share int64, wait time.Duration) *bodyBudget {
	return &bodyBudget{total: total, share: share, wait: wait, byClient: map[string]int64{}}
}

// take reserves n bytes, shared of them against client's share, waiting up
// to b.wait for room. It returns a *bodyBudgetError when the room did not
// come in time.
func (b *bodyBudget) take(ctx context.Context, client string, n, shared int64) error {
	var timer *time.Timer
	for {
		b.mu.Lock()
		reason := ""
		switch {
		case shared > 0 && b.byClient[client]+shared > b.share:
			reason = RefusedClientShare
		case b.held+n > b.total:
			reason = RefusedBudgetFull
		default:
			b.held += n
			if shared > 0 {
				b.byClient[client] += shared
			}
			if b.obs != nil {
				b.obs.BodyBytesHeld(b.held)
			}
			b.mu.Unlock()
			return nil
		}
		if b.room == nil {
			b.room = make(chan struct{})
		}
		room := b.room
		b.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(b.wait)
			defer timer.Stop()
		}
		select {
		case <-room:
		case <-timer.C:
			if b.obs != nil {
				b.obs.BodyRefused(reason)
			}
			return &bodyBudgetError{reason: reason, wait: b.wait}
		case <-ctx.Done(): // nobody is left to answer; the error only ends the read
			return &bodyBudgetError{reason: reason, wait: b.wait}
		}
	}
}

// give returns n bytes, shared of them to client's share, and wakes the
// waiters.
func (b *bodyBudget) give(client string, n, shared int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= n
	if shared > 0 {
		if b.byClient[client] -= shared; b.byClient[client] <= 0 {
			delete(b.byClient, client) // the map holds only clients holding bytes
		}
	}
	if b.obs != nil {
		b.obs.BodyBytesHeld(b.held)
	}
	if b.room != nil {
		close(b.room)
		b.room = nil
	}
}

// heldBy is what the budget holds in all and for client.
func (b *bodyBudget) heldBy(client string) (all, mine int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.held, b.byClient[client]
}

// reservation is what one request's body holds of the budget. Its zero
// value (or one without a budget) reserves nothing and never refuses.
type reservation struct {
	b   *bodyBudget
	req *http.Request
	// client is clientOf(req), named once the body needs bytes beyond its
	// unsharedBytes; "" until then.
	client string
	max    int64 // the route's limit: the bytes beyond it are never held
	n      int64 // bytes reserved
}

// grow makes the reservation at least total bytes (at most r.max). A nil
// reservation reserves nothing.
func (r *reservation) grow(total int64) error {
	if r == nil || r.b == nil {
		return nil
	}
	total = min(total, r.max)
	if total <= r.n {
		return nil
	}
	shared := max(total-unsharedBytes, 0) - max(r.n-unsharedBytes, 0)
	if shared > 0 && r.client == "" {
		r.client = clientOf(r.req)
	}
	if err := r.b.take(r.req.Context(), r.client, total-r.n, shared); err != nil {
		return err
	}
	r.n = total
	return nil
}

// release gives every reserved byte back; calling it again does nothing.
func (r *reservation) release() {
	if r.b == nil || r.n == 0 {
		return
	}
	r.b.give(r.client, r.n, max(r.n-unsharedBytes, 0))
	r.n = 0
}
