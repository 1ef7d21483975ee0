package metrics_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/metrics"
	"github.com/postpipe/postpipe/internal/testkit"
)

// The hooks count what really went to the broker: produce requests and
// the records of each batch, so records per request can be read off.
func TestProducerHooksCountRequestsAndBatchRecords(t *testing.T) {
	c := testkit.Kafka(t, kfake.SeedTopics(1, "t"))
	m := metrics.New()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("t"), kgo.WithHooks(m.ProducerHooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	// Three requests: one of 5 records, then two of one.
	recs := make([]*kgo.Record, 5)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte("v")}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var requests float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "postpipe_producer_requests_total":
			requests = mf.GetMetric()[0].GetCounter().GetValue()
		case "postpipe_producer_batch_records":
			h := mf.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 3 || h.GetSampleSum() != 7 {
				t.Errorf("batch_records: %d batches of %v records, want 3 of 7", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
	if requests != 3 {
		t.Errorf("producer_requests_total = %v, want 3", requests)
	}
}
