// Package stats samples the pipeline's throughput for the dashboard: how
// many posts this API process accepted, how far the sink's consumer group
// has committed, its lag and the dead-letter count, once per interval, kept
// in a bounded ring so a freshly opened page shows the last minutes.
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
	// DLQRecords is how many records the dead-letter topic holds.
	DLQRecords int64
}

// Partition is the group's progress on one partition of the posts topic.
// Committed is the start offset where the group has not committed yet: that
// is where a new sink begins.
type Partition struct {
	Partition int32 `json:"partition"`
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
}

// OffsetReader reads the group's offsets from the broker.
type OffsetReader interface {
	ReadOffsets(ctx context.Context) (Offsets, error)
}

// Sample is the pipeline over one interval. Rates are per second.
type Sample struct {
	At         time.Time `json:"at"`
	IngestRate float64   `json:"ingestRate"`
	SinkRate   float64   `json:"sinkRate"`
	Lag        int64     `json:"lag"`
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
	// Error says why the last reading of the broker failed; the broker
	// figures are then those of the last reading that worked.
	Error string `json:"error,omitempty"`
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
}

// Lag is how many records the group has not committed yet.
type Lag struct {
	Total      int64       `json:"total"`
	Partitions []Partition `json:"partitions"`
}
