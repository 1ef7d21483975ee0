package bench

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Stage is one leg of a load shape, as in k6: over Duration the target
// (virtual users in the closed model, requests per second in the open one)
// moves linearly from where the previous stage ended to Target. A stage of
// zero duration is a step.
type Stage struct {
	Duration time.Duration
	Target   int
}

func (s Stage) String() string { return fmt.Sprintf("%s:%d", s.Duration, s.Target) }

// Model says what the stage targets mean.
type Model string

const (
	// Closed: a number of virtual users, each sending its next request as
	// soon as the previous one is answered. A slow server slows the load.
	Closed Model = "closed"
	// Open: requests arrive at a rate whatever the server does, and each
	// one's latency counts from when it should have been sent.
	Open Model = "open"
)

// Load is the shape of the load every scenario gets.
type Load struct {
	Model  Model
	Stages []Stage
	Source string // where the shape came from: "profile quick", "--stages", "--rate"
	// Warmup is how long each scenario runs at the stages' peak, against
	// its own endpoint, before its measured window: the JIT of the broker's
	// JVM, the producer's connections and batches, the store's caches and
	// the client's connections are warm when the measurement starts. What
	// the warm-up sends is not measured but is verified like the rest.
	Warmup time.Duration
	// Rounds is how many times the scenarios a ratio compares (noop,
	// fire-and-forget, kafka, orders, direct) take turns, each running the stages
	// once per round; their figures add the rounds up. The machine's speed
	// drifts by tens of percent over minutes here (a neighbour, the
	// broker's page cache, a checkpoint of PostgreSQL): scenarios measured
	// one after the other each see another machine, while taking turns
	// every few seconds shares the drift out between them, so the ratios
	// change less from run to run. The other scenarios (batch, read, mixed)
	// follow, each running its rounds one after another, so that every
	// scenario measures as long. 0 or 1: every scenario once, in order.
	Rounds int
	// OthersOnce: the scenarios no ratio compares run one round only.
	OthersOnce bool
}

// Duration is how long the measured load lasts, per round.
func (l Load) Duration() time.Duration { return totalDuration(l.Stages) }

// warmupStages hold the peak of the stages for the warm-up.
func (l Load) warmupStages() []Stage {
	p := peak(l.Stages)
	return []Stage{{0, p}, {l.Warmup, p}}
}

