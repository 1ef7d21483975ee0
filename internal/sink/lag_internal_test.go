package sink

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// lagRow is one row of EachLag, without the seconds (they age).
type lagRow struct {
	stream    string
	partition int32
}

func lagRows(s *Sink) map[lagRow]int64 {
	out := map[lagRow]int64{}
	s.EachLag(func(stream string, p int32, records int64, _ float64) {
		out[lagRow{stream, p}] = records
	})
	return out
}

// fetched is a fetch of n records at offsets 0… of each topic's partition
// 0, with the given high watermark.
func fetched(hw int64, n int, topics ...string) kgo.Fetches {
	var f kgo.Fetch
	for _, tp := range topics {
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: tp, Partition: 0, Offset: int64(i), Timestamp: time.Now()})
		}
		f.Topics = append(f.Topics, kgo.FetchTopic{Topic: tp, Partitions: []kgo.FetchPartition{{Partition: 0, HighWatermark: hw, Records: recs}}})
	}
	return kgo.Fetches{f}
}

// TestLagIsKeyedByTopicAndPartition: two streams' partition 0 are two rows
// under their stream names, written and forgotten apart.
func TestLagIsKeyedByTopicAndPartition(t *testing.T) {
	s := &Sink{lag: map[topicPartition]*partitionLag{}, byTopic: map[string]*Route{
		"posts-topic": {stream: "posts", topic: "posts-topic"},
		"notes-topic": {stream: "notes", topic: "notes-topic"},
	}}
	f := fetched(10, 4, "posts-topic", "notes-topic")
	s.trackPolled(f)
	steps := []struct {
		name string
		do   func()
		want map[lagRow]int64
	}{
		{"polled", func() {}, map[lagRow]int64{{"posts", 0}: 10, {"notes", 0}: 10}},
		{"posts written", func() { s.trackWritten(f[0].Topics[0].Partitions[0].Records) },
			map[lagRow]int64{{"posts", 0}: 6, {"notes", 0}: 10}},
		{"notes revoked", func() { s.forgetLag(map[string][]int32{"notes-topic": {0}}) },
			map[lagRow]int64{{"posts", 0}: 6}},
		{"another topic's partition 0 revoked", func() { s.forgetLag(map[string][]int32{"notes-topic": {0}, "other": {0}}) },
			map[lagRow]int64{{"posts", 0}: 6}},
		{"posts revoked", func() { s.forgetLag(map[string][]int32{"posts-topic": {0, 1}}) }, map[lagRow]int64{}},
	}
	for _, st := range steps {
		st.do()
		if got := lagRows(s); !maps.Equal(got, st.want) {
			t.Errorf("%s: lag %v, want %v", st.name, got, st.want)
		}
	}
}

// stubOffsets is an offsetReader that answers what it is set to and counts
// its reads. It fails the test if the sink's lagMu is held during a read.
type stubOffsets struct {
	t         *testing.T
	s         *Sink
	mu        sync.Mutex
	end       map[topicPartition]int64
	start     map[topicPartition]int64
	committed map[topicPartition]int64
	err       error // of every read
	reads     int   // reads of the end offsets
	topics    []string
}

func (o *stubOffsets) check(what string) {
	if o.s.lagMu.TryLock() {
		o.s.lagMu.Unlock()
	} else {
		o.t.Errorf("%s read with the sink's lagMu held", what)
	}
}

func (o *stubOffsets) endOffsets(_ context.Context, topics []string) (map[topicPartition]int64, error) {
	o.check("end offsets")
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	o.topics = topics
	if o.err != nil {
		return nil, o.err
	}
	return maps.Clone(o.end), nil
}

func (o *stubOffsets) startOffsets(context.Context, []string) (map[topicPartition]int64, error) {
	o.check("start offsets")
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	return maps.Clone(o.start), nil
}

func (o *stubOffsets) committedOffsets(context.Context) (map[topicPartition]int64, error) {
	o.check("committed offsets")
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err != nil {
		return nil, o.err
	}
	return maps.Clone(o.committed), nil
}

