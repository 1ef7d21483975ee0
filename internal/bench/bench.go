// Package bench is the load test behind 'postpipe bench'. It drives a
// running server through scenarios — the no-I/O ceiling, the Kafka path,
// the direct store path, batches, reads — one after another or taking
// turns in rounds, with the same load shape (virtual users ramping through
// k6-style stages, or an open arrival rate measured without coordinated
// omission), records the CPU each process spends per post, latencies in HDR
// histograms and a per-second series, checks in the store (or, without a
// sink, on the topic) that every post Kafka accepted landed exactly once,
// and writes results.json, report.md and a self-contained report.html.
package bench

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// Config is one bench run.
type Config struct {
	Target    string   // base URL of the server, e.g. http://127.0.0.1:8080
	Load      Load     // see ResolveLoad
	Scenarios []string // run in this order
	Out       string   // results directory; empty: bench-results/<timestamp>

	ContentBytes int           // length of each post's content
	BatchSize    int           // posts per request in the batch scenario
	Timeout      time.Duration // per request
	MaxVUs       int           // open model: most requests in flight

	// The store the sink writes to: the accepted posts are looked for
	// there. Without it, but with KafkaBrokers and KafkaTopic (no sink
	// running), they are looked for on the topic; with neither, nowhere.
	MongoURI, MongoDatabase, MongoCollection string
	DrainTimeout                             time.Duration // longest wait for the sink after a scenario
	// SinkBatchWait is the sink's POSTPIPE_SINK_BATCH_WAIT, which the
	// update scenario's Prefer: wait latency is compared with; 0: the
	// bench's own environment's, else the sink's default.
	SinkBatchWait time.Duration
	KafkaBrokers  []string
	KafkaTopic    string
	// KafkaSecurity is how the topic check connects to the brokers (TLS,
	// SASL): the Kafka section's settings, as the server's clients use
	// them (kafka.Opts). Logger gets that client's records; nil: none.
	KafkaSecurity kafka.Security
	Logger        *slog.Logger

	// Streams are the server's streams, from the streams file it runs
	// with: where a scenario of a declared stream (orders) finds its
	// stream's topic and collection. nil: posts alone.
	Streams *stream.Set

	// Processes whose CPU each scenario's measured window is accounted
	// for, beside the bench's own; ProcRoot is where /proc is.
	Processes []ProcessGroup
	ProcRoot  string

	KafkaLabel, StoreLabel string // what the server runs on, for the report
	// ServerPID, when the server runs on this machine, has its resident
	// memory sampled during each scenario.
	ServerPID int
	IdleCheck time.Duration
	Args      []string  // the command line after 'postpipe bench', for the report
	Version   string    // of postpipe
	Progress  io.Writer // one line per second; nil: none
	Notes     []string  // for the report's notes, first (e.g. a scenario the profile left out)
}

