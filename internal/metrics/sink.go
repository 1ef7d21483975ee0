package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink records the sink's batches, by stream. It implements sink.Observer.
type Sink struct {
	batchRecords *prometheus.HistogramVec
	writeTime    *prometheus.HistogramVec
	written      *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	writeErrors  *prometheus.CounterVec
	ops          *prometheus.CounterVec
}

// LagFunc calls yield once per partition the sink holds with its stream's
// name and its lag in records and in seconds; it is called at each scrape
// and may read the partitions' end offsets from the broker (sink.Sink.EachLag,
// at most once a second, within a second).
type LagFunc func(yield func(stream string, partition int32, records int64, seconds float64))

// streamLabel names the stream (the sink's route) a series counts.
const streamLabel = "stream"

// Sink registers the sink's write families. Each of streams gets its series
// at zero at once: a counter that first appears at 1 hides that first
// increase from rate() and increase(), so the first dead letter of a stream
// would not fire an alert.
func (m *Metrics) Sink(streams ...string) *Sink {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "sink", Name: name, Help: help}, []string{streamLabel})
	}
	s := &Sink{
		batchRecords: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "sink", Name: "batch_records",
			Help:    "Records per batch the sink wrote (stored and dead-lettered), counted per stream of the batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}, []string{streamLabel}),
		writeTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "sink", Name: "write_duration_seconds",
			Help:    "Time of each bulk write to the store, failed attempts included.",
			Buckets: latencyBuckets,
		}, []string{streamLabel}),
		written:      counter("documents_written_total", "Documents the sink inserted into the store."),
		duplicates:   counter("duplicates_skipped_total", "Records whose document was already stored (a redelivery), counted as written."),
		deadLettered: counter("dlq_records_total", "Records the sink could not store and sent to the dead-letter topic."),
		writeErrors:  counter("write_errors_total", "Bulk writes that failed and were retried."),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "sink", Name: "ops_total",
			Help: "Ops of streams with changes, by op (create, put, patch, delete) and result: applied, skipped (a redelivery, a retry or a duplicate create), dead_lettered (a patch that failed or found no document, a reused key)."},
			[]string{streamLabel, "op", "result"}),
	}
	m.reg.MustRegister(s.batchRecords, s.writeTime, s.written, s.duplicates, s.deadLettered, s.writeErrors, s.ops)
	for _, st := range streams {
		s.batchRecords.WithLabelValues(st)
		s.writeTime.WithLabelValues(st)
		for _, c := range []*prometheus.CounterVec{s.written, s.duplicates, s.deadLettered, s.writeErrors} {
			c.WithLabelValues(st)
		}
	}
	return s
}

// SinkLag registers the consumer lag families, read from lag at each scrape.
func (m *Metrics) SinkLag(lag LagFunc) {
	m.reg.MustRegister(lagCollector{lag})
}

// OpsDone counts n ops of stream, of one op and result (sink.OpObserver).
func (s *Sink) OpsDone(stream, op, result string, n int) {
	s.ops.WithLabelValues(stream, op, result).Add(float64(n))
}

// WriteAttempted records one bulk write of stream to the store.
func (s *Sink) WriteAttempted(stream string, d time.Duration, err error) {
	s.writeTime.WithLabelValues(stream).Observe(d.Seconds())
	if err != nil {
		s.writeErrors.WithLabelValues(stream).Inc()
	}
}

// BatchDone records stream's part of a batch stored and dead-lettered,
// before its commit.
func (s *Sink) BatchDone(stream string, records, inserted, duplicates, deadLettered int) {
	s.batchRecords.WithLabelValues(stream).Observe(float64(records))
	s.written.WithLabelValues(stream).Add(float64(inserted))
	s.duplicates.WithLabelValues(stream).Add(float64(duplicates))
	s.deadLettered.WithLabelValues(stream).Add(float64(deadLettered))
}

var (
	lagRecordsDesc = prometheus.NewDesc(namespace+"_sink_lag_records",
		"Records behind the partition's end offset (read from the broker at most once a second, else the last fetch's high watermark) that the sink has not written yet.",
		[]string{streamLabel, "partition"}, nil)
	lagSecondsDesc = prometheus.NewDesc(namespace+"_sink_lag_seconds",
		"Age of the oldest record polled but not yet written; 0 when caught up.",
		[]string{streamLabel, "partition"}, nil)
)

// lagCollector reads the lag at scrape time, so it is current even while
// the sink is stuck retrying a write.
type lagCollector struct{ each LagFunc }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagRecordsDesc
	ch <- lagSecondsDesc
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.each(func(stream string, partition int32, records int64, seconds float64) {
		p := strconv.Itoa(int(partition))
		ch <- prometheus.MustNewConstMetric(lagRecordsDesc, prometheus.GaugeValue, float64(records), stream, p)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, seconds, stream, p)
	})
}
