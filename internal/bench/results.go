package bench

import "time"

// The shape of results.json. The names of the summary fields are fixed —
// other tools read them — and everything else is there for the curious.

// Results is everything a run measured: results.json.
type Results struct {
	Machine   Machine          `json:"machine"`
	Run       RunInfo          `json:"run"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// Verification totals the verified scenarios; null when nothing was
	// verified (no store given, or no scenario through Kafka).
	Verification *Verification `json:"verification"`
	// Ratios compare the write paths in this run: kafka ÷ fire-and-forget
	// is the price of the promise, kafka ÷ noop that of all the I/O.
	Ratios []Ratio `json:"ratios"`
	// CPURatios compare CPU per accepted document: orders ÷ kafka is a
	// declared stream's document against a post.
	CPURatios []CPURatio `json:"cpu_ratios"`
	// WaitShare splits the API's CPU per post of kafka into the request
	// (noop), producing (fire-and-forget − noop) and the wait for the ack
	// (kafka − fire-and-forget); absent unless the three ran.
	WaitShare *WaitShare `json:"wait_share,omitempty"`
	// Scaling and Connections are deploy/bench.sh's extra runs of the
	// ingest profile, summed up by 'postpipe bench --summarize' (see
	// Summarize) after the main run; absent otherwise.
	Scaling     *ScalingSummary `json:"scaling,omitempty"`
	Connections *ConnsSummary   `json:"connections,omitempty"`
	Notes       []string        `json:"notes"`

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
	ServerPID       int       `json:"server_pid,omitempty"`
	TimeoutS        float64   `json:"request_timeout_s"`
	DrainTimeoutS   float64   `json:"drain_timeout_s"`
	StartedAt       time.Time `json:"started_at"`
	FinishedAt      time.Time `json:"finished_at"`
	ScenariosWanted []string  `json:"scenarios_wanted"`
	// WarmupS is how long each scenario ran before its measured window.
	WarmupS float64 `json:"warmup_s"`
	// Rounds is how many times the compared scenarios took turns (see
	// Load.Rounds); 1: every scenario ran once.
	Rounds int `json:"rounds"`
	// Processes are the processes whose CPU is accounted, by name.
	Processes map[string][]int `json:"processes,omitempty"`
	// Verify says where accepted posts were looked for: "store", "topic"
	// or "none".
	Verify string `json:"verify"`
	// CPUAffinity is, per process group (the bench client's too), the
	// CPUs its first process was allowed when the run began: the
	// Cpus_allowed_list of /proc/<pid>/status, e.g. "0-1". Pinned runs
	// (taskset) show here.
	CPUAffinity map[string]string `json:"cpu_affinity,omitempty"`
	// ServerGOMAXPROCS is GOMAXPROCS in the server's environment
	// (--server-pid), where it was set and could be read.
	ServerGOMAXPROCS string `json:"server_gomaxprocs,omitempty"`
}

// Ratio is the throughput of one scenario over another's, in posts per
// second (requests per second for noop, which takes no post to keep).
type Ratio struct {
	Name  string  `json:"name"` // "kafka ÷ noop"
	Of    string  `json:"of"`
	Over  string  `json:"over"`
	Value float64 `json:"value"`
	// Rounds is the ratio in each round, when the scenarios took turns:
	// how far they spread is how far this run's value can be trusted.
	Rounds []float64 `json:"rounds,omitempty"`
}

// CPURatio is the CPU one scenario spent per accepted document over
// another's per post, in the processes Basis names, summed.
type CPURatio struct {
	Name   string  `json:"name"` // "orders ÷ kafka"
	Of     string  `json:"of"`
	Over   string  `json:"over"`
	Basis  string  `json:"basis"`   // "api + broker", or "api" when no broker was measured
	OfUs   float64 `json:"of_us"`   // µs per document of Of, in Basis
	OverUs float64 `json:"over_us"` // µs per post of Over, in Basis
	Value  float64 `json:"value"`
	// Rounds is the ratio in each round, when the scenarios took turns.
	Rounds []float64 `json:"rounds,omitempty"`
}

// RoundResult is one round of a scenario that took turns with others.
type RoundResult struct {
	Round     int     `json:"round"` // from 1
	Requests  int64   `json:"requests"`
	Posts     int64   `json:"posts"`
	DurationS float64 `json:"duration_s"`
	PostsPerS float64 `json:"posts_per_s"`
	// CPUUsPerPost is the round's CPU per accepted post (document), by
	// process, as the scenario's own (not for read and mixed).
	CPUUsPerPost map[string]float64 `json:"cpu_us_per_post,omitempty"`
}

// OpResult is one kind of request in a scenario that mixes them.
type OpResult struct {
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	Errors   int64   `json:"errors"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

// FireAndForgetOutcome is how the posts the fire-and-forget scenario had
// answered 202 ended at the broker, from the server's own counts (warm-up
// included): the client never hears of a refusal.
type FireAndForgetOutcome struct {
	Sent         int64 `json:"sent"`
	Acknowledged int64 `json:"acknowledged"`
	Failed       int64 `json:"failed"`
	InFlight     int64 `json:"in_flight"` // neither yet when the bench asked
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
	// ServerRSSMaxMB is the server's peak resident memory during the
	// scenario, when its pid was given (--server-pid).
	ServerRSSMaxMB float64       `json:"server_rss_max_mb,omitempty"`
	Verification   *Verification `json:"verification,omitempty"`
	// Update is the update scenario's model check and its Prefer: wait
	// measurement.
	Update *UpdateCheck `json:"update,omitempty"`
	// Unpromised: the scenario's 202 promised nothing; its check is a
	// finding, left out of the run's verification totals.
	Unpromised bool `json:"unpromised,omitempty"`

	// WarmupS is how long the scenario ran before its measured window;
	// WarmupRequests how many requests that sent (not in the figures above).
	WarmupS        float64 `json:"warmup_s"`
	WarmupRequests int64   `json:"warmup_requests"`

	// CPU of each process over the measured window (--processes, and the
	// bench client itself): seconds, and microseconds per post accepted in
	// the window — per request only for read and mixed, whose requests are
	// (mostly) reads.
	CPUSeconds      map[string]float64 `json:"cpu_s,omitempty"`
	CPUUsPerPost    map[string]float64 `json:"cpu_us_per_post,omitempty"`
	CPUUsPerRequest map[string]float64 `json:"cpu_us_per_request,omitempty"`
	// Producer is what the API's producer did over the measured windows,
	// from its /metrics (scraped before and after each): produce requests
	// and their rate, records per request and per partition batch; absent
	// where the metrics could not be read.
	Producer      *ProducerFigures      `json:"producer,omitempty"`
	Ops           map[string]OpResult   `json:"ops,omitempty"`
	StoreDocs     int64                 `json:"store_docs,omitempty"` // documents in the collection when a read scenario started
	FireAndForget *FireAndForgetOutcome `json:"fire_and_forget,omitempty"`
	// Rounds are the scenario's rounds, when it took turns with others;
	// the figures above add them up.
	Rounds []RoundResult `json:"rounds,omitempty"`
	Series []Point       `json:"series"`
}
