package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/testkit"
)

const (
	topic    = "posts"
	dlqTopic = "posts.dlq"
)

var quiet = slog.New(slog.DiscardHandler)

// fakeWriter records every document written by a successful call, keyed by
// id. While failing is set, every call fails and records nothing. A
// document refuse has a reason for is refused for good: the call writes
// the others and returns a sink.Rejections, as the store does.
type fakeWriter[D any] struct {
	id       func(D) (id, fingerprint string)
	mu       sync.Mutex
	counts   map[string]int // id → times written
	docs     map[string]D   // id → the first document written
	calls    int            // successful calls, rejecting ones included
	failed   int            // failed calls
	failing  bool
	refuse   func(id string) error // the reason id is refused for good, or nil
	refused  map[string]int        // id → times refused
	maxBatch int
	inserted int // first writes of an id
	dups     int // repeated writes of an id
}

// rejections is a fake writer's sink.Rejections.
type rejections map[int]error

func (r rejections) Error() string           { return fmt.Sprintf("%d documents refused for good", len(r)) }
func (r rejections) Rejected() map[int]error { return r }

func newWriter[D any](id func(D) (string, string)) *fakeWriter[D] {
	return &fakeWriter[D]{id: id, counts: map[string]int{}, docs: map[string]D{}, refused: map[string]int{}}
}

func postID(p post.Post) (string, string) { return p.ID, p.Fingerprint }

// newFakeWriter is a writer of posts.
func newFakeWriter() *fakeWriter[post.Post] { return newWriter(postID) }

func (w *fakeWriter[D]) WriteBatch(_ context.Context, docs []D) (inserted, duplicates int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.maxBatch = max(w.maxBatch, len(docs))
	if w.failing {
		w.failed++
		return 0, 0, errors.New("injected write failure")
	}
	w.calls++
	var rej rejections
	for i, d := range docs {
		id, _ := w.id(d)
		if w.refuse != nil {
			if reason := w.refuse(id); reason != nil {
				if rej == nil {
					rej = rejections{}
				}
				rej[i] = reason
				w.refused[id]++
				continue
			}
		}
		if w.counts[id] == 0 {
			inserted++
		} else {
			duplicates++
		}
		w.counts[id]++
		if _, ok := w.docs[id]; !ok { // a store keeps the first
			w.docs[id] = d
		}
	}
	w.inserted += inserted
	w.dups += duplicates
	if rej != nil {
		return inserted, duplicates, fmt.Errorf("fake store: %w", rej)
	}
	return inserted, duplicates, nil
}

// setRefused makes the writer refuse each of ids for good, because of
// reason (naming the id).
func (w *fakeWriter[D]) setRefused(reason string, ids ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refuse = func(id string) error {
		if slices.Contains(ids, id) {
			return fmt.Errorf("%s: document %s", reason, id)
		}
		return nil
	}
}

// refusals returns a copy of the refusal count per id.
func (w *fakeWriter[D]) refusals() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.refused)
}

func (w *fakeWriter[D]) Fingerprints(_ context.Context, ids []string) (map[string]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fps := map[string]string{}
	for _, id := range ids {
		if d, ok := w.docs[id]; ok {
			_, fps[id] = w.id(d)
		}
	}
	return fps, nil
}

// store puts d in the writer as if an earlier write had stored it.
func (w *fakeWriter[D]) store(d D) {
	w.mu.Lock()
	defer w.mu.Unlock()
	id, _ := w.id(d)
	w.docs[id], w.counts[id] = d, 1
}

func (w *fakeWriter[D]) setFailing(v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failing = v
}

func (w *fakeWriter[D]) failedCalls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// written returns a copy of the write count per id.
func (w *fakeWriter[D]) written() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.counts))
	for id, n := range w.counts {
		out[id] = n
	}
	return out
}

func (w *fakeWriter[D]) hasAll(ids []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if w.counts[id] == 0 {
			return false
		}
	}
	return true
}

