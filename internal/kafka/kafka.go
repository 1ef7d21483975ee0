// Package kafka connects postpipe to Kafka with franz-go: the client options
// every process shares, creation of the topics, and the publisher the API
// hands accepted posts to.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// ClientOpts are the options every postpipe client starts from; callers
// append their own (producer or consumer settings) and call kgo.NewClient.
func ClientOpts(brokers []string, log *slog.Logger) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("postpipe"),
		kgo.WithLogger(kslog.New(log.With("component", "kafka"))),
	}
}

// ProducerOpts make the client an idempotent, acks=all producer that gives a
// record up once timeout has passed, so no caller waits longer than that.
//
// Records are placed by a sticky partitioner that ignores the key (the key,
// the post id, stays on the record): posts are independent and need no
// per-key order, and the broker's CPU per record falls steeply with the
// records per batch. Hashing the key spread each produce request over every
// partition as one tiny batch each; sticky placement fills one batch per
// request. A retried keyed post may so land on another partition than its
// first attempt: that is safe, because the sink stores by id and takes an
// insert that finds the id already stored as written (a duplicate key is
// not a second document).
func ProducerOpts(timeout, linger time.Duration) []kgo.Opt {
	return []kgo.Opt{
		kgo.RecordPartitioner(kgo.StickyPartitioner()),
		// Uncompressed: the broker decompresses every compressed batch to
		// validate it, which cost it more CPU than the bytes saved on a
		// same-datacentre link are worth (see docs/benchmark.md).
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordDeliveryTimeout(timeout),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchMaxBytes(MaxRecordBytes),
	}
}

// BufferOpts bound what the producer holds unacknowledged, in records and
// bytes, so memory stays bounded however long the broker is away. Publisher
// is refused at once beyond them (see Publish).
func BufferOpts(records, bytes int) []kgo.Opt {
	return []kgo.Opt{kgo.MaxBufferedRecords(records), kgo.MaxBufferedBytes(bytes)}
}

// Topic is a topic the service needs.
type Topic struct {
	Name        string
	Partitions  int32
	Replication int16 // -1: the broker's default
}

// EnsureTopics creates the topics that do not exist yet. Relying on
// auto-creation would hide a misconfigured topic name and give the topic the
// broker's defaults instead of ours.
func EnsureTopics(ctx context.Context, cl *kgo.Client, topics ...Topic) error {
	adm := kadm.NewClient(cl)
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics {
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			continue
		}
		resp, err := adm.CreateTopic(ctx, t.Partitions, t.Replication, nil, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", t.Name, err)
		}
	}
	return waitForLeaders(ctx, adm, names)
}

// waitForLeaders returns once every partition of the topics has a leader.
// A topic Kafka has just created answers metadata before its partitions
// have leaders; producing then waits, and the first requests of a freshly
// started API could run into the produce timeout.
func waitForLeaders(ctx context.Context, adm *kadm.Client, names []string) error {
	for {
		details, err := adm.ListTopics(ctx, names...)
		ready := err == nil
		if err == nil {
			for _, name := range names {
				d, ok := details[name]
				if !ok || d.Err != nil || len(d.Partitions) == 0 {
					ready = false
					break
				}
				for _, p := range d.Partitions {
					if p.Err != nil || p.Leader < 0 {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("partitions without a leader")
			}
			return fmt.Errorf("wait for the topics' leaders: %w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
