package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Produce times the records the API produces and counts their outcomes. It
// implements kafka.Observer.
type Produce struct {
	duration prometheus.Observer
	outcomes *prometheus.CounterVec
	// byOutcome holds the children of the outcomes kafka reports, so
	// the hot path does no label lookup.
	byOutcome map[string]prometheus.Counter
}

// produceOutcomes are the outcomes kafka.Publisher reports.
var produceOutcomes = []string{"acked", "failed", "timeout"}

// Produce registers the producer families. buffered reports how many
// records the producer holds that the broker has not acknowledged yet
// (kgo.Client.BufferedProduceRecords); it is read at each scrape.
func (m *Metrics) Produce(buffered func() int64) *Produce {
	duration := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "produce", Name: "duration_seconds",
		Help:    "Time from handing a record to the producer to its acknowledgement, failure or timeout.",
		Buckets: latencyBuckets,
	})
	p := &Produce{
		duration: duration,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "produce", Name: "records_total",
			Help: "Records produced, by outcome: acked, failed (the broker refused it), timeout (no ack within the produce timeout; the client got a 503).",
		}, []string{"outcome"}),
		byOutcome: make(map[string]prometheus.Counter, len(produceOutcomes)),
	}
	for _, o := range produceOutcomes {
		p.byOutcome[o] = p.outcomes.WithLabelValues(o)
	}
	m.reg.MustRegister(duration, p.outcomes, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Subsystem: "producer", Name: "buffered_records",
		Help: "Records in the producer not yet acknowledged by the broker.",
	}, func() float64 { return float64(buffered()) }))
	return p
}

// Produced records one record's outcome and how long it took.
func (p *Produce) Produced(outcome string, d time.Duration) {
	p.duration.Observe(d.Seconds())
	c, ok := p.byOutcome[outcome]
	if !ok {
		c = p.outcomes.WithLabelValues(outcome)
	}
	c.Inc()
}
