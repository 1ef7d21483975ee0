package kafka_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/testkit"
)

func TestReadOffsets(t *testing.T) {
	cluster := testkit.Kafka(t)
	// The records below choose their partitions.
	opts := append(kafka.ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kafka.EnsureTopics(ctx, cl, kafka.Topic{Name: "posts", Partitions: 3, Replication: -1},
		kafka.Topic{Name: "posts.dlq", Partitions: 2, Replication: -1},
		kafka.Topic{Name: "orders", Partitions: 1, Replication: -1}, kafka.Topic{Name: "orders.dlq", Partitions: 1, Replication: -1}); err != nil {
		t.Fatal(err)
	}
	produce := func(topic string, partition int32, n int) {
		t.Helper()
		for range n {
			r := &kgo.Record{Topic: topic, Partition: partition, Value: []byte("x")}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := kafka.NewOffsetReader(cl, "sink-group", kafka.StreamTopics{Stream: "posts", Topic: "posts", DLQTopic: "posts.dlq"},
		kafka.StreamTopics{Stream: "orders", Topic: "orders", DLQTopic: "orders.dlq"})

	// Nothing produced, no group yet. Topics just created may take a
	// moment to be known; the sampler simply tries again a second later.
	var got kafka.Progress
	for {
		if got, err = r.ReadOffsets(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("offsets of the new topics: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkOffsets(t, "empty", got, []kafka.PartitionProgress{part(0, 0, 0, 0), part(1, 0, 0, 0), part(2, 0, 0, 0), orders(0, 0, 0)}, 0)

	// Records but no commits: the lag is everything.
	produce("posts", 0, 5)
	produce("posts", 2, 3)
	produce("posts.dlq", 1, 2)
	produce("orders", 0, 4)
	produce("orders.dlq", 0, 1)
	got, err = r.ReadOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkOffsets(t, "uncommitted", got, []kafka.PartitionProgress{part(0, 0, 5, 5), part(1, 0, 0, 0), part(2, 0, 3, 3), orders(0, 4, 4)}, 3)

	// The group commits part of the way.
	adm := kadm.NewClient(cl)
	commits := kadm.Offsets{}
	commits.AddOffset("posts", 0, 4, -1)
	commits.AddOffset("posts", 2, 3, -1)
	commits.AddOffset("orders", 0, 1, -1)
	if err := adm.CommitAllOffsets(ctx, "sink-group", commits); err != nil {
		t.Fatal(err)
	}
	got, err = r.ReadOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkOffsets(t, "committed", got, []kafka.PartitionProgress{part(0, 4, 5, 1), part(1, 0, 0, 0), part(2, 3, 3, 0), orders(1, 4, 3)}, 3)
}

func part(p int32, committed, end, lag int64) kafka.PartitionProgress {
	return kafka.PartitionProgress{Stream: "posts", Partition: p, Committed: committed, End: end, Lag: lag}
}

func orders(committed, end, lag int64) kafka.PartitionProgress {
	return kafka.PartitionProgress{Stream: "orders", Partition: 0, Committed: committed, End: end, Lag: lag}
}

func checkOffsets(t *testing.T, when string, got kafka.Progress, want []kafka.PartitionProgress, dlq int64) {
	t.Helper()
	if len(got.Partitions) != len(want) {
		t.Fatalf("%s: partitions %+v, want %+v", when, got.Partitions, want)
	}
	for i := range want {
		if got.Partitions[i] != want[i] {
			t.Errorf("%s: partition %d is %+v, want %+v", when, i, got.Partitions[i], want[i])
		}
	}
	if got.DLQRecords != dlq {
		t.Errorf("%s: %d DLQ records, want %d", when, got.DLQRecords, dlq)
	}
}

func TestReadOffsetsFailsWithoutTheTopic(t *testing.T) {
	cluster := testkit.Kafka(t)
	cl, err := kgo.NewClient(kafka.ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kafka.NewOffsetReader(cl, "g", kafka.StreamTopics{Stream: "missing", Topic: "missing", DLQTopic: "missing.dlq"}).ReadOffsets(ctx); err == nil {
		t.Fatal("reading the offsets of a missing topic gave no error")
	}
}
