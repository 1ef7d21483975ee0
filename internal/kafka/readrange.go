package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ReadRange hands fn every record of topic from from[p] (0 where absent) up
// to, not including, to[p], partition by partition in offset order, and
// returns once every partition reached its end. It reads with a client of
// its own built from opts (no group: nothing is committed). The DLQ tools
// and the bench's topic check use it.
func ReadRange(ctx context.Context, opts []kgo.Opt, topic string, from, to map[int32]int64, fn func(*kgo.Record)) error {
	at := map[int32]kgo.Offset{}
	for p, end := range to {
		if from[p] < end {
			at[p] = kgo.NewOffset().At(from[p])
		}
	}
	if len(at) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: at}))...)
	if err != nil {
		return fmt.Errorf("create reader of %s: %w", topic, err)
	}
	defer cl.Close()
	left := len(at)
	done := map[int32]bool{}
	for left > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if ferr == nil && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("fetch %s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			end := to[r.Partition]
			if done[r.Partition] || r.Offset >= end {
				return
			}
			fn(r)
			if r.Offset >= end-1 {
				done[r.Partition] = true
				left--
			}
		})
	}
	return nil
}
