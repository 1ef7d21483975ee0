package dlq_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/dlq"
	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/testkit"
)

const (
	topic    = "posts"
	dlqTopic = "posts.dlq"
	group    = "postpipe-sink.redrive"
)

var quiet = slog.New(slog.DiscardHandler)

func newCluster(t *testing.T) []kgo.Opt {
	t.Helper()
	c := testkit.Kafka(t, kfake.SeedTopics(3, topic), kfake.SeedTopics(2, dlqTopic))
	return kafka.ClientOpts(c.ListenAddrs(), quiet)
}

func produce(t *testing.T, opts []kgo.Opt, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(testCtx(t), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// store is an idempotent writer, as the real store is: a post's id is its
// key, and writing it again counts a duplicate.
type store struct {
	mu     sync.Mutex
	writes map[string]int
}

func (s *store) WriteBatch(_ context.Context, posts []post.Post) (inserted, duplicates int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range posts {
		if s.writes[p.ID]++; s.writes[p.ID] == 1 {
			inserted++
		} else {
			duplicates++
		}
	}
	return inserted, duplicates, nil
}

// Fingerprints says every stored post was stored without a fingerprint,
// which never conflicts.
func (s *store) Fingerprints(_ context.Context, ids []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fps := map[string]string{}
	for _, id := range ids {
		if s.writes[id] > 0 {
			fps[id] = ""
		}
	}
	return fps, nil
}

func (s *store) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.writes)
}

// runSink runs the real sink over the topic until the test ends.
func runSink(t *testing.T, opts []kgo.Opt, w sink.Writer[post.Post]) *sink.Sink {
	t.Helper()
	s, err := sink.New(sink.Config{Group: "postpipe-sink", BatchSize: 100,
		BatchWait: 10 * time.Millisecond, FlushTimeout: 5 * time.Second}, []sink.Route{sink.PostsRoute(topic, dlqTopic, w)}, quiet, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sink: %v", err)
		}
	})
	return s
}

func validPost(t *testing.T, i int) (post.Post, []byte) {
	t.Helper()
	p := post.New(post.NewID(time.Now()), post.Input{Author: "ada", Title: fmt.Sprintf("title %d", i), Content: "content"}, time.Now())
	v, err := post.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, v
}

// TestListShowsWhatTheSinkDeadLettered runs the real sink over poison
// records and lists the DLQ: every record, newest first, with the reason and
// the origin the sink recorded.
func TestListShowsWhatTheSinkDeadLettered(t *testing.T) {
	opts := newCluster(t)
	w := &store{writes: map[string]int{}}
	s := runSink(t, opts, w)

	poison := []*kgo.Record{
		{Topic: topic, Partition: 0, Key: []byte("k-not-json"), Value: []byte("this is not JSON")},
		{Topic: topic, Partition: 0, Key: []byte("k-invalid"), Value: []byte(`{"id":"nope","author":"","title":"","content":""}`)},
	}
	_, good := validPost(t, 1)
	produce(t, append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner())), poison[0], poison[1])
	// The second poison record is dead-lettered later than the first.
	testkit.Eventually(t, 30*time.Second, "the first poison records dead-lettered", func() bool { return s.Stats().DeadLettered == 2 })
	late := &kgo.Record{Topic: topic, Partition: 1, Key: []byte("k-late"), Value: []byte("[]")}
	produce(t, append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner())), late, &kgo.Record{Topic: topic, Partition: 1, Value: good})
	testkit.Eventually(t, 30*time.Second, "the late poison record dead-lettered", func() bool { return s.Stats().DeadLettered == 3 })

	entries, err := dlq.List(testCtx(t), opts, dlqTopic, group)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("listed %d entries, want 3: %+v", len(entries), entries)
	}
	if string(entries[0].Key) != "k-late" {
		t.Errorf("first entry is %q, want the newest (k-late)", entries[0].Key)
	}
	for i, e := range entries {
		var src *kgo.Record
		for _, r := range append(poison, late) {
			if string(r.Key) == string(e.Key) {
				src = r
			}
		}
		if src == nil {
			t.Fatalf("entry %d: unknown key %q", i, e.Key)
		}
		if e.Reason == "" || e.SourceTopic != topic || e.SourcePartition != src.Partition || e.SourceOffset != src.Offset ||
			string(e.Value) != string(src.Value) || e.FailedAt.IsZero() || e.Redriven {
			t.Errorf("entry %d = %+v; origin %s/%d@%d", i, e, topic, src.Partition, src.Offset)
		}
		if want := topic + "/" + strconv.Itoa(int(src.Partition)) + "@" + strconv.FormatInt(src.Offset, 10); e.Origin() != want {
			t.Errorf("entry %d origin %q, want %q", i, e.Origin(), want)
		}
		if i > 0 && e.FailedAt.After(entries[i-1].FailedAt) {
			t.Errorf("entry %d failed at %s, after entry %d: not newest first", i, e.FailedAt, i-1)
		}
	}
}

