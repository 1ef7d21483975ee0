package bench

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// latencies is an HDR histogram of durations in microseconds, from 1 µs to
// 10 minutes with three significant digits: a percentile is off by at most
// 0.1 %, whatever the spread, at a fixed cost per recorded value. It is not
// safe for concurrent use; its owner locks. The maximum is kept exactly,
// beside the histogram's bucketed one.
type latencies struct {
	h   *hdrhistogram.Histogram
	max time.Duration
}

const maxLatency = 10 * time.Minute

func newLatencies() *latencies {
	return &latencies{h: hdrhistogram.New(1, maxLatency.Microseconds(), 3)}
}

// record adds d, clamped into the histogram's range so an outlier is kept
// as the largest value rather than dropped.
func (l *latencies) record(d time.Duration) {
	l.max = max(l.max, d)
	us := min(max(d.Microseconds(), 0), maxLatency.Microseconds())
	_ = l.h.RecordValue(us) // in range by construction
}

// ms returns the value at percentile p (0–100) in milliseconds. The
// histogram answers with the top of a bucket, which can pass the largest
// value recorded; the percentile is capped there.
func (l *latencies) ms(p float64) float64 {
	if l.h.TotalCount() == 0 {
		return 0
	}
	us := min(l.h.ValueAtPercentile(p), l.max.Microseconds())
	return round3(float64(us) / 1000)
}

func (l *latencies) maxMS() float64 { return round3(float64(l.max) / float64(time.Millisecond)) }

func (l *latencies) reset() {
	l.h.Reset()
	l.max = 0
}

// lags is an HDR histogram of end-to-end lags in milliseconds (what BSON
// dates keep), up to a day, with the exact maximum beside.
type lags struct {
	h   *hdrhistogram.Histogram
	max time.Duration
}

func newLags() *lags { return &lags{h: hdrhistogram.New(1, (24 * time.Hour).Milliseconds(), 3)} }

func (l *lags) record(d time.Duration) {
	l.max = max(l.max, d)
	ms := min(max(d.Milliseconds(), 0), (24 * time.Hour).Milliseconds())
	_ = l.h.RecordValue(ms)
}

// ms returns the lag at percentile p (0–100), capped like latencies.ms.
func (l *lags) ms(p float64) float64 {
	if l.h.TotalCount() == 0 {
		return 0
	}
	return float64(min(l.h.ValueAtPercentile(p), l.max.Milliseconds()))
}

func (l *lags) maxMS() float64 { return float64(l.max.Milliseconds()) }

func (l *lags) merge(o *lags) {
	l.h.Merge(o.h)
	l.max = max(l.max, o.max)
}

// round3 keeps three decimals: enough for milliseconds and rates, and
// short in JSON.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