// checkStats compares what the sink reports with what the writer saw.
func (w *fakeWriter[D]) checkStats(t *testing.T, got sink.Stats, deadLettered int64) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	want := sink.Stats{Batches: int64(w.calls), Inserted: int64(w.inserted), Duplicates: int64(w.dups), DeadLettered: deadLettered}
	if got != want {
		t.Errorf("Stats() = %+v, want %+v (what the writer saw)", got, want)
	}
}

// newCluster starts a one-broker kfake cluster with both topics.
func newCluster(t *testing.T) []string {
	t.Helper()
	c := testkit.Kafka(t, kfake.SeedTopics(3, topic), kfake.SeedTopics(1, dlqTopic))
	return c.ListenAddrs()
}

func newClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append(kafka.ClientOpts(brokers, quiet), opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newPost(t *testing.T, i int) post.Post {
	t.Helper()
	now := time.Now()
	return post.New(post.NewID(now), post.Input{
		Author: fmt.Sprintf("author %d", i%5), Title: fmt.Sprintf("title %d", i), Content: "content",
		Tags: []string{"t"},
	}, now)
}

func postRecord(t *testing.T, p post.Post) *kgo.Record {
	t.Helper()
	v, err := post.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: topic, Key: []byte(p.ID), Value: v}
}