// deadLettered is a record as the sink writes it to the DLQ.
func deadLettered(value []byte, key, reason string, offset int) *kgo.Record {
	return &kgo.Record{Topic: dlqTopic, Key: []byte(key), Value: value, Headers: []kgo.RecordHeader{
		{Key: "trace", Value: []byte("kept")},
		{Key: post.DLQHeaderError, Value: []byte(reason)},
		{Key: post.DLQHeaderSourceTopic, Value: []byte(topic)},
		{Key: post.DLQHeaderSourcePartition, Value: []byte("0")},
		{Key: post.DLQHeaderSourceOffset, Value: []byte(strconv.Itoa(offset))},
		{Key: post.DLQHeaderFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	}}
}

// TestRedriveOnce: posts an old sink rejected go back on the main topic once
// however often redrive runs, only those matching, and land in the store
// once each, even when a lost commit makes a second run produce them again.
func TestRedriveOnce(t *testing.T) {
	opts := newCluster(t)
	var fixed []post.Post
	var recs []*kgo.Record
	for i := range 4 {
		p, v := validPost(t, i)
		fixed = append(fixed, p)
		recs = append(recs, deadLettered(v, p.ID, "decode post: unknown field \"subtitle\"", i))
	}
	_, other := validPost(t, 99)
	recs = append(recs, deadLettered(other, "other", "something else", 99))
	produce(t, opts, recs...)
	match := func(e dlq.Entry) bool { return dlq.Matches(e, "subtitle") }

	res, err := dlq.Redrive(testCtx(t), opts, dlqTopic, topic, group, match)
	if err != nil {
		t.Fatal(err)
	}
	if res != (dlq.Result{Read: 5, Redriven: 4, Skipped: 1}) {
		t.Errorf("first redrive = %+v, want 5 read, 4 redriven, 1 skipped", res)
	}
	again, err := dlq.Redrive(testCtx(t), opts, dlqTopic, topic, group, match)
	if err != nil {
		t.Fatal(err)
	}
	if again != (dlq.Result{}) {
		t.Errorf("second redrive = %+v, want nothing: the group has passed every record", again)
	}
	entries, err := dlq.List(testCtx(t), opts, dlqTopic, group)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Redriven {
			t.Errorf("entry %q not marked as passed by the redrive group", e.Key)
		}
	}

	// What reached the main topic: the four posts, with their keys and
	// headers, the sink's own headers replaced by where they came from.
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(topic))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]int{}
	ctx := testCtx(t)
	for len(seen) < 4 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			seen[string(r.Key)]++
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			if h["trace"] != "kept" || h[dlq.HeaderRedrivenFrom] == "" || h[post.DLQHeaderError] != "" || len(h) != 2 {
				t.Errorf("redriven record %q headers %v", r.Key, h)
			}
		})
	}
	for _, p := range fixed {
		if seen[p.ID] != 1 {
			t.Errorf("post %s on the main topic %d times, want 1", p.ID, seen[p.ID])
		}
	}
	if seen["other"] != 0 {
		t.Error("the record that did not match was redriven")
	}

	// A lost commit: a fresh group reads the DLQ again and produces the
	// posts a second time. The store still keeps one of each.
	if _, err := dlq.Redrive(testCtx(t), opts, dlqTopic, topic, group+"-lost-commit", match); err != nil {
		t.Fatal(err)
	}
	w := &store{writes: map[string]int{}}
	s := runSink(t, opts, w)
	testkit.Eventually(t, 30*time.Second, "8 redriven records through the sink", func() bool { st := s.Stats(); return st.Inserted+st.Duplicates == 8 })
	if st := s.Stats(); st.Inserted != 4 || st.Duplicates != 4 || w.count() != 4 {
		t.Errorf("sink stats %+v, %d posts stored; want 4 stored once each (4 duplicates absorbed)", st, w.count())
	}
}

func TestEntryOp(t *testing.T) {
	for _, tt := range []struct {
		headers []kgo.RecordHeader
		want    string
	}{
		{nil, "create"},
		{[]kgo.RecordHeader{{Key: "traceparent", Value: []byte("x")}}, "create"},
		{[]kgo.RecordHeader{{Key: doc.HeaderOp, Value: []byte("patch")}}, "patch"},
		{[]kgo.RecordHeader{{Key: "a", Value: nil}, {Key: doc.HeaderOp, Value: []byte("delete")}}, "delete"},
	} {
		if got := (dlq.Entry{Headers: tt.headers}).Op(); got != tt.want {
			t.Errorf("Op() of %v = %q, want %q", tt.headers, got, tt.want)
		}
	}
}
