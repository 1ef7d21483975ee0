package bench

import (
	"maps"
	"testing"
	"time"
)

func TestRecorderSummaryAndSeries(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := newRecorder(t0)
	ms := time.Millisecond

	// Second 1: 4 requests, one failed.
	for _, l := range []time.Duration{1 * ms, 2 * ms, 3 * ms} {
		rec.record(outcome{latency: l, posts: 1})
	}
	rec.record(outcome{latency: 40 * ms, failure: "503"})
	p1 := rec.tick(t0.Add(time.Second), 7, 0)

	// Second 2: a batch with refused items, a timeout.
	rec.record(outcome{latency: 10 * ms, posts: 98, failure: "207-partial", failed: map[string]int{"503": 2},
		accepted: []sentPost{{"a", "m1"}}, maybe: []sentPost{{"c", "m3"}}})
	rec.record(outcome{latency: 100 * ms, failure: "timeout"})
	p2 := rec.tick(t0.Add(2*time.Second), 5, 1)

	// A sliver at the end with a burst in it.
	for range 10 {
		rec.record(outcome{latency: ms, posts: 1})
	}
	p3 := rec.tick(t0.Add(2*time.Second+100*ms), 0, 1)

	if p1.Requests != 4 || p1.Errors != 1 || p1.RPS != 4 || p1.VUs != 7 || p1.Stage != 1 || p1.T != 1 || p1.Seconds != 1 {
		t.Errorf("first second = %+v", p1)
	}
	if p1.P50 != 2 || p1.P99 != 40 {
		t.Errorf("first second p50 %v, p99 %v; want 2 and 40", p1.P50, p1.P99)
	}
	if p2.Requests != 2 || p2.Errors != 2 || p2.Stage != 2 || p2.P99 != 100 {
		t.Errorf("second second = %+v", p2)
	}
	if p3.Requests != 10 || p3.RPS != 100 || p3.Seconds != 0.1 {
		t.Errorf("last sliver = %+v", p3)
	}

	res := rec.result("batch", 4*time.Second)
	if res.Requests != 16 || res.Errors != 3 || res.Posts != 111 {
		t.Errorf("requests %d, errors %d, posts %d; want 16, 3, 111", res.Requests, res.Errors, res.Posts)
	}
	if res.RPS != 4 || res.PostsPerS != 27.75 {
		t.Errorf("rps %v, posts/s %v; want 4 and 27.75", res.RPS, res.PostsPerS)
	}
	if res.PeakRPS != 4 {
		t.Errorf("peak %v, want 4: the 0.1 s sliver at the end is too short to count", res.PeakRPS)
	}
	if res.Max != 100 || res.P50 != 1 || res.P999 != 100 {
		t.Errorf("p50 %v, p99.9 %v, max %v; want 1, 100, 100", res.P50, res.P999, res.Max)
	}
	if want := map[string]int64{"503": 1, "207-partial": 1, "timeout": 1}; !maps.Equal(res.ErrorsByStatus, want) {
		t.Errorf("errors by status %v, want %v", res.ErrorsByStatus, want)
	}
	if want := map[string]int64{"503": 2}; !maps.Equal(res.FailedPostsByStatus, want) {
		t.Errorf("failed posts %v, want %v", res.FailedPostsByStatus, want)
	}
	if len(res.Series) != 3 {
		t.Errorf("%d points, want 3", len(res.Series))
	}
	if p := rec.promises(); len(p.accepted) != 1 || p.accepted[0] != (sentPost{"a", "m1"}) || len(p.maybe) != 1 || p.maybe[0] != (sentPost{"c", "m3"}) {
		t.Errorf("promises %+v", p)
	}
}

func TestPercentilesNeverPassTheMax(t *testing.T) {
	l := newLatencies()
	for _, d := range []time.Duration{301600 * time.Microsecond, 1 * time.Millisecond} {
		l.record(d)
	}
	if p, m := l.ms(99), l.maxMS(); p > m || m != 301.6 {
		t.Errorf("p99 %v, max %v; want p99 ≤ max = 301.6", p, m)
	}
	lg := newLags()
	lg.record(1234 * time.Millisecond)
	if p, m := lg.ms(100), lg.maxMS(); p > m || m != 1234 {
		t.Errorf("lag p100 %v, max %v; want p ≤ max = 1234", p, m)
	}
}
