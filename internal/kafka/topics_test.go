package kafka_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/testkit"
)

// topicConfigs returns the topic's values of the keys the service sets.
func topicConfigs(t *testing.T, adm *kadm.Client, topic string) map[string]string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatalf("DescribeTopicConfigs: %v", err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("configs of %s: %v", topic, err)
	}
	out := map[string]string{}
	for _, c := range rc.Configs {
		switch c.Key {
		case kafka.ConfigMinInsyncReplicas, kafka.ConfigRetentionMs, kafka.ConfigMaxMessageBytes:
			if c.Value != nil {
				out[c.Key] = *c.Value
			}
		}
	}
	return out
}

func TestEnsureTopicsCreatesWithSettingsAndReportsDifferences(t *testing.T) {
	cluster := testkit.Kafka(t, kfake.SeedTopics(2, "old"))
	cl, err := kgo.NewClient(kafka.ClientOpts(cluster.ListenAddrs(), slog.New(slog.DiscardHandler))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	posts := kafka.PostsTopic("posts", 4, -1, 0, 72*time.Hour)
	dlq := kafka.DLQTopic("posts.dlq", 4, -1, 0, 720*time.Hour)
	old := kafka.PostsTopic("old", 4, -1, 0, 72*time.Hour)
	mismatches, err := kafka.EnsureTopics(ctx, cl, posts, dlq, old)
	if err != nil {
		t.Fatal(err)
	}

	// Created with the settings. One broker: one replica, and
	// min.insync.replicas = max(1, 1-1).
	for _, tt := range []struct {
		topic string
		want  map[string]string
	}{
		{"posts", map[string]string{"min.insync.replicas": "1", "retention.ms": "259200000", "max.message.bytes": "1048576"}},
		{"posts.dlq", map[string]string{"min.insync.replicas": "1", "retention.ms": "2592000000", "max.message.bytes": "1114112"}},
	} {
		got := topicConfigs(t, adm, tt.topic)
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", tt.topic, k, got[k], v)
			}
		}
		details, err := adm.ListTopics(ctx, tt.topic)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(details[tt.topic].Partitions); n != 4 {
			t.Errorf("%s: %d partitions, want 4", tt.topic, n)
		}
	}

	// The topic that existed is reported, setting by setting, not altered.
	want := []kafka.Mismatch{
		{Topic: "old", Key: kafka.SettingPartitions, Want: "4", Have: "2"},
		{Topic: "old", Key: kafka.ConfigMaxMessageBytes, Want: "1048576", Have: topicConfigs(t, adm, "old")[kafka.ConfigMaxMessageBytes]},
		{Topic: "old", Key: kafka.ConfigRetentionMs, Want: "259200000", Have: topicConfigs(t, adm, "old")[kafka.ConfigRetentionMs]},
	}
	if !slices.Equal(mismatches, want) {
		t.Errorf("mismatches = %+v\nwant %+v", mismatches, want)
	}
	if got := topicConfigs(t, adm, "old")[kafka.ConfigRetentionMs]; got == "259200000" {
		t.Errorf("the existing topic was altered: retention.ms = %s", got)
	}

	// Created by us, the topics match on the next start.
	again, err := kafka.EnsureTopics(ctx, cl, posts, dlq)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second start reported %+v, want nothing", again)
	}
}
