package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/testkit"
)

// streamsFile writes a streams file declaring the example's orders and
// clicks (examples/streams.yaml) on topics and collections prefixed with
// prefix, so runs against a shared real broker never meet, and returns its
// path.
func streamsFile(t *testing.T, prefix string) string {
	t.Helper()
	orders, err := filepath.Abs("../../examples/schemas/orders.json")
	if err != nil {
		t.Fatal(err)
	}
	file := fmt.Sprintf(`streams:
  - name: orders
    schema: %q
    id: /orderId
    list: [customer, status]
    topic: %[2]sorders
    collection: %[2]sorders
  - name: clicks
    topic: %[2]sclicks
    collection: %[2]sclicks
    schema:
      type: object
      required: [page, at]
      additionalProperties: false
      properties:
        page: {type: string, maxLength: 2048}
        at: {type: string, format: date-time}
        session: {type: string, maxLength: 64}
`, orders, prefix)
	path := filepath.Join(t.TempDir(), "streams.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// order is an order of the example schema: nested items, integer
// quantities, decimal amounts, an enum and a date-time.
func order(id, customer string, i int) map[string]any {
	return map[string]any{
		"orderId":  id,
		"customer": customer,
		"status":   []string{"placed", "paid", "shipped"}[i%3],
		"placedAt": "2026-12-04T10:00:00.123456+01:00",
		"note":     fmt.Sprintf("order %d: \"quoted\", <tag> & ünïcödé \u2028", i),
		"items": []any{
			map[string]any{"sku": "sku-1", "name": "widget", "quantity": 3, "amount": json.Number("19.99")},
			map[string]any{"sku": "sku-2", "quantity": 1000000, "amount": json.Number("0.1")},
		},
		"total": json.Number("1000059.97"),
	}
}

// streamGet GETs path and decodes the JSON answer with numbers kept as
// written.
func streamGet(t *testing.T, base, path string, out any) int {
	t.Helper()
	resp, err := client.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		d := json.NewDecoder(bytes.NewReader(data))
		d.UseNumber()
		if err := d.Decode(out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, data)
		}
	}
	return resp.StatusCode
}

// streamIDs collects the ids a stream's 202s promised.
type streamIDs struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *streamIDs) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[string]bool{}
	}
	s.ids[id] = true
}

func (s *streamIDs) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	return out
}

// checkStreamStoredOnce waits until every id is stored in coll and checks
// that nothing else is: 0 lost, 0 duplicated (an _id is unique, so a
// second copy would be a second document with another id).
func checkStreamStoredOnce(t *testing.T, coll *mongo.Collection, ids []string, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	testkit.Eventually(t, within, fmt.Sprintf("%d %s stored", len(ids), coll.Name()), func() bool {
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		return err == nil && n == int64(len(ids))
	})
	total, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(len(ids)) {
		t.Fatalf("%s: %d accepted, %d stored: %d never accepted", coll.Name(), len(ids), total, total-int64(len(ids)))
	}
}