// Run runs the scenarios against cfg.Target and writes the results. It
// returns an error — after writing what it measured — when it was
// interrupted or the store check found a post lost or duplicated.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	scs, err := cfg.check()
	if err != nil {
		return nil, err
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	started := time.Now()
	res := &Results{
		Run: RunInfo{
			ID:              runID(started),
			Version:         cfg.Version,
			Command:         commandLine(cfg.Args),
			Target:          cfg.Target,
			LoadFrom:        cfg.Load.Source,
			Model:           cfg.Load.Model,
			Stages:          cfg.Load.StagesString(),
			ContentBytes:    cfg.ContentBytes,
			BatchSize:       cfg.BatchSize,
			TimeoutS:        cfg.Timeout.Seconds(),
			DrainTimeoutS:   cfg.DrainTimeout.Seconds(),
			StartedAt:       started.UTC(),
			ScenariosWanted: cfg.Scenarios,
			ServerPID:       cfg.ServerPID,
			WarmupS:         cfg.Load.Warmup.Seconds(),
			Rounds:          max(cfg.Load.Rounds, 1),
			Processes:       map[string][]int{BenchClient: {os.Getpid()}},
			Verify:          "none",
		},
		Ratios:    []Ratio{},
		CPURatios: []CPURatio{},
		Notes:     append([]string{}, cfg.Notes...),
		Dir:       cmp.Or(cfg.Out, filepath.Join("bench-results", started.Format("20060102-150405"))),
	}
	if cfg.Load.Model == Open {
		res.Run.MaxVUs = cfg.MaxVUs
	}
	declared, err := declaredStreams(cfg, scs)
	if err != nil {
		return nil, err
	}
	conns, err := newLoadConns(cfg.Target, cfg.Timeout, nil)
	if err != nil {
		return nil, err
	}
	client := newClient(cfg.Timeout)
	defer client.CloseIdleConnections()
	if err := preflight(ctx, client, cfg.Target, scs); err != nil {
		return nil, err
	}

	for _, g := range cfg.Processes {
		res.Run.Processes[g.Name] = g.PIDs
	}
	var (
		ver  *verifier
		tver *topicVerifier
	)
	switch {
	case !anyVerified(scs):
		res.Notes = append(res.Notes, "verification: none of the scenarios writes through Kafka (kafka, batch, mixed)")
	case cfg.MongoURI == "" && len(cfg.KafkaBrokers) > 0 && cfg.KafkaTopic != "":
		topics := verifiedTopics(cfg, scs, declared)
		if tver, err = openTopicVerifier(ctx, cfg, topics); err != nil {
			return nil, fmt.Errorf("topic check: %w", err)
		}
		defer tver.close()
		res.Run.Verify = "topic"
		res.Notes = append(res.Notes, fmt.Sprintf("verification on the topic%s %s (no store given: the sink was not running): every post answered 202 must be a record there, keyed by its id, exactly once",
			plural(len(topics)), strings.Join(topics, ", ")))
	case cfg.MongoURI == "":
		res.Notes = append(res.Notes, "verification skipped: no store given (--mongodb-uri or POSTPIPE_MONGODB_URI) and no topic (--kafka-brokers, --kafka-topic); lost and duplicated posts were not counted")
	default:
		res.Run.Verify = "store"
		if ver, err = openVerifier(ctx, cfg.MongoURI, cfg.MongoDatabase, cfg.MongoCollection, cfg.DrainTimeout, progress); err != nil {
			return nil, fmt.Errorf("store at %s: %w", config.RedactURI(cfg.MongoURI), config.RedactError(err, cfg.MongoURI))
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = ver.close(cctx) // the results are in; a failed goodbye changes none
		}()
	}

	fmt.Fprintf(progress, "checking that the machine is idle (%s)…\n", cfg.IdleCheck)
	machine, note, err := probeMachine(ctx, cfg.IdleCheck, cfg.KafkaLabel, cfg.StoreLabel)
	if err != nil {
		return nil, fmt.Errorf("check the machine: %w", err)
	}
	res.Machine = machine
	if note != "" {
		fmt.Fprintln(progress, "warning:", note)
		res.Notes = append(res.Notes, note)
	}

	r := &runner{cfg: cfg, client: client, conns: conns, ver: ver, tver: tver, streams: declared, words: newWords(cfg.ContentBytes), id: res.Run.ID, progress: progress,
		procs: procfs{root: cmp.Or(cfg.ProcRoot, "/proc")}, groups: append(slices.Clone(cfg.Processes), ProcessGroup{Name: BenchClient, PIDs: []int{os.Getpid()}})}
	res.Run.CPUAffinity = r.procs.affinities(r.groups)
	if cfg.ServerPID > 0 {
		res.Run.ServerGOMAXPROCS = r.procs.environ(cfg.ServerPID, "GOMAXPROCS")
	}
	var (
		verified []*Verification
		problems []error
		runs     = make([]*scenarioRun, len(scs))
	)
	finish := func(st *scenarioRun) {
		sr, err := r.finish(ctx, st)
		if err != nil {
			problems = append(problems, err)
			res.Notes = append(res.Notes, err.Error())
		}
		if sr.Verification != nil && !sr.Unpromised {
			verified = append(verified, sr.Verification)
		}
		if sr.Unsent > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d of the requests due were never sent: the server (or --max-vus %d) could not keep up with the arrival rate", st.sc.name, sr.Unsent, cfg.MaxVUs))
		}
		res.Scenarios = append(res.Scenarios, sr)
		st.done = true
	}
	// finishBegun checks and sums up the scenarios begun and not yet
	// finished: at a turn that checks, every one of them had its last turn.
	finishBegun := func() {
		for _, st := range runs {
			if st != nil && !st.done {
				finish(st)
			}
		}
	}
	for _, t := range turns(scs, res.Run.Rounds, cfg.Load.OthersOnce) {
		if ctx.Err() != nil {
			break
		}
		st := runs[t.scenario]
		if st == nil {
			st = r.begin(ctx, scs[t.scenario])
			runs[t.scenario] = st
		}
		if st.err == nil {
			r.turn(ctx, st, t)
		}
		if t.checks {
			finishBegun()
		}
	}
	finishBegun() // the run was interrupted: what began is reported as it stands
	res.Verification = combine(verified)
	res.Ratios = ratios(res.Scenarios)
	res.CPURatios = cpuRatios(res.Scenarios)
	res.WaitShare = waitShare(res.Scenarios)
	if v := res.Verification; v != nil && (v.Lost > 0 || v.Duplicated > 0) {
		err := fmt.Errorf("the store check found %d lost and %d duplicated posts", v.Lost, v.Duplicated)
		if !v.Drained {
			err = fmt.Errorf("%w (not all accepted posts were stored within --drain-timeout %s: the sink may still be writing)", err, cfg.DrainTimeout)
		}
		problems = append(problems, err)
	}
	for _, s := range res.Scenarios {
		if c := s.Update; c != nil && c.Mismatches() > 0 {
			problems = append(problems, fmt.Errorf("the model check of %s found %d ids lost, %d wrong and %d Prefer: wait answers that were not the model's state", s.Name, c.Lost, c.Wrong, c.WaitMismatched))
		}
	}
	if ctx.Err() != nil {
		res.Notes = append(res.Notes, "interrupted: the results are partial")
		problems = append(problems, fmt.Errorf("interrupted: %w", ctx.Err()))
	}
	res.Run.FinishedAt = time.Now().UTC()

	if err := write(res); err != nil {
		return res, errors.Join(append(problems, err)...)
	}
	return res, errors.Join(problems...)
}