// StagesString gives the stages as --stages takes them.
func (l Load) StagesString() string {
	parts := make([]string, len(l.Stages))
	for i, s := range l.Stages {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// profile is a named load shape with the scenarios it runs by default.
type profile struct {
	stages     []Stage
	warmup     time.Duration
	rounds     int
	othersOnce bool
	scenarios  []string
}

// Profiles are the named load shapes. seed is the original k6 test: ramp to
// 100 VUs over 30 s, hold for 60 s, ramp down over 30 s. quick has the same
// shape, short enough that make bench-quick stays around two minutes.
// ingest measures only the write path's front (the sink is stopped): 100
// VUs for 20 s after a 15 s warm-up: the shape the issue-11 comparison with
// a fire-and-forget server used, warmed longer because the broker's JVM
// was still compiling after 5 s (kafka after noop: broker 40 µs per post
// after a 5 s warm-up, 15 µs after 15 s, in back-to-back runs).
//
// quick and ingest measure in rounds (see Load.Rounds): quick's
// scenarios take turns three times (18 s measured each), ingest's four
// times 5 s (20 s each, batch too). quick's batch runs one round: three
// would store and read back ~1.9 million posts through FerretDB instead of
// ~0.9 million, and the profile took 13.5 minutes instead of 5. seed keeps
// the original test's one long shape.
//
// quick and ingest run orders after kafka — one ~600-byte order of the
// declared stream orders per request, taking turns with kafka so that their
// CPU per document compares on the same machine — when the streams file
// declares orders (the command leaves it out otherwise, and says so); seed
// keeps the original test's scenarios.
//
// quick runs update (creates, patches and deletes of posts, checked
// against a model; Prefer: wait measured) first, one round: it needs the
// sink, which quick runs (ingest stops it, so ingest leaves update out),
// and it runs while the posts collection is small. The sink reads the
// stored state of every document a batch changes, by _id: MongoDB serves
// that from the _id index, FerretDB 1.x scans the collection, so after
// kafka's ~200,000 posts each such read took seconds and every
// Prefer: wait=5 ran out (measured); first, it measures the pipeline, not
// FerretDB's scans.
//
// The warm-up runs before every scenario rather than once per run: each
// scenario drives a different path (no broker, produce without waiting,
// acks=all, the store, large batches, reads), and a warm-up of one path
// leaves another cold — the first kafka scenario after noop used to
// measure the broker's JIT, not the pipeline.
var profiles = map[string]profile{
	"seed": {stages: []Stage{{30 * time.Second, 100}, {60 * time.Second, 100}, {30 * time.Second, 0}}, warmup: 10 * time.Second,
		scenarios: []string{"noop", "fire-and-forget", "kafka", "direct", "batch", "read", "mixed"}},
	"quick": {stages: []Stage{{1 * time.Second, 50}, {4 * time.Second, 50}, {1 * time.Second, 0}}, warmup: 3 * time.Second, rounds: 3, othersOnce: true,
		scenarios: []string{"update", "noop", "fire-and-forget", "kafka", "orders", "direct", "batch"}},
	"ingest": {stages: []Stage{{0, 100}, {5 * time.Second, 100}}, warmup: 15 * time.Second, rounds: 4,
		scenarios: []string{"noop", "fire-and-forget", "kafka", "orders", "batch"}},
}

// ProfileNames lists the profiles, for help texts.
func ProfileNames() []string { return []string{"seed", "quick", "ingest"} }

// ProfileScenarios are the scenarios a profile runs unless told otherwise.
func ProfileScenarios(name string) ([]string, error) {
	p, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown profile %q (known: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return slices.Clone(p.scenarios), nil
}

// ResolveLoad builds the load from a profile and the flags that override
// it: stages (closed model, "30s:60,60s:100,30s:0"), or rate, which selects
// the open model and is either a constant rate ("500", lasting duration,
// or as long as the profile when duration is zero) or rate stages
// ("10s:200,30s:200,5s:0", ramping from 0 requests/s).
func ResolveLoad(profile, stages, rate string, duration time.Duration) (Load, error) {
	prof, ok := profiles[profile]
	base := prof.stages
	if !ok {
		return Load{}, fmt.Errorf("unknown profile %q (known: %s)", profile, strings.Join(ProfileNames(), ", "))
	}
	switch {
	case stages != "" && rate != "":
		return Load{}, fmt.Errorf("--stages (virtual users) and --rate (arrival rate) exclude each other")
	case rate != "":
		if r, err := strconv.Atoi(rate); err == nil {
			if r <= 0 {
				return Load{}, fmt.Errorf("--rate %d: must be positive", r)
			}
			if duration <= 0 {
				duration = totalDuration(base)
			}
			return Load{Model: Open, Stages: []Stage{{0, r}, {duration, r}}, Source: "--rate", Warmup: prof.warmup, Rounds: prof.rounds, OthersOnce: prof.othersOnce}, nil
		}
		if duration > 0 {
			return Load{}, fmt.Errorf("--duration goes with a constant --rate, not with rate stages")
		}
		st, err := ParseStages(rate)
		if err != nil {
			return Load{}, fmt.Errorf("--rate: %w", err)
		}
		return Load{Model: Open, Stages: st, Source: "--rate", Warmup: prof.warmup, Rounds: prof.rounds, OthersOnce: prof.othersOnce}, nil
	case stages != "":
		st, err := ParseStages(stages)
		if err != nil {
			return Load{}, fmt.Errorf("--stages: %w", err)
		}
		return Load{Model: Closed, Stages: st, Source: "--stages", Warmup: prof.warmup, Rounds: prof.rounds, OthersOnce: prof.othersOnce}, nil
	case duration > 0:
		return Load{}, fmt.Errorf("--duration goes with a constant --rate; the closed model takes --stages")
	}
	return Load{Model: Closed, Stages: append([]Stage(nil), base...), Source: "profile " + profile, Warmup: prof.warmup, Rounds: prof.rounds, OthersOnce: prof.othersOnce}, nil
}

// ParseStages reads "30s:100,60s:100,30s:0": duration:target pairs.
func ParseStages(s string) ([]Stage, error) {
	var out []Stage
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		dur, target, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("stage %q: want duration:target, e.g. 30s:100", part)
		}
		d, err := time.ParseDuration(dur)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("stage %q: bad duration %q", part, dur)
		}
		n, err := strconv.Atoi(target)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("stage %q: bad target %q (a whole number, 0 or more)", part, target)
		}
		out = append(out, Stage{d, n})
	}
	if totalDuration(out) <= 0 {
		return nil, fmt.Errorf("%q lasts no time at all", s)
	}
	return out, nil
}

