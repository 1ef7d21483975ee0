package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
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

// These tests run the real commands in-process, the way a user runs the
// binary: 'run' on the embedded default, or 'stack' plus separate 'api' and
// 'sink' members that are stopped and started while posts stream in.

// proc is one postpipe command running in a goroutine.
type proc struct {
	name   string
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs 'postpipe <cmd>' with env until the test ends or stop is called.
func start(t *testing.T, cmd string, env map[string]string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{name: cmd, cancel: cancel, done: make(chan error, 1)}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "POSTPIPE_LOG_LEVEL" {
			return "warn"
		}
		return ""
	}
	go func() { p.done <- run(ctx, []string{cmd}, getenv) }()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("postpipe %s: %v", cmd, err)
		}
	})
	return p
}

// stop is SIGTERM: it cancels the command and waits for it to return.
func (p *proc) stop() error {
	p.once.Do(func() {
		p.cancel()
		select {
		case p.err = <-p.done:
		case <-time.After(30 * time.Second):
			p.err = errors.New("did not stop within 30s")
		}
	})
	return p.err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var client = &http.Client{Timeout: 30 * time.Second}

// produceRaw writes records straight to the broker of env, as a client
// other than postpipe would (poison records, for instance).
func produceRaw(t *testing.T, env map[string]string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(env["POSTPIPE_KAFKA_BROKERS"]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	testkit.Eventually(t, 90*time.Second, base+"/readyz", func() bool {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// postJSON sends body and decodes the JSON answer into out (if not nil).
func postJSON(t *testing.T, url string, body any, header map[string]string, out any) int {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: %d %s: %v", url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

type stored struct {
	ID         string    `json:"id" bson:"_id"`
	Author     string    `json:"author" bson:"author"`
	Title      string    `json:"title" bson:"title"`
	Content    string    `json:"content" bson:"content"`
	Tags       []string  `json:"tags" bson:"tags"`
	CreatedAt  time.Time `json:"createdAt" bson:"createdAt"`
	IngestedAt time.Time `json:"ingestedAt" bson:"ingestedAt"`
}

func input(marker string) map[string]any {
	return map[string]any{"author": "e2e", "title": marker, "content": "content of " + marker, "tags": []string{"e2e", marker}}
}

// accepted collects the ids the API promised, by the marker of their post.
type accepted struct {
	mu  sync.Mutex
	ids map[string]string // title marker -> id
}

func (a *accepted) add(t *testing.T, marker, id string) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]string{}
	}
	if prev, ok := a.ids[marker]; ok && prev != id {
		t.Errorf("marker %s accepted twice with ids %s and %s", marker, prev, id)
	}
	a.ids[marker] = id
}

func (a *accepted) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.ids)
}

// postMany sends n single posts (concurrency workers) and b batches of 100.
func postMany(t *testing.T, base, prefix string, n, batches int, acc *accepted) {
	t.Helper()
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := range work {
				marker := fmt.Sprintf("%s-%05d", prefix, i)
				var res struct{ ID, Status string }
				if code := postJSON(t, base+"/v1/posts", input(marker), nil, &res); code != http.StatusAccepted || res.Status != "accepted" {
					t.Errorf("POST /v1/posts: %d %+v", code, res)
					continue
				}
				acc.add(t, marker, res.ID)
			}
		})
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	for b := 0; b < batches; b++ {
		items := make([]map[string]any, 100)
		for i := range items {
			items[i] = input(fmt.Sprintf("%s-b%02d-%03d", prefix, b, i))
		}
		var res []struct {
			ID     string
			Status int
		}
		if code := postJSON(t, base+"/v1/posts:batch", items, nil, &res); code != http.StatusMultiStatus || len(res) != len(items) {
			t.Fatalf("POST /v1/posts:batch: %d, %d results", code, len(res))
		}
		for i, r := range res {
			if r.Status != http.StatusAccepted {
				t.Errorf("batch item %d: status %d", i, r.Status)
				continue
			}
			acc.add(t, items[i]["title"].(string), r.ID)
		}
	}
}