// check fills the defaults in and refuses settings that cannot work.
func (cfg *Config) check() ([]scenario, error) {
	cfg.Target = strings.TrimRight(cfg.Target, "/")
	u, err := url.Parse(cfg.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--target %q: want a URL like http://127.0.0.1:8080", cfg.Target)
	}
	scs, err := lookupScenarios(cfg.Scenarios)
	if err != nil {
		return nil, fmt.Errorf("--scenarios: %w", err)
	}
	if len(cfg.Load.Stages) == 0 || cfg.Load.Duration() <= 0 {
		return nil, errors.New("the load has no stages")
	}
	if cfg.Load.Model == Closed && peak(cfg.Load.Stages) == 0 {
		return nil, errors.New("--stages: no stage has a virtual user")
	}
	if cfg.Load.Model == Open && cfg.MaxVUs <= 0 {
		return nil, fmt.Errorf("--max-vus %d: must be positive", cfg.MaxVUs)
	}
	if cfg.ContentBytes < 1 || cfg.ContentBytes > post.MaxContentLen {
		return nil, fmt.Errorf("--content-bytes %d: must be within 1…%d", cfg.ContentBytes, post.MaxContentLen)
	}
	if cfg.BatchSize < 1 || cfg.BatchSize > config.MaxBatchPosts {
		return nil, fmt.Errorf("--batch-size %d: must be within 1…%d", cfg.BatchSize, config.MaxBatchPosts)
	}
	if cfg.Timeout <= 0 {
		return nil, fmt.Errorf("--timeout %s: must be positive", cfg.Timeout)
	}
	if cfg.DrainTimeout <= 0 {
		return nil, fmt.Errorf("--drain-timeout %s: must be positive", cfg.DrainTimeout)
	}
	if cfg.Load.Rounds < 0 || cfg.Load.Rounds > maxRounds {
		return nil, fmt.Errorf("--rounds %d: must be within 1…%d", cfg.Load.Rounds, maxRounds)
	}
	cfg.IdleCheck = cmp.Or(cfg.IdleCheck, time.Second)
	cfg.MongoDatabase = cmp.Or(cfg.MongoDatabase, "postpipe")
	cfg.MongoCollection = cmp.Or(cfg.MongoCollection, "posts")
	return scs, nil
}

// declaredStreams are the declared streams the scenarios write to, by
// name, each checked to take the bench's documents (checkStreamScenario).
func declaredStreams(cfg Config, scs []scenario) (map[string]*stream.Stream, error) {
	out := map[string]*stream.Stream{}
	for _, sc := range scs {
		if sc.stream == "" {
			continue
		}
		st, err := checkStreamScenario(cfg.Streams, sc, cfg.ContentBytes)
		if err != nil {
			return nil, err
		}
		out[sc.stream] = st
	}
	return out, nil
}

// verifiedTopics are the topics the topic check reads: posts' and those of
// the declared streams verified scenarios write to.
func verifiedTopics(cfg Config, scs []scenario, declared map[string]*stream.Stream) []string {
	topics := []string{cfg.KafkaTopic}
	for _, sc := range scs {
		if sc.verify && sc.stream != "" && !slices.Contains(topics, declared[sc.stream].Topic) {
			topics = append(topics, declared[sc.stream].Topic)
		}
	}
	return topics
}

func anyVerified(scs []scenario) bool {
	for _, sc := range scs {
		if sc.verify {
			return true
		}
	}
	return false
}

// runner runs the scenarios of one run, one after another.
type runner struct {
	cfg      Config
	client   *http.Client              // off the measured path
	conns    *loadConns                // the load's: each scenario has fresh ones
	ver      *verifier                 // nil: no store check
	tver     *topicVerifier            // nil: no topic check
	streams  map[string]*stream.Stream // the declared streams scenarios write to
	words    *words
	id       string // the run's, in every post's markers
	progress io.Writer
	procs    procfs
	groups   []ProcessGroup // whose CPU is accounted, the bench's own last

	// What the read scenarios read: posts of this run's earlier scenarios
	// that the store check found stored, and their authors.
	readIDs, readAuthors []string
}

