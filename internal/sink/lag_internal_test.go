package sink

import (
	"maps"
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
