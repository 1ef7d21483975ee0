package kafka

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// len is how many waits are queued, settled or not.
func (d *ackDeadlines) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.queue) - d.head
}

// received is what w's channel holds now: the outcome, or false when
// nothing was sent.
func received(w *waiter) (error, bool) {
	select {
	case err := <-w.done:
		return err, true
	default:
		return nil, false
	}
}

// TestAckDeadlines: a sweep expires exactly the waits that are due and
// still pending; a wait the promise settled, or one whose waiter went back
// to the pool and serves another record, is left alone.
func TestAckDeadlines(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, tc := range []struct {
		name        string
		run         func(d *ackDeadlines, w *waiter) (gen uint64)
		at          time.Duration // when the sweep runs, after t0
		wantTimeout bool
		wantQueued  int
	}{
		{"due and pending: expired", func(d *ackDeadlines, w *waiter) uint64 {
			gen := w.arm()
			d.add(w, gen, t0.Add(time.Second))
			return gen
		}, 2 * time.Second, true, 0},
		{"not due yet: kept", func(d *ackDeadlines, w *waiter) uint64 {
			gen := w.arm()
			d.add(w, gen, t0.Add(time.Second))
			return gen
		}, 500 * time.Millisecond, false, 1},
		{"acknowledged first: not expired", func(d *ackDeadlines, w *waiter) uint64 {
			gen := w.arm()
			d.add(w, gen, t0.Add(time.Second))
			w.promise(&kgo.Record{Partition: 1, Offset: 7}, nil)
			if err, ok := received(w); !ok || err != nil {
				t.Fatalf("the promise sent %v, %v; want nil", err, ok)
			}
			return gen
		}, 2 * time.Second, false, 0},
		{"reused for another record: the new one is not expired", func(d *ackDeadlines, w *waiter) uint64 {
			old := w.arm()
			d.add(w, old, t0.Add(time.Second))
			w.promise(&kgo.Record{}, nil)
			_, _ = received(w)
			return w.arm() // the pool gave it to another post, not yet queued
		}, 2 * time.Second, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newAckDeadlines(5 * time.Second)
			d.timer.Stop()
			d.now = func() time.Time { return t0.Add(tc.at) }
			w := waiters.New().(*waiter)
			tc.run(d, w)
			d.sweep()
			d.timer.Stop()
			err, ok := received(w)
			if got := ok && errors.Is(err, errAckTimeout); got != tc.wantTimeout {
				t.Errorf("expired = %v (%v, %v), want %v", got, err, ok, tc.wantTimeout)
			}
			if !tc.wantTimeout && ok {
				t.Errorf("the waiter heard %v; want nothing", err)
			}
			if n := d.len(); n != tc.wantQueued {
				t.Errorf("%d waits queued after the sweep, want %d", n, tc.wantQueued)
			}
		})
	}
}

// TestAckDeadlinesLateAcknowledgement: once a wait expired, the record's
// promise coming later sends nothing (the waiter was answered).
func TestAckDeadlinesLateAcknowledgement(t *testing.T) {
	d := newAckDeadlines(time.Second)
	d.timer.Stop()
	t0 := time.Now()
	d.now = func() time.Time { return t0.Add(time.Hour) }
	w := waiters.New().(*waiter)
	d.add(w, w.arm(), t0.Add(time.Second))
	d.sweep()
	d.timer.Stop()
	if err, ok := received(w); !ok || !errors.Is(err, errAckTimeout) {
		t.Fatalf("after the sweep: %v, %v; want errAckTimeout", err, ok)
	}
	w.promise(&kgo.Record{}, nil)
	if err, ok := received(w); ok {
		t.Fatalf("the late promise sent %v; want nothing", err)
	}
}

// TestAckDeadlinesQueueFollowsInFlight: waits settled in order are dropped
// as new ones are added, so the queue holds about the records in flight,
// not every record of the timeout's span; and the timer stops once the
// queue is empty.
func TestAckDeadlinesQueueFollowsInFlight(t *testing.T) {
	d := newAckDeadlines(5 * time.Second)
	due := time.Now().Add(time.Hour)
	const inFlight = 10
	var ws []*waiter
	for i := range 10000 {
		w := waiters.New().(*waiter)
		d.add(w, w.arm(), due)
		ws = append(ws, w)
		if i >= inFlight {
			ws[i-inFlight].promise(&kgo.Record{}, nil)
		}
	}
	if n := d.len(); n > inFlight+1 {
		t.Errorf("%d waits queued with %d in flight", n, inFlight)
	}
	for _, w := range ws[len(ws)-inFlight:] {
		w.promise(&kgo.Record{}, nil)
	}
	d.now = func() time.Time { return due }
	d.sweep()
	d.mu.Lock()
	armed := d.armed
	d.mu.Unlock()
	if n := d.len(); n != 0 || armed {
		t.Errorf("after every wait settled: %d queued, timer armed %v; want 0, false", n, armed)
	}
}

// TestAckDeadlinesTimerFires: with the real timer, a wait nobody settles
// is answered errAckTimeout soon after its deadline.
func TestAckDeadlinesTimerFires(t *testing.T) {
	const timeout = 100 * time.Millisecond
	d := newAckDeadlines(timeout)
	w := waiters.New().(*waiter)
	start := time.Now()
	d.add(w, w.arm(), start.Add(timeout))
	select {
	case err := <-w.done:
		if !errors.Is(err, errAckTimeout) {
			t.Fatalf("got %v, want errAckTimeout", err)
		}
		if took := time.Since(start); took < timeout {
			t.Errorf("expired after %s, before its %s deadline", took, timeout)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the wait was never expired")
	}
}
