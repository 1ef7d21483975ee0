package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/bench"
)

// TestChaos's two-streams scenario: the api and sinks get a streams file
// declaring orders (and clicks, unused here) beside posts;
// while the bench client loads /v1/posts, ordersLoad sends orders with
// unique orderIds to /v1/orders at the same rate, open-model like the bench
// client (the bench client only knows posts). Afterwards every orderId
// answered 202 must be stored once in the orders collection, by _id, and
// nothing else be there; every post once in posts, and nothing else there.

// ordersRate is the orders' rate: the same as the posts'.
const ordersRate = chaosRate

// withOrders is a scenario's before hook: the scenario runs with the orders
// stream, on a topic and collection of its own (posts, left out of the
// file, stays on the scenario's settings).
func withOrders(r *chaosRig) {
	prefix := r.env["POSTPIPE_MONGODB_DATABASE"] + "_"
	file := streamsFile(r.t, prefix)
	r.env = with(r.env, "POSTPIPE_STREAMS_FILE", file)
	var b [4]byte
	_, _ = rand.Read(b[:])
	r.orders = &ordersLoad{
		topic:      prefix + "orders",
		dlqTopic:   prefix + "orders.dlq",
		collection: prefix + "orders",
		mark:       fmt.Sprintf("chaos-%x", b),
		accepted:   map[string]bool{},
		maybe:      map[string]bool{},
		failures:   map[string]int64{},
	}
}

// ordersLoad is the orders' load and what it counted.
type ordersLoad struct {
	topic, dlqTopic, collection string
	mark                        string // the orderIds' prefix, one per scenario

	mu       sync.Mutex
	sent     int64
	accepted map[string]bool  // orderIds answered 202 naming them
	maybe    map[string]bool  // answered 503: each may still land, once
	failures map[string]int64 // what was not a 202: a status, "transport", "unsent", "bad-answer"
	slowest  time.Duration    // from when a request was due to its answer
}

// drive sends ordersRate orders a second to base for dur: each is due at
// its time whatever the answers before it, with at most chaosMaxVUs in
// flight (one more is counted "unsent", as the bench client does).
func (o *ordersLoad) drive(base string, dur time.Duration) {
	tr := &http.Transport{MaxIdleConns: chaosMaxVUs, MaxIdleConnsPerHost: chaosMaxVUs, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 3 * produceTimeout}
	slots := make(chan struct{}, chaosMaxVUs)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * time.Second / ordersRate)
		if due.Sub(start) >= dur {
			break
		}
		time.Sleep(time.Until(due))
		select {
		case slots <- struct{}{}:
		default:
			o.record("", "unsent", 0)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			o.send(cl, base, i, due)
		})
	}
	wg.Wait()
}

