package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postpipe/postpipe/internal/metrics"
)

// TestSinkCountsByStream: each stream's batches and writes land in its own
// series of the same families.
func TestSinkCountsByStream(t *testing.T) {
	m := metrics.New()
	s := m.Sink("posts", "events")
	s.BatchDone("posts", 10, 7, 2, 1)
	s.BatchDone("events", 4, 4, 0, 0)
	s.BatchDone("posts", 3, 3, 0, 0)
	s.WriteAttempted("events", time.Millisecond, errors.New("down"))
	s.WriteAttempted("events", time.Millisecond, nil)
	s.WriteAttempted("posts", time.Millisecond, nil)

	for _, tt := range []struct {
		family        string
		posts, events float64
	}{
		{"postpipe_sink_documents_written_total", 10, 4},
		{"postpipe_sink_duplicates_skipped_total", 2, 0},
		{"postpipe_sink_dlq_records_total", 1, 0},
		{"postpipe_sink_write_errors_total", 0, 1},
	} {
		g := gatherCounters(t, m, tt.family, "stream", "")
		if len(g) != 2 || g[[2]string{"posts"}] != tt.posts || g[[2]string{"events"}] != tt.events {
			t.Errorf("%s = %v, want posts %v and events %v", tt.family, g, tt.posts, tt.events)
		}
	}
	// Only the counts: the buckets are the histogram's business.
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, f := range fams {
		switch f.GetName() {
		case "postpipe_sink_batch_records", "postpipe_sink_write_duration_seconds":
			for _, s := range f.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == "stream" {
						counts[f.GetName()+"/"+l.GetValue()] = s.GetHistogram().GetSampleCount()
					}
				}
			}
		}
	}
	wantCounts := map[string]uint64{
		"postpipe_sink_batch_records/posts": 2, "postpipe_sink_batch_records/events": 1,
		"postpipe_sink_write_duration_seconds/posts": 1, "postpipe_sink_write_duration_seconds/events": 2,
	}
	for k, n := range wantCounts {
		if counts[k] != n {
			t.Errorf("%s observed %d times, want %d", k, counts[k], n)
		}
	}
}

// TestSinkSeriesStartAtZero: a stream named at registration has its
// counters before its first batch, so the first increase is seen by rate()
// and increase() (and the dead-letter alert).
func TestSinkSeriesStartAtZero(t *testing.T) {
	m := metrics.New()
	m.Sink("posts", "events")
	const want = `
# HELP postpipe_sink_dlq_records_total Records the sink could not store and sent to the dead-letter topic.
# TYPE postpipe_sink_dlq_records_total counter
postpipe_sink_dlq_records_total{stream="events"} 0
postpipe_sink_dlq_records_total{stream="posts"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "postpipe_sink_dlq_records_total"); err != nil {
		t.Error(err)
	}
	for _, f := range []string{
		"postpipe_sink_documents_written_total", "postpipe_sink_duplicates_skipped_total", "postpipe_sink_write_errors_total",
		"postpipe_sink_batch_records", "postpipe_sink_write_duration_seconds",
	} {
		if n, err := testutil.GatherAndCount(m.Registry(), f); err != nil || n != 2 {
			t.Errorf("%s: %d series (%v), want one per stream", f, n, err)
		}
	}
}

// TestLagByStreamAndPartition: two streams' partition 0 are two series.
func TestLagByStreamAndPartition(t *testing.T) {
	m := metrics.New()
	m.SinkLag(func(yield func(string, int32, int64, float64)) {
		yield("posts", 0, 5, 1.5)
		yield("events", 0, 7, 0)
		yield("events", 1, 2, 0.25)
	})
	const want = `
# HELP postpipe_sink_lag_records Records behind the partition's end offset (read from the broker at most once a second, else the last fetch's high watermark) that the sink has not written yet.
# TYPE postpipe_sink_lag_records gauge
postpipe_sink_lag_records{partition="0",stream="events"} 7
postpipe_sink_lag_records{partition="1",stream="events"} 2
postpipe_sink_lag_records{partition="0",stream="posts"} 5
# HELP postpipe_sink_lag_seconds Age of the oldest record polled but not yet written; 0 when caught up.
# TYPE postpipe_sink_lag_seconds gauge
postpipe_sink_lag_seconds{partition="0",stream="events"} 0
postpipe_sink_lag_seconds{partition="1",stream="events"} 0.25
postpipe_sink_lag_seconds{partition="0",stream="posts"} 1.5
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "postpipe_sink_lag_records", "postpipe_sink_lag_seconds"); err != nil {
		t.Error(err)
	}
}
