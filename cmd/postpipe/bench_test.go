package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// fakeServer answers the routes 'postpipe bench' uses the way postpipe
// does, without a broker or store, and counts what it was sent.
type fakeServer struct {
	mu       sync.Mutex
	requests map[string]int // by path
	posts    map[string]int
	invalid  atomic.Int64
	next     atomic.Int64
	turns    []string // the paths posted to, one entry per change of path

	// The producer's counters its GET /metrics serves, as the API's
	// would: every request to a path that produces is one produce request
	// of its posts, in one partition batch — two for a batch request.
	produceRequests, batchRecords, batches int
	noMetrics                              atomic.Bool // GET /metrics answers 404, as with an admin listener
}

// producing are the paths whose posts the API produces.
var producing = map[string]bool{"/v1/posts": true, "/v1/bench/fire-and-forget": true, "/v1/posts:batch": true, "/v1/orders": true}

// metricsPage is the API's /metrics, as far as the bench reads it, among
// lines it must step over.
const metricsPage = `# HELP go_gc_duration_seconds A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} NaN
# HELP postpipe_produce_records_total Records produced, by stream, op and outcome.
# TYPE postpipe_produce_records_total counter
postpipe_produce_records_total{op="create",outcome="acked",stream="posts"} %[2]d
# HELP postpipe_producer_batch_records Records in each partition batch the brokers accepted.
# TYPE postpipe_producer_batch_records histogram
postpipe_producer_batch_records_bucket{le="1"} %[3]d
postpipe_producer_batch_records_bucket{le="+Inf"} %[3]d
postpipe_producer_batch_records_sum %[2]d
postpipe_producer_batch_records_count %[3]d
# HELP postpipe_producer_requests_total Produce requests written to the brokers.
# TYPE postpipe_producer_requests_total counter
postpipe_producer_requests_total %[1]d
`

