package sink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/sink/sinktest"
	"github.com/postpipe/postpipe/internal/testkit"
)

// The two streams of these tests. Topic names differ from stream names so
// that a topic reported as a stream shows.
const (
	blogTopic  = "blog"
	blogDLQ    = "blog.dlq"
	notesTopic = "jottings"
	notesDLQ   = "jottings.dlq"
	notes      = "notes" // the stream
)

// note is the second stream's document: another type than post.Post, with
// its own decoding and writer.
type note struct {
	ID   string `json:"id"`
	Text string `json:"text"`
	FP   string `json:"fp,omitempty"`
}

func noteID(n note) (string, string) { return n.ID, n.FP }

// decodeNote is strict, as post.Unmarshal is: unknown fields, a key that is
// not the id and a note without text can never be stored.
func decodeNote(key, value []byte) (note, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	var n note
	if err := dec.Decode(&n); err != nil {
		return note{}, fmt.Errorf("not a note in JSON: %w", err)
	}
	switch {
	case n.ID == "" || n.ID != string(key):
		return note{}, fmt.Errorf("key %q is not the note's id %q", key, n.ID)
	case n.Text == "":
		return note{}, errors.New("note text missing")
	}
	return n, nil
}

func noteRecord(t *testing.T, n note) *kgo.Record {
	t.Helper()
	v, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: notesTopic, Key: []byte(n.ID), Value: v}
}

func blogRecord(t *testing.T, p post.Post) *kgo.Record {
	t.Helper()
	r := postRecord(t, p)
	r.Topic = blogTopic
	return r
}

func notesRoute(w sink.Writer[note]) sink.Route {
	return sink.NewRoute(notes, notesTopic, notesDLQ, decodeNote, noteID, w)
}

// twoRoutes are the posts stream on blogTopic and the notes stream.
func twoRoutes(posts sink.Writer[post.Post], ns sink.Writer[note]) []sink.Route {
	return []sink.Route{sink.PostsRoute(blogTopic, blogDLQ, posts), notesRoute(ns)}
}

// newRoutesCluster starts a kfake cluster with both streams' topics: 3
// partitions of posts and 2 of notes, one of each DLQ.
func newRoutesCluster(t *testing.T) []string {
	t.Helper()
	c := testkit.Kafka(t, kfake.SeedTopics(3, blogTopic), kfake.SeedTopics(2, notesTopic), kfake.SeedTopics(1, blogDLQ, notesDLQ))
	return c.ListenAddrs()
}

func startTwoRoutes(t *testing.T, brokers []string, cfg sink.Config, posts sink.Writer[post.Post], ns sink.Writer[note]) (*sink.Sink, func() error) {
	t.Helper()
	return startRoutes(t, brokers, cfg, twoRoutes(posts, ns)...)
}