// TestStreamsEndToEnd runs posts, orders and clicks through one API and a
// sink that is stopped, restarted and joined by a second member while the
// three interleave: every document answered 202 is stored once in its own
// collection, reads back equal to what was sent, and lists by its fields.
func TestStreamsEndToEnd(t *testing.T) {
	env := backendEnv(t)
	prefix := cmp.Or(env["POSTPIPE_MONGODB_DATABASE"], "e2e") + "_"
	env = with(env, "POSTPIPE_STREAMS_FILE", streamsFile(t, prefix))
	apiAddr := freeAddr(t)
	base := "http://" + apiAddr
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr))
	sink1 := start(t, "sink", env)
	waitReady(t, base)

	var (
		posts          accepted
		orders, clicks streamIDs
		wg             sync.WaitGroup
		stop           = make(chan struct{})
	)
	sent := map[string]map[string]any{} // orderId -> order, for the read-back
	var sentMu sync.Mutex
	wg.Go(func() {
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			postMany(t, base, fmt.Sprintf("s%03d", round), 10, 0, &posts)
			for i := range 10 {
				o := order(fmt.Sprintf("o-%03d-%02d", round, i), fmt.Sprintf("c-%d", i%3), i)
				var res struct{ ID, Status string }
				if code := postJSON(t, base+"/v1/orders", o, nil, &res); code != http.StatusAccepted || res.ID != o["orderId"] {
					t.Errorf("POST /v1/orders: %d %+v", code, res)
					continue
				}
				sentMu.Lock()
				sent[res.ID] = o
				sentMu.Unlock()
				orders.add(res.ID)
			}
			batch := make([]map[string]any, 20)
			for i := range batch {
				batch[i] = map[string]any{"page": fmt.Sprintf("/p/%d/%d", round, i), "at": "2026-12-04T10:00:00Z"}
			}
			var items []struct {
				ID     string
				Status int
			}
			if code := postJSON(t, base+"/v1/clicks:batch", batch, nil, &items); code != http.StatusMultiStatus || len(items) != len(batch) {
				t.Errorf("POST /v1/clicks:batch: %d, %d items", code, len(items))
			}
			for _, it := range items {
				if it.Status == http.StatusAccepted {
					clicks.add(it.ID)
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	time.Sleep(time.Second)
	if err := sink1.stop(); err != nil {
		t.Fatalf("stop sink 1: %v", err)
	}
	time.Sleep(time.Second)
	start(t, "sink", env)
	time.Sleep(2 * time.Second)
	start(t, "sink", env)
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	if len(orders.list()) < 50 || len(clicks.list()) < 100 {
		t.Fatalf("only %d orders and %d clicks accepted", len(orders.list()), len(clicks.list()))
	}
	t.Logf("%d posts, %d orders, %d clicks accepted while the sink stopped, restarted and rebalanced", posts.len(), len(orders.list()), len(clicks.list()))

	cl, err := mongo.Connect(options.Client().ApplyURI(env["POSTPIPE_MONGODB_URI"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	db := cl.Database(cmp.Or(env["POSTPIPE_MONGODB_DATABASE"], "postpipe"))
	checkStreamStoredOnce(t, db.Collection(prefix+"orders"), orders.list(), 4*time.Minute)
	checkStreamStoredOnce(t, db.Collection(prefix+"clicks"), clicks.list(), 4*time.Minute)
	checkStoredOnce(t, connectMongo(t, env), &posts, nil, 4*time.Minute)

	// An order reads back as sent, plus id, createdAt and ingestedAt.
	for id, o := range sent {
		var got map[string]any
		if code := streamGet(t, base, "/v1/orders/"+id, &got); code != http.StatusOK {
			t.Fatalf("GET /v1/orders/%s: %d", id, code)
		}
		if got["id"] != id || got["createdAt"] == nil || got["ingestedAt"] == nil {
			t.Errorf("order %s: want its orderId as id, createdAt and ingestedAt: %v", id, got)
		}
		delete(got, "id")
		delete(got, "createdAt")
		delete(got, "ingestedAt")
		want := roundTrip(t, o)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("order %s read back\n got %v\nwant %v", id, got, want)
		}
		break // one is enough here; the store's tests try every type
	}

	// Listing by customer gives that customer's orders only, newest first,
	// across pages.
	seen := map[string]bool{}
	cursor := ""
	for {
		var page struct {
			Orders     []map[string]any `json:"orders"`
			NextCursor string           `json:"nextCursor"`
		}
		q := url.Values{"customer": {"c-1"}, "limit": {"7"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if code := streamGet(t, base, "/v1/orders?"+q.Encode(), &page); code != http.StatusOK {
			t.Fatalf("list orders: %d", code)
		}
		for _, o := range page.Orders {
			if o["customer"] != "c-1" || seen[o["orderId"].(string)] {
				t.Fatalf("listing by customer c-1 gave %v (seen before: %v)", o["orderId"], seen[o["orderId"].(string)])
			}
			seen[o["orderId"].(string)] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	want := 0
	for _, o := range sent {
		if o["customer"] == "c-1" {
			want++
		}
	}
	if len(seen) != want {
		t.Errorf("listing customer c-1 gave %d orders, want %d", len(seen), want)
	}

	// The same orderId: with the same order a retry (202, same id), with
	// another a conflict.
	o := order("o-repeat", "c-9", 0)
	var res struct{ ID string }
	for range 2 {
		if code := postJSON(t, base+"/v1/orders", o, nil, &res); code != http.StatusAccepted || res.ID != "o-repeat" {
			t.Fatalf("POST the same order: %d %+v", code, res)
		}
	}
	o["status"] = "cancelled"
	if code := postJSON(t, base+"/v1/orders", o, nil, nil); code != http.StatusConflict {
		t.Fatalf("POST another order under the same orderId: %d, want 409", code)
	}

	// Unknown streams and invalid orders are refused, naming why.
	var problem struct{ Detail string }
	if code := postJSON(t, base+"/v1/invoices", map[string]any{}, nil, &problem); code != http.StatusNotFound || !strings.Contains(problem.Detail, "orders") {
		t.Fatalf("POST /v1/invoices: %d %q, want 404 naming the streams", code, problem.Detail)
	}
	bad := order("o-bad", "c-1", 0)
	bad["items"] = []any{map[string]any{"sku": "x", "quantity": 1.5, "amount": 1}}
	var invalid struct {
		Errors []struct{ Field, Message string }
	}
	if code := postJSON(t, base+"/v1/orders", bad, nil, &invalid); code != http.StatusUnprocessableEntity || len(invalid.Errors) == 0 || !strings.HasPrefix(invalid.Errors[0].Field, "/items/0/quantity") {
		t.Fatalf("POST an order with a fractional quantity: %d %+v, want 422 naming /items/0/quantity", code, invalid)
	}

	// A record no API wrote goes to the stream's own dead-letter topic.
	produceRaw(t, env, &kgo.Record{Topic: prefix + "orders", Key: []byte("poison"), Value: []byte(`{"id":"poison"}`)})
	dlq := consumeOne(t, env, prefix+"orders.dlq")
	if string(dlq.Key) != "poison" {
		t.Fatalf("orders' dead letter: key %q", dlq.Key)
	}
}

// roundTrip is v as JSON decoded with numbers kept as written: what a
// client sending v reads back.
func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// consumeOne reads the first record of topic.
func consumeOne(t *testing.T, env map[string]string, topic string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env["POSTPIPE_KAFKA_BROKERS"]), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record on %s within 2 minutes", topic)
		}
		if recs := fetches.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}
