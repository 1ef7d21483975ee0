package stats

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// readTimeout bounds one reading of the broker, so a broker that does not
// answer costs a few empty samples, not a stuck sampler.
const readTimeout = 5 * time.Second

// checkTimeout bounds each dependency check, as the readiness probe does.
const checkTimeout = 2 * time.Second

// warnAfterFailures is how many readings in a row must fail before a warning.
const warnAfterFailures = 3

// Sampler takes one sample per interval and keeps the last window of them.
// Run it in one goroutine; Snapshot may be called from any.
type Sampler struct {
	interval time.Duration
	accepted func() int64
	offsets  OffsetReader
	requests *Requests
	checks   []Check
	log      *slog.Logger
	now      func() time.Time

	// Only Run touches these.
	ring      []Sample
	next      int  // where the next sample goes
	full      bool // the ring has wrapped
	last      sampleState
	haveLast  bool
	lastRead  Offsets
	readAt    time.Time // when lastRead was taken
	failures  int       // consecutive failed readings
	readError string
	health    []Health

	snap atomic.Pointer[Snapshot]
}

type sampleState struct {
	at        time.Time
	accepted  int64
	committed int64
	haveSink  bool
	requests  requestCounts
}

// New returns a sampler that reads every interval and keeps window's worth
// of samples. accepted counts the posts this process accepted.
func New(interval, window time.Duration, accepted func() int64, offsets OffsetReader, log *slog.Logger) *Sampler {
	n := max(int(window/interval), 1)
	s := &Sampler{interval: interval, accepted: accepted, offsets: offsets, log: log, now: time.Now, ring: make([]Sample, n), requests: new(Requests)}
	s.snap.Store(&Snapshot{IntervalSeconds: interval.Seconds(), WindowSeconds: s.window().Seconds(), Samples: []Sample{}, Lag: Lag{Partitions: []Partition{}}, Health: []Health{}})
	return s
}

// Requests is what the API's instrumentation tells how each request was
// answered; the sampler turns its counts into rates and percentiles.
func (s *Sampler) Requests() *Requests { return s.requests }

// Check adds dependency checks, run at every sample. Call it before Run.
func (s *Sampler) Check(checks ...Check) {
	s.checks = append(s.checks, checks...)
}

// Snapshot returns the latest figures. It only loads a pointer: the request
// path never waits for the broker.
func (s *Sampler) Snapshot() Snapshot { return *s.snap.Load() }

// Run samples until ctx ends. A failed reading is kept in the snapshot's
// Error, not returned: the dashboard must not take the API down.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.sample(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sample(ctx)
		}
	}
}

func (s *Sampler) sample(ctx context.Context) {
	// The checks run alongside the reading: a hung dependency delays a
	// sample by one timeout, not by the sum of them.
	results := make([]error, len(s.checks))
	var wg sync.WaitGroup
	for i, c := range s.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			results[i] = c.Ping(cctx)
		})
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	read, err := s.offsets.ReadOffsets(rctx)
	cancel()
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	cur := sampleState{at: s.now(), accepted: s.accepted(), haveSink: err == nil, requests: s.requests.read()}
	s.recordHealth(cur.at, results)
	// Topics created a moment ago are not known to every broker at once:
	// only a failure that lasts is worth a warning.
	switch {
	case err != nil:
		if s.failures++; s.failures == warnAfterFailures {
			s.log.Warn("reading the consumer group's offsets keeps failing; the dashboard shows the last good figures", "err", err)
		}
		s.readError = err.Error()
	default:
		if s.failures >= warnAfterFailures {
			s.log.Info("reading the consumer group's offsets works again")
		}
		s.failures, s.readError, s.lastRead, s.readAt = 0, "", read, cur.at
	}

	for _, p := range s.lastRead.Partitions {
		cur.committed += p.Committed
	}
	sm := Sample{At: cur.at, Lag: lagOf(s.lastRead.Partitions)}
	if s.haveLast {
		if dt := cur.at.Sub(s.last.at).Seconds(); dt > 0 {
			sm.IngestRate = rate(cur.accepted-s.last.accepted, dt)
			prev, now := &s.last.requests, &cur.requests
			sm.RequestRate = rate(now.answered-prev.answered, dt)
			sm.ClientErrorRate = rate(now.clientErrors-prev.clientErrors, dt)
			sm.UnavailableRate = rate(now.unavailable-prev.unavailable, dt)
			sm.ServerErrorRate = rate(now.serverErrors-prev.serverErrors, dt)
			if ms, ok := percentiles(&prev.writes, &now.writes, 0.5, 0.99); ok {
				sm.P50Ms, sm.P99Ms = ms[0], ms[1]
			}
			if cur.haveSink && s.last.haveSink {
				sm.SinkRate = rate(cur.committed-s.last.committed, dt)
			}
		}
	}
	s.last, s.haveLast = cur, true
	s.ring[s.next] = sm
	s.next = (s.next + 1) % len(s.ring)
	if s.next == 0 {
		s.full = true
	}
	s.publish(cur)
}

// recordHealth keeps each check's last result, and since when it holds.
func (s *Sampler) recordHealth(at time.Time, results []error) {
	if s.health == nil {
		s.health = make([]Health, len(s.checks))
	}
	for i, err := range results {
		h := Health{Name: s.checks[i].Name, OK: err == nil, Since: s.health[i].Since}
		if err != nil {
			h.Error = err.Error()
		}
		if s.health[i].Since.IsZero() || s.health[i].OK != h.OK {
			h.Since = at
		}
		s.health[i] = h
	}
}

func (s *Sampler) window() time.Duration { return time.Duration(len(s.ring)) * s.interval }

// rate is d per second; a counter that went back (a group reset, a
// recreated topic) reads as no progress rather than a negative rate.
func rate(d int64, seconds float64) float64 {
	if d < 0 {
		return 0
	}
	return float64(d) / seconds
}

func lagOf(ps []Partition) int64 {
	var n int64
	for _, p := range ps {
		n += p.Lag
	}
	return n
}

// publish builds a fresh snapshot, so readers share nothing Run changes.
func (s *Sampler) publish(cur sampleState) {
	var samples []Sample
	if s.full {
		samples = append(samples, s.ring[s.next:]...)
	}
	samples = append(samples, s.ring[:s.next]...)
	parts := append([]Partition{}, s.lastRead.Partitions...)
	s.snap.Store(&Snapshot{
		At:              cur.at,
		IntervalSeconds: s.interval.Seconds(),
		WindowSeconds:   s.window().Seconds(),
		Samples:         samples,
		Totals: Totals{
			Accepted: cur.accepted, Committed: cur.committed, DLQ: s.lastRead.DLQRecords,
			Requests: cur.requests.answered, ClientErrors: cur.requests.clientErrors,
			Unavailable: cur.requests.unavailable, ServerErrors: cur.requests.serverErrors,
			Changes: cur.requests.changesByOp(),
		},
		Lag:    Lag{Total: lagOf(parts), Partitions: parts},
		Health: append([]Health{}, s.health...),
		Error:  s.readError,
		ReadAt: s.readAt,
	})
}