// readAll reads every record of topic, whose end offsets must add up to n.
func readAll(t *testing.T, brokers []string, adm *kadm.Client, topic string, n int) []*kgo.Record {
	t.Helper()
	var total int64
	for _, e := range endOffsets(t, adm, topic) {
		total += e
	}
	if total != int64(n) {
		t.Errorf("%s holds %d records, want %d", topic, total, n)
	}
	cl := newClient(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t)
	var out []*kgo.Record
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of the %d records of %s: %v", len(out), total, topic, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// newPosts makes n posts and their records on blogTopic.
func newPosts(t *testing.T, n int) ([]string, []*kgo.Record) {
	t.Helper()
	ids := make([]string, n)
	recs := make([]*kgo.Record, n)
	for i := range n {
		p := newPost(t, i)
		ids[i], recs[i] = p.ID, blogRecord(t, p)
	}
	return ids, recs
}

// newNotes makes n notes (ids prefix-0…) and their records.
func newNotes(t *testing.T, prefix string, n int) ([]string, []*kgo.Record) {
	t.Helper()
	ids := make([]string, n)
	recs := make([]*kgo.Record, n)
	for i := range n {
		nt := note{ID: fmt.Sprintf("%s-%d", prefix, i), Text: fmt.Sprintf("note %d", i)}
		ids[i], recs[i] = nt.ID, noteRecord(t, nt)
	}
	return ids, recs
}

// interleave alternates the records of a and b.
func interleave(a, b []*kgo.Record) []*kgo.Record {
	var out []*kgo.Record
	for i := range max(len(a), len(b)) {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

func TestRoutesWriteEachStreamToItsOwnWriter(t *testing.T) {
	tests := []struct {
		batchSize, writers int
	}{
		{batchSize: 3, writers: 1},
		{batchSize: 200, writers: 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("batch %d, %d writers", tt.batchSize, tt.writers), func(t *testing.T) {
			brokers := newRoutesCluster(t)
			cl := newClient(t, brokers)
			adm := kadm.NewClient(cl)
			const group = "routes-own-writer"
			const n = 40

			postIDs, postRecs := newPosts(t, n)
			noteIDs, noteRecs := newNotes(t, "n", n)
			// One record of each stream that can never be stored, and a
			// note whose id is reused with another body (after its
			// first write, and once more as a plain redelivery).
			badPost := &kgo.Record{Topic: blogTopic, Key: []byte("not-json"), Value: []byte("hello, world")}
			badNote := noteRecord(t, note{ID: "n-empty"})
			first := note{ID: "n-k", Text: "first", FP: "aaaa"}
			reused := note{ID: "n-k", Text: "another body", FP: "bbbb"}
			postRecs = slices.Insert(postRecs, n/2, badPost)
			noteRecs = slices.Insert(noteRecs, n/4, noteRecord(t, first))
			noteRecs = slices.Insert(noteRecs, n/2, badNote, noteRecord(t, reused))
			noteRecs = append(noteRecs, noteRecord(t, first))
			noteIDs = append(noteIDs, first.ID)
			records := interleave(postRecs, noteRecs)
			// Some records are there before the sink starts, the rest
			// arrive while it runs.
			produce(t, cl, records[:len(records)/2]...)

			pw, nw := newFakeWriter(), newWriter(noteID)
			obs := &countingObserver{}
			cfg := sinkConfig(group, tt.batchSize)
			cfg.Writers, cfg.Observer = tt.writers, obs
			s, stop := startTwoRoutes(t, brokers, cfg, pw, nw)
			produce(t, cl, records[len(records)/2:]...)

			testkit.Eventually(t, 30*time.Second, "every record of both streams counted", func() bool {
				st := s.Stats()
				return pw.hasAll(postIDs) && nw.hasAll(noteIDs) && st.Inserted+st.Duplicates+st.DeadLettered == int64(len(records))
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}

			// Each stream's documents in its own writer, once.
			for _, c := range []struct {
				name string
				got  map[string]int
				want []string
			}{{"posts", pw.written(), postIDs}, {"notes", nw.written(), noteIDs}} {
				if len(c.got) != len(c.want) {
					t.Errorf("%s writer holds %d ids, want %d", c.name, len(c.got), len(c.want))
				}
				for _, id := range c.want {
					if n := c.got[id]; n != 1 && id != first.ID {
						t.Errorf("%s: %s written %d times, want once", c.name, id, n)
					}
				}
			}
			if got := nw.docs[first.ID]; got != first {
				t.Errorf("stored %+v under %s, want the first note to stand", got, first.ID)
			}
			if pw.maxBatch > tt.batchSize || nw.maxBatch > tt.batchSize {
				t.Errorf("bulk writes of %d posts and %d notes; BatchSize is %d", pw.maxBatch, nw.maxBatch, tt.batchSize)
			}

			// Each stream's dead letters on its own DLQ topic, with why.
			deadPost := readAll(t, brokers, adm, blogDLQ, 1)
			deadNotes := readAll(t, brokers, adm, notesDLQ, 2)
			for _, d := range deadPost {
				if string(d.Value) != string(badPost.Value) || header(d, post.DLQHeaderSourceTopic) != blogTopic ||
					!strings.Contains(strings.ToLower(header(d, post.DLQHeaderError)), "json") {
					t.Errorf("%s has %q from %s because %q; want the bad post from %s because of its JSON",
						blogDLQ, d.Value, header(d, post.DLQHeaderSourceTopic), header(d, post.DLQHeaderError), blogTopic)
				}
			}
			reasons := map[string]string{}
			for _, d := range deadNotes {
				if src := header(d, post.DLQHeaderSourceTopic); src != notesTopic {
					t.Errorf("%s has a dead letter from %q, want %s", notesDLQ, src, notesTopic)
				}
				if _, err := time.Parse(time.RFC3339Nano, header(d, post.DLQHeaderFailedAt)); err != nil || header(d, post.DLQHeaderSourceOffset) == "" {
					t.Errorf("dead letter %q lacks its source offset or failure time: %v", d.Value, d.Headers)
				}
				reasons[string(d.Key)] = header(d, post.DLQHeaderError)
			}
			if r := reasons["n-empty"]; !strings.Contains(r, "text missing") {
				t.Errorf("the note without text dead-lettered because %q, want text missing", r)
			}
			if r := reasons[first.ID]; !strings.Contains(r, "idempotency key conflict") ||
				!strings.Contains(r, "a different document is already stored under id "+first.ID) {
				t.Errorf("the reused note id dead-lettered because %q, want a key conflict naming the document", r)
			}

			checkAllCommittedOn(t, adm, group, blogTopic, 3)
			checkAllCommittedOn(t, adm, group, notesTopic, 2)

			// The figures per stream, their totals and what the
			// observer saw.
			per := s.StreamStats()
			want := map[string]sink.Stats{
				"posts": {Inserted: n, DeadLettered: 1},
				notes:   {Inserted: n + 1, Duplicates: 1, DeadLettered: 2, KeyConflicts: 1},
			}
			var total sink.Stats
			for name, st := range per {
				if st.Batches == 0 {
					t.Errorf("%s: no batches counted", name)
				}
				total.Batches += st.Batches
				w := want[name]
				w.Batches = st.Batches
				if st != w {
					t.Errorf("StreamStats()[%s] = %+v, want %+v", name, st, w)
				}
				total.Inserted, total.Duplicates = total.Inserted+st.Inserted, total.Duplicates+st.Duplicates
				total.DeadLettered, total.KeyConflicts = total.DeadLettered+st.DeadLettered, total.KeyConflicts+st.KeyConflicts
			}
			if len(per) != 2 || s.Stats() != total {
				t.Errorf("Stats() = %+v over streams %v, want the sum of both: %+v", s.Stats(), slices.Sorted(maps.Keys(per)), total)
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			for name, st := range per {
				st.KeyConflicts = 0 // not an observer's figure
				if obs.byStream[name] != st {
					t.Errorf("observer saw %+v of %s, want %+v", obs.byStream[name], name, st)
				}
			}
			if obs.attemptsOf["posts"] == 0 || obs.attemptsOf[notes] == 0 || len(obs.attemptsOf) != 2 {
				t.Errorf("write attempts by stream: %v, want posts and notes", obs.attemptsOf)
			}
		})
	}
}

func TestFailingRouteHoldsTheCommitOfTheWholeBatch(t *testing.T) {
	tests := []struct {
		name    string
		restart bool // recover in a new sink rather than in place
	}{
		{name: "recovers in place"},
		{name: "recovers after a restart", restart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			brokers := newRoutesCluster(t)
			cl := newClient(t, brokers)
			adm := kadm.NewClient(cl)
			const group = "routes-hold"
			const n = 30

			postIDs, postRecs := newPosts(t, n)
			noteIDs, noteRecs := newNotes(t, "h", n)
			produce(t, cl, interleave(postRecs, noteRecs)...)

			pw, nw := newFakeWriter(), newWriter(noteID)
			nw.setFailing(true)
			// One batch of every record, both streams': it is written
			// when full, however the polls bring the records. A short
			// last flush at the stop.
			cfg := sinkConfig(group, 2*n)
			cfg.BatchWait, cfg.FlushTimeout = time.Minute, time.Second
			s, stop := startTwoRoutes(t, brokers, cfg, pw, nw)

			testkit.Eventually(t, 30*time.Second, "the posts stored while the notes fail", func() bool {
				return pw.hasAll(postIDs) && nw.failedCalls() >= 3
			})
			for _, tp := range []string{blogTopic, notesTopic} {
				for p, o := range committedOn(t, adm, group, tp) {
					if o > 0 {
						t.Errorf("%s partition %d: offset %d committed while the notes of the batch are not stored", tp, p, o)
					}
				}
			}
			if st := s.Stats(); st != (sink.Stats{}) {
				t.Errorf("Stats() = %+v while part of the batch is not stored, want zeros", st)
			}

			if tt.restart {
				if err := stop(); err != nil {
					t.Fatalf("Run: %v", err)
				}
				for _, tp := range []string{blogTopic, notesTopic} {
					if c := committedOn(t, adm, group, tp); len(c) > 0 && slices.Max(slices.Collect(maps.Values(c))) > 0 {
						t.Errorf("%s: %v committed by a sink stopped with the notes unstored", tp, c)
					}
				}
				nw.setFailing(false)
				s, stop = startTwoRoutes(t, brokers, cfg, pw, nw)
			} else {
				nw.setFailing(false)
			}
			testkit.Eventually(t, 30*time.Second, "the notes stored and both topics committed", func() bool {
				return nw.hasAll(noteIDs) && s.Stats().Inserted+s.Stats().Duplicates == 2*n
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkAllCommittedOn(t, adm, group, blogTopic, 3)
			checkAllCommittedOn(t, adm, group, notesTopic, 2)

			// Stored exactly once each: a post written again (after the
			// restart) is a duplicate, never a second copy.
			pw.mu.Lock()
			postsInserted, postsStored := pw.inserted, len(pw.docs)
			pw.mu.Unlock()
			if postsInserted != n || postsStored != n {
				t.Errorf("posts writer inserted %d and holds %d, want %d each", postsInserted, postsStored, n)
			}
			for id, c := range nw.written() {
				if c != 1 {
					t.Errorf("note %s written %d times, want once", id, c)
				}
			}
			posts := pw.written()
			for _, id := range postIDs {
				switch c := posts[id]; {
				case !tt.restart && c != 1:
					t.Errorf("post %s written %d times, want once: the batch's retry rewrote the stored stream", id, c)
				case tt.restart && c < 2:
					t.Errorf("post %s written %d times, want it written again: its records were never committed", id, c)
				}
			}
			want := map[string]sink.Stats{"posts": {Inserted: n}, notes: {Inserted: n}}
			if tt.restart {
				// The second sink's figures: the posts came back to it,
				// uncommitted, and were already stored.
				want["posts"] = sink.Stats{Duplicates: n}
			}
			for name, st := range s.StreamStats() {
				st.Batches = 0
				if st != want[name] {
					t.Errorf("StreamStats()[%s] = %+v, want %+v", name, st, want[name])
				}
			}
		})
	}
}

// gauge counts the writes in flight over several writers.
type gauge struct {
	mu      sync.Mutex
	n, peak int
}

// slowWriter holds each write a moment in the gauge, so writes that can
// run at once do.
type slowWriter[D any] struct {
	*fakeWriter[D]
	g *gauge
}

func (w slowWriter[D]) WriteBatch(ctx context.Context, docs []D) (int, int, error) {
	w.g.mu.Lock()
	w.g.n++
	w.g.peak = max(w.g.peak, w.g.n)
	w.g.mu.Unlock()
	defer func() {
		w.g.mu.Lock()
		w.g.n--
		w.g.mu.Unlock()
	}()
	time.Sleep(100 * time.Millisecond)
	return w.fakeWriter.WriteBatch(ctx, docs)
}

// TestStreamsShareTheWriters: the streams of a batch are written at once,
// and Writers bounds the writes of all of them together.
func TestStreamsShareTheWriters(t *testing.T) {
	for _, writers := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d writers", writers), func(t *testing.T) {
			brokers := newRoutesCluster(t)
			cl := newClient(t, brokers)
			postIDs, postRecs := newPosts(t, 10)
			noteIDs, noteRecs := newNotes(t, "w", 10)
			produce(t, cl, interleave(postRecs, noteRecs)...)

			g := &gauge{}
			pw, nw := slowWriter[post.Post]{newFakeWriter(), g}, slowWriter[note]{newWriter(noteID), g}
			// One batch of both streams, written when full.
			cfg := sinkConfig("routes-writers", 20)
			cfg.BatchWait, cfg.Writers = time.Minute, writers
			_, stop := startTwoRoutes(t, brokers, cfg, pw, nw)
			testkit.Eventually(t, 30*time.Second, "both streams written", func() bool { return pw.hasAll(postIDs) && nw.hasAll(noteIDs) })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.peak != writers {
				t.Errorf("at most %d writes at once over both streams, want %d (Writers)", g.peak, writers)
			}
		})
	}
}

// lagByStream is what EachLag reports, by (stream, partition).
func lagByStream(s *sink.Sink) map[string]int64 {
	out := map[string]int64{}
	s.EachLag(func(stream string, p int32, records int64, _ float64) {
		out[fmt.Sprintf("%s/%d", stream, p)] = records
	})
	return out
}

// assigned returns the (stream, partition)s the group assigns to each
// static member, in lagByStream's keys.
func assigned(t *testing.T, adm *kadm.Client, group string) map[string]map[string]bool {
	t.Helper()
	streamOf := map[string]string{blogTopic: "posts", notesTopic: notes}
	out := map[string]map[string]bool{}
	for id, m := range members(t, adm, group) {
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		out[id] = map[string]bool{}
		for _, tp := range a.Topics {
			for _, p := range tp.Partitions {
				out[id][fmt.Sprintf("%s/%d", streamOf[tp.Topic], p)] = true
			}
		}
	}
	return out
}

// TestLagPerStreamAndPartition: the streams' partitions of one number are
// apart, and a partition another member takes is no longer reported.
func TestLagPerStreamAndPartition(t *testing.T) {
	brokers := newRoutesCluster(t)
	adm := kadm.NewClient(newClient(t, brokers))
	prod := newClient(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const group = "routes-lag"
	// perPartition records on each partition of both topics: posts
	// partitions 0-2, notes 0-1.
	var seq atomic.Int64
	produceEverywhere := func(perPartition int) {
		var recs []*kgo.Record
		for p := range int32(3) {
			for range perPartition {
				r := blogRecord(t, newPost(t, int(seq.Add(1))))
				r.Partition = p
				recs = append(recs, r)
			}
		}
		for p := range int32(2) {
			for range perPartition {
				r := noteRecord(t, note{ID: fmt.Sprintf("l-%d", seq.Add(1)), Text: "lag"})
				r.Partition = p
				recs = append(recs, r)
			}
		}
		produce(t, prod, recs...)
	}
	every := func(records int64) map[string]int64 {
		return map[string]int64{"posts/0": records, "posts/1": records, "posts/2": records, notes + "/0": records, notes + "/1": records}
	}

	produceEverywhere(4)
	pw, nw := newFakeWriter(), newWriter(noteID)
	nw.setFailing(true) // holds the whole batch: everything lags
	// The first batch is every record of the first produce, both
	// streams', however the polls bring them; later ones wait (the
	// partitions they are polled from are reported meanwhile).
	cfg := sinkConfig(group, 20)
	cfg.BatchWait = time.Minute
	cfg1, cfg2 := cfg, cfg
	cfg1.InstanceID, cfg2.InstanceID = "lag-1", "lag-2"
	s1, _ := startTwoRoutes(t, brokers, cfg1, pw, nw)
	testkit.Eventually(t, 30*time.Second, "4 records of lag on each of the 5 partitions", func() bool {
		return maps.Equal(lagByStream(s1), every(4))
	})
	nw.setFailing(false)
	testkit.Eventually(t, 30*time.Second, "no lag once written", func() bool {
		return maps.Equal(lagByStream(s1), every(0))
	})

	// A second member takes some partitions: the first forgets them.
	pw2, nw2 := newFakeWriter(), newWriter(noteID)
	s2, _ := startTwoRoutes(t, brokers, cfg2, pw2, nw2)
	var mine map[string]bool
	testkit.Eventually(t, 30*time.Second, "the first member to report only the partitions it keeps", func() bool {
		a := assigned(t, adm, group)
		mine = a["lag-1"]
		if len(a) != 2 || len(mine) == 0 || len(a["lag-2"]) == 0 || len(mine)+len(a["lag-2"]) != 5 {
			return false
		}
		for k := range lagByStream(s1) {
			if !mine[k] {
				return false
			}
		}
		return true
	})
	// New records on every partition: each member reports its own.
	produceEverywhere(1)
	testkit.Eventually(t, 30*time.Second, "each member to report the lag of its own partitions", func() bool {
		a := assigned(t, adm, group)
		l1, l2 := lagByStream(s1), lagByStream(s2)
		return sameKeys(l1, a["lag-1"]) && sameKeys(l2, a["lag-2"]) && sum(l1)+sum(l2) == 5
	})
}

func sameKeys(m map[string]int64, set map[string]bool) bool {
	if len(m) != len(set) {
		return false
	}
	for k := range m {
		if !set[k] {
			return false
		}
	}
	return true
}

func sum(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func TestNewRefusesAmbiguousRoutes(t *testing.T) {
	pw, nw := newFakeWriter(), newWriter(noteID)
	tests := []struct {
		name   string
		routes []sink.Route
		want   string // in the error
	}{
		{"no routes", nil, "no routes"},
		{"two routes on one topic", []sink.Route{sink.PostsRoute("shared", "a.dlq", pw), sink.NewRoute(notes, "shared", "b.dlq", decodeNote, noteID, nw)}, `topic "shared"`},
		{"two routes of one stream", []sink.Route{notesRoute(nw), sink.NewRoute(notes, "other", "other.dlq", decodeNote, noteID, nw)}, `stream "notes"`},
		{"dead letters to a consumed topic", []sink.Route{sink.PostsRoute(blogTopic, notesTopic, pw), notesRoute(nw)}, "would come back"},
		{"a zero route", []sink.Route{notesRoute(nw), {}}, "NewRoute"},
		{"no writer", []sink.Route{sink.NewRoute[note](notes, notesTopic, notesDLQ, decodeNote, noteID, nil)}, "required"},
		{"no decoder", []sink.Route{sink.NewRoute(notes, notesTopic, notesDLQ, nil, noteID, nw)}, "required"},
		{"no DLQ topic", []sink.Route{sink.PostsRoute(blogTopic, "", pw)}, "lacks a name"},
		{"no stream name", []sink.Route{sink.NewRoute("", notesTopic, notesDLQ, decodeNote, noteID, nw)}, "lacks a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sink.New(sinkConfig("refused", 10), tt.routes, quiet, kafka.ClientOpts([]string{"127.0.0.1:1"}, quiet)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, %v; want an error mentioning %q", s, err, tt.want)
			}
		})
	}
}

func TestRouteNames(t *testing.T) {
	r := sink.PostsRoute(blogTopic, blogDLQ, newFakeWriter())
	if r.Stream() != "posts" || r.Topic() != blogTopic || r.DLQTopic() != blogDLQ {
		t.Errorf("PostsRoute: stream %q, topic %q, DLQ %q; want posts, %s, %s", r.Stream(), r.Topic(), r.DLQTopic(), blogTopic, blogDLQ)
	}
}

// TestFakeWritersKeepTheWriterContract: the writers these tests stand in for
// the store keep the promises the real ones must.
func TestFakeWritersKeepTheWriterContract(t *testing.T) {
	var n atomic.Int64
	// The ids of the documents Refused makes, which the writers refuse.
	var refusedIDs sync.Map
	refuse := func(id string) error {
		if _, ok := refusedIDs.Load(id); ok {
			return fmt.Errorf("document %s refused", id)
		}
		return nil
	}
	t.Run("posts", func(t *testing.T) {
		sinktest.WriterContract(t, sinktest.Contract[post.Post]{
			New: func(*testing.T) sink.Writer[post.Post] { w := newFakeWriter(); w.refuse = refuse; return w },
			Refused: func() post.Post {
				p := newPost(t, int(n.Add(1)))
				refusedIDs.Store(p.ID, true)
				return p
			},
			Doc: func() post.Post { return keyedPost(fmt.Sprintf("contract-%d", n.Add(1)), "keyed") },
			Variant: func(p post.Post) post.Post {
				in := post.Input{Author: p.Author, Title: p.Title + ", again", Content: p.Content}
				p.Title, p.Fingerprint = in.Title, in.Fingerprint()
				return p
			},
			Unkeyed: func() post.Post { return newPost(t, int(n.Add(1))) },
			ID:      postID,
		})
	})
	t.Run("notes", func(t *testing.T) {
		sinktest.WriterContract(t, sinktest.Contract[note]{
			New: func(*testing.T) sink.Writer[note] { w := newWriter(noteID); w.refuse = refuse; return w },
			Refused: func() note {
				id := fmt.Sprintf("c-%d", n.Add(1))
				refusedIDs.Store(id, true)
				return note{ID: id, Text: "[[1]]"}
			},
			Doc: func() note {
				i := n.Add(1)
				return note{ID: fmt.Sprintf("c-%d", i), Text: "text", FP: fmt.Sprintf("fp-%d", i)}
			},
			Variant: func(d note) note { d.Text, d.FP = d.Text+", again", d.FP+"-other"; return d },
			Unkeyed: func() note { return note{ID: fmt.Sprintf("c-%d", n.Add(1)), Text: "unkeyed"} },
			ID:      noteID,
		})
	})
}

// TestDocumentsRoute: a stream of doc.Document tells a redelivery from a
// reused key by the documents' own fingerprints.
func TestDocumentsRoute(t *testing.T) {
	const (
		events    = "events"
		eventsDLQ = "events.dlq"
	)
	c := testkit.Kafka(t, kfake.SeedTopics(1, events, eventsDLQ))
	brokers := c.ListenAddrs()
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	// The test's record: {"id":…,"fp":…,"body":{…}}; doc.Unmarshal is the
	// real one.
	decode := func(key, value []byte) (doc.Document, error) {
		var r struct {
			ID, FP string
			Body   json.RawMessage
		}
		if err := json.Unmarshal(value, &r); err != nil || r.ID != string(key) {
			return doc.Document{}, fmt.Errorf("not an event (key %q): %v", key, err)
		}
		return doc.Document{ID: r.ID, Body: r.Body, Fingerprint: r.FP}, nil
	}
	rec := func(id, fp, body string) *kgo.Record {
		return &kgo.Record{Topic: events, Key: []byte(id), Value: fmt.Appendf(nil, `{"id":%q,"fp":%q,"body":%s}`, id, fp, body)}
	}
	w := newWriter(func(d doc.Document) (string, string) { return d.ID, d.Fingerprint })
	produce(t, cl, rec("e1", "f1", `{"n":1}`), rec("e2", "f2", `{"n":2}`))
	produce(t, cl, rec("e1", "f1", `{"n":1}`), rec("e1", "f3", `{"n":3}`)) // a redelivery, a reused key
	s, stop := startRoutes(t, brokers, sinkConfig("events", 10), sink.DocumentsRoute(events, events, eventsDLQ, decode, w))
	testkit.Eventually(t, 30*time.Second, "the four records counted", func() bool {
		st := s.Stats()
		return st.Inserted+st.Duplicates+st.DeadLettered == 4
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := s.StreamStats()[events]; st.Inserted != 2 || st.Duplicates != 1 || st.KeyConflicts != 1 {
		t.Errorf("StreamStats()[%s] = %+v, want 2 inserted, 1 duplicate, 1 key conflict", events, st)
	}
	dead := readAll(t, brokers, adm, eventsDLQ, 1)
	if len(dead) == 1 && (!strings.Contains(string(dead[0].Value), `"f3"`) || !strings.Contains(header(dead[0], post.DLQHeaderError), "idempotency key conflict")) {
		t.Errorf("dead letter %s because %q, want the reused key f3 as a key conflict", dead[0].Value, header(dead[0], post.DLQHeaderError))
	}
	if got := string(w.docs["e1"].Body); got != `{"n":1}` {
		t.Errorf("e1 stored with body %s, want the first", got)
	}
}
