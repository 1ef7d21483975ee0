package bench

import (
	"maps"
	"sync"
	"time"
)

// outcome is what one request yielded.
type outcome struct {
	latency time.Duration
	// failure names why the request failed — its unexpected status, or
	// "timeout", "connection", "bad-answer", "207-partial" — or is empty.
	failure string
	posts   int            // posts the server took
	failed  map[string]int // batch items refused, by their status
	// accepted are the posts answered 202 that must land in the store;
	// maybe the posts answered 503 with an id, which may land there.
	accepted, maybe []sentPost
	// op names the kind of request in a scenario that mixes them (reads
	// and writes), which the result shows apart; "" in the others.
	op string
	// next is the cursor of the next page a list read was answered with.
	next string
}

// sentPost is a post the server named in its answer: its id and the marker
// (its title) that finds a copy stored under another id.
type sentPost struct {
	ID     string
	Marker string
}

// promises are what the server said it would store, for the store check:
// every accepted post exactly once; a post answered 503 at most once,
// under the id the 503 named (the broker may have taken it after all).
type promises struct {
	accepted, maybe []sentPost
	// refused is how many accepted posts the server knows it never
	// delivered (the fire-and-forget producer's refusals): the store check
	// does not wait for that many.
	refused int64
}

// Point is one second of a scenario.
type Point struct {
	T        float64 `json:"t"`        // measured seconds since the scenario started (earlier rounds included), at the end of this one
	Seconds  float64 `json:"window_s"` // how long this point covers: 1 but for the last
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	VUs      int64   `json:"vus"`
	Stage    int     `json:"stage"`
	Round    int     `json:"round,omitempty"` // from 1, when the scenarios took turns
}

// recorder collects what one scenario measures. Every virtual user records
// into it, and a sampler cuts the per-second series out of it; one mutex
// is cheap next to an HTTP round trip.
type recorder struct {
	mu          sync.Mutex
	start       time.Time // of the current round's measured window
	base        float64   // measured seconds of the earlier rounds
	round       int       // from 1 when the scenarios take turns, else 0
	all         *latencies
	window      *latencies // since the last tick
	windowStart time.Time
	windowReqs  int64
	windowErrs  int64
	requests    int64
	errors      int64
	posts       int64
	byStatus    map[string]int64
	failedPosts map[string]int64
	promised    promises
	series      []Point
	ops         map[string]*opTally
}

// opTally is what one kind of request measured in a scenario.
type opTally struct {
	lat              *latencies
	requests, errors int64
}

func newRecorder(start time.Time) *recorder {
	return &recorder{
		start: start, windowStart: start,
		all: newLatencies(), window: newLatencies(),
		byStatus: map[string]int64{}, failedPosts: map[string]int64{}, ops: map[string]*opTally{},
	}
}

func (r *recorder) record(o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.record(o.latency)
	r.window.record(o.latency)
	r.requests++
	r.windowReqs++
	if o.failure != "" {
		r.errors++
		r.windowErrs++
		r.byStatus[o.failure]++
	}
	r.posts += int64(o.posts)
	for status, n := range o.failed {
		r.failedPosts[status] += int64(n)
	}
	r.promised.accepted = append(r.promised.accepted, o.accepted...)
	r.promised.maybe = append(r.promised.maybe, o.maybe...)
	if o.op != "" {
		t := r.ops[o.op]
		if t == nil {
			t = &opTally{lat: newLatencies()}
			r.ops[o.op] = t
		}
		t.lat.record(o.latency)
		t.requests++
		if o.failure != "" {
			t.errors++
		}
	}
}

// tick closes the current second: it appends the point and starts the next
// window.
func (r *recorder) tick(now time.Time, vus int64, stage int) Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := Point{
		T:        round3(r.base + now.Sub(r.start).Seconds()),
		Requests: r.windowReqs,
		Errors:   r.windowErrs,
		P50:      r.window.ms(50),
		P99:      r.window.ms(99),
		VUs:      vus,
		Stage:    stage + 1,
		Round:    r.round,
	}
	if secs := now.Sub(r.windowStart).Seconds(); secs > 0 {
		p.Seconds = round3(secs)
		p.RPS = round3(float64(r.windowReqs) / secs)
	}
	r.series = append(r.series, p)
	r.window.reset()
	r.windowStart, r.windowReqs, r.windowErrs = now, 0, 0
	return p
}

// resume starts the measured window of another round at now: the series
// goes on where the last round's ended, its points marked with round.
func (r *recorder) resume(now time.Time, round int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.series); n > 0 {
		r.base = r.series[n-1].T
	}
	r.start, r.windowStart, r.round = now, now, round
	r.window.reset()
	r.windowReqs, r.windowErrs = 0, 0
}

// counts is how many requests and posts the recorder took so far.
func (r *recorder) counts() (requests, posts int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.posts
}

// totals is a consistent copy of the counters, for the progress line.
func (r *recorder) totals() (requests, errors int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.errors
}

// result summarizes the scenario, which lasted elapsed.
func (r *recorder) result(name string, elapsed time.Duration) ScenarioResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	secs := elapsed.Seconds()
	res := ScenarioResult{
		Name:           name,
		Requests:       r.requests,
		Errors:         r.errors,
		P50:            r.all.ms(50),
		P90:            r.all.ms(90),
		P99:            r.all.ms(99),
		P999:           r.all.ms(99.9),
		Max:            r.all.maxMS(),
		Posts:          r.posts,
		DurationS:      round3(secs),
		ErrorsByStatus: maps.Clone(r.byStatus),
		Series:         append([]Point(nil), r.series...),
	}
	if len(r.failedPosts) > 0 {
		res.FailedPostsByStatus = maps.Clone(r.failedPosts)
	}
	if secs > 0 {
		res.RPS = round3(float64(r.requests) / secs)
		res.PostsPerS = round3(float64(r.posts) / secs)
	}
	if len(r.ops) > 0 {
		res.Ops = map[string]OpResult{}
		for name, t := range r.ops {
			op := OpResult{Requests: t.requests, Errors: t.errors, P50: t.lat.ms(50), P99: t.lat.ms(99), Max: t.lat.maxMS()}
			if secs > 0 {
				op.RPS = round3(float64(t.requests) / secs)
			}
			res.Ops[name] = op
		}
	}
	for _, p := range r.series {
		if p.Seconds >= 0.5 { // a sliver at the end says little about a rate
			res.PeakRPS = max(res.PeakRPS, p.RPS)
		}
	}
	return res
}

// promises hands over the posts to verify.
func (r *recorder) promises() promises {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.promised
}
