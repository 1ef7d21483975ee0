package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Progress is a consumer group's progress on every stream's topic and the
// size of their dead-letter topics.
type Progress struct {
	// Partitions of the streams' topics, by stream (in the order given)
	// and partition number.
	Partitions []PartitionProgress
	// DLQRecords is how many records the dead-letter topics hold.
	DLQRecords int64
}

// PartitionProgress is the group's progress on one partition. Committed is
// the start offset where the group has not committed yet: that is where a
// new sink begins.
type PartitionProgress struct {
	Stream              string
	Partition           int32
	Committed, End, Lag int64
}

// StreamTopics are a stream's topic and dead-letter topic.
type StreamTopics struct {
	Stream, Topic, DLQTopic string
}

// OffsetReader reads a consumer group's progress on the streams' topics and
// the size of their dead-letter topics, for the dashboard's sampler (the
// wiring adapts it to the sampler's types, so this package need not know
// them).
type OffsetReader struct {
	adm     *kadm.Client
	streams []StreamTopics
	group   string
}

// NewOffsetReader reads through cl, which may be a producer: admin requests
// need no client of their own.
func NewOffsetReader(cl *kgo.Client, group string, streams ...StreamTopics) *OffsetReader {
	return &OffsetReader{adm: kadm.NewClient(cl), streams: streams, group: group}
}

// ReadOffsets lists the start and end offsets of every topic and the
// group's committed offsets on the streams' topics. A partition the group
// has not committed on counts from its start offset, where the sink would
// begin.
func (r *OffsetReader) ReadOffsets(ctx context.Context) (Progress, error) {
	var topics, all []string
	for _, st := range r.streams {
		topics = append(topics, st.Topic)
		all = append(all, st.Topic, st.DLQTopic)
	}
	starts, err := r.adm.ListStartOffsets(ctx, all...)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Progress{}, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := r.adm.ListEndOffsets(ctx, all...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Progress{}, fmt.Errorf("list end offsets: %w", err)
	}
	commits, err := r.adm.FetchOffsetsForTopics(ctx, r.group, topics...)
	if errors.Is(err, kerr.GroupIDNotFound) {
		// No sink has joined yet: nothing is committed.
		commits, err = nil, nil
	}
	if err != nil {
		return Progress{}, fmt.Errorf("fetch offsets of group %s: %w", r.group, err)
	}

	var out Progress
	for _, st := range r.streams {
		var parts []PartitionProgress
		for p, end := range ends[st.Topic] {
			committed := starts[st.Topic][p].Offset
			if c, ok := commits.Lookup(st.Topic, p); ok && c.At >= 0 {
				committed = c.At
			}
			parts = append(parts, PartitionProgress{
				Stream: st.Stream, Partition: p, Committed: committed, End: end.Offset, Lag: max(end.Offset-committed, 0),
			})
		}
		slices.SortFunc(parts, func(a, b PartitionProgress) int { return int(a.Partition - b.Partition) })
		out.Partitions = append(out.Partitions, parts...)
		for p, end := range ends[st.DLQTopic] {
			out.DLQRecords += end.Offset - starts[st.DLQTopic][p].Offset
		}
	}
	return out, nil
}