// maxReadIDs bounds the ids kept for the read scenarios.
const maxReadIDs = 200_000

// seedPosts is how many posts the read scenarios store first (through
// /v1/posts:direct) when no earlier scenario left any known to be stored.
const seedPosts = 200

// maxRounds bounds --rounds: more turns than this measure the switching.
const maxRounds = 100

// A turn is one scenario's go in one round.
type turn struct {
	scenario int // index in the run's scenarios
	round    int // from 0
	rounds   int // how many the scenario gets
	// checks: after this turn, the scenarios that had their last turn are
	// checked and summed up — not between the turns of those taking turns,
	// where a check of minutes would part the last round from the others.
	checks bool
}

// turns orders the run: with more than one round, the scenarios a ratio
// compares take turns round after round, and the others follow, each
// running its rounds one after another — as long a measured window as the
// compared ones, without lengthening theirs — or one round (othersOnce).
//
// update runs before all of them, once: the sink reads the stored state of
// every document it changes by _id, which FerretDB answers by scanning the
// collection, so update measures the pipeline only while the collection is
// small (docs/benchmark.md).
func turns(scs []scenario, rounds int, othersOnce bool) []turn {
	var first, together, after []int
	for i, sc := range scs {
		switch {
		case sc.update:
			first = append(first, i)
		case rounds > 1 && compared(sc.name):
			together = append(together, i)
		default:
			after = append(after, i)
		}
	}
	var out []turn
	for _, i := range first {
		out = append(out, turn{scenario: i, round: 0, rounds: 1, checks: true})
	}
	for round := range rounds {
		for _, i := range together {
			out = append(out, turn{scenario: i, round: round, rounds: rounds})
		}
	}
	if n := len(out); n > len(first) {
		out[n-1].checks = true
	}
	others := rounds
	if othersOnce {
		others = 1
	}
	for _, i := range after {
		for round := range others {
			out = append(out, turn{scenario: i, round: round, rounds: others, checks: round == others-1})
		}
	}
	return out
}

// scenarioRun is one scenario across its turns: what it measured so far
// and what its check needs.
type scenarioRun struct {
	sc      scenario
	err     error // it could not start: no turn runs, finish reports this
	note    error // said in the notes, measured anyway
	verify  bool
	ver     *verifier       // the store check of its collection; nil: none
	topic   string          // where its posts go: posts' topic, or its stream's
	offsets map[int32]int64 // the topic's ends before its first warm-up
	pool    *readPool
	docs    int64
	ff0     *FireAndForgetOutcome
	sender  *sender   // its posts' numbering goes on from turn to turn
	rec     *recorder // nil until its first measured window

	promised    promises // warm-up included
	warmReqs    int64
	elapsed     time.Duration
	unsent      int64
	rssMax      float64
	cpu         map[string]float64
	producer    producerWindows // the API's producer over the measured windows
	rounds      []RoundResult
	interrupted bool
	done        bool
}

// begin prepares a scenario's first turn: where its check starts from,
// what it reads.
func (r *runner) begin(ctx context.Context, sc scenario) *scenarioRun {
	st := &scenarioRun{sc: sc, verify: sc.verify && (r.ver != nil || r.tver != nil), cpu: map[string]float64{}, topic: r.cfg.KafkaTopic, ver: r.ver}
	if ds := r.streams[sc.stream]; ds != nil {
		st.topic = ds.Topic
		if r.ver != nil {
			st.ver = r.ver.in(ds.Collection)
		}
	}
	if st.verify && r.tver != nil {
		var err error
		if st.offsets, err = r.tver.ends(ctx, st.topic); err != nil {
			st.err = fmt.Errorf("%s: %w", sc.name, err)
			return st
		}
	}
	if sc.reads > 0 {
		st.pool, st.note = r.readPool(ctx, sc)
		if r.ver != nil {
			st.docs, _ = r.ver.count(ctx)
		}
	}
	if sc.name == "fire-and-forget" {
		st.ff0, _ = r.fireAndForgetCounts(ctx)
	}
	st.sender = &sender{sc: sc, posts: newPosts(r.words, r.id, sc.name, r.cfg.ContentBytes), batchSize: r.cfg.BatchSize, pool: st.pool}
	if sc.stream == ordersStream {
		st.sender.orders = newOrders(r.words, r.id, sc.name, time.Now())
	}
	if sc.update {
		if st.ver == nil {
			st.err = fmt.Errorf("%s: its ops are checked in the store, against a model: give the store the sink writes to (--mongodb-uri or POSTPIPE_MONGODB_URI), with the sink running, or leave %s out of --scenarios", sc.name, sc.name)
			return st
		}
		st.sender.update = newUpdateModel(r.words, r.id, sc.name, r.cfg.ContentBytes)
	}
	return st
}

