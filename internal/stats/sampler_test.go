package stats

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// scripted answers ReadOffsets with one reading after another.
type scripted struct {
	readings []reading
	calls    int
}

type reading struct {
	offsets Offsets
	err     error
}

func (s *scripted) ReadOffsets(context.Context) (Offsets, error) {
	r := s.readings[min(s.calls, len(s.readings)-1)]
	s.calls++
	return r.offsets, r.err
}

func parts(committed ...int64) Offsets {
	var o Offsets
	for i, c := range committed {
		o.Partitions = append(o.Partitions, Partition{Partition: int32(i), Committed: c, End: 100, Lag: 100 - c})
	}
	return o
}

// newTestSampler returns a sampler on a clock that advances by step at
// every sample, counting accepted posts from *accepted.
func newTestSampler(window time.Duration, step time.Duration, accepted *int64, r OffsetReader) *Sampler {
	s := New(time.Second, window, func() int64 { return *accepted }, r, slog.New(slog.DiscardHandler))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { now = now.Add(step); return now }
	return s
}

func TestSamplerRates(t *testing.T) {
	var accepted int64
	r := &scripted{readings: []reading{
		{offsets: parts(0, 0)},
		{offsets: parts(10, 20)},
		{offsets: parts(10, 20)},
		{offsets: parts(5, 5)}, // the group was reset: no negative rate
	}}
	s := newTestSampler(time.Minute, 2*time.Second, &accepted, r)
	ctx := context.Background()
	want := []Sample{
		{IngestRate: 0, SinkRate: 0, Lag: 200},
		{IngestRate: 25, SinkRate: 15, Lag: 170},
		{IngestRate: 5, SinkRate: 0, Lag: 170},
		{IngestRate: 0, SinkRate: 0, Lag: 190},
	}
	for i, add := range []int64{0, 50, 10, 0} {
		accepted += add
		s.sample(ctx)
		got := s.Snapshot().Samples
		if len(got) != i+1 {
			t.Fatalf("after %d samples the snapshot holds %d", i+1, len(got))
		}
		g := got[i]
		if g.IngestRate != want[i].IngestRate || g.SinkRate != want[i].SinkRate || g.Lag != want[i].Lag {
			t.Errorf("sample %d: got ingest %v sink %v lag %d, want %+v", i, g.IngestRate, g.SinkRate, g.Lag, want[i])
		}
	}
	snap := s.Snapshot()
	if snap.Totals.Accepted != 60 || snap.Totals.Committed != 10 || snap.Lag.Total != 190 || len(snap.Lag.Partitions) != 2 {
		t.Errorf("snapshot totals %+v lag %+v", snap.Totals, snap.Lag)
	}
	if snap.IntervalSeconds != 1 || snap.WindowSeconds != 60 {
		t.Errorf("interval %v window %v, want 1 and 60", snap.IntervalSeconds, snap.WindowSeconds)
	}
}

func TestSamplerRingIsBoundedAndOrdered(t *testing.T) {
	var accepted int64
	s := newTestSampler(5*time.Second, time.Second, &accepted, &scripted{readings: []reading{{offsets: parts(0)}}})
	for range 12 {
		s.sample(context.Background())
	}
	got := s.Snapshot().Samples
	if len(got) != 5 {
		t.Fatalf("the ring holds %d samples, want 5 (window / interval)", len(got))
	}
	for i := 1; i < len(got); i++ {
		if !got[i].At.After(got[i-1].At) {
			t.Fatalf("samples out of order at %d: %v then %v", i, got[i-1].At, got[i].At)
		}
	}
	if want := time.Date(2026, 1, 1, 0, 0, 12, 0, time.UTC); !got[4].At.Equal(want) {
		t.Errorf("newest sample at %v, want %v", got[4].At, want)
	}
}

func TestSamplerKeepsTheLastGoodReadingOnError(t *testing.T) {
	var accepted int64
	r := &scripted{readings: []reading{
		{offsets: Offsets{Partitions: parts(40).Partitions, DLQRecords: 3}},
		{err: errors.New("broker gone")},
		{offsets: Offsets{Partitions: parts(60).Partitions, DLQRecords: 4}},
	}}
	s := newTestSampler(time.Minute, time.Second, &accepted, r)
	ctx := context.Background()

	s.sample(ctx)
	accepted = 7
	s.sample(ctx)
	snap := s.Snapshot()
	if snap.Error != "broker gone" || snap.Totals.DLQ != 3 || snap.Totals.Committed != 40 || snap.Lag.Total != 60 {
		t.Fatalf("after a failed reading: error %q totals %+v lag %d; want the last good figures and the error", snap.Error, snap.Totals, snap.Lag.Total)
	}
	if last := snap.Samples[1]; last.IngestRate != 7 || last.SinkRate != 0 {
		t.Errorf("sample without a broker reading: %+v, want ingest 7 and no sink rate", last)
	}

	s.sample(ctx)
	snap = s.Snapshot()
	if snap.Error != "" || snap.Totals.DLQ != 4 || snap.Totals.Committed != 60 {
		t.Errorf("after recovery: error %q totals %+v", snap.Error, snap.Totals)
	}
	// No rate across the gap: the committed offsets before it are not
	// known to be those of a sample one interval earlier.
	if last := snap.Samples[2]; last.SinkRate != 0 {
		t.Errorf("first sample after the gap has sink rate %v, want 0", last.SinkRate)
	}
}

func TestSnapshotBeforeTheFirstSample(t *testing.T) {
	s := New(time.Second, time.Minute, func() int64 { return 0 }, &scripted{readings: []reading{{}}}, slog.New(slog.DiscardHandler))
	snap := s.Snapshot()
	if snap.Samples == nil || snap.Lag.Partitions == nil {
		t.Errorf("an empty snapshot must encode empty arrays, not null: %+v", snap)
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	r := &scripted{readings: []reading{{offsets: parts(1)}}}
	s := New(10*time.Millisecond, time.Second, func() int64 { return 0 }, r, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Snapshot().Samples) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("Run took no samples")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestSnapshotReadAt: ReadAt is when the broker figures were read, so a
// failed reading leaves it at the last one that worked.
func TestSnapshotReadAt(t *testing.T) {
	var accepted int64
	r := &scripted{readings: []reading{
		{err: errors.New("no broker yet")},
		{offsets: parts(40)},
		{err: errors.New("broker gone")},
		{err: errors.New("broker gone")},
		{offsets: parts(60)},
	}}
	s := newTestSampler(time.Minute, time.Second, &accepted, r)
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, want := range []time.Time{
		{}, // nothing read yet
		start.Add(2 * time.Second),
		start.Add(2 * time.Second),
		start.Add(2 * time.Second),
		start.Add(5 * time.Second),
	} {
		s.sample(ctx)
		snap := s.Snapshot()
		if !snap.ReadAt.Equal(want) {
			t.Errorf("sample %d (taken at %v): ReadAt %v, want %v", i, snap.At, snap.ReadAt, want)
		}
	}
}
