package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
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
			if string(r.Value) != string(src.Value) || h[post.DLQHeaderError] == "" ||
				h[post.DLQHeaderSourceTopic] != topic ||
				h[post.DLQHeaderSourcePartition] != strconv.Itoa(int(src.Partition)) ||
				h[post.DLQHeaderSourceOffset] != strconv.FormatInt(src.Offset, 10) {
				t.Errorf("DLQ record %q: value %q headers %v; source partition %d offset %d", r.Key, r.Value, h, src.Partition, src.Offset)
			}
			t.Logf("DLQ: %s -> %s", r.Key, h[post.DLQHeaderError])
			seen[string(r.Key)] = true
		})
	}
}

// TestDLQToolsReachASecuredBroker is issue 12's first bug: 'postpipe dlq
// list|redrive' built its client without the TLS/SASL settings and could not
// reach a SCRAM broker ("is SASL missing?").
func TestDLQToolsReachASecuredBroker(t *testing.T) {
	const topic, dlqTopic = "posts", "posts.dlq"
	c := testkit.Kafka(t, kfake.SeedTopics(1, topic, dlqTopic), kfake.EnableSASL(), kfake.Superuser(kafka.SASLScramSHA512, "postpipe", saslPassword))
	env := map[string]string{
		"POSTPIPE_KAFKA_BROKERS":        c.ListenAddrs()[0],
		"POSTPIPE_KAFKA_TOPIC":          topic,
		"POSTPIPE_KAFKA_DLQ_TOPIC":      dlqTopic,
		"POSTPIPE_KAFKA_SASL_MECHANISM": kafka.SASLScramSHA512,
		"POSTPIPE_KAFKA_SASL_USERNAME":  "postpipe",
		"POSTPIPE_KAFKA_SASL_PASSWORD":  saslPassword,
		"POSTPIPE_LOG_LEVEL":            "error",
	}
	sec, err := kafka.SecurityOpts(kafka.Security{SASLMechanism: kafka.SASLScramSHA512, SASLUsername: "postpipe", SASLPassword: saslPassword})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(sec, kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: dlqTopic, Key: []byte("k1"), Value: []byte("poison"),
		Headers: []kgo.RecordHeader{{Key: post.DLQHeaderError, Value: []byte("test")}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	for _, action := range []string{"list", "redrive"} {
		if err := run(ctx, []string{"dlq", action}, func(k string) string { return env[k] }); err != nil {
			t.Fatalf("dlq %s: %v", action, err)
		}
	}
	fs := cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		t.Fatal("the redriven record never reached the main topic")
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Key) != "k1" {
		t.Fatalf("main topic holds %d records after the redrive, want k1 alone", len(recs))
	}
}

// TestDLQToolsTakeAStream: --stream reads a declared stream's dead letters
// and puts them back on its topic, not posts'; an unknown stream is a
// usage error naming the streams there are.
func TestDLQToolsTakeAStream(t *testing.T) {
	c := testkit.Kafka(t, kfake.SeedTopics(1, "posts", "posts.dlq", "t_orders", "t_orders.dlq"))
	env := map[string]string{
		"POSTPIPE_KAFKA_BROKERS": c.ListenAddrs()[0],
		"POSTPIPE_STREAMS_FILE":  streamsFile(t, "t_"),
		"POSTPIPE_LOG_LEVEL":     "error",
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t_orders", "posts"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t_orders.dlq", Key: []byte("o-1"), Value: []byte("poison"),
		Headers: []kgo.RecordHeader{{Key: post.DLQHeaderError, Value: []byte("test")}}}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	for _, action := range []string{"list", "redrive"} {
		if err := run(ctx, []string{"dlq", action, "--stream", "orders"}, getenv); err != nil {
			t.Fatalf("dlq %s --stream orders: %v", action, err)
		}
	}
	fs := cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		t.Fatal("the redriven record never reached the orders topic")
	}
	if recs := fs.Records(); len(recs) != 1 || recs[0].Topic != "t_orders" || string(recs[0].Key) != "o-1" {
		t.Fatalf("after the redrive: %d records (first on %q), want o-1 alone on t_orders", len(recs), recs[0].Topic)
	}
	err = run(ctx, []string{"dlq", "list", "--stream", "invoices"}, getenv)
	if code := exitCode(io.Discard, err); code != 2 || !strings.Contains(err.Error(), "posts, orders, clicks") {
		t.Fatalf("--stream invoices: exit %d, %v; want 2 naming the streams", code, err)
	}
}
