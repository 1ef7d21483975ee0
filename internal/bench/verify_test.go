package bench

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/testkit"
)

const testDB, testColl = "bench_test", "posts"

// storeForTest starts an embedded FerretDB and returns its URI and a
// collection to put documents in. Clients are closed before the server
// (cleanups run last in, first out).
func storeForTest(t *testing.T) (string, *mongo.Collection) {
	t.Helper()
	m := testkit.Store(t)
	client, err := mongo.Connect(options.Client().ApplyURI(m.URI()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return m.URI(), client.Database(testDB).Collection(testColl)
}

func openVerifierForTest(t *testing.T, uri string, drain time.Duration, progress io.Writer) *verifier {
	t.Helper()
	v, err := openVerifier(t.Context(), uri, testDB, testColl, drain, progress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return v
}

// storedPost is a stored post as the sink writes it, ingested lag after creation.
type storedPost struct {
	ID         string    `bson:"_id"`
	Author     string    `bson:"author"`
	Title      string    `bson:"title"`
	Content    string    `bson:"content"`
	CreatedAt  time.Time `bson:"createdAt"`
	IngestedAt time.Time `bson:"ingestedAt"`
}

var created = time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)

func stored(id, author, title string, lag time.Duration) storedPost {
	return storedPost{ID: id, Author: author, Title: title, Content: "c", CreatedAt: created, IngestedAt: created.Add(lag)}
}

func insert(t *testing.T, coll *mongo.Collection, docs ...storedPost) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatalf("insert: %v", err)
	}
}

// onFirstWrite runs fn when the verifier first reports that it waits.
type onFirstWrite struct {
	once sync.Once
	fn   func()
}

func (w *onFirstWrite) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "waiting for the sink") {
		w.once.Do(w.fn)
	}
	return len(p), nil
}

func TestVerifyAgainstTheStore(t *testing.T) {
	uri, coll := storeForTest(t)
	ms := time.Millisecond
	const author = "bench-R1-kafka"

	// Five accepted posts: three landed, one landed under another author
	// (found by id), one lost. Two answered 503: one landed anyway under
	// the id the 503 named, one did not. Beside them: a second copy of an
	// accepted post and one of a 503'd post, a post never answered with an
	// id, and another run's post.
	promised := promises{
		accepted: []sentPost{{"a1", "m1"}, {"a2", "m2"}, {"a3", "m3"}, {"a4", "m4"}, {"a5", "m5"}},
		maybe:    []sentPost{{"u1", "mu1"}, {"u2", "mu2"}},
	}
	insert(t, coll,
		stored("a1", author, "m1", 10*ms),
		stored("a2", author, "m2", 20*ms),
		stored("a3", author, "m3", 30*ms),
		stored("a4", "someone-else", "m4", 40*ms),
		stored("u1", author, "mu1", 5*ms),          // answered 503, landed anyway: allowed once
		stored("x1", author, "m1", 5*ms),           // a copy of a1
		stored("x3", author, "mu2", 5*ms),          // a copy of the 503'd u2 under another id
		stored("x2", author, "m9", 5*ms),           // never accepted
		stored("o1", "bench-R0-kafka", "m1", 5*ms), // another run
	)
	v := openVerifierForTest(t, uri, time.Second, io.Discard) // a1…a4 are all there will be
	got, err := v.check(t.Context(), "kafka", "author", author, promised, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := Verification{Accepted: 5, Landed: 4, Lost: 1, Duplicated: 3, DuplicateCopies: 2, StoredUnaccepted: 1,
		Unacknowledged: 2, UnacknowledgedLanded: 1, LagP50: 20, LagP99: 40, LagMax: 40, Drained: false, Where: "store"}
	assertVerification(t, got, want)

	// A post that lands while the check waits on the count is found, and
	// the check stops waiting once everything is there.
	const author2 = "bench-R1-batch"
	late := &onFirstWrite{fn: func() { insert(t, coll, stored("b2", author2, "n2", 300*ms)) }}
	v2 := openVerifierForTest(t, uri, 2*time.Minute, late)
	before, err := v2.count(t.Context())
	if err != nil || before != 9 {
		t.Fatalf("count = %d, %v; want the 9 documents stored so far", before, err)
	}
	insert(t, coll, stored("b1", author2, "n1", 100*ms))
	got2, err := v2.check(t.Context(), "batch", "author", author2, promises{accepted: []sentPost{{"b1", "n1"}, {"b2", "n2"}}}, before)
	if err != nil {
		t.Fatal(err)
	}
	assertVerification(t, got2, Verification{Accepted: 2, Landed: 2, LagP50: 100, LagP99: 300, LagMax: 300, Drained: true, Where: "store"})

	// Posts the server says it never delivered (fire-and-forget refusals)
	// are not waited for: the check ends at once, the post still lost.
	const author3 = "bench-R1-fire-and-forget"
	insert(t, coll, stored("f1", author3, "f1", 10*ms))
	start := time.Now()
	got3, err := v2.check(t.Context(), "fire-and-forget", "author", author3, promises{accepted: []sentPost{{"f1", "f1"}, {"f2", "f2"}}, refused: 1}, -1)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the check waited %s for a post the server refused (drain timeout 2m)", d)
	}
	assertVerification(t, got3, Verification{Accepted: 2, Landed: 1, Lost: 1, LagP50: 10, LagP99: 10, LagMax: 10, Where: "store"})

	// Orders land in their stream's collection, found by customer (the
	// stream's list field) and, where the customer differs, by id; an
	// order of the customer never accepted is counted.
	const customer = "bench-R1-orders"
	order := func(id, customer string, lag time.Duration) bson.D {
		return bson.D{{Key: "_id", Value: id}, {Key: "orderId", Value: id}, {Key: "customer", Value: customer},
			{Key: "createdAt", Value: created}, {Key: "ingestedAt", Value: created.Add(lag)}}
	}
	if _, err := coll.Database().Collection("orders").InsertMany(t.Context(), []bson.D{
		order("o1", customer, 10*ms), order("o2", customer, 20*ms), order("o3", "someone-else", 30*ms), order("o9", customer, 5*ms),
	}); err != nil {
		t.Fatal(err)
	}
	vo := v.in("orders") // o4 is all there will be: a short drain
	if n, err := vo.count(t.Context()); err != nil || n != 4 {
		t.Fatalf("count of orders = %d, %v; want 4", n, err)
	}
	got4, err := vo.check(t.Context(), "orders", "customer", customer,
		promises{accepted: []sentPost{{"o1", "o1"}, {"o2", "o2"}, {"o3", "o3"}, {"o4", "o4"}}}, -1)
	if err != nil {
		t.Fatal(err)
	}
	assertVerification(t, got4, Verification{Accepted: 4, Landed: 3, Lost: 1, Duplicated: 1, StoredUnaccepted: 1,
		LagP50: 20, LagP99: 30, LagMax: 30, Where: "store"})

	all := combine([]*Verification{got, got2})
	assertVerification(t, all, Verification{Accepted: 7, Landed: 6, Lost: 1, Duplicated: 3, DuplicateCopies: 2, StoredUnaccepted: 1,
		Unacknowledged: 2, UnacknowledgedLanded: 1, LagP50: 30, LagP99: 300, LagMax: 300, Drained: false, Where: "store"})
}

