// Package kafka connects postpipe to Kafka with franz-go: the client options
// every process shares, creation of the topics, and the publisher the API
// hands accepted posts to.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
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
//
// The keyed topics are the exception: those of streams with changes, whose
// ops on one document must share a partition to keep their order. Their
// records are placed by key hash (see TopicPartitioner), at the price of
// smaller batches on those topics only.
func ProducerOpts(timeout, linger time.Duration, keyed ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.RecordPartitioner(TopicPartitioner(keyed)),
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

// dlqHeaderBytes is room for the headers the sink adds to a record it
// dead-letters (the reason and the origin), so a record of MaxRecordBytes
// still fits on the dead-letter topic.
const dlqHeaderBytes = 64 << 10

// Topic is a topic the service needs and the settings it is created with.
type Topic struct {
	Name        string
	Partitions  int32
	Replication int16 // -1: the broker's default
	// MinInsyncReplicas is how many replicas must have a record before
	// acks=all acknowledges it; 0: one less than the replication factor,
	// at least 1 (with three replicas a 202 survives losing any one broker
	// and the topic still takes posts with one broker down).
	MinInsyncReplicas int
	// Retention is how long records are kept (retention.ms); 0 leaves the
	// broker's default.
	Retention time.Duration
	// MaxMessageBytes is the largest record batch the topic accepts
	// (max.message.bytes); 0 leaves the broker's default.
	MaxMessageBytes int
}

// PostsTopic is the main topic: records up to MaxRecordBytes.
func PostsTopic(name string, partitions, replication, minInsync int, retention time.Duration) Topic {
	return Topic{Name: name, Partitions: int32(partitions), Replication: int16(replication),
		MinInsyncReplicas: minInsync, Retention: retention, MaxMessageBytes: MaxRecordBytes}
}

// DLQTopic is the dead-letter topic: a record of the main topic plus the
// sink's headers.
func DLQTopic(name string, partitions, replication, minInsync int, retention time.Duration) Topic {
	t := PostsTopic(name, partitions, replication, minInsync, retention)
	t.MaxMessageBytes += dlqHeaderBytes
	return t
}

// Topic configuration keys the service sets.
const (
	ConfigMinInsyncReplicas = "min.insync.replicas"
	ConfigRetentionMs       = "retention.ms"
	ConfigMaxMessageBytes   = "max.message.bytes"
)

// configs are the topic configs t is created with, for a topic with rf
// replicas (rf < 1: unknown, min.insync.replicas is then left out unless
// set).
func (t Topic) configs(rf int) map[string]string {
	c := map[string]string{}
	minISR := t.MinInsyncReplicas
	if minISR == 0 && rf > 0 {
		minISR = max(rf-1, 1)
	}
	if minISR > 0 {
		c[ConfigMinInsyncReplicas] = strconv.Itoa(minISR)
	}
	if t.Retention > 0 {
		c[ConfigRetentionMs] = strconv.FormatInt(t.Retention.Milliseconds(), 10)
	}
	if t.MaxMessageBytes > 0 {
		c[ConfigMaxMessageBytes] = strconv.Itoa(t.MaxMessageBytes)
	}
	return c
}

// Mismatch is a setting of an existing topic that differs from what the
// service would have created it with. EnsureTopics reports it and changes
// nothing: altering a live topic is the operator's decision.
type Mismatch struct {
	Topic, Key, Want, Have string
}

// Setting names of a Mismatch besides the topic configs.
const (
	SettingPartitions  = "partitions"
	SettingReplication = "replication.factor"
)

// EnsureTopics creates the topics that do not exist yet, with their
// settings, and returns how the existing ones differ from those settings.
// Relying on auto-creation would hide a misconfigured topic name and give
// the topic the broker's defaults instead of ours.
func EnsureTopics(ctx context.Context, cl *kgo.Client, topics ...Topic) ([]Mismatch, error) {
	adm := kadm.NewClient(cl)
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var present []Topic
	for _, t := range topics {
		if d, ok := existing[t.Name]; ok && d.Err == nil {
			present = append(present, t)
			continue
		}
		existed, err := createTopic(ctx, adm, t)
		if err != nil {
			return nil, err
		}
		if existed {
			// Created meanwhile by another process, or not yet in the
			// metadata that was listed: it may have other settings.
			present = append(present, t)
		}
	}
	if err := waitForLeaders(ctx, adm, names); err != nil {
		return nil, err
	}
	if len(present) == 0 {
		return nil, nil
	}
	presentNames := make([]string, len(present))
	for i, t := range present {
		presentNames[i] = t.Name
	}
	details, err := adm.ListTopics(ctx, presentNames...)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	return compareTopics(ctx, adm, details, present)
}

// createTopic creates t; existed reports that it was there already.
func createTopic(ctx context.Context, adm *kadm.Client, t Topic) (existed bool, err error) {
	rf := int(t.Replication)
	if rf < 1 && t.MinInsyncReplicas == 0 {
		// min.insync.replicas follows the replication factor: ask the
		// broker which one it would use.
		v, err := adm.ValidateCreateTopics(ctx, t.Partitions, t.Replication, nil, t.Name)
		if err == nil {
			var r kadm.CreateTopicResponse
			if r, err = v.On(t.Name, nil); err == nil && r.Err == nil {
				rf = int(r.ReplicationFactor)
			}
		}
	}
	resp, err := adm.CreateTopic(ctx, t.Partitions, t.Replication, configPtrs(t.configs(rf)), t.Name)
	if err == nil {
		err = resp.Err
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return true, nil
	case err != nil:
		if resp.ErrMessage != "" {
			err = fmt.Errorf("%w: %s", err, resp.ErrMessage)
		}
		return false, fmt.Errorf("create topic %s: %w", t.Name, err)
	}
	return false, nil
}

func configPtrs(c map[string]string) map[string]*string {
	out := make(map[string]*string, len(c))
	for k, v := range c {
		out[k] = &v
	}
	return out
}

// compareTopics lists how the existing topics differ from their settings.
func compareTopics(ctx context.Context, adm *kadm.Client, details kadm.TopicDetails, topics []Topic) ([]Mismatch, error) {
	names := make([]string, len(topics))
	for i, t := range topics {
		names[i] = t.Name
	}
	described, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("describe the configs of topics %v: %w", names, err)
	}
	var out []Mismatch
	for _, t := range topics {
		d := details[t.Name]
		rf := 0
		for _, p := range d.Partitions {
			rf = max(rf, len(p.Replicas))
		}
		if have := len(d.Partitions); have != int(t.Partitions) {
			out = append(out, Mismatch{t.Name, SettingPartitions, strconv.Itoa(int(t.Partitions)), strconv.Itoa(have)})
		}
		if t.Replication > 0 && rf != int(t.Replication) {
			out = append(out, Mismatch{t.Name, SettingReplication, strconv.Itoa(int(t.Replication)), strconv.Itoa(rf)})
		}
		rc, err := described.On(t.Name, nil)
		if err == nil {
			err = rc.Err
		}
		if err != nil {
			return nil, fmt.Errorf("describe the configs of topic %s: %w", t.Name, err)
		}
		have := map[string]string{}
		for _, c := range rc.Configs {
			if c.Value != nil {
				have[c.Key] = *c.Value
			}
		}
		want := t.configs(rf)
		keys := slices.Sorted(maps.Keys(want))
		for _, k := range keys {
			if h, ok := have[k]; !ok || h != want[k] {
				if !ok {
					h = "(not reported)"
				}
				out = append(out, Mismatch{t.Name, k, want[k], h})
			}
		}
	}
	return out, nil
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
