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
	ServerPID       int       `json:"server_pid,omitempty"`
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
	// ServerRSSMaxMB is the server's peak resident memory during the
	// scenario, when its pid was given (--server-pid).
	ServerRSSMaxMB float64       `json:"server_rss_max_mb,omitempty"`
	Verification   *Verification `json:"verification,omitempty"`
	Series         []Point       `json:"series"`
}
