package metrics_test

import (
	"context"
	"testing"
	"time"

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
	// Seven records: five at once (one request, or more where the client
	// cuts a batch before all five are buffered), then two alone.
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
	// The client may call a batch's hook after its records' promises, so
	// ProduceSync returning does not mean the hooks have run.
	var (
		requests, batches, records float64
		err2                       error
	)
	testkit.Eventually(t, 5*time.Second, "the hooks to see all 7 records", func() bool {
		requests, batches, records, err2 = producerFigures(m)
		return err2 != nil || records >= 7 && batches == requests
	})
	if err2 != nil {
		t.Fatal(err2)
	}
	// One partition: one batch per request.
	if records != 7 || batches != requests || requests < 3 || requests > 7 {
		t.Errorf("%v produce requests, %v batches of %v records; want 7 records in as many batches as requests, 3 to 7", requests, batches, records)
	}
}

// producerFigures reads the producer hooks' counter and histogram.
func producerFigures(m *metrics.Metrics) (requests, batches, records float64, err error) {
	mfs, err := m.Registry().Gather()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "postpipe_producer_requests_total":
			requests = mf.GetMetric()[0].GetCounter().GetValue()
		case "postpipe_producer_batch_records":
			h := mf.GetMetric()[0].GetHistogram()
			batches, records = float64(h.GetSampleCount()), h.GetSampleSum()
		}
	}
	return requests, batches, records, nil
}