// turn runs one of a scenario's turns — its warm-up first, in its first —
// and, when its posts go to the store, waits for the sink to store them,
// so that no backlog of this turn takes the CPU from the next.
func (r *runner) turn(ctx context.Context, st *scenarioRun, t turn) {
	before := int64(-1)
	if st.verify && st.ver != nil {
		if n, err := st.ver.count(ctx); err == nil {
			before = n
		}
	}
	label := st.sc.name
	if t.rounds > 1 {
		label = fmt.Sprintf("%s (round %d of %d)", st.sc.name, t.round+1, t.rounds)
	}
	warmup := ""
	if t.round == 0 {
		warmup = fmt.Sprintf(" after a %s warm-up", r.cfg.Load.Warmup)
	}
	fmt.Fprintf(r.progress, "scenario %s: %s, %s %s%s\n", label, st.sc.path, r.cfg.Load.Model, r.cfg.Load.StagesString(), warmup)
	accepted := r.load(ctx, st, t)
	r.client.CloseIdleConnections() // its checks' connections; the load's closed with it
	if before >= 0 && accepted > 0 && ctx.Err() == nil {
		say := func(n int64) {
			fmt.Fprintf(r.progress, "%s: waiting for the sink: %d of %d accepted posts stored\n", label, n-before, accepted)
		}
		_ = st.ver.waitStored(ctx, before+accepted, time.Now().Add(r.cfg.DrainTimeout), say) // the check finds what is missing
	}
}

// finish sums a scenario's turns up and, when its posts go through Kafka
// and a store or topic is given, checks that they landed. The error says
// why the check could not be made.
func (r *runner) finish(ctx context.Context, st *scenarioRun) (ScenarioResult, error) {
	sc := st.sc
	if st.rec == nil { // it never measured: it could not start, or the run was stopped
		sr := ScenarioResult{Name: sc.name, Path: sc.path, About: sc.about, Interrupted: st.err == nil, Series: []Point{}}
		return sr, errors.Join(st.err, st.note)
	}
	sr := st.rec.result(sc.name, st.elapsed)
	sr.Path, sr.About = sc.path, sc.about
	sr.PostsPerRequest = 1
	if sc.batch {
		sr.PostsPerRequest = r.cfg.BatchSize
	}
	sr.Unsent = st.unsent
	sr.ServerRSSMaxMB = st.rssMax
	sr.Interrupted = st.interrupted || ctx.Err() != nil
	sr.WarmupS, sr.WarmupRequests = r.cfg.Load.Warmup.Seconds(), st.warmReqs
	sr.CPUSeconds = map[string]float64{}
	for k, v := range st.cpu {
		sr.CPUSeconds[k] = round3(v)
	}
	if sc.reads == 0 { // mostly reads: per request says more
		sr.CPUUsPerPost = perUnit(sr.CPUSeconds, sr.Posts)
	}
	sr.CPUUsPerRequest = perUnit(sr.CPUSeconds, sr.Requests)
	sr.Producer = st.producer.figures(st.elapsed)
	if len(st.rounds) > 1 {
		sr.Rounds = st.rounds
	}
	sr.StoreDocs = st.docs
	sr.Unpromised = sc.unpromised
	if st.ff0 != nil {
		sr.FireAndForget = r.settleFireAndForget(ctx, st.ff0)
	}
	if !st.verify || sr.Interrupted {
		return sr, st.note
	}
	if sc.update {
		c, err := r.checkUpdates(ctx, st)
		if err != nil {
			if ctx.Err() != nil {
				return sr, nil // interrupted: Run says so
			}
			return sr, errors.Join(st.note, fmt.Errorf("verification of %s failed: %w", sc.name, err))
		}
		sr.Update = c
		w := c.Wait
		fmt.Fprintf(r.progress, "%s: %d ids checked (%d live, %d deleted), %d matched, %d lost, %d wrong, %d waited answers not the model's, %d unsettled; Prefer: wait p50 %.1f ms (%.2f × the sink's batch wait), %d late, %d ran out\n",
			sc.name, c.IDsChecked, c.Live, c.Deleted, c.Matched, c.Lost, c.Wrong, c.WaitMismatched, c.Unsettled, w.P50, w.P50OverBatchWait, w.Late, w.RanOut)
		return sr, st.note
	}
	var (
		v   *Verification
		err error
	)
	measured := st.rec.promises()
	promised := promises{
		accepted: append(slices.Clip(st.promised.accepted), measured.accepted...),
		maybe:    append(slices.Clip(st.promised.maybe), measured.maybe...),
	}
	if sr.FireAndForget != nil {
		promised.refused = sr.FireAndForget.Failed // no use waiting for those
	}
	if st.ver != nil {
		// Each turn waited for its posts' count already: read them by author.
		v, err = st.ver.check(ctx, sc.name, sc.owner(), authorFor(r.id, sc.name), promised, -1)
	} else {
		v, err = r.tver.check(ctx, st.topic, st.offsets, promised)
	}
	if err != nil {
		if ctx.Err() != nil {
			return sr, nil // interrupted: Run says so
		}
		return sr, errors.Join(st.note, fmt.Errorf("verification of %s failed: %w", sc.name, err))
	}
	sr.Verification = v
	lag := fmt.Sprintf("; lag p50 %.0f ms, p99 %.0f ms", v.LagP50, v.LagP99)
	if v.Where == "topic" {
		lag = ""
	}
	fmt.Fprintf(r.progress, "%s: %d accepted, %d landed (%s), %d lost, %d duplicated%s\n",
		sc.name, v.Accepted, v.Landed, v.Where, v.Lost, v.Duplicated, lag)
	if v.Where == "store" && v.Lost == 0 && !sc.unpromised && sc.reads == 0 && sc.stream == "" {
		r.readAuthors = append(r.readAuthors, authorFor(r.id, sc.name))
		for _, a := range promised.accepted {
			if len(r.readIDs) >= maxReadIDs {
				break
			}
			r.readIDs = append(r.readIDs, a.ID)
		}
	}
	return sr, st.note
}