func (o *stubOffsets) set(f func(o *stubOffsets)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(o)
}

// TestLagReadsTheEndOffsets: the lag in records is the end offset read from
// the broker (at most once a second, only for the topics held) minus the
// next offset to write, never less than the last fetch's high watermark
// gives; a failed read keeps what was known; a held partition nothing was
// polled from counts from the group's commit, else the partition's start.
func TestLagReadsTheEndOffsets(t *testing.T) {
	clock := time.Now()
	s := &Sink{lag: map[topicPartition]*partitionLag{}, held: newHolding([]string{"posts-topic", "notes-topic"}),
		byTopic: map[string]*Route{"posts-topic": {stream: "posts", topic: "posts-topic"}, "notes-topic": {stream: "notes", topic: "notes-topic"}}}
	stub := &stubOffsets{t: t, s: s}
	s.offsets = &brokerOffsets{reader: stub, now: func() time.Time { return clock }}
	p0, p1 := topicPartition{"posts-topic", 0}, topicPartition{"posts-topic", 1}

	if got := lagRows(s); len(got) != 0 || stub.reads != 0 {
		t.Fatalf("holding nothing: lag %v after %d reads, want none and no read", got, stub.reads)
	}
	s.held.add(map[string][]int32{"posts-topic": {0, 1}})
	s.trackPolled(fetched(10, 4, "posts-topic")) // partition 0: next 0, high watermark 10
	steps := []struct {
		name    string
		advance time.Duration
		set     func(o *stubOffsets)
		want    map[lagRow]int64
		reads   int
	}{
		{"partition 1 without a commit counts from its start", 0, func(o *stubOffsets) {
			o.end = map[topicPartition]int64{p0: 25, p1: 7}
			o.start = map[topicPartition]int64{p1: 2}
		}, map[lagRow]int64{{"posts", 0}: 25, {"posts", 1}: 5}, 1},
		{"read again only after a second", 999 * time.Millisecond, func(o *stubOffsets) {
			o.end = map[topicPartition]int64{p0: 30, p1: 9}
		}, map[lagRow]int64{{"posts", 0}: 25, {"posts", 1}: 5}, 1},
		{"a second on", time.Millisecond, func(o *stubOffsets) {
			o.committed = map[topicPartition]int64{p1: 4}
		}, map[lagRow]int64{{"posts", 0}: 30, {"posts", 1}: 5}, 2},
		{"a failed read keeps the end offsets, drops the commits", time.Second, func(o *stubOffsets) {
			o.err = errors.New("broker down")
		}, map[lagRow]int64{{"posts", 0}: 30}, 3},
		{"the end offset read below the last fetch's high watermark", time.Second, func(o *stubOffsets) {
			o.err = nil
			o.end = map[topicPartition]int64{p0: 5, p1: 9}
		}, map[lagRow]int64{{"posts", 0}: 10, {"posts", 1}: 5}, 4},
	}
	for _, st := range steps {
		clock = clock.Add(st.advance)
		stub.set(st.set)
		if got := lagRows(s); !maps.Equal(got, st.want) {
			t.Errorf("%s: lag %v, want %v", st.name, got, st.want)
		}
		if stub.reads != st.reads {
			t.Errorf("%s: %d reads of the end offsets, want %d", st.name, stub.reads, st.reads)
		}
	}
	if !slices.Equal(stub.topics, []string{"posts-topic"}) {
		t.Errorf("end offsets read of %v, want the topic held alone", stub.topics)
	}

	// Without any reading, the last fetch's high watermark is what is known.
	s.offsets = &brokerOffsets{reader: &stubOffsets{t: t, s: s, err: errors.New("broker down")}, now: func() time.Time { return clock }}
	if got, want := lagRows(s), map[lagRow]int64{{"posts", 0}: 10}; !maps.Equal(got, want) {
		t.Errorf("every read failing: lag %v, want %v", got, want)
	}
}