// checkStoredOnce asserts that every accepted post is in the collection
// exactly once, under its accepted id, with its fields, and nothing else —
// except posts answered 503 (unacked: marker -> id), which the broker may
// have written all the same: each of those may be stored at most once.
func checkStoredOnce(t *testing.T, coll *mongo.Collection, acc *accepted, unacked map[string]string, within time.Duration) {
	t.Helper()
	want := int64(acc.len())
	ctx := context.Background()
	acc.mu.Lock()
	ids := make([]string, 0, len(acc.ids))
	for _, id := range acc.ids {
		ids = append(ids, id)
	}
	acc.mu.Unlock()
	testkit.Eventually(t, within, fmt.Sprintf("%d accepted posts stored", want), func() bool {
		var n int64
		for chunk := range slices.Chunk(ids, 1000) {
			c, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}})
			if err != nil {
				return false
			}
			n += c
		}
		return n == want
	})
	cur, err := coll.Find(ctx, bson.D{{Key: "author", Value: "e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []stored
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	byMarker := map[string]int{}
	for _, d := range docs {
		byMarker[d.Title]++
		acc.mu.Lock()
		id, ok := acc.ids[d.Title]
		acc.mu.Unlock()
		if !ok {
			id, ok = unacked[d.Title]
			switch {
			case !ok:
				t.Errorf("stored post %s (%s) was never sent", d.ID, d.Title)
			case id != d.ID:
				t.Errorf("unacknowledged post %s stored with id %s, answered 503 for %s", d.Title, d.ID, id)
			}
			continue
		}
		switch {
		case id != d.ID:
			t.Errorf("post %s stored with id %s, accepted as %s", d.Title, d.ID, id)
		case d.Content != "content of "+d.Title || len(d.Tags) != 2 || d.CreatedAt.IsZero() || d.IngestedAt.Before(d.CreatedAt):
			t.Errorf("post %s stored with wrong fields: %+v", d.Title, d)
		}
	}
	lost, dup, landed503 := 0, 0, 0
	for marker := range unacked {
		switch byMarker[marker] {
		case 0:
		case 1:
			landed503++
		default:
			dup++
		}
	}
	acc.mu.Lock()
	for marker := range acc.ids {
		switch byMarker[marker] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	acc.mu.Unlock()
	if lost != 0 || dup != 0 || int64(len(docs)) != want+int64(landed503) {
		t.Fatalf("accepted %d, stored %d documents: %d lost, %d duplicated, %d answered 503 but stored", want, len(docs), lost, dup, landed503)
	}
	if landed503 > 0 {
		t.Logf("%d of %d posts answered 503 were stored all the same (once each): the broker wrote them after the produce timeout", landed503, len(unacked))
	}
}

func connectMongo(t *testing.T, env map[string]string) *mongo.Collection {
	t.Helper()
	cl, err := mongo.Connect(options.Client().ApplyURI(env["POSTPIPE_MONGODB_URI"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Disconnect(context.Background()) })
	db := cmp.Or(env["POSTPIPE_MONGODB_DATABASE"], "postpipe")
	if strings.HasPrefix(db, "pptest_") { // a database of the integration suite's own
		t.Cleanup(func() { _ = cl.Database(db).Drop(context.Background()) })
	}
	return cl.Database(db).Collection("posts")
}

// backendEnv returns the environment that points api and sink processes at
// a broker and a store: the real ones named by POSTPIPE_TEST_KAFKA_BROKERS and
// POSTPIPE_TEST_MONGODB_URI when set (make test-kafka sets them), with a
// topic, group and database of the test's own; otherwise a 'postpipe stack'
// started for the test.
func backendEnv(t *testing.T) map[string]string {
	t.Helper()
	if env, ok := realEnv(t, "POSTPIPE_TEST_KAFKA_BROKERS"); ok {
		return env
	}
	if suite == "kafka" { // not the embedded stack: the suite is there to try real Kafka
		t.Fatal("POSTPIPE_TEST_SUITE=kafka but POSTPIPE_TEST_KAFKA_BROKERS or POSTPIPE_TEST_MONGODB_URI is empty")
	}
	return stackEnv(t)
}

// realEnv is the environment for the real broker(s) in the variable
// brokersVar and the store in POSTPIPE_TEST_MONGODB_URI, if both are set.
func realEnv(t *testing.T, brokersVar string) (map[string]string, bool) {
	t.Helper()
	brokers, uri := os.Getenv(brokersVar), os.Getenv("POSTPIPE_TEST_MONGODB_URI")
	if brokers == "" || uri == "" {
		return nil, false
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("pptest_%x", b)
	return map[string]string{
		"POSTPIPE_KAFKA_BROKERS":         brokers,
		"POSTPIPE_MONGODB_URI":           uri,
		"POSTPIPE_MONGODB_DATABASE":      name,
		"POSTPIPE_KAFKA_TOPIC":           name + ".posts",
		"POSTPIPE_KAFKA_DLQ_TOPIC":       name + ".posts.dlq",
		"POSTPIPE_KAFKA_GROUP":           name + ".sink",
		"POSTPIPE_KAFKA_PARTITIONS":      "6",
		"POSTPIPE_KAFKA_SESSION_TIMEOUT": "10s",
	}, true
}

// stackEnv starts 'postpipe stack' and returns the environment that points
// api and sink processes at it.
func stackEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{
		"POSTPIPE_DATA_DIR":           t.TempDir(),
		"POSTPIPE_STACK_KAFKA_ADDR":   freeAddr(t),
		"POSTPIPE_STACK_MONGODB_ADDR": freeAddr(t),
	}
	start(t, "stack", env)
	testkit.Listening(t, 60*time.Second, env["POSTPIPE_STACK_KAFKA_ADDR"], env["POSTPIPE_STACK_MONGODB_ADDR"])
	return map[string]string{
		"POSTPIPE_KAFKA_BROKERS":         env["POSTPIPE_STACK_KAFKA_ADDR"],
		"POSTPIPE_MONGODB_URI":           "mongodb://" + env["POSTPIPE_STACK_MONGODB_ADDR"] + "/",
		"POSTPIPE_KAFKA_PARTITIONS":      "6",
		"POSTPIPE_KAFKA_TOPIC":           "posts",
		"POSTPIPE_KAFKA_DLQ_TOPIC":       "posts.dlq",
		"POSTPIPE_KAFKA_SESSION_TIMEOUT": "10s",
	}
}

func with(env map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(env)+len(kv)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestRunEmbeddedEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{"POSTPIPE_DATA_DIR": dir, "POSTPIPE_HTTP_ADDR": addr}
	p := start(t, "run", env)
	waitReady(t, base)

	var acc accepted
	began := time.Now()
	postMany(t, base, "run", 400, 6, &acc)
	t.Logf("posting took %s", time.Since(began))
	// Paging through the listing shows every accepted post exactly once,
	// newest first, once the sink has written them all.
	var seen map[string]int
	testkit.Eventually(t, 3*time.Minute, "all posts listed", func() bool {
		seen = listAll(t, base, "e2e")
		return len(seen) >= acc.len()
	})
	t.Logf("embedded pipeline: %d posts accepted and listed after %s (race detector on)", acc.len(), time.Since(began).Round(time.Millisecond))
	acc.mu.Lock()
	for marker, id := range acc.ids {
		if seen[id] != 1 {
			t.Errorf("post %s (%s) listed %d times", id, marker, seen[id])
		}
	}
	acc.mu.Unlock()
	if len(seen) != acc.len() {
		t.Fatalf("listing shows %d posts, accepted %d", len(seen), acc.len())
	}
	// Each is readable at its Location (a sample: the listing checked all).
	n := 0
	for marker, id := range acc.ids {
		if n++; n > 50 {
			break
		}
		if got := getPost(t, base, id); got.ID != id || got.Title != marker || got.Content != "content of "+marker {
			t.Fatalf("GET /v1/posts/%s: %+v", id, got)
		}
	}

	// SIGTERM: a clean stop within 10 s; the data survives a restart.
	stopped := time.Now()
	if err := p.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(stopped); d > 10*time.Second {
		t.Errorf("shutdown took %s, want under 10s", d)
	}
	start(t, "run", env)
	waitReady(t, base)
	for marker, id := range acc.ids {
		if got := getPost(t, base, id); got.ID != id || got.Title != marker {
			t.Fatalf("after restart GET /v1/posts/%s: %+v", id, got)
		}
		break
	}
}

// getPost reads one stored post through the API; it must be there.
func getPost(t *testing.T, base, id string) stored {
	t.Helper()
	resp, err := client.Get(base + "/v1/posts/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got stored
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/posts/%s: status %d", id, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// listAll pages through GET /v1/posts?author= and counts each id seen,
// checking the order is newest first across pages.
func listAll(t *testing.T, base, author string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	var last *stored
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("listing does not end")
		}
		var page struct {
			Posts      []stored
			NextCursor string
		}
		resp, err := client.Get(base + "/v1/posts?limit=100&author=" + author + "&cursor=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list: status %d: %v", resp.StatusCode, err)
		}
		for i := range page.Posts {
			d := page.Posts[i]
			if last != nil && (last.CreatedAt.Before(d.CreatedAt) || last.CreatedAt.Equal(d.CreatedAt) && last.ID < d.ID) {
				t.Fatalf("listing not newest first: %s (%s) before %s (%s)", last.ID, last.CreatedAt, d.ID, d.CreatedAt)
			}
			seen[d.ID]++
			last = &d
		}
		if page.NextCursor == "" {
			return seen
		}
		cursor = page.NextCursor
	}
}

func TestSinkStoppedRestartedAndRebalanced(t *testing.T) {
	env := backendEnv(t)
	apiAddr := freeAddr(t)
	base := "http://" + apiAddr
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr))
	sink1 := start(t, "sink", env)
	waitReady(t, base)

	var (
		acc  accepted
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	wg.Go(func() {
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			postMany(t, base, fmt.Sprintf("r%03d", round), 40, 1, &acc)
			time.Sleep(100 * time.Millisecond) // a steady stream, not a flood the race-instrumented store would take minutes to drain
		}
	})
	time.Sleep(time.Second)
	if err := sink1.stop(); err != nil { // stopped mid-stream
		t.Fatalf("stop sink 1: %v", err)
	}
	time.Sleep(time.Second)
	start(t, "sink", env) // restarted
	time.Sleep(2 * time.Second)
	start(t, "sink", env) // a second member joins: rebalance while posting
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	if acc.len() < 500 {
		t.Fatalf("only %d posts accepted during the stream", acc.len())
	}
	t.Logf("%d posts accepted while the sink was stopped, restarted and joined by a second member", acc.len())
	checkStoredOnce(t, connectMongo(t, env), &acc, nil, 4*time.Minute)
}

func TestIdempotencyKeyMakesOneDocument(t *testing.T) {
	env := backendEnv(t)
	apiAddr := freeAddr(t)
	base := "http://" + apiAddr
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr))
	start(t, "sink", env)
	waitReady(t, base)
	coll := connectMongo(t, env)

	var acc accepted
	for _, path := range []string{"/v1/posts", "/v1/posts:direct"} {
		marker := "idem" + strings.ReplaceAll(path, "/", "-")
		key := map[string]string{"Idempotency-Key": "key-" + marker}
		var first, second struct{ ID string }
		c1 := postJSON(t, base+path, input(marker), key, &first)
		c2 := postJSON(t, base+path, input(marker), key, &second)
		if c1 != c2 || c1/100 != 2 || first.ID == "" || first.ID != second.ID {
			t.Fatalf("%s twice with one key: %d %q, %d %q", path, c1, first.ID, c2, second.ID)
		}
		acc.add(t, marker, first.ID)
	}
	items := []map[string]any{input("idem-batch-0"), input("idem-batch-1")}
	var r1, r2 []struct{ ID string }
	postJSON(t, base+"/v1/posts:batch", items, map[string]string{"Idempotency-Key": "batch-key"}, &r1)
	postJSON(t, base+"/v1/posts:batch", items, map[string]string{"Idempotency-Key": "batch-key"}, &r2)
	if len(r1) != 2 || len(r2) != 2 || r1[0].ID != r2[0].ID || r1[1].ID != r2[1].ID || r1[0].ID == r1[1].ID {
		t.Fatalf("batch twice with one key: %+v then %+v", r1, r2)
	}
	acc.add(t, "idem-batch-0", r1[0].ID)
	acc.add(t, "idem-batch-1", r1[1].ID)
	checkStoredOnce(t, coll, &acc, nil, time.Minute)
}