func newFakeServer(t *testing.T, benchEndpoints bool) (*fakeServer, string) {
	t.Helper()
	f := &fakeServer{requests: map[string]int{}, posts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if f.noMetrics.Load() {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		page := fmt.Sprintf(metricsPage, f.produceRequests, f.batchRecords, f.batches)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = io.WriteString(w, page)
	})
	if benchEndpoints {
		mux.HandleFunc("POST /v1/bench/noop", func(w http.ResponseWriter, r *http.Request) {
			f.single(w, r, http.StatusAccepted, func(id string, _ post.Input) any { return map[string]string{"id": id, "status": "accepted"} })
		})
		mux.HandleFunc("POST /v1/bench/fire-and-forget", func(w http.ResponseWriter, r *http.Request) {
			f.single(w, r, http.StatusAccepted, func(id string, _ post.Input) any { return map[string]string{"id": id, "status": "accepted"} })
		})
		mux.HandleFunc("GET /v1/bench/fire-and-forget", func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			n := f.posts["/v1/bench/fire-and-forget"]
			f.mu.Unlock()
			writeJSONAnswer(w, http.StatusOK, map[string]int{"sent": n, "acknowledged": n, "failed": 0})
		})
	}
	mux.HandleFunc("GET /v1/posts/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.count("GET /v1/posts/{id}", 0)
		writeJSONAnswer(w, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	})
	mux.HandleFunc("GET /v1/posts", func(w http.ResponseWriter, r *http.Request) {
		f.count("GET /v1/posts", 0)
		next := ""
		if r.URL.Query().Get("cursor") == "" {
			next = "page2"
		}
		writeJSONAnswer(w, http.StatusOK, map[string]any{"posts": []any{}, "nextCursor": next})
	})
	mux.HandleFunc("POST /v1/posts", func(w http.ResponseWriter, r *http.Request) {
		f.single(w, r, http.StatusAccepted, func(id string, _ post.Input) any { return map[string]string{"id": id, "status": "accepted"} })
	})
	mux.HandleFunc("POST /v1/posts:direct", func(w http.ResponseWriter, r *http.Request) {
		f.single(w, r, http.StatusCreated, func(id string, in post.Input) any {
			return map[string]any{"id": id, "author": in.Author, "title": in.Title}
		})
	})
	// orders as examples/streams.yaml declares it: each order checked as
	// the API checks it (doc.Parse, doc.Accept), 202 under its orderId.
	orders := exampleOrders(t)
	mux.HandleFunc("GET /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		writeJSONAnswer(w, http.StatusOK, map[string]any{"orders": []any{}})
	})
	mux.HandleFunc("POST /v1/orders", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p, err := doc.Parse(body)
		var d doc.Document
		if err == nil {
			d, err = doc.Accept(orders, p, time.Now(), func() string { return f.id() })
		}
		if err != nil {
			f.invalid.Add(1)
			http.Error(w, err.Error(), http.StatusUnprocessableEntity)
			return
		}
		f.count(r.URL.Path, 1)
		writeJSONAnswer(w, http.StatusAccepted, map[string]string{"id": d.ID, "status": "accepted"})
	})
	mux.HandleFunc("POST /v1/posts:batch", func(w http.ResponseWriter, r *http.Request) {
		var ins []post.Input
		if err := json.NewDecoder(r.Body).Decode(&ins); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		items := make([]map[string]any, len(ins))
		for i, in := range ins {
			if in.Validate() != nil {
				f.invalid.Add(1)
				items[i] = map[string]any{"status": 422}
				continue
			}
			items[i] = map[string]any{"id": f.id(), "status": 202}
		}
		f.count(r.URL.Path, len(ins))
		writeJSONAnswer(w, http.StatusMultiStatus, items)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// exampleStreamsFile declares posts, orders and clicks.
const exampleStreamsFile = "../../examples/streams.yaml"

func exampleOrders(t *testing.T) *stream.Stream {
	t.Helper()
	set, err := stream.Load(exampleStreamsFile)
	if err != nil {
		t.Fatal(err)
	}
	return set.Lookup("orders")
}

func (f *fakeServer) id() string { return fmt.Sprintf("id-%d", f.next.Add(1)) }

func (f *fakeServer) count(path string, posts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests[path]++
	f.posts[path] += posts
	if producing[path] {
		f.produceRequests++
		f.batchRecords += posts
		f.batches += map[bool]int{true: 2, false: 1}[path == "/v1/posts:batch"]
	}
	if n := len(f.turns); n == 0 || f.turns[n-1] != path {
		f.turns = append(f.turns, path)
	}
}

func (f *fakeServer) single(w http.ResponseWriter, r *http.Request, status int, answer func(id string, in post.Input) any) {
	var in post.Input
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Validate() != nil {
		f.invalid.Add(1)
		http.Error(w, "invalid post", http.StatusUnprocessableEntity)
		return
	}
	if in.Author == "bench-preflight" {
		writeJSONAnswer(w, status, answer("preflight", in))
		return
	}
	f.count(r.URL.Path, 1)
	writeJSONAnswer(w, status, answer(f.id(), in))
}

func writeJSONAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// noEnv is an environment with nothing set: no store, so no verification.
func noEnv(string) string { return "" }

type scenarioJSON struct {
	Name           string           `json:"name"`
	Requests       int64            `json:"requests"`
	RPS            float64          `json:"rps"`
	Errors         int64            `json:"errors"`
	P50            float64          `json:"p50_ms"`
	P99            float64          `json:"p99_ms"`
	Max            float64          `json:"max_ms"`
	PostsPerS      float64          `json:"posts_per_s"`
	Posts          int64            `json:"posts"`
	Unsent         int64            `json:"unsent"`
	ErrorsByStatus map[string]int64 `json:"errors_by_status"`
	Series         []struct {
		T     float64 `json:"t"`
		VUs   int64   `json:"vus"`
		Round int     `json:"round"`
	} `json:"series"`
	Rounds []struct {
		Round     int     `json:"round"`
		Requests  int64   `json:"requests"`
		Posts     int64   `json:"posts"`
		DurationS float64 `json:"duration_s"`
		PostsPerS float64 `json:"posts_per_s"`
	} `json:"rounds"`
	Verification   *struct{}          `json:"verification"`
	WarmupRequests int64              `json:"warmup_requests"`
	CPUUsPerPost   map[string]float64 `json:"cpu_us_per_post"`
	Producer       *struct {
		Requests          int64    `json:"requests"`
		RequestsPerSecond float64  `json:"requests_per_second"`
		RecordsPerRequest *float64 `json:"records_per_request"`
		RecordsPerBatch   *float64 `json:"records_per_batch"`
	} `json:"producer"`
	Ops map[string]struct {
		Requests int64 `json:"requests"`
	} `json:"ops"`
}

// checkRounds checks a scenario's rounds (none wanted: rounds 0) against
// its totals and its series, which goes on from round to round.
func checkRounds(t *testing.T, s scenarioJSON, rounds int) {
	t.Helper()
	if len(s.Rounds) != rounds {
		t.Errorf("%s: %d rounds, want %d", s.Name, len(s.Rounds), rounds)
		return
	}
	var reqs, posts int64
	for i, r := range s.Rounds {
		reqs, posts = reqs+r.Requests, posts+r.Posts
		if r.Round != i+1 || r.Requests == 0 || r.DurationS <= 0 || r.PostsPerS <= 0 {
			t.Errorf("%s: round %d = %+v", s.Name, i+1, r)
		}
	}
	if rounds > 0 && (reqs != s.Requests || posts != s.Posts) {
		t.Errorf("%s: the rounds add up to %d requests and %d posts, the scenario says %d and %d", s.Name, reqs, posts, s.Requests, s.Posts)
	}
	// T is in whole milliseconds: the closing point of a window can fall
	// in the same millisecond as the last tick (seen on a busy machine),
	// so T must not go back, and may stand still.
	last, round := 0.0, 0
	for _, p := range s.Series {
		if p.T < last || p.Round < round || (rounds > 0) != (p.Round > 0) {
			t.Errorf("%s: series point at %vs of round %d after %vs of round %d", s.Name, p.T, p.Round, last, round)
		}
		last, round = p.T, p.Round
	}
	if rounds > 0 && round != rounds {
		t.Errorf("%s: the series ends in round %d, want %d", s.Name, round, rounds)
	}
}

// checkProducer checks a scenario's producer figures against what the
// fake server counted in its measured windows: a produce request per
// request of a producing path (the warm-up's left out), its posts as
// records, in one batch — two for a batch request; none anywhere when the
// server served no /metrics.
func checkProducer(t *testing.T, s scenarioJSON, path string, noMetrics bool) {
	t.Helper()
	p := s.Producer
	switch {
	case noMetrics:
		if p != nil {
			t.Errorf("%s: producer figures %+v without /metrics", s.Name, *p)
		}
		return
	case p == nil:
		t.Errorf("%s: no producer figures", s.Name)
		return
	case !producing[path]:
		if p.Requests != 0 || p.RequestsPerSecond != 0 || p.RecordsPerRequest != nil || p.RecordsPerBatch != nil {
			t.Errorf("%s produces nothing, its producer figures are %+v", s.Name, *p)
		}
		return
	}
	perReq := float64(s.Posts) / float64(s.Requests)
	perBatch := map[bool]float64{true: perReq / 2, false: perReq}[path == "/v1/posts:batch"]
	if p.Requests != s.Requests || p.RecordsPerRequest == nil || *p.RecordsPerRequest != perReq || p.RecordsPerBatch == nil || *p.RecordsPerBatch != perBatch {
		t.Errorf("%s: producer %d requests, %v records each, %v per batch; want %d, %v, %v",
			s.Name, p.Requests, deref(p.RecordsPerRequest), deref(p.RecordsPerBatch), s.Requests, perReq, perBatch)
	}
	if d := p.RequestsPerSecond - s.RPS; d > 0.01*s.RPS || d < -0.01*s.RPS {
		t.Errorf("%s: %v produce requests per second, %v requests per second", s.Name, p.RequestsPerSecond, s.RPS)
	}
}

func deref(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// TestBenchCommandEndToEnd runs the command, shortened, against the fake
// server in both load models with the store check skipped.
func TestBenchCommandEndToEnd(t *testing.T) {
	tests := []struct {
		name string
		load []string
		// due is how many requests each scenario's schedule holds (open
		// model), 0 for the closed model.
		due int64
		// rounds is how many turns the compared scenarios take (0: 1).
		rounds int
		// noMetrics: the server serves no /metrics (an API with an admin
		// listener), so no scenario has the producer's figures.
		noMetrics bool
	}{
		{name: "closed, warmed up", load: []string{"--stages", "1s:5", "--warmup", "300ms"}},
		{name: "closed, in rounds", load: []string{"--stages", "500ms:5", "--warmup", "200ms", "--rounds", "3"}, rounds: 3},
		{name: "open", load: []string{"--rate", "40", "--duration", "1s", "--max-vus", "20", "--warmup", "0s"}, due: 40},
		{name: "closed, no metrics", load: []string{"--stages", "500ms:5", "--warmup", "200ms"}, noMetrics: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, target := newFakeServer(t, true)
			f.noMetrics.Store(tt.noMetrics)
			out := filepath.Join(t.TempDir(), "results")
			args := append([]string{"bench", "--target", target, "--out", out, "--batch-size", "10", "--content-bytes", "120",
				"--scenarios", "noop,fire-and-forget,kafka,direct,batch",
				"--kafka-label", "fake broker", "--store-label", "fake store"}, tt.load...)
			if err := run(t.Context(), args, noEnv); err != nil {
				t.Fatalf("postpipe %s: %v", strings.Join(args, " "), err)
			}

			b, err := os.ReadFile(filepath.Join(out, "results.json"))
			if err != nil {
				t.Fatal(err)
			}
			var res struct {
				Machine struct {
					CPUs  int    `json:"cpus"`
					Kafka string `json:"kafka"`
					Store string `json:"store"`
				} `json:"machine"`
				Scenarios    []scenarioJSON  `json:"scenarios"`
				Verification json.RawMessage `json:"verification"`
				Notes        []string        `json:"notes"`
				Ratios       []struct {
					Name   string    `json:"name"`
					Value  float64   `json:"value"`
					Rounds []float64 `json:"rounds"`
				} `json:"ratios"`
			}
			if err := json.Unmarshal(b, &res); err != nil {
				t.Fatalf("results.json: %v\n%s", err, b)
			}
			if res.Machine.CPUs < 1 || res.Machine.Kafka != "fake broker" || res.Machine.Store != "fake store" {
				t.Errorf("machine = %+v", res.Machine)
			}
			if string(res.Verification) != "null" || !strings.Contains(strings.Join(res.Notes, "\n"), "verification skipped") {
				t.Errorf("verification %s, notes %q; want null and a note saying it was skipped", res.Verification, res.Notes)
			}
			if f.invalid.Load() != 0 {
				t.Errorf("the server got %d invalid posts", f.invalid.Load())
			}

			paths := map[string]string{"noop": "/v1/bench/noop", "fire-and-forget": "/v1/bench/fire-and-forget", "kafka": "/v1/posts", "direct": "/v1/posts:direct", "batch": "/v1/posts:batch"}
			var names []string
			for _, s := range res.Scenarios {
				names = append(names, s.Name)
				f.mu.Lock()
				served, posts := f.requests[paths[s.Name]], f.posts[paths[s.Name]]
				f.mu.Unlock()
				if s.Requests == 0 || s.Errors != 0 || len(s.ErrorsByStatus) != 0 {
					t.Errorf("%s: %d requests, %d errors %v", s.Name, s.Requests, s.Errors, s.ErrorsByStatus)
				}
				// The warm-up's requests reach the server but not the figures.
				if s.Requests+s.WarmupRequests != int64(served) {
					t.Errorf("%s: %d requests counted + %d warming up, the server answered %d", s.Name, s.Requests, s.WarmupRequests, served)
				}
				if warm := tt.due == 0; warm != (s.WarmupRequests > 0) {
					t.Errorf("%s: %d warm-up requests, want some: %v", s.Name, s.WarmupRequests, warm)
				}
				if perReq := map[bool]int64{true: 10, false: 1}[s.Name == "batch"]; s.Posts+s.WarmupRequests*perReq != int64(posts) {
					t.Errorf("%s: %d posts counted, the server took %d", s.Name, s.Posts, posts)
				}
				if _, ok := s.CPUUsPerPost["bench"]; !ok {
					t.Errorf("%s: no CPU per post of the bench client: %v", s.Name, s.CPUUsPerPost)
				}
				if perReq := map[bool]int64{true: 10, false: 1}[s.Name == "batch"]; s.Posts != s.Requests*perReq {
					t.Errorf("%s: %d posts in %d requests, want %d per request", s.Name, s.Posts, s.Requests, perReq)
				}
				if s.RPS <= 0 || s.PostsPerS < s.RPS || s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
					t.Errorf("%s: rps %v, posts/s %v, p50 %v, p99 %v, max %v", s.Name, s.RPS, s.PostsPerS, s.P50, s.P99, s.Max)
				}
				if tt.due > 0 && s.Requests+s.Unsent != tt.due {
					t.Errorf("%s: %d requests + %d unsent, want the %d due", s.Name, s.Requests, s.Unsent, tt.due)
				}
				if len(s.Series) == 0 {
					t.Errorf("%s: no per-second series", s.Name)
				}
				if s.Verification != nil {
					t.Errorf("%s: verified without a store", s.Name)
				}
				checkRounds(t, s, map[bool]int{true: tt.rounds, false: 0}[tt.rounds > 1])
				checkProducer(t, s, paths[s.Name], tt.noMetrics)
			}
			if got := strings.Join(names, ","); got != "noop,fire-and-forget,kafka,direct,batch" {
				t.Errorf("scenarios ran %s, want noop,fire-and-forget,kafka,direct,batch", got)
			}
			// The compared scenarios take turns, round after round; batch
			// follows, its rounds one after another (one path: one turn).
			together := []string{"/v1/bench/noop", "/v1/bench/fire-and-forget", "/v1/posts", "/v1/posts:direct"}
			var want []string
			for range max(tt.rounds, 1) {
				want = append(want, together...)
			}
			want = append(want, "/v1/posts:batch")
			f.mu.Lock()
			got := strings.Join(f.turns, " ")
			f.mu.Unlock()
			if got != strings.Join(want, " ") {
				t.Errorf("the server was sent, in turn, %s; want %s", got, strings.Join(want, " "))
			}
			if len(res.Ratios) != 4 {
				t.Errorf("ratios %+v, want 4", res.Ratios)
			}
			for _, r := range res.Ratios {
				if r.Value <= 0 || len(r.Rounds) != map[bool]int{true: tt.rounds, false: 0}[tt.rounds > 1] {
					t.Errorf("ratio %s = %v by round %v, want a value and %d rounds", r.Name, r.Value, r.Rounds, tt.rounds)
				}
			}

			md, err := os.ReadFile(filepath.Join(out, "report.md"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(md), "postpipe bench --target "+target) || !strings.Contains(string(md), "| batch |") {
				t.Errorf("report.md lacks the command or the table:\n%s", md)
			}
			page, err := os.ReadFile(filepath.Join(out, "report.html"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(page), "<svg") {
				t.Error("report.html has no chart")
			}
		})
	}
}

func TestBenchCommandRejectsBadSettings(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--stages", "1s:5", "--rate", "10"}, "exclude each other"},
		{[]string{"--scenarios", "noop,mongo"}, `unknown scenario "mongo"`},
		{[]string{"--profile", "huge"}, "unknown profile"},
		{[]string{"--target", "127.0.0.1:8080"}, "want a URL"},
		{[]string{"--batch-size", "501"}, "--batch-size 501"},
		{[]string{"--content-bytes", "0"}, "--content-bytes 0"},
		{[]string{"--rate", "10", "--max-vus", "0"}, "--max-vus 0"},
		{[]string{"--stages", "5s:0"}, "no stage has a virtual user"},
		{[]string{"--rounds", "101"}, "--rounds 101"},
		{[]string{"leftover"}, `unexpected argument "leftover"`},
		{[]string{"--processes", "api"}, "--processes"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := run(t.Context(), append([]string{"bench"}, tt.args...), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestBenchCommandExplainsMissingBenchEndpoints(t *testing.T) {
	_, target := newFakeServer(t, false)
	err := run(t.Context(), []string{"bench", "--target", target, "--stages", "1s:1", "--out", t.TempDir()}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "POSTPIPE_BENCH_ENDPOINTS=true") {
		t.Errorf("got %v, want an error naming POSTPIPE_BENCH_ENDPOINTS=true", err)
	}
	err = run(t.Context(), []string{"bench", "--target", target, "--stages", "1s:1", "--scenarios", "fire-and-forget", "--out", t.TempDir()}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "POSTPIPE_BENCH_ENDPOINTS=true") {
		t.Errorf("fire-and-forget: got %v, want an error naming POSTPIPE_BENCH_ENDPOINTS=true", err)
	}
	// Without noop the run needs no bench endpoint.
	if err := run(t.Context(), []string{"bench", "--target", target, "--stages", "300ms:1", "--warmup", "0s", "--scenarios", "kafka", "--out", t.TempDir()}, noEnv); err != nil {
		t.Errorf("kafka alone: %v", err)
	}
}

func TestBenchCommandHelp(t *testing.T) {
	err := run(t.Context(), []string{"bench", "--help"}, noEnv)
	var h *config.Help
	if !errors.As(err, &h) {
		t.Fatalf("--help returned %v, want a *config.Help", err)
	}
	help := h.String()
	for _, flag := range []string{"--target", "--profile", "--scenarios", "--stages", "--rate", "--duration", "--out", "--content-bytes",
		"--batch-size", "--mongodb-uri", "--mongodb-database", "--drain-timeout", "--kafka-label", "--store-label",
		"--warmup", "--rounds", "--processes", "--kafka-brokers", "--kafka-topic", "--streams-file", "--summarize"} {
		if !strings.Contains(help, flag+" ") {
			t.Errorf("help lacks %s:\n%s", flag, help)
		}
	}
}

// TestBenchCommandTakesTheStoreFromTheEnvironment: without --mongodb-uri
// the store is POSTPIPE_MONGODB_URI's, and a store given but unusable
// stops the run before any load rather than skipping the check.
func TestBenchCommandTakesTheStoreFromTheEnvironment(t *testing.T) {
	_, target := newFakeServer(t, true)
	env := func(k string) string {
		if k == "POSTPIPE_MONGODB_URI" {
			return "notmongodb://u:secret@somewhere/"
		}
		return ""
	}
	err := run(t.Context(), []string{"bench", "--target", target, "--stages", "1s:1", "--scenarios", "kafka", "--out", t.TempDir()}, env)
	if err == nil || !strings.Contains(err.Error(), "notmongodb://u:xxxxx@somewhere/") {
		t.Errorf("got %v, want the store from the environment refused, with its password masked", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// TestBenchCommandReads runs the read and mixed scenarios against the fake
// server: with no store to say which posts landed, the reads first store
// posts of their own through /v1/posts:direct, then get them by id and
// walk pages by author; mixed also writes through /v1/posts.
func TestBenchCommandReads(t *testing.T) {
	f, target := newFakeServer(t, true)
	out := t.TempDir()
	args := []string{"bench", "--target", target, "--out", out, "--stages", "1s:4", "--warmup", "0s", "--scenarios", "read,mixed"}
	if err := run(t.Context(), args, noEnv); err != nil {
		t.Fatalf("postpipe %s: %v", strings.Join(args, " "), err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Scenarios []scenarioJSON `json:"scenarios"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	gets, lists, writes, seeded := f.requests["GET /v1/posts/{id}"], f.requests["GET /v1/posts"], f.requests["/v1/posts"], f.posts["/v1/posts:direct"]
	f.mu.Unlock()
	if len(res.Scenarios) != 2 {
		t.Fatalf("scenarios %+v", res.Scenarios)
	}
	read, mixed := res.Scenarios[0], res.Scenarios[1]
	if seeded != 400 {
		t.Errorf("%d posts stored to read, want 200 per scenario", seeded)
	}
	if read.Errors != 0 || mixed.Errors != 0 {
		t.Errorf("errors: read %v, mixed %v", read.ErrorsByStatus, mixed.ErrorsByStatus)
	}
	if read.Ops["get by id"].Requests == 0 || read.Ops["list by author"].Requests == 0 || read.Ops["write"].Requests != 0 {
		t.Errorf("read ops %+v: want gets and lists, no writes", read.Ops)
	}
	if mixed.Ops["write"].Requests == 0 || mixed.Ops["write"].Requests != int64(writes) || mixed.Posts != int64(writes) {
		t.Errorf("mixed ops %+v, %d posts; the server took %d writes", mixed.Ops, mixed.Posts, writes)
	}
	if got := read.Requests + mixed.Requests - mixed.Ops["write"].Requests; got != int64(gets+lists) {
		t.Errorf("%d reads counted, the server answered %d", got, gets+lists)
	}
	if share := float64(mixed.Ops["write"].Requests) / float64(mixed.Requests); share > 0.3 {
		t.Errorf("mixed: %.0f %% writes, want about 10 %%", 100*share)
	}
}

// TestBenchCommandOrders runs kafka and orders in rounds against the fake
// server with the streams file it serves: the orders are valid orders of
// examples/streams.yaml, orders takes turns with kafka, and orders ÷ kafka
// (CPU per document) is in results.json and the report.
func TestBenchCommandOrders(t *testing.T) {
	f, target := newFakeServer(t, true)
	out := t.TempDir()
	args := []string{"bench", "--target", target, "--out", out, "--streams-file", exampleStreamsFile, "--scenarios", "kafka,orders",
		"--stages", "300ms:3", "--warmup", "100ms", "--rounds", "2", "--processes", fmt.Sprintf("api=%d", os.Getpid())}
	if err := run(t.Context(), args, noEnv); err != nil {
		t.Fatalf("postpipe %s: %v", strings.Join(args, " "), err)
	}
	if f.invalid.Load() != 0 {
		t.Errorf("the server refused %d orders or posts", f.invalid.Load())
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Scenarios []scenarioJSON `json:"scenarios"`
		CPURatios []struct {
			Name   string    `json:"name"`
			Basis  string    `json:"basis"`
			Value  float64   `json:"value"`
			Rounds []float64 `json:"rounds"`
		} `json:"cpu_ratios"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Scenarios) != 2 || res.Scenarios[1].Name != "orders" {
		t.Fatalf("scenarios %+v", res.Scenarios)
	}
	o := res.Scenarios[1]
	f.mu.Lock()
	served := f.requests["/v1/orders"]
	turns := strings.Join(f.turns, " ")
	f.mu.Unlock()
	if o.Requests == 0 || o.Errors != 0 || o.Requests+o.WarmupRequests != int64(served) || o.Posts != o.Requests {
		t.Errorf("orders: %d requests (+%d warming up), %d documents, %d errors %v; the server took %d", o.Requests, o.WarmupRequests, o.Posts, o.Errors, o.ErrorsByStatus, served)
	}
	checkRounds(t, o, 2)
	if want := "/v1/posts /v1/orders /v1/posts /v1/orders"; turns != want {
		t.Errorf("the server was sent, in turn, %s; want %s", turns, want)
	}
	if len(res.CPURatios) != 1 || res.CPURatios[0].Name != "orders ÷ kafka" || res.CPURatios[0].Basis != "api" ||
		res.CPURatios[0].Value <= 0 || len(res.CPURatios[0].Rounds) != 2 {
		t.Errorf("cpu_ratios %+v, want orders ÷ kafka over the api, by round", res.CPURatios)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| orders |", "orders ÷ kafka = ", "600-byte documents"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
}

// TestBenchCommandOrdersNeedTheStream: orders asked for without a streams
// file declaring it stops the run before any load, naming the file to
// give; a profile that runs orders leaves it out instead, and says so.
func TestBenchCommandOrdersNeedTheStream(t *testing.T) {
	f, target := newFakeServer(t, true)
	err := run(t.Context(), []string{"bench", "--target", target, "--scenarios", "orders", "--stages", "300ms:1", "--out", t.TempDir()}, noEnv)
	if err == nil || !strings.Contains(err.Error(), "declares no stream orders") || !strings.Contains(err.Error(), "POSTPIPE_STREAMS_FILE") {
		t.Errorf("orders without a streams file: %v", err)
	}
	out := t.TempDir()
	args := []string{"bench", "--target", target, "--profile", "ingest", "--stages", "200ms:2", "--warmup", "0s", "--rounds", "1", "--out", out}
	if err := run(t.Context(), args, noEnv); err != nil {
		t.Fatalf("postpipe %s: %v", strings.Join(args, " "), err)
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Scenarios []scenarioJSON `json:"scenarios"`
		Notes     []string       `json:"notes"`
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.Scenarios {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "noop,fire-and-forget,kafka,batch" {
		t.Errorf("the ingest profile without orders ran %s", got)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "orders left out of the profile's scenarios") {
		t.Errorf("no note says orders was left out: %q", res.Notes)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.requests["/v1/orders"] != 0 {
		t.Errorf("%d orders sent", f.requests["/v1/orders"])
	}
}

// TestBenchCommandSummarize is deploy/bench.sh's extra part of the ingest
// profile without the stack: a main run, a "scaling" run and a
// "connections" run against the fake server, in the directories the script
// gives them, then --summarize, which writes the summaries and adds them to
// the main run's reports.
func TestBenchCommandSummarize(t *testing.T) {
	_, target := newFakeServer(t, true)
	dir := t.TempDir()
	api := fmt.Sprintf("api=%d", os.Getpid()) // the fake server is this process
	bench := func(out string, args ...string) {
		t.Helper()
		args = append([]string{"bench", "--target", target, "--out", out, "--warmup", "0s", "--rounds", "2", "--processes", api,
			"--server-pid", fmt.Sprint(os.Getpid()), "--kafka-label", "fake broker", "--store-label", "fake store"}, args...)
		if err := run(t.Context(), args, noEnv); err != nil {
			t.Fatalf("postpipe %s: %v", strings.Join(args, " "), err)
		}
	}
	bench(dir, "--scenarios", "noop,fire-and-forget,kafka", "--stages", "0s:4,300ms:4")
	bench(filepath.Join(dir, "scaling", "api-1cores"), "--scenarios", "noop,fire-and-forget,kafka", "--stages", "0s:4,300ms:4")
	bench(filepath.Join(dir, "conns", "kafka-8"), "--scenarios", "kafka", "--stages", "0s:8,300ms:8")

	if err := run(t.Context(), []string{"bench", "--summarize", dir}, noEnv); err != nil {
		t.Fatalf("--summarize: %v", err)
	}
	for file, wants := range map[string][]string{
		"scaling/scaling.md": {"### Scaling: the API on k cores", "| scaling/api-1cores |", "(not pinned)"},
		"conns/conns.md":     {"### Connections", "| 4 |", "| 8 |", "Connections kafka needs to reach 95 % of that"},
		"report.md":          {"### Scaling", "### Connections", "The wait's share of kafka's API CPU"},
		"report.html":        {"Scaling: the API on k cores", "Connections: kafka with more closed-loop clients"},
	} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s lacks %q:\n%s", file, w, b)
			}
		}
	}
	var res struct {
		Scaling struct {
			Rows []struct {
				APICores  int             `json:"api_cores"`
				WaitShare json.RawMessage `json:"wait_share"`
			} `json:"rows"`
		} `json:"scaling"`
		Connections struct {
			Rows       []json.RawMessage `json:"rows"`
			NeededText string            `json:"connections_needed_text"`
		} `json:"connections"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Scaling.Rows) != 2 || res.Scaling.Rows[0].APICores < 1 || len(res.Scaling.Rows[0].WaitShare) == 0 ||
		len(res.Connections.Rows) != 2 || res.Connections.NeededText == "" {
		t.Errorf("results.json's summaries: %+v", res)
	}

	if err := run(t.Context(), []string{"bench", "--summarize", t.TempDir()}, noEnv); err == nil || !strings.Contains(err.Error(), "no runs to summarise") {
		t.Errorf("--summarize of an empty directory: %v", err)
	}
}
