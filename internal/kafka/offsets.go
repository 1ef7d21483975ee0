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

// Progress is a consumer group's progress on the posts topic and the size
// of the dead-letter topic.
type Progress struct {
	// Partitions of the posts topic, by partition number.
	Partitions []PartitionProgress
	// DLQRecords is how many records the dead-letter topic holds.
	DLQRecords int64
}

// PartitionProgress is the group's progress on one partition. Committed is
// the start offset where the group has not committed yet: that is where a
// new sink begins.
type PartitionProgress struct {
	Partition           int32
	Committed, End, Lag int64
}

// OffsetReader reads a consumer group's progress on the posts topic and the
// size of the dead-letter topic, for the dashboard's sampler (the wiring
// adapts it to the sampler's types, so this package need not know them).
type OffsetReader struct {
	adm        *kadm.Client
	topic, dlq string
	group      string
}

// NewOffsetReader reads through cl, which may be a producer: admin requests
// need no client of their own.
func NewOffsetReader(cl *kgo.Client, topic, dlqTopic, group string) *OffsetReader {
	return &OffsetReader{adm: kadm.NewClient(cl), topic: topic, dlq: dlqTopic, group: group}
}

// ReadOffsets lists the start and end offsets of both topics and the group's
// committed offsets on the posts topic. A partition the group has not
// committed on counts from its start offset, where the sink would begin.
func (r *OffsetReader) ReadOffsets(ctx context.Context) (Progress, error) {
	starts, err := r.adm.ListStartOffsets(ctx, r.topic, r.dlq)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Progress{}, fmt.Errorf("list start offsets: %w", err)
	}
	ends, err := r.adm.ListEndOffsets(ctx, r.topic, r.dlq)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Progress{}, fmt.Errorf("list end offsets: %w", err)
	}
	commits, err := r.adm.FetchOffsetsForTopics(ctx, r.group, r.topic)
	if errors.Is(err, kerr.GroupIDNotFound) {
		// No sink has joined yet: nothing is committed.
		commits, err = nil, nil
	}
	if err != nil {
		return Progress{}, fmt.Errorf("fetch offsets of group %s: %w", r.group, err)
	}

	var out Progress
	for p, end := range ends[r.topic] {
		committed := starts[r.topic][p].Offset
		if c, ok := commits.Lookup(r.topic, p); ok && c.At >= 0 {
			committed = c.At
		}
		out.Partitions = append(out.Partitions, PartitionProgress{
			Partition: p, Committed: committed, End: end.Offset, Lag: max(end.Offset-committed, 0),
		})
	}
	slices.SortFunc(out.Partitions, func(a, b PartitionProgress) int { return int(a.Partition - b.Partition) })
	for p, end := range ends[r.dlq] {
		out.DLQRecords += end.Offset - starts[r.dlq][p].Offset
	}
	return out, nil
}
