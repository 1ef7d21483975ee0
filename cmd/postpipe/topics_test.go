package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
)

// checkClusterTopics runs on the 3-node cluster (TestClusterLosesABroker,
// after its api created the topics with the broker's default replication
// factor, 3): each topic carries its settings as topic configs, and a topic
// that exists with other settings is reported, not altered.
func checkClusterTopics(t *testing.T, env map[string]string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(env["POSTPIPE_KAFKA_BROKERS"], ",")...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	def := config.Default()
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

	// Each broker learns of a topic from the controller on its own time: a
	// broker asked just after a topic was created may not know it yet
	// (UNKNOWN_TOPIC_OR_PARTITION, no partitions). So each check is retried
	// until it holds or the wait ends, and then its last problems are the
	// test's failure.
	settled := func(what string, check func() []string) {
		t.Helper()
		var problems []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			if problems = check(); len(problems) == 0 {
				return
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, p := range problems {
			t.Errorf("%s: %s", what, p)
		}
	}

	for _, tt := range []struct {
		topic string
		want  map[string]string
	}{
		{env["POSTPIPE_KAFKA_TOPIC"], map[string]string{
			kafka.ConfigMinInsyncReplicas: "2", kafka.ConfigRetentionMs: ms(def.KafkaRetention),
			kafka.ConfigMaxMessageBytes: strconv.Itoa(kafka.MaxRecordBytes),
		}},
		{env["POSTPIPE_KAFKA_DLQ_TOPIC"], map[string]string{
			kafka.ConfigMinInsyncReplicas: "2", kafka.ConfigRetentionMs: ms(def.KafkaDLQRetention),
		}},
	} {
		settled("topic "+tt.topic, func() (problems []string) {
			details, err := adm.ListTopics(ctx, tt.topic)
			if err != nil {
				return []string{err.Error()}
			}
			d := details[tt.topic]
			if d.Err != nil || len(d.Partitions) == 0 {
				return []string{fmt.Sprintf("not listed (%v)", d.Err)}
			}
			for _, p := range d.Partitions {
				if len(p.Replicas) != 3 {
					problems = append(problems, fmt.Sprintf("partition %d: %d replicas, want 3 (the cluster's default)", p.Partition, len(p.Replicas)))
				}
			}
			got, err := describedConfigs(ctx, adm, tt.topic)
			if err != nil {
				return append(problems, err.Error())
			}
			for _, k := range slices.Sorted(maps.Keys(tt.want)) {
				// Set on the topic, not inherited from the broker (whose
				// min.insync.replicas is 2 too).
				v := tt.want[k]
				if c := got[k]; c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					problems = append(problems, fmt.Sprintf("%s = %v (source %v), want %s set on the topic", k, c.Value, c.Source, v))
				}
			}
			return problems
		})
	}

	// A topic made by hand with other settings.
	drift := env["POSTPIPE_KAFKA_TOPIC"] + ".drift"
	hour := "3600000"
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{kafka.ConfigRetentionMs: &hour}, drift); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), drift) })
	want := []string{kafka.SettingPartitions, kafka.ConfigMaxMessageBytes, kafka.ConfigRetentionMs}
	settled("drifted topic "+drift, func() []string {
		mismatches, err := kafka.EnsureTopics(ctx, cl, kafka.PostsTopic(drift, 6, 3, 0, def.KafkaRetention))
		if err != nil {
			return []string{err.Error()}
		}
		keys := make([]string, len(mismatches))
		for i, m := range mismatches {
			keys[i] = m.Key
		}
		if !slices.Equal(keys, want) {
			return []string{fmt.Sprintf("mismatches reported: %+v, want the keys %v", mismatches, want)}
		}
		for _, m := range mismatches {
			t.Logf("reported: %+v", m)
		}
		return nil
	})
	// The broker asked may not know the topic yet either (CI once:
	// UNKNOWN_TOPIC_OR_PARTITION here, after EnsureTopics had settled).
	settled("drifted topic's retention "+drift, func() []string {
		got, err := describedConfigs(ctx, adm, drift)
		if err != nil {
			return []string{err.Error()}
		}
		if v := got[kafka.ConfigRetentionMs].Value; v == nil || *v != hour {
			return []string{fmt.Sprintf("retention.ms altered to %v", v)}
		}
		return nil
	})
}

func describedConfigs(ctx context.Context, adm *kadm.Client, topic string) (map[string]kadm.Config, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("configs of %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		return nil, fmt.Errorf("configs of %s: %w", topic, err)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out, nil
}
