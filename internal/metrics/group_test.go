package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postpipe/postpipe/internal/metrics"
)

// groupFamilies are the families metrics.Group registers.
var groupFamilies = []string{"postpipe_group_lag_records", "postpipe_group_committed_records", "postpipe_group_read_age_seconds"}

// readAge returns postpipe_group_read_age_seconds as scraped now.
func readAge(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "postpipe_group_read_age_seconds" {
			if len(f.GetMetric()) != 1 {
				t.Fatalf("postpipe_group_read_age_seconds has %d series, want 1", len(f.GetMetric()))
			}
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no postpipe_group_read_age_seconds")
	return 0
}

// TestGroupLagByStream: the lag is end minus committed summed over each
// stream's partitions, the committed offsets are summed likewise, and a
// partition numbered alike in two streams counts in its own stream only.
func TestGroupLagByStream(t *testing.T) {
	m := metrics.New()
	at := time.Now().Add(-3 * time.Second)
	m.Group(func() metrics.GroupReading {
		return metrics.GroupReading{At: at, Partitions: []metrics.GroupPartition{
			{Stream: "posts", Committed: 90, End: 100},
			{Stream: "posts", Committed: 40, End: 45},
			{Stream: "orders", Committed: 7, End: 7},
			{Stream: "orders", Committed: 0, End: 12},
		}}
	})
	const want = `
# HELP postpipe_group_lag_records Records of the stream's topic the sink's consumer group has not committed (end offset minus committed offset, summed over the topic's partitions), as read from the broker; absent while the last reading that worked is over a minute old.
# TYPE postpipe_group_lag_records gauge
postpipe_group_lag_records{stream="orders"} 12
postpipe_group_lag_records{stream="posts"} 15
# HELP postpipe_group_committed_records Sum of the sink's consumer group's committed offsets on the stream's topic's partitions (the start offset where it has not committed), as read from the broker: it moves whenever the group commits; absent while the last reading that worked is over a minute old.
# TYPE postpipe_group_committed_records gauge
postpipe_group_committed_records{stream="orders"} 7
postpipe_group_committed_records{stream="posts"} 130
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "postpipe_group_lag_records", "postpipe_group_committed_records"); err != nil {
		t.Error(err)
	}
	if age := readAge(t, m); age < 3 || age > 60 {
		t.Errorf("postpipe_group_read_age_seconds = %v, want about 3", age)
	}
}

// TestGroupReadingFollowsTheSnapshot: each scrape reads the latest reading,
// and the age is that of the last reading that worked.
func TestGroupReadingFollowsTheSnapshot(t *testing.T) {
	m := metrics.New()
	r := metrics.GroupReading{At: time.Now(), Partitions: []metrics.GroupPartition{{Stream: "posts", Committed: 0, End: 5}}}
	m.Group(func() metrics.GroupReading { return r })
	if g := gatherGauges(t, m, "postpipe_group_lag_records", "stream"); g["posts"] != 5 {
		t.Fatalf("lag %v, want posts 5", g)
	}
	r = metrics.GroupReading{At: time.Now().Add(-30 * time.Second), Partitions: []metrics.GroupPartition{{Stream: "posts", Committed: 5, End: 9}}}
	if g := gatherGauges(t, m, "postpipe_group_lag_records", "stream"); g["posts"] != 4 {
		t.Errorf("lag %v after a new reading, want posts 4", g)
	}
	if age := readAge(t, m); age < 30 || age > 60 {
		t.Errorf("postpipe_group_read_age_seconds = %v, want about 30", age)
	}
}

// TestGroupStaleReading: a reading older than GroupStaleAfter exports no
// lag and no committed offsets, only its age, which an alert reads.
func TestGroupStaleReading(t *testing.T) {
	m := metrics.New()
	old := time.Now().Add(-metrics.GroupStaleAfter - 30*time.Second)
	m.Group(func() metrics.GroupReading {
		return metrics.GroupReading{At: old, Partitions: []metrics.GroupPartition{{Stream: "posts", Committed: 1, End: 100}}}
	})
	for _, f := range groupFamilies[:2] {
		if n, err := testutil.GatherAndCount(m.Registry(), f); err != nil || n != 0 {
			t.Errorf("%s: %d series (%v), want none from a stale reading", f, n, err)
		}
	}
	want := (metrics.GroupStaleAfter + 30*time.Second).Seconds()
	if age := readAge(t, m); age < want || age > want+30 {
		t.Errorf("postpipe_group_read_age_seconds = %v, want about %v", age, want)
	}
}

// TestGroupBeforeTheFirstReading: no lag is known yet, and the age counts
// from the registration (the process's start), so a reader that never
// works is told apart from one that just started.
func TestGroupBeforeTheFirstReading(t *testing.T) {
	m := metrics.New()
	m.Group(func() metrics.GroupReading { return metrics.GroupReading{} })
	for _, f := range groupFamilies[:2] {
		if n, err := testutil.GatherAndCount(m.Registry(), f); err != nil || n != 0 {
			t.Errorf("%s: %d series (%v), want none before the first reading", f, n, err)
		}
	}
	if age := readAge(t, m); age < 0 || age > 30 {
		t.Errorf("postpipe_group_read_age_seconds = %v right after registering, want about 0", age)
	}
}