// readPool is what a reading scenario reads: the posts earlier scenarios
// stored, or, when none is known to be stored, seedPosts posts it stores
// itself through /v1/posts:direct first.
func (r *runner) readPool(ctx context.Context, sc scenario) (*readPool, error) {
	if len(r.readIDs) > 0 {
		return newReadPool(r.readIDs, r.readAuthors), nil
	}
	author := authorFor(r.id, sc.name+"-seed")
	ps := newPosts(r.words, r.id, sc.name+"-seed", r.cfg.ContentBytes)
	ps.author = author
	var ids []string
	for range seedPosts {
		in := ps.next()
		body, _ := json.Marshal(in) // a post.Input always encodes
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.Target+"/v1/posts:direct", bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s: seed posts to read: %w", sc.name, err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.client.Do(req)
		if err != nil {
			return newReadPool(ids, []string{author}), fmt.Errorf("%s: seed posts to read: %w", sc.name, err)
		}
		var a struct {
			ID string `json:"id"`
		}
		derr := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes)).Decode(&a)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || derr != nil || a.ID == "" {
			return newReadPool(ids, []string{author}), fmt.Errorf("%s: seed posts to read: POST /v1/posts:direct answered %d", sc.name, resp.StatusCode)
		}
		ids = append(ids, a.ID)
	}
	fmt.Fprintf(r.progress, "%s: no earlier scenario's posts known stored; stored %d posts through /v1/posts:direct to read\n", sc.name, len(ids))
	return newReadPool(ids, []string{author}), nil
}

// fireAndForgetCounts asks the server how its fire-and-forget posts ended.
func (r *runner) fireAndForgetCounts(ctx context.Context) (*FireAndForgetOutcome, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.Target+"/v1/bench/fire-and-forget", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/bench/fire-and-forget answered %d", resp.StatusCode)
	}
	var c FireAndForgetOutcome
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes)).Decode(&c); err != nil {
		return nil, fmt.Errorf("GET /v1/bench/fire-and-forget: %w", err)
	}
	return &c, nil
}

// settleFireAndForget waits, up to ten seconds, until every post the
// scenario sent is acknowledged or refused, and returns the scenario's
// share of the server's counts (before0 is from just before it).
func (r *runner) settleFireAndForget(ctx context.Context, before0 *FireAndForgetOutcome) *FireAndForgetOutcome {
	var out *FireAndForgetOutcome
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := r.fireAndForgetCounts(ctx)
		if err != nil {
			return out
		}
		out = &FireAndForgetOutcome{Sent: c.Sent - before0.Sent, Acknowledged: c.Acknowledged - before0.Acknowledged, Failed: c.Failed - before0.Failed}
		out.InFlight = out.Sent - out.Acknowledged - out.Failed
		if out.InFlight <= 0 || !time.Now().Before(deadline) || sleep(ctx, 200*time.Millisecond) != nil {
			return out
		}
	}
}

