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
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
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

	// The store the sink writes to; without MongoURI nothing is verified.
	MongoURI, MongoDatabase, MongoCollection string
	DrainTimeout                             time.Duration // longest wait for the sink after a scenario

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
		},
		Notes: []string{},
		Dir:   cmp.Or(cfg.Out, filepath.Join("bench-results", started.Format("20060102-150405"))),
	}
	conns := peak(cfg.Load.Stages)
	if cfg.Load.Model == Open {
		conns = cfg.MaxVUs
		res.Run.MaxVUs = cfg.MaxVUs
	}
	client := newClient(conns, cfg.Timeout)
	defer client.CloseIdleConnections()
	if err := preflight(ctx, client, cfg.Target, scs); err != nil {
		return nil, err
	}

	var ver *verifier
	switch {
	case !anyVerified(scs):
		res.Notes = append(res.Notes, "verification: none of the scenarios writes through Kafka (kafka, batch)")
	case cfg.MongoURI == "":
		res.Notes = append(res.Notes, "verification skipped: no store given (--mongodb-uri or POSTPIPE_MONGODB_URI); lost and duplicated posts were not counted")
	default:
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

	r := &runner{cfg: cfg, client: client, ver: ver, words: newWords(cfg.ContentBytes), id: res.Run.ID, progress: progress}
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
		if sr.Verification != nil {
			verified = append(verified, sr.Verification)
		}
		if sr.Unsent > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d of the requests due were never sent: the server (or --max-vus %d) could not keep up with the arrival rate", sc.name, sr.Unsent, cfg.MaxVUs))
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	res.Verification = combine(verified)
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
	client   *http.Client
	ver      *verifier // nil: no store check
	words    *words
	id       string // the run's, in every post's markers
	progress io.Writer
}

// scenario puts one scenario under the load and, when its posts go through
// Kafka and a store is given, checks that they landed. The error says why
// the check could not be made.
func (r *runner) scenario(ctx context.Context, sc scenario) (ScenarioResult, error) {
	verify := sc.verify && r.ver != nil
	before := int64(-1) // the documents stored before the load, for the drain wait
	if verify {
		if n, err := r.ver.count(ctx); err == nil {
			before = n
		}
	}
	fmt.Fprintf(r.progress, "scenario %s: POST %s, %s %s\n", sc.name, sc.path, r.cfg.Load.Model, r.cfg.Load.StagesString())
	sr, promised := r.load(ctx, sc)
	r.client.CloseIdleConnections() // every scenario starts from cold connections
	if !verify || sr.Interrupted {
		return sr, nil
	}
	v, err := r.ver.check(ctx, sc.name, authorFor(r.id, sc.name), promised, before)
	if err != nil {
		if ctx.Err() != nil {
			return sr, nil // interrupted: Run says so
		}
		return sr, fmt.Errorf("verification of %s failed: %w", sc.name, err)
	}
	sr.Verification = v
	fmt.Fprintf(r.progress, "%s: %d accepted, %d landed, %d lost, %d duplicated; lag p50 %.0f ms, p99 %.0f ms\n",
		sc.name, v.Accepted, v.Landed, v.Lost, v.Duplicated, v.LagP50, v.LagP99)
	return sr, nil
}

// load runs the load against one scenario and returns what it measured
// and what the server promised to store.
func (r *runner) load(ctx context.Context, sc scenario) (ScenarioResult, promises) {
	cfg := r.cfg
	start := time.Now()
	rec := newRecorder(start)
	s := &sender{sc: sc, client: r.client, url: cfg.Target + sc.path, posts: newPosts(r.words, r.id, sc.name, cfg.ContentBytes), batchSize: cfg.BatchSize, rec: rec}
	perRequest := 1
	if sc.batch {
		perRequest = cfg.BatchSize
	}

	var (
		vus  atomic.Int64 // users running (closed) or requests in flight (open)
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() { sample(done, rec, &vus, start, cfg.Load, sc.name, r.progress) })
	var rssMax float64
	if cfg.ServerPID > 0 {
		wg.Go(func() { rssMax = watchRSS(done, cfg.ServerPID) })
	}
	var unsent int64
	if cfg.Load.Model == Open {
		unsent = runOpen(ctx, cfg.Load.Stages, start, cfg.MaxVUs, s.fire, &vus)
	} else {
		runClosed(ctx, cfg.Load.Stages, start, s.fire, &vus)
	}
	elapsed := time.Since(start)
	close(done)
	wg.Wait()

	sr := rec.result(sc.name, elapsed)
	sr.Path, sr.About, sr.PostsPerRequest = sc.path, sc.about, perRequest
	sr.Unsent = unsent
	sr.ServerRSSMaxMB = rssMax
	sr.Interrupted = ctx.Err() != nil
	return sr, rec.promises()
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
