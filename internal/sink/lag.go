package sink

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
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

// EachLag calls yield for each partition the sink holds or has fetched
// from with its stream's name, its lag in records and in seconds (the age
// of the oldest record polled but not written; 0 when caught up).
//
// The lag in records is the partition's end offset minus the next offset
// to write. The end offset is read from the broker (see offsets), at most
// once a second, and is at least the high watermark of the last fetch:
// with held fetches (Config.FetchMinBytes) that high watermark is as old
// as the fetch, and a sink stuck writing a batch does not poll at all. The
// next offset to write of a partition nothing has been polled from since
// it was assigned is the group's committed offset, or the partition's
// start offset when the group has committed none (the sink consumes from
// the start), both read with the end offsets; such a partition is left
// out while they are unknown.
func (s *Sink) EachLag(yield func(stream string, partition int32, records int64, seconds float64)) {
	type row struct {
		stream  string
		p       int32
		records int64
		seconds float64
	}
	held := s.held.partitions()
	var unknown []topicPartition // held, nothing polled: next offset not known here
	s.lagMu.Lock()
	for _, tp := range held {
		if l := s.lag[tp]; l == nil || l.next < 0 {
			unknown = append(unknown, tp)
		}
	}
	s.lagMu.Unlock()
	// Outside lagMu: this may wait on the broker.
	read := s.offsets.read(held, unknown)

	now := time.Now()
	s.lagMu.Lock()
	rows := make([]row, 0, max(len(s.lag), len(held)))
	add := func(tp topicPartition) {
		rt := s.byTopic[tp.topic]
		if rt == nil {
			return
		}
		var (
			next, end int64 = -1, 0
			pending   bool
			oldest    time.Time
		)
		if l := s.lag[tp]; l != nil {
			next, end, pending, oldest = l.next, l.highWatermark, l.pending, l.oldest
		}
		if next < 0 {
			next = read.next(tp)
		}
		if next < 0 {
			return
		}
		if e, ok := read.end[tp]; ok {
			end = max(end, e)
		}
		r := row{stream: rt.stream, p: tp.partition, records: max(0, end-next)}
		if pending {
			r.seconds = max(0, now.Sub(oldest).Seconds())
		}
		rows = append(rows, r)
	}
	for tp := range s.lag {
		add(tp)
	}
	for _, tp := range held {
		if s.lag[tp] == nil {
			add(tp)
		}
	}
	s.lagMu.Unlock()
	// Outside the lock: yield may block on a scrape.
	for _, r := range rows {
		yield(r.stream, r.p, r.records, r.seconds)
	}
}

// partitions returns what is held, every partition once.
func (h *holding) partitions() []topicPartition {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []topicPartition
	for t, ps := range h.held {
		for p := range ps {
			out = append(out, topicPartition{t, p})
		}
	}
	return out
}

// offsetsMaxAge is how old the offsets the lag gauge read from the broker
// may be before a scrape reads them again; offsetsTimeout bounds a read.
const (
	offsetsMaxAge  = time.Second
	offsetsTimeout = time.Second
)

// offsetReader reads partition offsets from the broker: the end or start
// offsets of topics, and the sink group's committed offsets. Partitions
// without one (a partition that failed, one without a commit) are absent.
type offsetReader interface {
	endOffsets(ctx context.Context, topics []string) (map[topicPartition]int64, error)
	startOffsets(ctx context.Context, topics []string) (map[topicPartition]int64, error)
	committedOffsets(ctx context.Context) (map[topicPartition]int64, error)
}

// brokerOffsets caches what the lag gauge reads from the broker at scrape
// time, so that scrapes cost the broker at most a read a second.
type brokerOffsets struct {
	reader offsetReader // nil: nothing is read
	now    func() time.Time
	// mu is held across a read, so scrapes at once read once. The sink's
	// lagMu is never held across one.
	mu   sync.Mutex
	at   time.Time // when the last read was tried, failed or not
	last offsetsRead
}