func assertVerification(t *testing.T, got *Verification, want Verification) {
	t.Helper()
	g := *got
	g.lags, g.CheckS = nil, 0
	if g != want {
		t.Errorf("verification = %+v\n                want %+v", g, want)
	}
}

// TestWaitStored: the wait between turns ends once the count is reached,
// gives up when it stands still, and only an ended context is an error.
func TestWaitStored(t *testing.T) {
	uri, coll := storeForTest(t)
	insert(t, coll, stored("w1", "bench-w", "t1", 0))
	v := openVerifierForTest(t, uri, time.Minute, io.Discard)
	v.poll = 20 * time.Millisecond
	deadline := time.Now().Add(time.Minute)

	var said []int64
	if err := v.waitStored(t.Context(), 1, deadline, func(n int64) { said = append(said, n) }); err != nil || len(said) != 0 {
		t.Fatalf("target already held: err %v, waited through counts %v", err, said)
	}

	var once sync.Once
	start := time.Now()
	err := v.waitStored(t.Context(), 2, deadline, func(n int64) {
		said = append(said, n)
		once.Do(func() { insert(t, coll, stored("w2", "bench-w", "t2", 0)) })
	})
	if err != nil || len(said) == 0 || said[0] != 1 || time.Since(start) >= stall {
		t.Fatalf("a document landing while it waits: err %v, counts %v, after %s", err, said, time.Since(start))
	}
	if n, _ := v.count(t.Context()); n != 2 {
		t.Fatalf("count %d after the wait, want 2", n)
	}

	start = time.Now()
	if err := v.waitStored(t.Context(), 5, deadline, func(int64) {}); err != nil {
		t.Fatalf("a count standing still: %v, want no error (the check finds what is missing)", err)
	}
	if d := time.Since(start); d < stall || d > 30*time.Second {
		t.Errorf("a count standing still was waited on for %s, want about %s", d, stall)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := v.waitStored(ctx, 5, deadline, func(int64) {}); err == nil {
		t.Error("an ended context: no error")
	}
}
