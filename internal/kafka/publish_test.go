package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// TestCheckProduceFollowsABrokerRefusingWrites: a broker that answers
// pings but refuses every produce (KAFKA_STORAGE_ERROR, as with a full
// disk) fails the check once the records fail, and the check recovers with
// the first acknowledged record.
func TestCheckProduceFollowsABrokerRefusingWrites(t *testing.T) {
	cluster := testkit.Kafka(t, kfake.SeedTopics(1, "posts"))
	var refuse atomic.Bool
	cluster.ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		if !refuse.Load() {
			return nil, nil, false
		}
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.KafkaStorageError.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cl, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), ProducerOpts(time.Second, 0)...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	pub := NewPublisher(cl, "posts", time.Second, Instruments{})
	ctx := t.Context()
	posts := func(n int) []post.Post {
		out := make([]post.Post, n)
		for i := range out {
			out[i] = post.New(post.KeyedID(fmt.Sprint(time.Now().UnixNano(), i)), post.Input{Author: "a", Title: "t", Content: "c"}, time.Now())
		}
		return out
	}

	if errs := pub.Publish(ctx, posts(1)); errs[0] != nil {
		t.Fatalf("healthy broker: %v", errs[0])
	}
	if err := pub.CheckProduce(ctx); err != nil {
		t.Fatalf("check after a success: %v", err)
	}
	refuse.Store(true)
	for _, err := range pub.Publish(ctx, posts(failingAfter)) {
		if err == nil {
			t.Fatal("a refused record was acknowledged")
		}
	}
	if err := pub.CheckProduce(ctx); !errors.Is(err, ErrRefusingWrites) {
		t.Fatalf("check while every produce fails = %v, want ErrRefusingWrites", err)
	}
	refuse.Store(false)
	// The client backs off the partition after the errors: the first
	// attempts may still time out.
	for attempt := 1; ; attempt++ {
		errs := pub.Publish(ctx, posts(1))
		if errs[0] == nil {
			break
		}
		if attempt == 20 {
			t.Fatalf("recovered broker: %v", errs[0])
		}
	}
	if err := pub.CheckProduce(ctx); err != nil {
		t.Fatalf("check after the broker took a write again: %v", err)
	}
}

// TestProduceHealthRule: the rule on a fake clock.
func TestProduceHealthRule(t *testing.T) {
	now := time.Unix(1000, 0)
	fail := errors.New("produce x: broker gone")
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	for _, tt := range []struct {
		name  string
		steps func(h *produceHealth)
		want  bool // failing
	}{
		{"nothing yet", func(*produceHealth) {}, false},
		{"fewer failures than the threshold", func(h *produceHealth) {
			for range failingAfter - 1 {
				h.record(live, fail)
			}
		}, false},
		{"threshold reached", func(h *produceHealth) {
			for range failingAfter {
				h.record(live, fail)
			}
		}, true},
		{"a success ends it", func(h *produceHealth) {
			for range failingAfter {
				h.record(live, fail)
			}
			h.record(live, nil)
		}, false},
		{"records too large do not count", func(h *produceHealth) {
			for range failingAfter {
				h.record(live, fmt.Errorf("produce x: %w", kerr.MessageTooLarge))
			}
		}, false},
		{"abandoned requests do not count", func(h *produceHealth) {
			for range failingAfter {
				h.record(cancelled, fail)
			}
		}, false},
		{"timeouts count", func(h *produceHealth) {
			for range failingAfter {
				h.record(live, fmt.Errorf("produce x: %w", ErrNotAcknowledged))
			}
		}, true},
		{"not stuck without traffic", func(h *produceHealth) {
			for range failingAfter {
				h.record(live, fail)
			}
			now = now.Add(failingFor + time.Second)
		}, false},
		{"still failing within the window", func(h *produceHealth) {
			for range failingAfter {
				h.record(live, fail)
			}
			now = now.Add(failingFor - time.Second)
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := &produceHealth{now: func() time.Time { return now }}
			tt.steps(h)
			err := h.check()
			if failing := err != nil; failing != tt.want {
				t.Fatalf("check() = %v, want failing=%v", err, tt.want)
			}
		})
	}
}
