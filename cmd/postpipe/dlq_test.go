package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
)

func TestPoisonRecordsGoToTheDLQ(t *testing.T) {
	env := backendEnv(t)
	topic, dlqTopic := env["POSTPIPE_KAFKA_TOPIC"], env["POSTPIPE_KAFKA_DLQ_TOPIC"]
	apiAddr := freeAddr(t)
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr)) // creates the topics
	start(t, "sink", env)
	waitReady(t, "http://"+apiAddr)

	cl, err := kgo.NewClient(kgo.SeedBrokers(env["POSTPIPE_KAFKA_BROKERS"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	good := func(i int) *kgo.Record {
		p := post.New(post.NewID(time.Now()), post.Input{Author: "e2e", Title: fmt.Sprintf("after-poison-%d", i),
			Content: fmt.Sprintf("content of after-poison-%d", i), Tags: []string{"e2e", "x"}}, time.Now())
		v, err := post.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return &kgo.Record{Topic: topic, Key: []byte(p.ID), Value: v, Partition: 0}
	}
	poison := []*kgo.Record{
		{Topic: topic, Key: []byte("k1"), Value: []byte("this is not JSON")},
		{Topic: topic, Key: []byte("k2"), Value: []byte(`{"id":"nope","author":"","title":"","content":""}`)},
	}
	// Poison first, then good records on the same partitions.
	var recs []*kgo.Record
	recs = append(recs, poison...)
	var acc accepted
	for i := 0; i < 20; i++ {
		r := good(i)
		recs = append(recs, r)
		acc.add(t, fmt.Sprintf("after-poison-%d", i), string(r.Key))
	}
	for _, r := range recs {
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	origin := map[string]*kgo.Record{}
	for _, r := range poison {
		origin[string(r.Key)] = r
	}

	checkStoredOnce(t, connectMongo(t, env), &acc, nil, time.Minute)

	dlq, err := kgo.NewClient(kgo.SeedBrokers(env["POSTPIPE_KAFKA_BROKERS"]), kgo.ConsumeTopics(dlqTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dlq.Close)
	seen := map[string]bool{}
	for len(seen) < len(poison) {
		fs := dlq.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("only %d of %d poison records reached the DLQ", len(seen), len(poison))
		}
		fs.EachRecord(func(r *kgo.Record) {
			src, ok := origin[string(r.Key)]
			if !ok {
				t.Errorf("unexpected record on the DLQ: %q", r.Key)
				return
			}
			h := map[string]string{}
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			if string(r.Value) != string(src.Value) || h[sink.HeaderError] == "" ||
				h[sink.HeaderSourceTopic] != topic ||
				h[sink.HeaderSourcePartition] != strconv.Itoa(int(src.Partition)) ||
				h[sink.HeaderSourceOffset] != strconv.FormatInt(src.Offset, 10) {
				t.Errorf("DLQ record %q: value %q headers %v; source partition %d offset %d", r.Key, r.Value, h, src.Partition, src.Offset)
			}
			t.Logf("DLQ: %s -> %s", r.Key, h[sink.HeaderError])
			seen[string(r.Key)] = true
		})
	}
}