func totalDuration(stages []Stage) time.Duration {
	var d time.Duration
	for _, s := range stages {
		d += s.Duration
	}
	return d
}

// peak is the highest target of the stages.
func peak(stages []Stage) int {
	m := 0
	for _, s := range stages {
		m = max(m, s.Target)
	}
	return m
}

// stageAt returns the index of the stage running at elapsed (the last one
// once all have run).
func stageAt(stages []Stage, elapsed time.Duration) int {
	for i, s := range stages {
		if elapsed < s.Duration {
			return i
		}
		elapsed -= s.Duration
	}
	return len(stages) - 1
}

// vusAt is the number of virtual users the closed model runs at elapsed.
// Like k6's ramping-vus executor it starts from 0 and interpolates linearly
// within a stage, truncating the change towards the previous target: a
// ramp up adds a user only once a whole one is due, a ramp down removes
// one only once a whole one is due.
func vusAt(stages []Stage, elapsed time.Duration) int {
	from := 0
	for _, s := range stages {
		if elapsed < s.Duration {
			delta := int64(s.Target-from) * int64(elapsed) / int64(s.Duration)
			return from + int(delta)
		}
		elapsed -= s.Duration
		from = s.Target
	}
	return from
}

// arrivals gives the intended send times of the open model: offsets from
// the start at which the i-th request is due, where the number due by time
// t is the integral of the rate up to t. Within a stage the rate goes
// linearly from r0 to r1 over D, so the count after t is
// r0·t + (r1−r0)·t²/(2D) and the k-th arrival solves that quadratic.
type arrivals struct {
	stages []Stage
	stage  int           // current stage
	begin  time.Duration // its start offset
	from   float64       // rate at its start
	before float64       // arrivals due before it started
	next   int           // the next arrival's number, from 1
}

func newArrivals(stages []Stage) *arrivals { return &arrivals{stages: stages} }

// Next returns the offset of the next arrival, or false once the stages
// have ended. Arrival k (from 0) is due when k arrivals are due before it,
// so a constant rate sends its first request at once.
func (a *arrivals) Next() (time.Duration, bool) {
	k := float64(a.next)
	for a.stage < len(a.stages) {
		s := a.stages[a.stage]
		d, r0, r1 := s.Duration.Seconds(), a.from, float64(s.Target)
		in := (r0 + r1) / 2 * d // arrivals due within this stage
		if d > 0 && k < a.before+in-1e-9 {
			t := solveArrival(r0, r1, d, k-a.before)
			a.next++
			return a.begin + time.Duration(t*float64(time.Second)), true
		}
		a.before += in
		a.begin += s.Duration
		a.from = r1
		a.stage++
	}
	return 0, false
}

// Count is how many arrivals the stages hold in all.
func (a *arrivals) Count() int {
	total, from := 0.0, 0.0
	for _, s := range a.stages {
		total += (from + float64(s.Target)) / 2 * s.Duration.Seconds()
		from = float64(s.Target)
	}
	return int(math.Ceil(total - 1e-9))
}

// solveArrival returns t in [0, d] where r0·t + (r1−r0)·t²/(2d) = k, in the
// form 2k / (r0 + √(r0² + 2(r1−r0)k/d)), which stays exact for a flat rate
// and for a ramp from zero alike.
func solveArrival(r0, r1, d, k float64) float64 {
	if k <= 0 {
		return 0
	}
	den := r0 + math.Sqrt(math.Max(r0*r0+2*(r1-r0)*k/d, 0))
	if den <= 0 {
		return d
	}
	return min(2*k/den, d)
}
