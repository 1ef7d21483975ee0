// Package bench is the load test behind 'postpipe bench'. It drives a
// running server through scenarios — the no-I/O ceiling, the Kafka path,
// the direct store path, batches — one after another with the same load
// shape (virtual users ramping through k6-style stages, or an open arrival
// rate measured without coordinated omission), records latencies in HDR
// histograms and a per-second series, checks in the store that every post
// Kafka accepted landed exactly once, and writes results.json, report.md
// and a self-contained report.html.
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
	"github.com/postpipe/postpipe/internal/post"
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
	KafkaBrokers                             []string
	KafkaTopic                               string

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
			Processes:       map[string][]int{BenchClient: {os.Getpid()}},
			Verify:          "none",
		},
		Ratios: []Ratio{},
		Notes:  []string{},
		Dir:    cmp.Or(cfg.Out, filepath.Join("bench-results", started.Format("20060102-150405"))),
	}
	if cfg.Load.Model == Open {
		res.Run.MaxVUs = cfg.MaxVUs
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
		if tver, err = openTopicVerifier(ctx, cfg.KafkaBrokers, cfg.KafkaTopic); err != nil {
			return nil, fmt.Errorf("topic %s: %w", cfg.KafkaTopic, err)
		}
		defer tver.close()
		res.Run.Verify = "topic"
		res.Notes = append(res.Notes, fmt.Sprintf("verification on the topic %s (no store given: the sink was not running): every post answered 202 must be a record there, keyed by its id, exactly once", cfg.KafkaTopic))
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

	r := &runner{cfg: cfg, client: client, conns: conns, ver: ver, tver: tver, words: newWords(cfg.ContentBytes), id: res.Run.ID, progress: progress,
		procs: procfs{root: cmp.Or(cfg.ProcRoot, "/proc")}, groups: append(slices.Clone(cfg.Processes), ProcessGroup{Name: BenchClient, PIDs: []int{os.Getpid()}})}
	var (
		verified []*Verification
		problems []error
	)
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		sr, err := r.scenario(ctx, sc)
		if err != nil {
			problems = append(problems, err)
			res.Notes = append(res.Notes, err.Error())
		}
		if sr.Verification != nil && !sr.Unpromised {
			verified = append(verified, sr.Verification)
		}
		if sr.Unsent > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d of the requests due were never sent: the server (or --max-vus %d) could not keep up with the arrival rate", sc.name, sr.Unsent, cfg.MaxVUs))
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	res.Verification = combine(verified)
	res.Ratios = ratios(res.Scenarios)
	if v := res.Verification; v != nil && (v.Lost > 0 || v.Duplicated > 0) {
		err := fmt.Errorf("the store check found %d lost and %d duplicated posts", v.Lost, v.Duplicated)
		if !v.Drained {
			err = fmt.Errorf("%w (not all accepted posts were stored within --drain-timeout %s: the sink may still be writing)", err, cfg.DrainTimeout)
		}
		problems = append(problems, err)
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
	cfg.IdleCheck = cmp.Or(cfg.IdleCheck, time.Second)
	cfg.MongoDatabase = cmp.Or(cfg.MongoDatabase, "postpipe")
	cfg.MongoCollection = cmp.Or(cfg.MongoCollection, "posts")
	return scs, nil
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
	client   *http.Client   // off the measured path
	conns    *loadConns     // the load's: each scenario has fresh ones
	ver      *verifier      // nil: no store check
	tver     *topicVerifier // nil: no topic check
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

// scenario puts one scenario under the load and, when its posts go through
// Kafka and a store or topic is given, checks that they landed. The error
// says why the check could not be made.
func (r *runner) scenario(ctx context.Context, sc scenario) (ScenarioResult, error) {
	verify := sc.verify && (r.ver != nil || r.tver != nil)
	before := int64(-1) // the documents stored before the load, for the drain wait
	var offsets map[int32]int64
	var note error
	if verify && r.ver != nil {
		if n, err := r.ver.count(ctx); err == nil {
			before = n
		}
	}
	if verify && r.tver != nil {
		var err error
		if offsets, err = r.tver.ends(ctx); err != nil {
			return ScenarioResult{Name: sc.name, Path: sc.path, About: sc.about}, fmt.Errorf("%s: %w", sc.name, err)
		}
	}
	var pool *readPool
	var docs int64
	if sc.reads > 0 {
		pool, note = r.readPool(ctx, sc)
		if r.ver != nil {
			docs, _ = r.ver.count(ctx)
		}
	}
	var ff0 *FireAndForgetOutcome
	if sc.name == "fire-and-forget" {
		ff0, _ = r.fireAndForgetCounts(ctx)
	}
	fmt.Fprintf(r.progress, "scenario %s: %s, %s %s after a %s warm-up\n", sc.name, sc.path, r.cfg.Load.Model, r.cfg.Load.StagesString(), r.cfg.Load.Warmup)
	sr, promised := r.load(ctx, sc, pool)
	r.client.CloseIdleConnections() // its checks' connections; the load's closed with it
	sr.StoreDocs = docs
	sr.Unpromised = sc.unpromised
	if ff0 != nil {
		sr.FireAndForget = r.settleFireAndForget(ctx, ff0)
	}
	if !verify || sr.Interrupted {
		return sr, note
	}
	var (
		v   *Verification
		err error
	)
	if r.ver != nil {
		v, err = r.ver.check(ctx, sc.name, authorFor(r.id, sc.name), promised, before)
	} else {
		v, err = r.tver.check(ctx, offsets, promised)
	}
	if err != nil {
		if ctx.Err() != nil {
			return sr, nil // interrupted: Run says so
		}
		return sr, errors.Join(note, fmt.Errorf("verification of %s failed: %w", sc.name, err))
	}
	sr.Verification = v
	lag := fmt.Sprintf("; lag p50 %.0f ms, p99 %.0f ms", v.LagP50, v.LagP99)
	if v.Where == "topic" {
		lag = ""
	}
	fmt.Fprintf(r.progress, "%s: %d accepted, %d landed (%s), %d lost, %d duplicated%s\n",
		sc.name, v.Accepted, v.Landed, v.Where, v.Lost, v.Duplicated, lag)
	if v.Where == "store" && v.Lost == 0 && !sc.unpromised && sc.reads == 0 {
		r.readAuthors = append(r.readAuthors, authorFor(r.id, sc.name))
		for _, a := range promised.accepted {
			if len(r.readIDs) >= maxReadIDs {
				break
			}
			r.readIDs = append(r.readIDs, a.ID)
		}
	}
	return sr, note
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

// load warms the scenario up, then runs the measured load against it, and
// returns what it measured and what the server promised to store (warm-up
// included).
func (r *runner) load(ctx context.Context, sc scenario, pool *readPool) (ScenarioResult, promises) {
	cfg := r.cfg
	// The scenario's own connections, cold at its start (as every
	// scenario's), warm from its warm-up into its measured window.
	conns := r.conns.fresh()
	defer conns.close()
	s := &sender{sc: sc, conns: conns, path: conns.basePath + sc.path, posts: newPosts(r.words, r.id, sc.name, cfg.ContentBytes),
		batchSize: cfg.BatchSize, pool: pool}
	if sc.reads > 0 && sc.path != "/v1/posts" {
		s.path = conns.basePath + "/v1/posts" // only the writes of a mixed scenario use it
	}
	perRequest := 1
	if sc.batch {
		perRequest = cfg.BatchSize
	}

	var warm promises
	var warmReqs int64
	if cfg.Load.Warmup > 0 && ctx.Err() == nil {
		wl := Load{Model: cfg.Load.Model, Stages: cfg.Load.warmupStages()}
		wrec := newRecorder(time.Now())
		s.rec = wrec
		r.drive(ctx, wl, wrec, s, sc.name+" warm-up")
		warm = wrec.promises()
		warmReqs, _ = wrec.totals()
	}

	start := time.Now()
	rec := newRecorder(start)
	s.rec = rec
	cpu0 := r.procs.sample(r.groups)
	elapsed, unsent, rssMax := r.drive(ctx, cfg.Load, rec, s, sc.name)
	cpu1 := r.procs.sample(r.groups)

	sr := rec.result(sc.name, elapsed)
	sr.Path, sr.About, sr.PostsPerRequest = sc.path, sc.about, perRequest
	sr.Unsent = unsent
	sr.ServerRSSMaxMB = rssMax
	sr.Interrupted = ctx.Err() != nil
	sr.WarmupS, sr.WarmupRequests = cfg.Load.Warmup.Seconds(), warmReqs
	sr.CPUSeconds = cpuSeconds(cpu0, cpu1)
	for k, v := range sr.CPUSeconds {
		sr.CPUSeconds[k] = round3(v)
	}
	if sc.reads == 0 { // mostly reads: per request says more
		sr.CPUUsPerPost = perUnit(sr.CPUSeconds, sr.Posts)
	}
	sr.CPUUsPerRequest = perUnit(sr.CPUSeconds, sr.Requests)
	p := rec.promises()
	p.accepted = append(warm.accepted, p.accepted...)
	p.maybe = append(warm.maybe, p.maybe...)
	return sr, p
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

// ratios compares the write paths of the run, in posts per second.
func ratios(scs []ScenarioResult) []Ratio {
	rate := map[string]float64{}
	for _, s := range scs {
		if !s.Interrupted {
			rate[s.Name] = s.PostsPerS
		}
	}
	out := []Ratio{}
	for _, pair := range [][2]string{{"kafka", "fire-and-forget"}, {"kafka", "noop"}, {"kafka", "direct"}, {"fire-and-forget", "noop"}} {
		of, over := rate[pair[0]], rate[pair[1]]
		if of > 0 && over > 0 {
			out = append(out, Ratio{Name: pair[0] + " ÷ " + pair[1], Of: pair[0], Over: pair[1], Value: round3(of / over)})
		}
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