// offsetsRead is one reading of the broker's offsets.
type offsetsRead struct {
	end map[topicPartition]int64
	// committed and start are read only for partitions whose next offset
	// the sink does not know. Without committedRead (its read failed, or
	// was not needed) start is not used: the group may have committed.
	committedRead bool
	committed     map[topicPartition]int64
	start         map[topicPartition]int64
}

// next is where the sink consumes tp from, as far as the broker tells:
// the group's commit, else the start of the partition; -1 when unknown.
func (r offsetsRead) next(tp topicPartition) int64 {
	if !r.committedRead {
		return -1
	}
	if c, ok := r.committed[tp]; ok {
		return c
	}
	if st, ok := r.start[tp]; ok {
		return st
	}
	return -1
}

// read returns the offsets of the topics of held, and the committed and
// start offsets when unknown (partitions without a next offset) is not
// empty: from the last reading when it is under offsetsMaxAge old, else
// read again, within offsetsTimeout. A failed read keeps the end offsets
// read before (end offsets only grow; the gauge takes the larger of them
// and the last fetch's high watermark) and does not fail the scrape.
func (b *brokerOffsets) read(held, unknown []topicPartition) offsetsRead {
	if b == nil || b.reader == nil || len(held) == 0 {
		return offsetsRead{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now
	if b.now != nil {
		now = b.now
	}
	if t := now(); b.at.IsZero() || t.Sub(b.at) >= offsetsMaxAge {
		b.at = t
		ctx, cancel := context.WithTimeout(context.Background(), offsetsTimeout)
		defer cancel()
		b.last = b.readFrom(ctx, b.last.end, held, unknown)
	}
	return b.last
}

// readFrom reads the broker's offsets, the end offsets over those of
// before. It makes new maps: a reading once returned is never changed.
func (b *brokerOffsets) readFrom(ctx context.Context, before map[topicPartition]int64, held, unknown []topicPartition) offsetsRead {
	r := offsetsRead{end: maps.Clone(before)}
	if r.end == nil {
		r.end = map[topicPartition]int64{}
	}
	end, _ := b.reader.endOffsets(ctx, topicsOf(held)) // what it read, even if not all
	maps.Copy(r.end, end)
	if len(unknown) == 0 {
		return r
	}
	committed, err := b.reader.committedOffsets(ctx)
	if err != nil {
		return r
	}
	r.committedRead, r.committed = true, committed
	var fromStart []topicPartition
	for _, tp := range unknown {
		if _, ok := committed[tp]; !ok {
			fromStart = append(fromStart, tp)
		}
	}
	if len(fromStart) > 0 {
		r.start, _ = b.reader.startOffsets(ctx, topicsOf(fromStart))
	}
	return r
}

// topicsOf returns the topics of partitions, each once, in order.
func topicsOf(partitions []topicPartition) []string {
	var topics []string
	for _, tp := range partitions {
		topics = append(topics, tp.topic)
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

// kadmOffsets reads offsets with the sink's own client.
type kadmOffsets struct {
	adm   *kadm.Client
	group string
}

func (k kadmOffsets) endOffsets(ctx context.Context, topics []string) (map[topicPartition]int64, error) {
	listed, err := k.adm.ListEndOffsets(ctx, topics...)
	return listedOffsets(listed), err
}

func (k kadmOffsets) startOffsets(ctx context.Context, topics []string) (map[topicPartition]int64, error) {
	listed, err := k.adm.ListStartOffsets(ctx, topics...)
	return listedOffsets(listed), err
}

func listedOffsets(listed kadm.ListedOffsets) map[topicPartition]int64 {
	out := map[topicPartition]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset >= 0 {
			out[topicPartition{o.Topic, o.Partition}] = o.Offset
		}
	})
	return out
}

func (k kadmOffsets) committedOffsets(ctx context.Context) (map[topicPartition]int64, error) {
	resp, err := k.adm.FetchOffsets(ctx, k.group)
	if err != nil {
		return nil, err
	}
	if err := resp.Error(); err != nil {
		// A partition's commit unknown: one of them may be missing
		// for that, not for want of a commit.
		return nil, err
	}
	out := map[topicPartition]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			out[topicPartition{o.Topic, o.Partition}] = o.At
		}
	})
	return out, nil
}
