// Package dlq is the operator's side of the dead-letter topic the sink
// writes: listing what is in it and why, and putting records back on the
// main topic once whatever rejected them is fixed.
package dlq

import (
	"github.com/postpipe/postpipe/internal/doc"

	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
)

// Entry is one dead-lettered record: where it sits on the DLQ, what it
// carries, and what the sink's headers say about it.
type Entry struct {
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers are the record's own, without the sink's.
	Headers []kgo.RecordHeader

	Reason          string
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	FailedAt        time.Time // zero when the header is missing
	// Redriven is set by List for an entry the redrive group has already
	// passed.
	Redriven bool
}

// Origin is where the record was read from before it was dead-lettered.
func (e Entry) Origin() string {
	return fmt.Sprintf("%s/%d@%d", e.SourceTopic, e.SourcePartition, e.SourceOffset)
}

// Op is the op of the dead-lettered record: the doc.HeaderOp header of a
// stream with changes (put, patch, delete), else create.
func (e Entry) Op() string {
	for _, h := range e.Headers {
		if h.Key == doc.HeaderOp {
			return string(h.Value)
		}
	}
	return doc.OpCreate.String()
}

func entryOf(r *kgo.Record) Entry {
	e := Entry{Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, SourcePartition: -1, SourceOffset: -1}
	for _, h := range r.Headers {
		v := string(h.Value)
		switch h.Key {
		case post.DLQHeaderError:
			e.Reason = v
		case post.DLQHeaderSourceTopic:
			e.SourceTopic = v
		case post.DLQHeaderSourcePartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				e.SourcePartition = int32(p)
			}
		case post.DLQHeaderSourceOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				e.SourceOffset = o
			}
		case post.DLQHeaderFailedAt:
			e.FailedAt, _ = time.Parse(time.RFC3339Nano, v)
		case post.DLQHeaderSourceTimestamp, HeaderRedrivenFrom:
		default:
			e.Headers = append(e.Headers, h)
		}
	}
	return e
}

// bounds are the offsets to read per partition, [start, end).
type bounds map[int32][2]int64

// snapshot returns what the topic holds right now, per partition, from
// the given committed offsets (or its start where none).
func snapshot(ctx context.Context, adm *kadm.Client, topic string, from map[int32]int64) (bounds, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	b := bounds{}
	var firstErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("end offset of %s/%d: %w", topic, o.Partition, o.Err))
			return
		}
		s, ok := starts.Lookup(topic, o.Partition)
		if !ok || s.Err != nil {
			firstErr = cmp.Or(firstErr, fmt.Errorf("start offset of %s/%d missing", topic, o.Partition))
			return
		}
		start := max(s.Offset, from[o.Partition])
		if start < o.Offset {
			b[o.Partition] = [2]int64{start, o.Offset}
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	if len(ends) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	return b, nil
}

// read fetches every record within b and hands each to fn in partition
// order. It returns once every partition reached its end.
func read(ctx context.Context, opts []kgo.Opt, topic string, b bounds, fn func(*kgo.Record)) error {
	from, to := make(map[int32]int64, len(b)), make(map[int32]int64, len(b))
	for p, r := range b {
		from[p], to[p] = r[0], r[1]
	}
	return kafka.ReadRange(ctx, opts, topic, from, to, fn)
}

// List returns what the DLQ topic holds, newest first (by the time the sink
// gave up on each record, then by offset). group is the redrive group: the
// entries it has already redriven are marked; empty marks none.
func List(ctx context.Context, opts []kgo.Opt, topic, group string) ([]Entry, error) {
	admCl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	b, err := snapshot(ctx, adm, topic, nil)
	if err != nil {
		return nil, err
	}
	var redriven map[int32]int64
	if group != "" {
		if redriven, err = committed(ctx, adm, group, topic); err != nil {
			return nil, err
		}
	}
	var out []Entry
	err = read(ctx, opts, topic, b, func(r *kgo.Record) {
		e := entryOf(r)
		e.Redriven = r.Offset < redriven[r.Partition]
		out = append(out, e)
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Entry) int {
		if c := b.FailedAt.Compare(a.FailedAt); c != 0 {
			return c
		}
		if c := int(b.Partition - a.Partition); c != 0 {
			return c
		}
		return int(b.Offset - a.Offset)
	})
	return out, nil
}

// committed returns the group's committed offsets on topic; none for a
// group that does not exist yet.
func committed(ctx context.Context, adm *kadm.Client, group, topic string) (map[int32]int64, error) {
	resp, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	if err := resp.Error(); err != nil {
		return nil, fmt.Errorf("fetch offsets of group %s: %w", group, err)
	}
	out := map[int32]int64{}
	for p, o := range resp[topic] {
		out[p] = o.At
	}
	return out, nil
}

// Matches reports whether an entry's reason or key contains substr; an
// empty substr matches every entry.
func Matches(e Entry, substr string) bool {
	return substr == "" || strings.Contains(e.Reason, substr) || strings.Contains(string(e.Key), substr)
}