// send posts the i-th order and records the answer.
func (o *ordersLoad) send(cl *http.Client, base string, i int, due time.Time) {
	id := fmt.Sprintf("%s-%06d", o.mark, i)
	body, err := json.Marshal(order(id, "c-"+strconv.Itoa(i%7), i))
	if err != nil {
		panic(err) // a fixed shape: cannot fail
	}
	resp, err := cl.Post(base+"/v1/orders", "application/json", bytes.NewReader(body))
	if err != nil {
		o.record(id, "transport", time.Since(due))
		return
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	latency := time.Since(due)
	var answer struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(data, &answer)
	switch {
	case resp.StatusCode == http.StatusAccepted && answer.ID == id:
		o.record(id, "", latency)
	case resp.StatusCode == http.StatusAccepted:
		o.record(id, "bad-answer", latency)
	default:
		o.record(id, strconv.Itoa(resp.StatusCode), latency)
	}
}

// record counts one request: failure is empty for a 202.
func (o *ordersLoad) record(id, failure string, latency time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if failure == "unsent" {
		o.failures[failure]++
		return
	}
	o.sent++
	o.slowest = max(o.slowest, latency)
	switch failure {
	case "":
		o.accepted[id] = true
	case "503":
		o.maybe[id] = true
		fallthrough
	default:
		o.failures[failure]++
	}
}

// row waits up to three minutes for every accepted order to be stored in
// the orders collection of db, checks the collection, and returns the
// orders' row of the table; the API's memory and the failover are the
// scenario's.
func (o *ordersLoad) row(t *testing.T, db *mongo.Database, name string, maxRSS int64, failover string) chaosRow {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	coll := db.Collection(o.collection)
	ids := make([]string, 0, len(o.accepted))
	for id := range o.accepted {
		ids = append(ids, id)
	}
	ctx := context.Background()
	began := time.Now()
	for {
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err == nil && n == int64(len(ids)) || time.Since(began) > 3*time.Minute {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	lost, duplicated, landed503 := o.check(t, coll)
	row := chaosRow{
		scenario: name, sent: o.sent, accepted: int64(len(o.accepted)), unavailable: o.failures["503"],
		lost: lost, duplicated: duplicated, maxLatency: o.slowest, maxRSS: maxRSS, failover: failover,
	}
	for f, n := range o.failures {
		if f != "503" {
			row.otherErrs += n
		}
	}
	t.Logf("%s: %+v; errors by kind %v; %d answered 503, %d of them stored once all the same; checked the store in %s",
		name, row, o.failures, len(o.maybe), landed503, time.Since(began).Round(time.Millisecond))
	if limit := produceTimeout + 3*time.Second; row.maxLatency > limit {
		t.Errorf("%s: slowest answer %s, over the produce timeout %s + margin", name, row.maxLatency, produceTimeout)
	}
	if row.otherErrs > 0 {
		t.Errorf("%s: %d answers that were neither 202 nor 503: %v", name, row.otherErrs, o.failures)
	}
	return row
}

// check reads the whole orders collection: an accepted orderId with no
// document of that _id is lost; a second document of an orderId, or one of
// an orderId never answered 202 or 503, is duplicated; an order answered
// 503 may be there once.
func (o *ordersLoad) check(t *testing.T, coll *mongo.Collection) (lost, duplicated int64, landed503 int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}, {Key: "orderId", Value: 1}}))
	if err != nil {
		t.Fatalf("read %s: %v", coll.Name(), err)
	}
	var docs []struct {
		ID      string `bson:"_id"`
		OrderID string `bson:"orderId"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatalf("read %s: %v", coll.Name(), err)
	}
	byID := make(map[string]bool, len(docs))
	perOrder := make(map[string]int, len(docs))
	for _, d := range docs {
		byID[d.ID] = true
		perOrder[d.OrderID]++
		if d.ID != d.OrderID {
			t.Errorf("%s: a document with _id %q holds orderId %q", coll.Name(), d.ID, d.OrderID)
		}
	}
	for id := range o.accepted {
		if !byID[id] {
			lost++
		}
	}
	for id, n := range perOrder {
		switch {
		case o.accepted[id]:
			duplicated += int64(n - 1)
		case o.maybe[id]:
			landed503++
			duplicated += int64(n - 1)
		default:
			t.Errorf("%s: %d documents of orderId %q, which was never answered 202 or 503", coll.Name(), n, id)
			duplicated += int64(n)
		}
	}
	return lost, duplicated, landed503
}

// foreignPosts is how many documents the posts collection holds beyond the
// ones the bench client's check accounted for (landed, landed after a 503,
// duplicated): another stream's document written to the wrong collection,
// say. Negative when the collection holds fewer.
func (r *chaosRig) foreignPosts(posts *mongo.Collection, v *bench.Verification) int64 {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total, err := posts.CountDocuments(ctx, bson.D{})
	if err != nil {
		r.t.Fatalf("count the posts: %v", err)
	}
	return total - (v.Landed + v.UnacknowledgedLanded + v.Duplicated)
}

// checkProducedTo checks that topic holds at least accepted records: the
// stream's 202s were produced where the scenario watched.
func (r *chaosRig) checkProducedTo(topic string, accepted int64) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		r.t.Errorf("end offsets of %s: %v", topic, err)
		return
	}
	var records int64
	ends.Each(func(o kadm.ListedOffset) { records += o.Offset })
	if records < accepted {
		r.t.Errorf("%s holds %d records, fewer than the %d accepted: the stream was produced elsewhere", topic, records, accepted)
	}
}

// checkDLQsEmpty checks that nothing was dead-lettered: a sink killed
// mid-batch must redeliver its records, not give up on them. A dead-letter
// topic that does not exist (the sink creates it with its first record)
// holds nothing.
func (r *chaosRig) checkDLQsEmpty(topics ...string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		r.t.Errorf("end offsets of %v: %v", topics, err)
		return
	}
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
		case o.Err != nil:
			r.t.Errorf("end offset of %s partition %d: %v", o.Topic, o.Partition, o.Err)
		case o.Offset > 0:
			r.t.Errorf("%d records on %s partition %d: something was dead-lettered", o.Offset, o.Topic, o.Partition)
		}
	})
}