// load runs one turn of the scenario — warmed up first in its first — and
// adds what it measured to st. It returns how many posts the server
// promised to store in it (warm-up included).
func (r *runner) load(ctx context.Context, st *scenarioRun, t turn) int64 {
	cfg := r.cfg
	sc := st.sc
	// The turn's own connections, cold at its start (as every turn's),
	// warm from its warm-up into its measured window.
	conns := r.conns.fresh()
	defer conns.close()
	s := st.sender
	s.conns, s.path = conns, conns.basePath+sc.path
	if sc.reads > 0 && sc.path != "/v1/posts" {
		s.path = conns.basePath + "/v1/posts" // only the writes of a mixed scenario use it
	}
	var accepted int64
	if t.round == 0 && cfg.Load.Warmup > 0 && ctx.Err() == nil {
		wl := Load{Model: cfg.Load.Model, Stages: cfg.Load.warmupStages()}
		wrec := newRecorder(time.Now())
		s.rec, s.warm = wrec, true
		r.drive(ctx, wl, wrec, s, sc.name+" warm-up")
		s.warm = false
		warm := wrec.promises()
		st.promised.accepted = append(st.promised.accepted, warm.accepted...)
		st.promised.maybe = append(st.promised.maybe, warm.maybe...)
		accepted += int64(len(warm.accepted))
		st.warmReqs, _ = wrec.totals()
	}

	round := 0
	if t.rounds > 1 {
		round = t.round + 1
	}
	// The producer's counters just before and just after the measured
	// window, outside it (and outside its CPU figures).
	prod0, okProd0 := scrapeProducer(ctx, r.client, cfg.Target)
	r.client.CloseIdleConnections() // no idle connection of the bench's at the server through the window
	start := time.Now()
	if st.rec == nil {
		st.rec = newRecorder(start)
		st.rec.round = round
	} else {
		st.rec.resume(start, round)
	}
	rec := st.rec
	reqs0, posts0 := rec.counts()
	promised0 := len(rec.promises().accepted)
	s.rec = rec
	cpu0 := r.procs.sample(r.groups)
	label := sc.name
	if round > 0 {
		label = fmt.Sprintf("%s r%d", sc.name, round)
	}
	elapsed, unsent, rssMax := r.drive(ctx, cfg.Load, rec, s, label)
	cpu1 := r.procs.sample(r.groups)
	prod1, okProd1 := scrapeProducer(ctx, r.client, cfg.Target)
	st.producer.add(prod0, okProd0, prod1, okProd1)

	turnCPU := cpuSeconds(cpu0, cpu1)
	for k, v := range turnCPU {
		st.cpu[k] += v
	}
	st.elapsed += elapsed
	st.unsent += unsent
	st.rssMax = max(st.rssMax, rssMax)
	st.interrupted = st.interrupted || ctx.Err() != nil
	reqs1, posts1 := rec.counts()
	if round > 0 {
		rr := RoundResult{Round: round, Requests: reqs1 - reqs0, Posts: posts1 - posts0, DurationS: round3(elapsed.Seconds())}
		if secs := elapsed.Seconds(); secs > 0 {
			rr.PostsPerS = round3(float64(rr.Posts) / secs)
		}
		if sc.reads == 0 {
			rr.CPUUsPerPost = perUnit(turnCPU, rr.Posts)
		}
		st.rounds = append(st.rounds, rr)
	}
	p := rec.promises()
	accepted += int64(len(p.accepted) - promised0)
	// The recorder keeps the measured windows' promises; the warm-ups'
	// are in st.promised, which finish hands to the check with them.
	return accepted
}

// drive puts load on the sender's scenario until the stages end, recording
// into rec, and returns how long it lasted, the requests due but never
// sent (open model) and the server's peak resident memory.
func (r *runner) drive(ctx context.Context, load Load, rec *recorder, s *sender, label string) (elapsed time.Duration, unsent int64, rssMax float64) {
	cfg := r.cfg
	start := rec.start

	var (
		vus  atomic.Int64 // users running (closed) or requests in flight (open)
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() { sample(done, rec, &vus, start, load, label, r.progress) })
	if cfg.ServerPID > 0 {
		wg.Go(func() { rssMax = watchRSS(done, cfg.ServerPID) })
	}
	if load.Model == Open {
		unsent = runOpen(ctx, load.Stages, start, cfg.MaxVUs, s.shoot, &vus)
	} else {
		runClosed(ctx, load.Stages, start, s.shoot, &vus)
	}
	elapsed = time.Since(start)
	close(done)
	wg.Wait()
	return elapsed, unsent, rssMax
}

// ratioPairs are the write paths the run compares: kafka ÷ fire-and-forget
// is the price of the promise, kafka ÷ noop that of all the I/O.
var ratioPairs = [][2]string{{"kafka", "fire-and-forget"}, {"kafka", "noop"}, {"kafka", "direct"}, {"fire-and-forget", "noop"}}

// cpuRatioPairs are the scenarios whose CPU per document the run compares:
// orders ÷ kafka is what a ~600-byte document of a declared stream (its
// schema checked, the generic path) costs against a post (the typed path);
// the issue wants it within 1.3.
var cpuRatioPairs = [][2]string{{"orders", "kafka"}}

// compared says whether a ratio compares the scenario: those take turns.
func compared(name string) bool {
	for _, p := range slices.Concat(ratioPairs, cpuRatioPairs) {
		if p[0] == name || p[1] == name {
			return true
		}
	}
	return false
}