// produce writes recs and returns them with partition and offset set.
func produce(t *testing.T, cl *kgo.Client, recs ...*kgo.Record) []*kgo.Record {
	t.Helper()
	res := cl.ProduceSync(testCtx(t), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	out := make([]*kgo.Record, len(res))
	for i, r := range res {
		out[i] = r.Record
	}
	return out
}

// produceGood produces n valid posts and returns their ids.
func produceGood(t *testing.T, cl *kgo.Client, n int) []string {
	t.Helper()
	recs := make([]*kgo.Record, n)
	ids := make([]string, n)
	for i := range recs {
		p := newPost(t, i)
		ids[i] = p.ID
		recs[i] = postRecord(t, p)
	}
	produce(t, cl, recs...)
	return ids
}

func sinkConfig(group string, batchSize int) sink.Config {
	return sink.Config{
		Group:        group,
		BatchSize:    batchSize,
		BatchWait:    20 * time.Millisecond,
		FlushTimeout: 10 * time.Second,
	}
}

// startSink runs a sink of the posts topic, writing to w; see startRoutes.
func startSink(t *testing.T, brokers []string, cfg sink.Config, w sink.Writer[post.Post]) (*sink.Sink, func() error) {
	t.Helper()
	return startRoutes(t, brokers, cfg, sink.PostsRoute(topic, dlqTopic, w))
}

// startRoutes runs a sink of routes and returns the function that stops it
// and returns what Run returned. The test fails if Run does not return
// within 20s of the stop; a sink still running at the end of the test is
// stopped.
func startRoutes(t *testing.T, brokers []string, cfg sink.Config, routes ...sink.Route) (*sink.Sink, func() error) {
	t.Helper()
	s, err := sink.New(cfg, routes, quiet, kafka.ClientOpts(brokers, quiet)...)
	if err != nil {
		t.Fatalf("sink.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	var once sync.Once
	var runErr error
	stop := func() error {
		t.Helper()
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return within 20s of its context ending")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, stop
}

// committed returns the group's committed offsets on the posts topic by
// partition; partitions without a commit are absent.
func committed(t *testing.T, adm *kadm.Client, group string) map[int32]int64 {
	t.Helper()
	return committedOn(t, adm, group, topic)
}

// committedOn is committed for any topic.
func committedOn(t *testing.T, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(testCtx(t), group)
	if err != nil {
		t.Fatalf("FetchOffsets: %v", err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err != nil {
			t.Fatalf("FetchOffsets %s/%d: %v", topic, p, o.Err)
		}
		if o.At >= 0 {
			out[p] = o.At
		}
	}
	return out
}

// endOffsets returns the end offset of every partition of topic.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	resp, err := adm.ListEndOffsets(testCtx(t), topic)
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		if o.Err != nil {
			t.Fatalf("ListEndOffsets %s/%d: %v", topic, p, o.Err)
		}
		out[p] = o.Offset
	}
	return out
}

// checkAllCommitted fails unless the group has committed the end of every
// non-empty partition of the posts topic.
func checkAllCommitted(t *testing.T, adm *kadm.Client, group string) {
	t.Helper()
	checkAllCommittedOn(t, adm, group, topic, 3)
}

// checkAllCommittedOn is checkAllCommitted for a topic of partitions.
func checkAllCommittedOn(t *testing.T, adm *kadm.Client, group, topic string, partitions int) {
	t.Helper()
	got := committedOn(t, adm, group, topic)
	end := endOffsets(t, adm, topic)
	if len(end) != partitions {
		t.Fatalf("topic %s has %d partitions, want %d", topic, len(end), partitions)
	}
	for p, e := range end {
		if e == 0 {
			continue // nothing to commit
		}
		if got[p] != e {
			t.Errorf("%s partition %d: committed %d, end offset %d", topic, p, got[p], e)
		}
	}
}

func TestWritesEveryRecordOnceAndCommits(t *testing.T) {
	tests := []struct {
		batchSize, records int
	}{
		{batchSize: 1, records: 40},
		{batchSize: 7, records: 150},
		{batchSize: 64, records: 400},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("batch %d", tt.batchSize), func(t *testing.T) {
			brokers := newCluster(t)
			cl := newClient(t, brokers)
			adm := kadm.NewClient(cl)
			const group = "sink-a"

			// Some records are there before the sink starts, the
			// rest arrive while it runs.
			ids := produceGood(t, cl, tt.records/2)
			w := newFakeWriter()
			s, stop := startSink(t, brokers, sinkConfig(group, tt.batchSize), w)
			ids = append(ids, produceGood(t, cl, tt.records-tt.records/2)...)

			testkit.Eventually(t, 30*time.Second, "every record written", func() bool { return w.hasAll(ids) })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}

			got := w.written()
			if len(got) != len(ids) {
				t.Errorf("writer saw %d distinct ids, want %d", len(got), len(ids))
			}
			for _, id := range ids {
				if got[id] != 1 {
					t.Errorf("post %s written %d times, want 1", id, got[id])
				}
			}
			if w.maxBatch > tt.batchSize {
				t.Errorf("a WriteBatch call had %d posts, BatchSize is %d", w.maxBatch, tt.batchSize)
			}
			if tt.batchSize > 1 && w.calls >= len(ids) {
				t.Errorf("%d WriteBatch calls for %d records with BatchSize %d: not batching", w.calls, len(ids), tt.batchSize)
			}
			checkAllCommitted(t, adm, group)
			w.checkStats(t, s.Stats(), 0)
			if st := s.Stats(); st.Inserted != int64(len(ids)) || st.Duplicates != 0 {
				t.Errorf("Stats() = %+v, want %d inserted and no duplicates", st, len(ids))
			}
		})
	}
}

func TestRetriesFailingWriterWithoutCommitting(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "sink-b"
	const failures = 3

	w := newFakeWriter()
	w.setFailing(true)
	ids := produceGood(t, cl, 60)
	s, stop := startSink(t, brokers, sinkConfig(group, 25), w)

	testkit.Eventually(t, 30*time.Second, fmt.Sprintf("%d failed writes", failures), func() bool { return w.failedCalls() >= failures })
	if c := committed(t, adm, group); len(c) != 0 {
		for p, o := range c {
			if o > 0 {
				t.Errorf("partition %d: offset %d committed while every write fails", p, o)
			}
		}
	}
	if n := len(w.written()); n != 0 {
		t.Fatalf("writer recorded %d posts while failing", n)
	}
	if st := s.Stats(); st != (sink.Stats{}) {
		t.Errorf("Stats() = %+v while every write fails, want zeros", st)
	}

	w.setFailing(false)
	testkit.Eventually(t, 30*time.Second, "every record written after the failures", func() bool { return w.hasAll(ids) })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id, n := range w.written() {
		if n != 1 {
			t.Errorf("post %s written %d times, want 1", id, n)
		}
	}
	checkAllCommitted(t, adm, group)
	w.checkStats(t, s.Stats(), 0)
}

func TestPoisonRecordsGoToDLQ(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "sink-c"

	withField := func(p post.Post, k string, v any) []byte {
		b, err := post.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m[k] = v
		b, err = json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	untitled := newPost(t, 0)
	untitled.Title = ""
	mismatched := newPost(t, 0)
	badID := newPost(t, 0)
	badID.ID = "not-an-id"
	unknown := newPost(t, 0)

	poison := []struct {
		name   string
		key    []byte
		value  []byte
		reason string // expected in the error header, case-insensitively
	}{
		{name: "not JSON", key: []byte("not-json"), value: []byte("hello, world"), reason: "json"},
		{name: "truncated JSON, no key", key: nil, value: []byte(`{"id":`), reason: "json"},
		{name: "unknown field", key: []byte(unknown.ID), value: withField(unknown, "extra", 1), reason: "extra"},
		{name: "invalid post", key: []byte(untitled.ID), value: postRecord(t, untitled).Value, reason: "title"},
		{name: "key is not the id", key: []byte(post.NewID(time.Now())), value: postRecord(t, mismatched).Value, reason: "key"},
		{name: "not a post id", key: []byte(badID.ID), value: postRecord(t, badID).Value, reason: "not-an-id"},
	}
	notStored := []string{untitled.ID, mismatched.ID, unknown.ID}

	// good, poison, good, poison, …, good
	var good []string
	type sent struct {
		rec    *kgo.Record
		reason string
	}
	byValue := map[string]sent{}
	good = append(good, produceGood(t, cl, 5)...)
	for i, pc := range poison {
		r := &kgo.Record{Topic: topic, Key: pc.key, Value: pc.value,
			Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte(strconv.Itoa(i))}}}
		r = produce(t, cl, r)[0]
		byValue[string(pc.value)] = sent{rec: r, reason: pc.reason}
		good = append(good, produceGood(t, cl, 3)...)
	}

	w := newFakeWriter()
	s, stop := startSink(t, brokers, sinkConfig(group, 10), w)
	testkit.Eventually(t, 30*time.Second, "every good record written", func() bool { return w.hasAll(good) })

	// Read the dead letters.
	dlq := newClient(t, brokers, kgo.ConsumeTopics(dlqTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var dead []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(dead) < len(poison) {
		fs := dlq.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d dead letters, want %d: %v", len(dead), len(poison), err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("consume %s/%d: %v", tp, p, err) })
		dead = append(dead, fs.Records()...)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if len(dead) != len(poison) {
		t.Errorf("%d dead letters, want %d", len(dead), len(poison))
	}
	headers := func(r *kgo.Record) map[string]string {
		m := map[string]string{}
		for _, h := range r.Headers {
			m[h.Key] = string(h.Value)
		}
		return m
	}
	seen := map[string]bool{}
	for _, d := range dead {
		orig, ok := byValue[string(d.Value)]
		if !ok {
			t.Errorf("dead letter with unexpected value %q", d.Value)
			continue
		}
		if seen[string(d.Value)] {
			t.Errorf("record %q dead-lettered twice", d.Value)
		}
		seen[string(d.Value)] = true
		h := headers(d)
		o := orig.rec
		if string(d.Key) != string(o.Key) || (o.Key == nil) != (d.Key == nil) {
			t.Errorf("dead letter key = %q, want %q", d.Key, o.Key)
		}
		if h["trace"] != string(o.Headers[0].Value) {
			t.Errorf("dead letter of %q lost its original header: %v", d.Value, h)
		}
		reason := h[post.DLQHeaderError]
		if reason == "" || !strings.Contains(strings.ToLower(reason), orig.reason) {
			t.Errorf("dead letter of %q: %s = %q, want a reason mentioning %q", d.Value, post.DLQHeaderError, reason, orig.reason)
		}
		want := map[string]string{
			post.DLQHeaderSourceTopic:     topic,
			post.DLQHeaderSourcePartition: strconv.Itoa(int(o.Partition)),
			post.DLQHeaderSourceOffset:    strconv.FormatInt(o.Offset, 10),
		}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("dead letter of %q: header %s = %q, want %q", d.Value, k, h[k], v)
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, h[post.DLQHeaderSourceTimestamp]); err != nil || !ts.Equal(o.Timestamp.Truncate(time.Millisecond)) {
			t.Errorf("dead letter of %q: %s = %q, want %s (%v)", d.Value, post.DLQHeaderSourceTimestamp, h[post.DLQHeaderSourceTimestamp], o.Timestamp.UTC().Truncate(time.Millisecond).Format(time.RFC3339Nano), err)
		}
		if _, err := time.Parse(time.RFC3339Nano, h[post.DLQHeaderFailedAt]); err != nil {
			t.Errorf("dead letter of %q: %s = %q: %v", d.Value, post.DLQHeaderFailedAt, h[post.DLQHeaderFailedAt], err)
		}
	}

	got := w.written()
	if len(got) != len(good) {
		t.Errorf("writer saw %d distinct ids, want the %d good ones", len(got), len(good))
	}
	for _, id := range notStored {
		if got[id] != 0 {
			t.Errorf("poison post %s was written", id)
		}
	}
	if end := endOffsets(t, adm, dlqTopic); end[0] != int64(len(poison)) {
		t.Errorf("%s end offset %d, want %d", dlqTopic, end[0], len(poison))
	}
	checkAllCommitted(t, adm, group)
	w.checkStats(t, s.Stats(), int64(len(poison)))
}

func TestShutdownCommitsWhatItWroteAndNextMemberResumes(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "sink-d"

	// A producer keeps records flowing until told to stop.
	type where struct {
		partition int32
		offset    int64
	}
	var (
		mu       sync.Mutex
		produced = map[string]where{}
	)
	stopProducing := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for i := 0; ; i++ {
			select {
			case <-stopProducing:
				return
			default:
			}
			var recs []*kgo.Record
			for j := range 5 {
				recs = append(recs, postRecord(t, newPost(t, i*5+j)))
			}
			res := cl.ProduceSync(context.Background(), recs...)
			if err := res.FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			mu.Lock()
			for _, r := range res {
				produced[string(r.Record.Key)] = where{r.Record.Partition, r.Record.Offset}
			}
			mu.Unlock()
		}
	}()
	stopProducer := func() {
		select {
		case <-stopProducing:
		default:
			close(stopProducing)
		}
		<-producerDone
	}
	t.Cleanup(stopProducer)

	cfg := sinkConfig(group, 10)
	cfg.BatchWait = 100 * time.Millisecond // a partial batch is likely pending at the stop
	w1 := newFakeWriter()
	_, stop1 := startSink(t, brokers, cfg, w1)
	testkit.Eventually(t, 30*time.Second, "the first sink to write 200 posts", func() bool { return len(w1.written()) >= 200 })
	if err := stop1(); err != nil {
		t.Fatalf("first Run returned %v, want nil", err)
	}

	// Everything the first sink wrote is committed. (Run has returned:
	// no member is left to move the commits.)
	stopProducer()
	c := committed(t, adm, group)
	var uncommitted int
	for id := range w1.written() {
		wh, ok := produced[id]
		if !ok {
			t.Fatalf("first sink wrote %s, which was never produced", id)
		}
		if wh.offset >= c[wh.partition] {
			uncommitted++
			if uncommitted <= 5 {
				t.Errorf("post %s at %d@%d was written but the commit is %d", id, wh.partition, wh.offset, c[wh.partition])
			}
		}
	}
	if uncommitted > 0 {
		t.Errorf("%d written posts not committed when Run returned", uncommitted)
	}

	all := make([]string, 0, len(produced))
	for id := range produced {
		all = append(all, id)
	}
	if len(all) <= len(w1.written()) {
		t.Logf("the first sink wrote all %d records before its stop; the second has nothing new", len(all))
	}

	w2 := newFakeWriter()
	s2, stop2 := startSink(t, brokers, cfg, w2)
	union := func() bool {
		a, b := w1.written(), w2.written()
		for _, id := range all {
			if a[id] == 0 && b[id] == 0 {
				return false
			}
		}
		return true
	}
	testkit.Eventually(t, 30*time.Second, "the two sinks together to write every record", union)
	if err := stop2(); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	// The second member starts at the first one's commits: it writes
	// nothing below them.
	for id := range w2.written() {
		if wh := produced[id]; wh.offset < c[wh.partition] {
			t.Errorf("second sink rewrote post %s at %d@%d, below the commit %d", id, wh.partition, wh.offset, c[wh.partition])
		}
	}
	checkAllCommitted(t, adm, group)
	w2.checkStats(t, s2.Stats(), 0)
}

// concurrentWriter wraps fakeWriter, holding each call a moment so calls
// that run at once overlap, and failing the first call it sees.
type concurrentWriter struct {
	*fakeWriter[post.Post]
	mu            sync.Mutex
	running, peak int
	calls         int
	failedFirst   bool
}

func (w *concurrentWriter) WriteBatch(ctx context.Context, posts []post.Post) (int, int, error) {
	w.mu.Lock()
	w.calls++
	first := w.calls == 1
	w.running++
	w.peak = max(w.peak, w.running)
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running--
		w.mu.Unlock()
	}()
	time.Sleep(20 * time.Millisecond)
	if first {
		w.mu.Lock()
		w.failedFirst = true
		w.mu.Unlock()
		return 0, 0, errors.New("injected failure of one part")
	}
	return w.fakeWriter.WriteBatch(ctx, posts)
}

