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
	IdleCheck              time.Duration
	Args                   []string  // the command line after 'postpipe bench', for the report
	Version                string    // of postpipe
	Progress               io.Writer // one line per second; nil: none
}

// Results is everything a run measured: results.json.
type Results struct {
	Machine   Machine          `json:"machine"`
	Run       RunInfo          `json:"run"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// Verification totals the verified scenarios; null when nothing was
	// verified (no store given, or no scenario through Kafka).
	Verification *Verification `json:"verification"`
	Notes        []string      `json:"notes"`

	Dir string `json:"-"` // where the files were written
}

// RunInfo is how the run was set up.
type RunInfo struct {
	ID              string    `json:"id"`
	Version         string    `json:"postpipe_version"`
	Command         string    `json:"command"`
	Target          string    `json:"target"`
	LoadFrom        string    `json:"load_from"`
	Model           Model     `json:"model"`
	Stages          string    `json:"stages"`
	ContentBytes    int       `json:"content_bytes"`
	BatchSize       int       `json:"batch_size"`
	MaxVUs          int       `json:"max_vus,omitempty"`
	TimeoutS        float64   `json:"request_timeout_s"`
	DrainTimeoutS   float64   `json:"drain_timeout_s"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	ScenariosWanted []string  `json:"scenarios_wanted"`
}

// ScenarioResult is what one scenario measured. Latencies are of every
// request, answered or failed, from when it was due to when its answer was
// read.
type ScenarioResult struct {
	Name      string  `json:"name"`
	Requests  int64   `json:"requests"`
	RPS       float64 `json:"rps"`
	Errors    int64   `json:"errors"`
	P50       float64 `json:"p50_ms"`
	P90       float64 `json:"p90_ms"`
	P99       float64 `json:"p99_ms"`
	P999      float64 `json:"p999_ms"`
	Max       float64 `json:"max_ms"`
	PostsPerS float64 `json:"posts_per_s"`

	Path                string           `json:"path"`
	About               string           `json:"about"`
	PostsPerRequest     int              `json:"posts_per_request"`
	Posts               int64            `json:"posts"` // posts the server took
	PeakRPS             float64          `json:"peak_rps"`
	DurationS           float64          `json:"duration_s"`
	ErrorsByStatus      map[string]int64 `json:"errors_by_status"`
	FailedPostsByStatus map[string]int64 `json:"failed_posts_by_status,omitempty"`
	Unsent              int64            `json:"unsent,omitempty"` // open model: due but never sent
	Interrupted         bool             `json:"interrupted,omitempty"`
	Verification        *Verification    `json:"verification,omitempty"`
	Series              []Point          `json:"series"`
}

// Run runs the scenarios against cfg.Target and writes the results. It
// returns an error — after writing what it measured — when it was
// interrupted or the store check found a post lost or duplicated.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	scs, err := cfg.check()
	if err != nil {
		return nil, err
	}
	progress := cmp.Or[io.Writer](cfg.Progress, io.Discard)
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
			return nil, fmt.Errorf("store at %s: %w", config.RedactURI(cfg.MongoURI), err)
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

	w := newWords(cfg.ContentBytes)
	var verified []*Verification
	var problems []error
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(progress, "scenario %s: POST %s, %s %s\n", sc.name, sc.path, cfg.Load.Model, cfg.Load.StagesString())
		sr, accepted := runScenario(ctx, sc, cfg, client, w, res.Run.ID, progress)
		client.CloseIdleConnections() // every scenario starts from cold connections
		if sc.verify && ver != nil && !sr.Interrupted {
			v, err := ver.check(ctx, sc.name, newPosts(w, res.Run.ID, sc.name, 0).author, accepted)
			switch {
			case err != nil && ctx.Err() == nil:
				problems = append(problems, fmt.Errorf("verify %s: %w", sc.name, err))
				res.Notes = append(res.Notes, fmt.Sprintf("verification of %s failed: %v", sc.name, err))
			case err == nil:
				sr.Verification = v
				verified = append(verified, v)
				fmt.Fprintf(progress, "%s: %d accepted, %d landed, %d lost, %d duplicated; lag p50 %.0f ms, p99 %.0f ms\n",
					sc.name, v.Accepted, v.Landed, v.Lost, v.Duplicated, v.LagP50, v.LagP99)
			}
		}
		if sr.Unsent > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d requests were due but never sent: the server (or --max-vus %d) could not keep up with the arrival rate", sc.name, sr.Unsent, cfg.MaxVUs))
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	res.Verification = combine(verified)
	if v := res.Verification; v != nil && (v.Lost > 0 || v.Duplicated > 0) {
		problems = append(problems, fmt.Errorf("the store check found %d lost and %d duplicated posts", v.Lost, v.Duplicated))
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

// runScenario puts one scenario under the load and returns what it
// measured and the posts the server accepted through Kafka.
func runScenario(ctx context.Context, sc scenario, cfg Config, client *http.Client, w *words, id string, progress io.Writer) (ScenarioResult, []acceptedPost) {
	start := time.Now()
	rec := newRecorder(start)
	s := &sender{sc: sc, client: client, url: cfg.Target + sc.path, posts: newPosts(w, id, sc.name, cfg.ContentBytes), batchSize: cfg.BatchSize, rec: rec}
	perRequest := 1
	if sc.batch {
		perRequest = cfg.BatchSize
	}

	var (
		vus  atomic.Int64 // users running (closed) or requests in flight (open)
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() { sample(done, rec, &vus, start, cfg.Load, sc.name, progress) })
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
	sr.Interrupted = ctx.Err() != nil
	return sr, rec.acceptedPosts()
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
