package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/postpipe/postpipe/internal/doc"
)

// Produce times the records the API produces and counts their outcomes. It
// implements kafka.Observer.
type Produce struct {
	duration *prometheus.HistogramVec
	outcomes *prometheus.CounterVec
	// byOutcome holds the children of every stream's outcomes, made at
	// registration, so the hot path does no label lookup; it is only read
	// after that.
	byOutcome map[produceKey]produceChildren
}

type produceKey struct{ stream, op, outcome string }

type produceChildren struct {
	duration prometheus.Observer
	records  prometheus.Counter
}

// produceOutcomes are the outcomes kafka.Publisher reports.
var produceOutcomes = []string{"acked", "failed", "timeout"}

// Produce registers the producer families, by stream (streams are the
// names served). buffered reports how many records the producer holds that
// the broker has not acknowledged yet (kgo.Client.BufferedProduceRecords);
// it is read at each scrape.
func (m *Metrics) Produce(buffered func() int64, streams ...string) *Produce {
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "produce", Name: "duration_seconds",
		Help:    "Time from handing a record to the producer to its acknowledgement, failure or timeout, by stream.",
		Buckets: latencyBuckets,
	}, []string{"stream"})
	p := &Produce{
		duration: duration,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "produce", Name: "records_total",
			Help: "Records produced, by stream, op (create, put, patch, delete) and outcome: acked, failed (the broker refused it), timeout (no ack within the produce timeout; the client got a 503).",
		}, []string{"stream", "op", "outcome"}),
		byOutcome: make(map[produceKey]produceChildren, len(produceOutcomes)*len(doc.OpNames)*len(streams)),
	}
	for _, st := range streams {
		for _, op := range doc.OpNames {
			for _, o := range produceOutcomes {
				p.byOutcome[produceKey{st, op, o}] = produceChildren{duration.WithLabelValues(st), p.outcomes.WithLabelValues(st, op, o)}
			}
		}
	}
	m.reg.MustRegister(duration, p.outcomes, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "producer", Name: "buffered_records",
		Help: "Records in the producer not yet acknowledged by the broker.",
	}, func() float64 { return float64(buffered()) }))
	return p
}

// Produced records one record's outcome and how long it took.
func (p *Produce) Produced(stream, op, outcome string, d time.Duration) {
	c, ok := p.byOutcome[produceKey{stream, op, outcome}]
	if !ok { // a stream, op or outcome not registered: found the slow way
		c = produceChildren{p.duration.WithLabelValues(stream), p.outcomes.WithLabelValues(stream, op, outcome)}
	}
	c.duration.Observe(d.Seconds())
	c.records.Inc()
}