func TestSplitsBatchesAcrossWriters(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "sink-writers"

	ids := produceGood(t, cl, 900)
	w := &concurrentWriter{fakeWriter: newFakeWriter()}
	cfg := sinkConfig(group, 300)
	cfg.Writers = 3
	s, stop := startSink(t, brokers, cfg, w)
	testkit.Eventually(t, 30*time.Second, "every record written", func() bool { return w.hasAll(ids) })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, id := range ids {
		if n := w.written()[id]; n != 1 {
			t.Errorf("post %s written %d times, want 1", id, n)
		}
	}
	w.mu.Lock()
	peak, failed := w.peak, w.failedFirst
	w.mu.Unlock()
	if peak < 2 {
		t.Errorf("at most %d bulk write ran at once, want the batches split across writers", peak)
	}
	if !failed {
		t.Error("the injected failure never happened")
	}
	if w.maxBatch > 100 {
		t.Errorf("a bulk write had %d posts; batches of 300 over 3 writers have at most 100", w.maxBatch)
	}
	checkAllCommitted(t, adm, group)
	if st := s.Stats(); st.Inserted != int64(len(ids)) {
		t.Errorf("Stats().Inserted = %d, want %d", st.Inserted, len(ids))
	}
}

func TestRepeatedIDInOneBatchIsWrittenOnce(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "sink-repeat"

	// Same key, so the same partition; produced before the sink starts,
	// so one poll brings all three.
	p := newPost(t, 1)
	produce(t, cl, postRecord(t, p), postRecord(t, p), postRecord(t, p))
	w := newFakeWriter()
	s, stop := startSink(t, brokers, sinkConfig(group, 50), w)
	testkit.Eventually(t, 30*time.Second, "the post written", func() bool { return w.hasAll([]string{p.ID}) })
	testkit.Eventually(t, 30*time.Second, "all three records counted", func() bool {
		st := s.Stats()
		return st.Inserted+st.Duplicates == 3
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := w.written()[p.ID]; n != 1 {
		t.Errorf("post written %d times, want once", n)
	}
	if w.maxBatch != 1 {
		t.Errorf("a bulk write carried %d posts, want the repeated id once", w.maxBatch)
	}
	if st := s.Stats(); st.Inserted != 1 || st.Duplicates != 2 {
		t.Errorf("Stats() = %+v, want 1 inserted and 2 duplicates", st)
	}
	checkAllCommitted(t, adm, group)
}

// keyedPost is the post the API makes for Idempotency-Key key and title.
func keyedPost(key, title string) post.Post {
	in := post.Input{Author: "a", Title: title, Content: "c"}
	p := post.New(post.KeyedID(key), in, time.Now())
	p.Fingerprint = in.Fingerprint()
	return p
}

// TestReusedKeyWithOtherInputGoesToDLQ is the case the API cannot see: a
// key reused with another body on another instance (or past its window).
// What is stored first stands; the other post is dead-lettered with the
// reason, never dropped as a duplicate.
func TestReusedKeyWithOtherInputGoesToDLQ(t *testing.T) {
	brokers := newCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "sink-key-conflict"

	stored := keyedPost("k1", "stored first")
	w := newFakeWriter()
	w.store(stored)

	other := keyedPost("k1", "another post, same key")
	first, second := keyedPost("k2", "first in the batch"), keyedPost("k2", "second, same key")
	produce(t, cl,
		postRecord(t, other),                                 // conflicts with the store
		postRecord(t, stored),                                // a retry of the stored post: a duplicate
		postRecord(t, first),                                 // new
		postRecord(t, second),                                // conflicts with first, in the same batch
		postRecord(t, newPost(t, 1)),                         // unkeyed
		postRecord(t, keyedPost("k2", "first in the batch")), // a retry of first
	)
	s, stop := startSink(t, brokers, sinkConfig(group, 50), w)

	dlq := newClient(t, brokers, kgo.ConsumeTopics(dlqTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var dead []*kgo.Record
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for len(dead) < 2 {
		fs := dlq.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d dead letters, want 2: %v", len(dead), err)
		}
		dead = append(dead, fs.Records()...)
	}
	testkit.Eventually(t, 30*time.Second, "all six records counted", func() bool {
		st := s.Stats()
		return st.Inserted+st.Duplicates+st.DeadLettered == 6
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var titles []string
	for _, d := range dead {
		p, err := post.Unmarshal(d.Key, d.Value)
		if err != nil {
			t.Fatal(err)
		}
		titles = append(titles, p.Title)
		var reason string
		for _, h := range d.Headers {
			if h.Key == post.DLQHeaderError {
				reason = string(h.Value)
			}
		}
		if !strings.Contains(reason, "idempotency key conflict") || !strings.Contains(reason, p.ID) {
			t.Errorf("dead letter %q has reason %q", p.Title, reason)
		}
	}
	slices.Sort(titles)
	if want := []string{"another post, same key", "second, same key"}; !slices.Equal(titles, want) {
		t.Errorf("dead-lettered %q, want %q", titles, want)
	}
	got := w.docs
	if got[stored.ID].Title != "stored first" || got[first.ID].Title != "first in the batch" {
		t.Errorf("stored %q and %q, want the first posts to stand", got[stored.ID].Title, got[first.ID].Title)
	}
	if st := s.Stats(); st.KeyConflicts != 2 || st.DeadLettered != 2 || st.Inserted != 2 || st.Duplicates != 2 {
		t.Errorf("Stats() = %+v, want 2 inserted, 2 duplicates, 2 dead-lettered key conflicts", st)
	}
	checkAllCommitted(t, adm, group)
}
