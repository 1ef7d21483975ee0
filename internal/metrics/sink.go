package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Sink records the sink's batches. It implements sink.Observer.
type Sink struct {
	batchRecords prometheus.Observer
	writeTime    prometheus.Observer
	written      prometheus.Counter
	duplicates   prometheus.Counter
	deadLettered prometheus.Counter
	writeErrors  prometheus.Counter
}

// LagFunc calls yield once per partition the sink holds with its lag in
// records and in seconds; it is called at each scrape. sink.Sink.EachLag is one.
type LagFunc func(yield func(partition int32, records int64, seconds float64))

// Sink registers the sink's write families.
func (m *Metrics) Sink() *Sink {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Namespace: namespace, Subsystem: "sink", Name: name, Help: help}
	}
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "sink", Name: "batch_records",
		Help:    "Records per batch the sink wrote (stored and dead-lettered).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
	write := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "sink", Name: "write_duration_seconds",
		Help:    "Time of each bulk write to the store, failed attempts included.",
		Buckets: latencyBuckets,
	})
	s := &Sink{
		batchRecords: batch,
		writeTime:    write,
		written:      prometheus.NewCounter(opts("documents_written_total", "Documents the sink inserted into the store.")),
		duplicates:   prometheus.NewCounter(opts("duplicates_skipped_total", "Records whose document was already stored (a redelivery), counted as written.")),
		deadLettered: prometheus.NewCounter(opts("dlq_records_total", "Records the sink could not store and sent to the dead-letter topic.")),
		writeErrors:  prometheus.NewCounter(opts("write_errors_total", "Bulk writes that failed and were retried.")),
	}
	m.reg.MustRegister(batch, write, s.written, s.duplicates, s.deadLettered, s.writeErrors)
	return s
}

// SinkLag registers the consumer lag families, read from lag at each scrape.
func (m *Metrics) SinkLag(lag LagFunc) {
	m.reg.MustRegister(lagCollector{lag})
}

// WriteAttempted records one bulk write to the store.
func (s *Sink) WriteAttempted(d time.Duration, err error) {
	s.writeTime.Observe(d.Seconds())
	if err != nil {
		s.writeErrors.Inc()
	}
}

// BatchDone records a batch stored and dead-lettered, before its commit.
func (s *Sink) BatchDone(records, inserted, duplicates, deadLettered int) {
	s.batchRecords.Observe(float64(records))
	s.written.Add(float64(inserted))
	s.duplicates.Add(float64(duplicates))
	s.deadLettered.Add(float64(deadLettered))
}

var (
	lagRecordsDesc = prometheus.NewDesc(namespace+"_sink_lag_records",
		"Records behind the partition's high watermark (from the last fetch) that the sink has not written yet.",
		[]string{"partition"}, nil)
	lagSecondsDesc = prometheus.NewDesc(namespace+"_sink_lag_seconds",
		"Age of the oldest record polled but not yet written; 0 when caught up.",
		[]string{"partition"}, nil)
)

// lagCollector reads the lag at scrape time, so it is current even while
// the sink is stuck retrying a write.
type lagCollector struct{ each LagFunc }

func (c lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagRecordsDesc
	ch <- lagSecondsDesc
}

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.each(func(partition int32, records int64, seconds float64) {
		p := strconv.Itoa(int(partition))
		ch <- prometheus.MustNewConstMetric(lagRecordsDesc, prometheus.GaugeValue, float64(records), p)
		ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, seconds, p)
	})
}