// cpuBasis is what a CPU ratio adds up: api + broker, the processes a
// document passes through on its way to the 202, when both were measured in
// both scenarios; the api alone when only it was; nothing else (the bench
// client's own CPU is no price of the server's).
func cpuBasis(of, over map[string]float64) (name string, procs []string) {
	has := func(p string) bool {
		_, a := of[p]
		_, b := over[p]
		return a && b
	}
	switch {
	case has("api") && has("broker"):
		return "api + broker", []string{"api", "broker"}
	case has("api"):
		return "api", []string{"api"}
	}
	return "", nil
}

func sumOf(m map[string]float64, procs []string) float64 {
	var t float64
	for _, p := range procs {
		t += m[p]
	}
	return t
}

// cpuRatios compares the CPU per accepted document of the pairs in
// cpuRatioPairs, over all their rounds and in each: none where a scenario
// of the pair did not run or no server process was measured (--processes).
func cpuRatios(scs []ScenarioResult) []CPURatio {
	byName := map[string]ScenarioResult{}
	for _, s := range scs {
		if !s.Interrupted {
			byName[s.Name] = s
		}
	}
	out := []CPURatio{}
	for _, pair := range cpuRatioPairs {
		of, over := byName[pair[0]], byName[pair[1]]
		basis, procs := cpuBasis(of.CPUUsPerPost, over.CPUUsPerPost)
		ofUs, overUs := sumOf(of.CPUUsPerPost, procs), sumOf(over.CPUUsPerPost, procs)
		if basis == "" || ofUs <= 0 || overUs <= 0 {
			continue
		}
		r := CPURatio{Name: pair[0] + " ÷ " + pair[1], Of: pair[0], Over: pair[1], Basis: basis,
			OfUs: round3(ofUs), OverUs: round3(overUs), Value: round3(ofUs / overUs)}
		if len(of.Rounds) > 1 && len(of.Rounds) == len(over.Rounds) {
			for i := range of.Rounds {
				a, b := sumOf(of.Rounds[i].CPUUsPerPost, procs), sumOf(over.Rounds[i].CPUUsPerPost, procs)
				if a > 0 && b > 0 {
					r.Rounds = append(r.Rounds, round3(a/b))
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// ratios compares the write paths of the run, in posts per second, over
// all their rounds and in each.
func ratios(scs []ScenarioResult) []Ratio {
	byName := map[string]ScenarioResult{}
	for _, s := range scs {
		if !s.Interrupted {
			byName[s.Name] = s
		}
	}
	out := []Ratio{}
	for _, pair := range ratioPairs {
		of, over := byName[pair[0]], byName[pair[1]]
		if of.PostsPerS <= 0 || over.PostsPerS <= 0 {
			continue
		}
		r := Ratio{Name: pair[0] + " ÷ " + pair[1], Of: pair[0], Over: pair[1], Value: round3(of.PostsPerS / over.PostsPerS)}
		if len(of.Rounds) > 1 && len(of.Rounds) == len(over.Rounds) {
			for i := range of.Rounds {
				if over.Rounds[i].PostsPerS > 0 {
					r.Rounds = append(r.Rounds, round3(of.Rounds[i].PostsPerS/over.Rounds[i].PostsPerS))
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// sample closes a second of the series every second, and prints it, until
// done; then it closes the last, partial one.
func sample(done <-chan struct{}, rec *recorder, vus *atomic.Int64, start time.Time, load Load, name string, progress io.Writer) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	total := load.Duration()
	for {
		select {
		case <-done:
			now := time.Now()
			rec.tick(now, vus.Load(), stageAt(load.Stages, now.Sub(start)))
			return
		case now := <-t.C:
			elapsed := now.Sub(start)
			stage := stageAt(load.Stages, elapsed)
			p := rec.tick(now, vus.Load(), stage)
			_, errs := rec.totals()
			fmt.Fprintf(progress, "%5.0fs/%.0fs  %-6s  stage %d/%d  %s %4d  req/s %8.1f  p99 %9.2f ms  errors %d\n",
				elapsed.Seconds(), total.Seconds(), name, stage+1, len(load.Stages), vuLabel(load.Model), p.VUs, p.RPS, p.P99, errs)
		}
	}
}

func vuLabel(m Model) string {
	if m == Open {
		return "in flight"
	}
	return "VUs"
}

// runID names a run in the markers of its posts: the start time and a
// random suffix, so two runs started in the same second never share one.
func runID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return t.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

// commandLine is the command as a shell would take it back, with the
// credentials in URIs masked: the report is made to be published.
func commandLine(args []string) string {
	parts := []string{"postpipe", "bench"}
	for _, a := range args {
		if i := strings.Index(a, "://"); i >= 0 {
			if eq := strings.IndexByte(a[:i], '='); eq >= 0 {
				a = a[:eq+1] + config.RedactURI(a[eq+1:])
			} else {
				a = config.RedactURI(a)
			}
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,:/@+") == "" {
			parts = append(parts, a)
			continue
		}
		parts = append(parts, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
	}
	return strings.Join(parts, " ")
}
