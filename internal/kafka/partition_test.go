package kafka

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/testkit"
)

// producer is a client with ProducerOpts, the keyed topics keyed, on a
// kfake cluster whose topics have three partitions.
func producer(t *testing.T, topics []string, keyed ...string) *kgo.Client {
	t.Helper()
	cluster := testkit.Kafka(t, kfake.SeedTopics(3, topics...))
	cl, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), ProducerOpts(5*time.Second, 0, keyed...)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestKeyedTopicPlacesByKey: on a keyed topic every record of one key
// lands in one partition, the one Kafka's default partitioner (murmur2)
// names, and the keys spread over the partitions; on the other topic the
// same key is placed sticky, so one key's records spread.
func TestKeyedTopicPlacesByKey(t *testing.T) {
	cl := producer(t, []string{"keyed", "plain"}, "keyed")
	ctx := t.Context()
	hash := kgo.StickyKeyPartitioner(nil).ForTopic("keyed")

	const keys, rounds = 40, 4
	placed := map[string]int32{}
	used := map[int32]bool{}
	for round := range rounds {
		for k := range keys {
			key := fmt.Sprint("doc-", k)
			r := &kgo.Record{Topic: "keyed", Key: []byte(key), Value: []byte(fmt.Sprint(round))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", key, err)
			}
			if want := int32(hash.Partition(r, 3)); r.Partition != want {
				t.Fatalf("key %s on partition %d, want %d (murmur2)", key, r.Partition, want)
			}
			if p, ok := placed[key]; ok && p != r.Partition {
				t.Fatalf("key %s on partition %d, earlier on %d", key, r.Partition, p)
			}
			placed[key] = r.Partition
			used[r.Partition] = true
		}
	}
	if len(used) != 3 {
		t.Errorf("%d keys used partitions %v, want all 3", keys, used)
	}

	spread := map[int32]bool{}
	for i := range 30 {
		r := &kgo.Record{Topic: "plain", Key: []byte("doc-0"), Value: []byte(fmt.Sprint(i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce to plain: %v", err)
		}
		spread[r.Partition] = true
	}
	if len(spread) < 2 {
		t.Errorf("one key on the non-keyed topic stayed on partitions %v: placed by key, want sticky", spread)
	}
}

// TestTopicPartitionerWithoutKeyedTopics is today's placement: nothing
// keyed, every topic sticky.
func TestTopicPartitionerWithoutKeyedTopics(t *testing.T) {
	tp := TopicPartitioner(nil).ForTopic("any")
	if tp.RequiresConsistency(&kgo.Record{Key: []byte("k")}) {
		t.Fatal("a topic not keyed requires consistency: placed by key")
	}
	kp := TopicPartitioner([]string{"any"}).ForTopic("any")
	if !kp.RequiresConsistency(&kgo.Record{Key: []byte("k")}) {
		t.Fatal("a keyed topic's keyed record does not require consistency")
	}
}
