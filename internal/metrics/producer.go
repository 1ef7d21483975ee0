package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProducerHooks counts what the producer sends the brokers: produce
// requests, and the records in each partition's batch. The broker's CPU per
// record falls steeply with the records per request, so records per request
// (postpipe_producer_batch_records' sum over
// postpipe_producer_requests_total: the sum counts every record a broker
// accepted, fire-and-forget's too, which
// postpipe_produce_records_total does not) is what linger and the
// partitioner are tuned by; 'postpipe bench' reports it per scenario. Pass
// it to the producer with kgo.WithHooks.
type ProducerHooks struct {
	requests     prometheus.Counter
	batchRecords prometheus.Observer
}

// batchRecordBuckets span one record to about 16k, doubling.
var batchRecordBuckets = prometheus.ExponentialBuckets(1, 2, 15)

// ProducerHooks registers the producer's request and batch families.
func (m *Metrics) ProducerHooks() *ProducerHooks {
	requests := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Subsystem: "producer", Name: "requests_total",
		Help: "Produce requests written to the brokers.",
	})
	batch := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Subsystem: "producer", Name: "batch_records",
		Help:    "Records in each partition batch the brokers accepted.",
		Buckets: batchRecordBuckets,
	})
	m.reg.MustRegister(requests, batch)
	return &ProducerHooks{requests: requests, batchRecords: batch}
}

var (
	_ kgo.HookBrokerWrite         = (*ProducerHooks)(nil)
	_ kgo.HookProduceBatchWritten = (*ProducerHooks)(nil)
)

// OnBrokerWrite counts the produce requests written whole.
func (h *ProducerHooks) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Produce) && err == nil {
		h.requests.Inc()
	}
}

// OnProduceBatchWritten observes the records of a batch the broker accepted.
func (h *ProducerHooks) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.batchRecords.Observe(float64(m.NumRecords))
}
