// Package stats samples the pipeline's throughput for the dashboard: how
// many posts this API process accepted, how its requests were answered
// (error rates, write latency), how far the sink's consumer group has
// committed, its lag, the dead-letter count and the health of the
// dependencies, once per interval, kept in a bounded ring so a freshly
// opened page shows the last minutes.
//
// The sink may run in other processes, so its side is read from the broker:
// the sink rate is the rate at which the group's committed offsets advance.
package stats

import (
	"context"
	"time"
)

// Offsets is one reading of the broker.
type Offsets struct {
	// Partitions of the posts topic, with the group's committed offset.
	Partitions []Partition
	// DLQRecords is how many records the dead-letter topics hold.
	DLQRecords int64
}

// Partition is the group's progress on one partition of a stream's topic.
// Committed is the start offset where the group has not committed yet: that
// is where a new sink begins.
type Partition struct {
	Stream    string `json:"stream"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
}

// OffsetReader reads the group's offsets from the broker.
type OffsetReader interface {
	ReadOffsets(ctx context.Context) (Offsets, error)
}

// Check is a probe of one dependency (the broker, the store, the sink's
// group membership); Ping must return once ctx ends.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Sample is the pipeline over one interval. Rates are per second.
type Sample struct {
	At         time.Time `json:"at"`
	IngestRate float64   `json:"ingestRate"`
	SinkRate   float64   `json:"sinkRate"`
	Lag        int64     `json:"lag"`
	// RequestRate counts the API's requests answered (not the
	// dashboard's, the probes' or the scraper's); the error rates are
	// those of them answered 4xx, 503 and another 5xx.
	RequestRate     float64 `json:"requestRate"`
	ClientErrorRate float64 `json:"clientErrorRate"`
	UnavailableRate float64 `json:"unavailableRate"`
	ServerErrorRate float64 `json:"serverErrorRate"`
	// P50Ms and P99Ms are the median and 99th percentile latency of the
	// write requests (POST) answered in the interval, rounded up to a
	// bucket at most ~19 % above; absent when none was answered.
	P50Ms float64 `json:"p50Ms,omitempty"`
	P99Ms float64 `json:"p99Ms,omitempty"`
}

// Health is the last result of one dependency's check.
type Health struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Error says why the check failed.
	Error string `json:"error,omitempty"`
	// Since is when the check last changed between passing and failing
	// (or first ran).
	Since time.Time `json:"since"`
}

// Snapshot is what GET /v1/stats answers.
type Snapshot struct {
	At              time.Time `json:"at"`
	IntervalSeconds float64   `json:"intervalSeconds"`
	WindowSeconds   float64   `json:"windowSeconds"`
	// Samples, oldest first, cover at most the sampler's window.
	Samples []Sample `json:"samples"`
	Totals  Totals   `json:"totals"`
	Lag     Lag      `json:"lag"`
	// Health has one entry per check, in the order they were given.
	Health []Health `json:"health"`
	// Error says why the last reading of the broker failed; the broker
	// figures are then those of the last reading that worked.
	Error string `json:"error,omitempty"`
	// ReadAt is when the broker figures (Lag, Totals.Committed and
	// Totals.DLQ) were read: the last reading that worked, the zero time
	// before the first. The metrics tell a stale reading by it; it is not
	// part of the JSON answer.
	ReadAt time.Time `json:"-"`
	// Streams names the streams the API serves, posts first: the API
	// fills it in when it answers (the sampler does not know them).
	Streams []string `json:"streams"`
}

// Totals are counts since the start of this process (Accepted) or of the
// topics (Committed, DLQ).
type Totals struct {
	// Accepted is posts this API process answered 202 for.
	Accepted int64 `json:"accepted"`
	// Committed is records the sink's group has committed: stored, or
	// dead-lettered.
	Committed int64 `json:"committed"`
	DLQ       int64 `json:"dlq"`
	// Requests, ClientErrors (4xx), Unavailable (503) and ServerErrors
	// (other 5xx) count this process's answers, as the rates do.
	Requests     int64 `json:"requests"`
	ClientErrors int64 `json:"clientErrors"`
	Unavailable  int64 `json:"unavailable"`
	ServerErrors int64 `json:"serverErrors"`
	// Changes counts the PUT, PATCH and DELETE this process accepted, by
	// op (put, patch, delete); absent while there were none.
	Changes map[string]int64 `json:"changes,omitempty"`
}

// Lag is how many records the group has not committed yet.
type Lag struct {
	Total      int64       `json:"total"`
	Partitions []Partition `json:"partitions"`
}
