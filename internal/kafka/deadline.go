package kafka

import (
	"sync"
	"time"
)

// ackDeadlines gives up on the single-record waits of a Publisher whose
// acknowledgement has not come within its timeout. Every wait has the same
// timeout, so the order waits begin in is the order their deadlines pass:
// one queue in that order and one timer serve every record in flight,
// instead of a runtime timer per post armed and stopped on the request
// path. Acknowledgements arrive about in the order records were produced,
// so add drops the settled waits at the queue's head as it goes, and the
// queue stays about as long as the records in flight.
//
// The timer runs only while waits are queued; it fires every tick, so a
// late acknowledgement is answered within timeout + tick. No goroutine
// outlives a tick: a publisher needs no Close for its deadlines.
type ackDeadlines struct {
	tick time.Duration
	now  func() time.Time // time.Now; tests set it

	mu    sync.Mutex
	queue []pendingAck // from head on: by deadline
	head  int
	armed bool
	timer *time.Timer
}

// pendingAck is one wait in the queue: the waiter in one generation.
type pendingAck struct {
	w   *waiter
	gen uint64
	due time.Time
}

// Deadline ticks: a fiftieth of the timeout (100 ms of 5 s), within
// [minDeadlineTick, maxDeadlineTick].
const (
	minDeadlineTick = time.Millisecond
	maxDeadlineTick = 100 * time.Millisecond
)

func newAckDeadlines(timeout time.Duration) *ackDeadlines {
	d := &ackDeadlines{tick: min(max(timeout/50, minDeadlineTick), maxDeadlineTick), now: time.Now}
	d.timer = time.AfterFunc(time.Hour, d.sweep)
	d.timer.Stop()
	return d
}

// add queues the wait of w in generation gen, which ends at due unless the
// waiter is settled before.
func (d *ackDeadlines) add(w *waiter, gen uint64, due time.Time) {
	d.mu.Lock()
	for d.head < len(d.queue) && !d.queue[d.head].w.pending(d.queue[d.head].gen) {
		d.queue[d.head] = pendingAck{}
		d.head++
	}
	if d.head == len(d.queue) {
		d.queue, d.head = d.queue[:0], 0
	} else if d.head >= 1024 && d.head >= len(d.queue)/2 {
		// Reuse the front of the array instead of growing it forever.
		n := copy(d.queue, d.queue[d.head:])
		clear(d.queue[n:])
		d.queue, d.head = d.queue[:n], 0
	}
	d.queue = append(d.queue, pendingAck{w: w, gen: gen, due: due})
	if !d.armed {
		d.armed = true
		d.timer.Reset(d.tick)
	}
	d.mu.Unlock()
}

// sweep expires the waits whose deadline has passed and drops the settled
// ones ahead of them; it rearms the timer while waits remain.
func (d *ackDeadlines) sweep() {
	now := d.now()
	var expired []pendingAck
	d.mu.Lock()
	for d.head < len(d.queue) {
		e := d.queue[d.head]
		pending := e.w.pending(e.gen)
		if pending && e.due.After(now) {
			break
		}
		if pending {
			expired = append(expired, e)
		}
		d.queue[d.head] = pendingAck{}
		d.head++
	}
	if d.head == len(d.queue) {
		d.queue, d.head, d.armed = d.queue[:0], 0, false
	} else {
		d.timer.Reset(d.tick)
	}
	d.mu.Unlock()
	// Outside the lock: expire sends on a buffered channel and cannot
	// block, but a promise settling the same waiter meanwhile is decided
	// by expire's compare-and-swap, not by the lock.
	for _, e := range expired {
		e.w.expire(e.gen)
	}
}
