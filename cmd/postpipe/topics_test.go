package main

import (
	"context"
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
		details, err := adm.ListTopics(ctx, tt.topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range details[tt.topic].Partitions {
			if len(p.Replicas) != 3 {
				t.Errorf("%s/%d: %d replicas, want 3 (the cluster's default)", tt.topic, p.Partition, len(p.Replicas))
			}
		}
		got := describedConfigs(t, adm, tt.topic)
		for k, v := range tt.want {
			// Set on the topic, not inherited from the broker (whose
			// min.insync.replicas is 2 too).
			if c := got[k]; c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("%s: %s = %v (source %v), want %s set on the topic", tt.topic, k, c.Value, c.Source, v)
			}
		}
	}

	// A topic made by hand with other settings.
	drift := env["POSTPIPE_KAFKA_TOPIC"] + ".drift"
	hour := "3600000"
	if _, err := adm.CreateTopic(ctx, 3, 3, map[string]*string{kafka.ConfigRetentionMs: &hour}, drift); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), drift) })
	mismatches, err := kafka.EnsureTopics(ctx, cl, kafka.PostsTopic(drift, 6, 3, 0, def.KafkaRetention))
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(mismatches))
	for i, m := range mismatches {
		keys[i] = m.Key
		t.Logf("reported: %+v", m)
	}
	if want := []string{kafka.SettingPartitions, kafka.ConfigMaxMessageBytes, kafka.ConfigRetentionMs}; !slices.Equal(keys, want) {
		t.Errorf("mismatches reported for %s: %v, want %v", drift, keys, want)
	}
	if got := describedConfigs(t, adm, drift)[kafka.ConfigRetentionMs].Value; got == nil || *got != hour {
		t.Errorf("%s: retention.ms altered to %v", drift, got)
	}
}

func describedConfigs(t *testing.T, adm *kadm.Client, topic string) map[string]kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("configs of %s: %v", topic, err)
	}
	out := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		out[c.Key] = c
	}
	return out
}
