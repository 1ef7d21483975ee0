package dlq

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderRedrivenFrom marks a record put back on the main topic with the DLQ
// position it came from (topic/partition@offset).
const HeaderRedrivenFrom = "postpipe-redriven-from"

// Result counts what one redrive did.
type Result struct {
	Read     int // DLQ records the group had not passed yet
	Redriven int // of those, put back on the main topic
	Skipped  int // not matched: passed all the same
}

// Redrive puts dead-lettered records back on mainTopic, once. It reads the
// DLQ from where group left off up to its end at the start of the call,
// produces the records match accepts (acks=all, idempotent producer: opts
// should not weaken that) and only then commits group past everything it
// read, matched or not. A crash between the two produces the same records
// again on the next run; their keys are the posts' ids, so the store still
// keeps one copy of each. Records the sink dead-letters again land after the
// end this call read to and wait for the next redrive.
func Redrive(ctx context.Context, opts []kgo.Opt, dlqTopic, mainTopic, group string, match func(Entry) bool) (Result, error) {
	var res Result
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		return res, fmt.Errorf("create kafka client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	from, err := committed(ctx, adm, group, dlqTopic)
	if err != nil {
		return res, err
	}
	b, err := snapshot(ctx, adm, dlqTopic, from)
	if err != nil {
		return res, err
	}
	var out []*kgo.Record
	err = read(ctx, opts, dlqTopic, b, func(r *kgo.Record) {
		res.Read++
		e := entryOf(r)
		if !match(e) {
			res.Skipped++
			return
		}
		h := append(slices.Clone(e.Headers), kgo.RecordHeader{Key: HeaderRedrivenFrom, Value: fmt.Appendf(nil, "%s/%d@%d", dlqTopic, r.Partition, r.Offset)})
		out = append(out, &kgo.Record{Topic: mainTopic, Key: r.Key, Value: r.Value, Headers: h})
	})
	if err != nil {
		return res, err
	}
	if len(out) > 0 {
		if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
			return res, fmt.Errorf("produce to %s: %w", mainTopic, err)
		}
	}
	res.Redriven = len(out)
	if len(b) == 0 {
		return res, nil
	}
	offsets := kadm.Offsets{}
	for p, r := range b {
		offsets.Add(kadm.Offset{Topic: dlqTopic, Partition: p, At: r[1], LeaderEpoch: -1})
	}
	resp, err := adm.CommitOffsets(ctx, group, offsets)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return res, fmt.Errorf("commit group %s (the records are on %s; a rerun puts them there again, the store keeps one each): %w", group, mainTopic, err)
	}
	return res, nil
}
