package sink

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// topicPartition keys the lag: the streams' topics number their partitions
// alike.
type topicPartition struct {
	topic     string
	partition int32
}

// partitionLag is what the sink knows of how far behind it is on one
// partition.
type partitionLag struct {
	highWatermark int64 // from the last fetch of the partition
	next          int64 // next offset to write: the oldest pending one, or the last written + 1
	pending       bool  // records of the partition are polled but not written
	oldest        time.Time
}

// trackPolled notes the high watermarks of a fetch and, for partitions with
// nothing pending yet, where their pending records start.
func (s *Sink) trackPolled(fetches kgo.Fetches) {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil {
			return
		}
		tp := topicPartition{p.Topic, p.Partition}
		l := s.lag[tp]
		if l == nil {
			l = &partitionLag{next: -1}
			s.lag[tp] = l
		}
		l.highWatermark = p.HighWatermark
		if len(p.Records) > 0 && !l.pending {
			l.pending = true
			l.next = p.Records[0].Offset
			l.oldest = p.Records[0].Timestamp
		}
	})
}

// trackWritten marks a written batch: nothing of it is pending any more.
func (s *Sink) trackWritten(batch []*kgo.Record) {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	for _, r := range batch {
		l := s.lag[topicPartition{r.Topic, r.Partition}]
		if l == nil { // revoked meanwhile
			continue
		}
		l.pending = false
		l.next = max(l.next, r.Offset+1)
	}
}

// forgetLag drops the partitions the sink no longer holds, by topic, so a
// partition another member took is not reported by two.
func (s *Sink) forgetLag(partitions map[string][]int32) {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	for topic, ps := range partitions {
		for _, p := range ps {
			delete(s.lag, topicPartition{topic, p})
		}
	}
}

// EachLag calls yield for each partition the sink has fetched from with its
// stream's name, its lag in records (high watermark of the last fetch minus
// the next offset to write) and in seconds (the age of the oldest record
// polled but not written; 0 when caught up).
func (s *Sink) EachLag(yield func(stream string, partition int32, records int64, seconds float64)) {
	type row struct {
		stream  string
		p       int32
		records int64
		seconds float64
	}
	now := time.Now()
	s.lagMu.Lock()
	rows := make([]row, 0, len(s.lag))
	for tp, l := range s.lag {
		rt := s.byTopic[tp.topic]
		if l.next < 0 || rt == nil {
			continue
		}
		r := row{stream: rt.stream, p: tp.partition, records: max(0, l.highWatermark-l.next)}
		if l.pending {
			r.seconds = max(0, now.Sub(l.oldest).Seconds())
		}
		rows = append(rows, r)
	}
	s.lagMu.Unlock()
	// Outside the lock: yield may block on a scrape.
	for _, r := range rows {
		yield(r.stream, r.p, r.records, r.seconds)
	}
}
