package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// shot sends one request that was due at intended and records it. The
// latency it records runs from intended, not from when it got to send.
type shot func(ctx context.Context, intended time.Time)

// shooter makes the shot of one goroutine that sends load — a virtual user
// (closed model) or a sender (open model) — which owns what the shot uses
// (its connection, its buffers), so no request waits on a lock or pool;
// release gives that back when the goroutine leaves.
type shooter func() (fire shot, release func())

// vuTick is how often the closed model adjusts its virtual users to the
// ramp: a hundredth of a second is finer than any ramp worth running.
const vuTick = 10 * time.Millisecond

// runClosed runs virtual users that each send a request, wait for the
// answer and send the next, as many as the stages say at each moment, from
// start until the stages end or ctx does. A user told to leave finishes
// its request first, as in k6. running counts the users; it returns once
// every user has left.
func runClosed(ctx context.Context, stages []Stage, start time.Time, shoot shooter, running *atomic.Int64) {
	var (
		wg    sync.WaitGroup
		quits []chan struct{} // one per running user; closing it lets the user go
	)
	setVUs := func(n int) {
		for len(quits) < n {
			quit := make(chan struct{})
			quits = append(quits, quit)
			wg.Go(func() { virtualUser(ctx, quit, shoot) })
		}
		for len(quits) > n {
			close(quits[len(quits)-1])
			quits = quits[:len(quits)-1]
		}
		running.Store(int64(len(quits)))
	}

	total := totalDuration(stages)
	tick := time.NewTicker(vuTick)
	defer tick.Stop()
	for {
		elapsed := time.Since(start)
		if elapsed >= total || ctx.Err() != nil {
			break
		}
		setVUs(vusAt(stages, elapsed))
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	setVUs(0)
	wg.Wait()
}

func virtualUser(ctx context.Context, quit <-chan struct{}, shoot shooter) {
	fire, release := shoot()
	defer release()
	for {
		select {
		case <-ctx.Done():
			return
		case <-quit:
			return
		default:
		}
		fire(ctx, time.Now())
	}
}

// openGrace is how long after the last stage a request still waiting in
// line may be sent: enough that one due in the last millisecond goes out,
// little enough that an overwhelmed server does not stretch the run.
const openGrace = time.Second

// runOpen sends requests at the rates the stages give, from start until
// they end or ctx does, with at most maxVUs in flight. A request that finds
// every sender busy waits in line, and the time it waits counts in its
// latency: that is what keeps a stalled server from hiding its stall
// (coordinated omission). Requests still waiting openGrace after the stages
// end are not sent; runOpen returns how many were due but never sent. busy
// counts the requests in flight.
//
// A sender starts only when every one started is busy, so there are as many
// as the load needs at its peak, not maxVUs: each owns a connection, and
// the server bounds the connections one client may hold.
func runOpen(ctx context.Context, stages []Stage, start time.Time, maxVUs int, shoot shooter, busy *atomic.Int64) (unsent int64) {
	end := start.Add(totalDuration(stages) + openGrace)
	due := make(chan time.Time) // unbuffered: a send succeeds only to an idle sender
	var (
		wg      sync.WaitGroup
		late    atomic.Int64 // taken from the line too late
		senders int
	)
	// A sender takes a connection for each request and gives it back:
	// a sender owning one for good kept more connections open than
	// requests in flight after a stall, and the server, which bounds the
	// connections one client may hold, answered the extra ones 503 on
	// every request (half of a 4,000/s run). So open connections follow
	// the requests in flight, as with net/http's pool.
	sender := func(first time.Time) {
		for at, ok := first, true; ok; at, ok = <-due {
			if ctx.Err() != nil || !time.Now().Before(end) {
				late.Add(1)
				continue
			}
			busy.Add(1)
			fire, release := shoot()
			fire(ctx, at)
			release()
			busy.Add(-1)
		}
	}

	arr := newArrivals(stages)
	queued := 0
	wait := time.NewTimer(0)
	defer wait.Stop()
	stop := time.NewTimer(time.Until(end))
	defer stop.Stop()
schedule:
	for {
		off, ok := arr.Next()
		if !ok {
			break
		}
		at := start.Add(off)
		if d := time.Until(at); d > 0 {
			wait.Reset(d)
			select {
			case <-ctx.Done():
				break schedule
			case <-wait.C:
			}
		}
		select {
		case due <- at: // an idle sender took it
			queued++
			continue
		default:
		}
		if senders < maxVUs {
			senders++
			queued++
			wg.Go(func() { sender(at) })
			continue
		}
		// Every sender is busy: wait in line. Blocking here keeps memory
		// bounded; the times still come from the schedule, so nothing is
		// hidden.
		select {
		case due <- at:
			queued++
		case <-ctx.Done():
			break schedule
		case <-stop.C:
			break schedule
		}
	}
	close(due)
	wg.Wait()
	return int64(arr.Count()-queued) + late.Load()
}
