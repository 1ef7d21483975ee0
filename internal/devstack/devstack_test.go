package devstack

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var quiet = slog.New(slog.DiscardHandler)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// startKafka starts the broker on dir; stop closes it (also at cleanup).
func startKafka(t *testing.T, dir string) (k *Kafka, stop func()) {
	t.Helper()
	k, err := StartKafka(dir, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatalf("StartKafka: %v", err)
	}
	closed := false
	stop = func() {
		if !closed {
			closed = true
			k.Close()
		}
	}
	t.Cleanup(stop)
	return k, stop
}

func kafkaClient(t *testing.T, k *Kafka, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Addr())}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	return cl
}

func TestKafkaKeepsRecordsAndOffsetsAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka") // created by StartKafka
	const topic, group = "posts", "sink"

	k, stop := startKafka(t, dir)
	cl := kafkaClient(t, k, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := testCtx(t)
	adm := kadm.NewClient(cl)
	if resp, err := adm.CreateTopic(ctx, 2, -1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, resp.Err)
	}
	recs := []*kgo.Record{
		{Topic: topic, Partition: 0, Key: []byte("k1"), Value: []byte("first"),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}},
		{Topic: topic, Partition: 0, Key: []byte("k2"), Value: []byte("second")},
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	// The group has consumed the first record.
	offs := kadm.Offsets{}
	offs.AddOffset(topic, 0, 1, -1)
	if resp, err := adm.CommitOffsets(ctx, group, offs); err != nil || resp.Error() != nil {
		t.Fatalf("CommitOffsets: %v %v", err, resp.Error())
	}
	cl.Close()
	stop()

	k2, _ := startKafka(t, dir)
	cl2 := kafkaClient(t, k2, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().AtStart()},
	}))
	defer cl2.Close()

	var got []*kgo.Record
	for len(got) < len(recs) {
		fs := cl2.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("after restart: read %d records, want %d", len(got), len(recs))
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		got = append(got, fs.Records()...)
	}
	for i, r := range got {
		if string(r.Key) != string(recs[i].Key) || string(r.Value) != string(recs[i].Value) || r.Offset != int64(i) {
			t.Errorf("record %d after restart = %s=%s @%d, want %s=%s @%d", i, r.Key, r.Value, r.Offset, recs[i].Key, recs[i].Value, i)
		}
	}
	if len(got[0].Headers) != 1 || got[0].Headers[0].Key != "h" || string(got[0].Headers[0].Value) != "v" {
		t.Errorf("headers after restart = %v, want h=v", got[0].Headers)
	}

	adm2 := kadm.NewClient(cl2)
	fetched, err := adm2.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("FetchOffsets after restart: %v", err)
	}
	if o, ok := fetched.Lookup(topic, 0); !ok || o.Err != nil || o.At != 1 {
		t.Errorf("committed offset after restart = %+v (found %v), want 1", o, ok)
	}
	ends, err := adm2.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("ListEndOffsets: %v", err)
	}
	if o, ok := ends.Lookup(topic, 1); !ok || o.Err != nil || o.Offset != 0 {
		t.Errorf("partition 1 after restart: %+v (found %v), want an empty partition", o, ok)
	}
}

func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by LockDir
	other := t.TempDir()

	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatalf("first LockDir: %v", err)
	}
	// Another directory is independent.
	unlockOther, err := LockDir(other)
	if err != nil {
		t.Fatalf("LockDir on another dir: %v", err)
	}
	defer unlockOther()

	for range 2 {
		again, err := LockDir(dir)
		if err == nil {
			again()
			t.Fatal("second LockDir on a locked dir succeeded")
		}
		if !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "in use") {
			t.Errorf("second LockDir error = %q, want it to name the dir and say it is in use", err)
		}
	}

	unlock()
	unlock2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after unlock: %v", err)
	}
	unlock2()
}

func startMongo(t *testing.T, dir string) *Mongo {
	t.Helper()
	m, err := StartMongo(dir, "127.0.0.1:0", quiet)
	if err != nil {
		t.Fatalf("StartMongo: %v", err)
	}
	return m
}

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second))
	if err != nil {
		t.Fatalf("mongo.Connect: %v", err)
	}
	return c
}

func TestMongoKeepsDocumentsAcrossRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mongo") // created by StartMongo
	ctx := testCtx(t)
	type doc struct {
		ID   string   `bson:"_id"`
		N    int      `bson:"n"`
		Tags []string `bson:"tags"`
	}
	want := doc{ID: "p1", N: 42, Tags: []string{"a", "b"}}

	m := startMongo(t, dir)
	c := connect(t, m.URI())
	coll := c.Database("db").Collection("posts")
	if _, err := coll.InsertOne(ctx, want); err != nil {
		t.Fatalf("InsertOne: %v", err)
	}
	if _, err := coll.InsertOne(ctx, want); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("second InsertOne of the same _id: err = %v, want a duplicate key error", err)
	}
	if err := c.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	m2 := startMongo(t, dir)
	t.Cleanup(func() {
		if err := m2.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	c2 := connect(t, m2.URI())
	t.Cleanup(func() { _ = c2.Disconnect(context.Background()) })
	coll2 := c2.Database("db").Collection("posts")

	var got doc
	if err := coll2.FindOne(ctx, bson.D{{Key: "_id", Value: "p1"}}).Decode(&got); err != nil {
		t.Fatalf("FindOne after restart: %v", err)
	}
	if got.ID != want.ID || got.N != want.N || strings.Join(got.Tags, ",") != strings.Join(want.Tags, ",") {
		t.Errorf("document after restart = %+v, want %+v", got, want)
	}
	if n, err := coll2.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Errorf("CountDocuments after restart = %d, %v; want 1", n, err)
	}
	err := coll2.FindOne(ctx, bson.D{{Key: "_id", Value: "p2"}}).Err()
	if !errors.Is(err, mongo.ErrNoDocuments) {
		t.Errorf("FindOne of a missing id: err = %v, want mongo.ErrNoDocuments", err)
	}
}
