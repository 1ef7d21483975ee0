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

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
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

// benchPublisher is a Publisher on a kfake cluster with the topics, for the
// benchmarks of the single-record path.
func benchPublisher(b *testing.B, topics ...string) *Publisher {
	cluster := testkit.Kafka(b, kfake.SeedTopics(3, topics...))
	cl, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), ProducerOpts(5*time.Second, 0, topics[1:]...)...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	return NewPublisher(cl, topics[0], 5*time.Second, Instruments{})
}

// BenchmarkPublishOne is the API's hot path, one post to an in-process
// broker: what matters is allocs/op of this package's share, the client's
// and the fake broker's being the same on every run.
//
//	go test -run X -bench Publish -benchmem ./internal/kafka/
func BenchmarkPublishOne(b *testing.B) {
	pub := benchPublisher(b, "posts")
	pst := post.New(post.KeyedID("bench"), post.Input{Author: "a", Title: "t", Content: "c"}, time.Now())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.PublishOne(ctx, pst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishDoc is PublishOne for a document of a declared stream.
func BenchmarkPublishDoc(b *testing.B) {
	pub := benchPublisher(b, "posts", "docs")
	st := &stream.Stream{Name: "docs", Topic: "docs"}
	d := doc.Document{ID: "d1", Body: []byte(`{"a":1}`), CreatedAt: time.Now().Truncate(time.Millisecond), Fingerprint: "fp"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.PublishDoc(ctx, st, d); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPublishChange: each op's record is keyed by the id, carries
// MarshalChange's value and, but for a create, the op header, and the
// version returned is where the broker put it. The ops on one id share a
// partition, in order.
func TestPublishChange(t *testing.T) {
	cluster := testkit.Kafka(t, kfake.SeedTopics(3, "docs"))
	log := slog.New(slog.DiscardHandler)
	cl, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), log), ProducerOpts(5*time.Second, 0, "docs")...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	pub := NewPublisher(cl, "posts", 5*time.Second, Instruments{})
	st := &stream.Stream{Name: "docs", Topic: "docs", Changes: true}
	ctx := t.Context()
	at := time.Now().UTC().Truncate(time.Millisecond)
	changes := []doc.Change{
		{Op: doc.OpCreate, ID: "a", At: at, Body: []byte(`{"x":1}`), Fingerprint: "f1"},
		{Op: doc.OpPut, ID: "a", OpID: "o2", At: at, Body: []byte(`{"x":2}`), Fingerprint: "f2"},
		{Op: doc.OpPatch, ID: "a", OpID: "o3", At: at, Body: []byte(`{"y":3}`), Fingerprint: "f3"},
		{Op: doc.OpDelete, ID: "a", OpID: "o4", At: at},
	}
	var versions []doc.Version
	for i, c := range changes {
		v, err := pub.PublishChange(ctx, st, c)
		if err != nil {
			t.Fatalf("publish %s: %v", c.Op, err)
		}
		if i > 0 && (v.Partition != versions[0].Partition || v.Offset <= versions[i-1].Offset) {
			t.Fatalf("%s at %s after %s: the ops on one id must share a partition, in order", c.Op, v, versions[i-1])
		}
		versions = append(versions, v)
	}
	if pub.Acknowledged() != int64(len(changes)) {
		t.Errorf("Acknowledged() = %d, want %d", pub.Acknowledged(), len(changes))
	}

	cons, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), log), kgo.ConsumeTopics("docs"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cons.Close)
	got := map[doc.Version]*kgo.Record{}
	for len(got) < len(changes) {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[doc.Version{Partition: r.Partition, Offset: r.Offset}] = r })
	}
	for i, c := range changes {
		r := got[versions[i]]
		if r == nil {
			t.Fatalf("no record at %s, the version of the %s", versions[i], c.Op)
		}
		if string(r.Key) != c.ID || string(r.Value) != string(doc.MarshalChange(c)) {
			t.Errorf("%s record: key %q value %s, want %q %s", c.Op, r.Key, r.Value, c.ID, doc.MarshalChange(c))
		}
		var ops []string
		for _, h := range r.Headers {
			if h.Key == doc.HeaderOp {
				ops = append(ops, string(h.Value))
			}
		}
		switch {
		case c.Op == doc.OpCreate && len(ops) != 0:
			t.Errorf("create record has op headers %q, want none", ops)
		case c.Op != doc.OpCreate && (len(ops) != 1 || ops[0] != c.Op.String()):
			t.Errorf("%s record has op headers %q, want [%s]", c.Op, ops, c.Op)
		}
	}

	if v, err := pub.PublishChange(ctx, st, doc.Change{Op: 9, ID: "a"}); err == nil || v != doc.None {
		t.Errorf("unknown op: %v, %v; want an error and doc.None", v, err)
	}
}

// TestPublishChangeNotAcknowledged: a broker that never answers gives a
// version of doc.None and ErrNotAcknowledged once the timeout has passed.
func TestPublishChangeNotAcknowledged(t *testing.T) {
	cluster := testkit.Kafka(t, kfake.SeedTopics(1, "docs"))
	cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		cluster.KeepControl()
		return nil, errors.New("drop"), true // the connection is closed: no answer
	})
	cl, err := kgo.NewClient(append(ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler)), ProducerOpts(time.Second, 0, "docs")...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	pub := NewPublisher(cl, "posts", 200*time.Millisecond, Instruments{})
	st := &stream.Stream{Name: "docs", Topic: "docs", Changes: true}
	v, err := pub.PublishChange(t.Context(), st, doc.Delete("a", time.Now()))
	if !errors.Is(err, ErrNotAcknowledged) || v != doc.None {
		t.Fatalf("PublishChange = %v, %v; want doc.None and ErrNotAcknowledged", v, err)
	}
}

// BenchmarkPublishChange is a put through PublishChange.
func BenchmarkPublishChange(b *testing.B) {
	pub := benchPublisher(b, "posts", "docs")
	st := &stream.Stream{Name: "docs", Topic: "docs", Changes: true}
	c := doc.Change{Op: doc.OpPut, ID: "d1", OpID: "o1", At: time.Now().Truncate(time.Millisecond), Body: []byte(`{"a":1}`), Fingerprint: "fp"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pub.PublishChange(ctx, st, c); err != nil {
			b.Fatal(err)
		}
	}
}
