package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// TestListMemoryBounded is issue 10's adversarial read: 100 stored posts of
// 262,144 '<' (each about 1.5 MB as JSON) and 6 concurrent
// GET /v1/posts?author=…&limit=100. The API process's peak RSS (VmHWM, the
// whole run included) must stay under 300 MB; it reached 2.53 GB when a
// page was bounded by count only. The store (FerretDB on SQLite, 'postpipe
// stack') runs as a process of its own, so only the API is measured.
func TestListMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack and the binary")
	}
	env := binaryStackEnv(t)
	addr := freeAddr(t)
	// The server's write timeout is the produce timeout plus 30 s: six
	// such reads at once on FerretDB on SQLite take longer than the
	// default's 35 s here. The six reads must run at once, each as long
	// as FerretDB takes: the reads' own bound and timeout are raised.
	api := startBinary(t, "api", "api", with(env, "POSTPIPE_HTTP_ADDR", addr, "POSTPIPE_LOG_LEVEL", "warn", "POSTPIPE_PRODUCE_TIMEOUT", "2m",
		"POSTPIPE_MAX_CONNS_PER_CLIENT", strconv.Itoa(connsPerClient), "POSTPIPE_MAX_READS_IN_FLIGHT", "6", "POSTPIPE_READ_TIMEOUT", "2m"))
	base := "http://" + addr
	waitReady(t, base)

	coll := connectMongo(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	content := strings.Repeat("<", 262144)
	created := time.Now().UTC().Truncate(time.Millisecond)
	for i := range 10 { // ten inserts of ten: no single 26 MB message
		var docs []any
		for j := range 10 {
			n := i*10 + j
			docs = append(docs, map[string]any{
				"_id": post.KeyedID("rss-" + strconv.Itoa(n)), "author": "rss", "title": "t", "content": content,
				"createdAt": created.Add(time.Duration(n) * time.Millisecond), "ingestedAt": created,
			})
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}

	// FerretDB on SQLite takes seconds per such query on a loaded machine
	// (about 7 s each, seen): the test bounds memory, not time.
	slow := &http.Client{Timeout: 5 * time.Minute}
	pid := api.cmd.Process.Pid
	before := procStatusKB(pid, "VmRSS:")
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		posts int
	)
	for range 6 {
		wg.Go(func() {
			resp, err := slow.Get(base + "/v1/posts?author=rss&limit=100")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var page struct {
				Posts      []json.RawMessage `json:"posts"`
				NextCursor string            `json:"nextCursor"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK || err != nil || len(page.Posts) == 0 || page.NextCursor == "" {
				t.Errorf("status %d, %d posts, cursor %q, %v: want a page cut by size with a cursor", resp.StatusCode, len(page.Posts), page.NextCursor, err)
			}
			mu.Lock()
			posts += len(page.Posts)
			mu.Unlock()
		})
	}
	wg.Wait()
	peak := procStatusKB(pid, "VmHWM:")
	t.Logf("API process: VmRSS %d MB before the reads, peak (VmHWM) %d MB; %d posts answered in 6 pages", before/1024, peak/1024, posts)
	if peak == 0 || peak > 300*1024 {
		t.Errorf("API peak RSS %d MB, bound 300 MB", peak/1024)
	}

	// The same process bounds connections per client: from 127.0.0.3,
	// which nothing else here uses, connsPerClient kept-alive connections
	// are served and one more is answered 503 by the listener.
	for i := range connsPerClient + 1 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		_, err = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
		code := 0
		if err == nil {
			var resp *http.Response
			if resp, err = http.ReadResponse(bufio.NewReader(c), nil); err == nil {
				code = resp.StatusCode
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		want := http.StatusOK
		if i >= connsPerClient {
			want = http.StatusServiceUnavailable
		}
		if code != want {
			t.Fatalf("connection %d of one client, bound %d: answered %d (%v), want %d", i+1, connsPerClient, code, err, want)
		}
	}
}

// connsPerClient is the API's POSTPIPE_MAX_CONNS_PER_CLIENT in
// TestListMemoryBounded: above the 6 concurrent reads and the probes' client.
const connsPerClient = 16

// procStatusKB is a "kB" field of /proc/<pid>/status, 0 when it cannot be read.
func procStatusKB(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return 0
}

// binaryStackEnv is stackEnv with 'postpipe stack' run as the binary: in
// the test process, under -race, FerretDB takes minutes over these posts.
func binaryStackEnv(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{
		"POSTPIPE_DATA_DIR":           t.TempDir(),
		"POSTPIPE_STACK_KAFKA_ADDR":   freeAddr(t),
		"POSTPIPE_STACK_MONGODB_ADDR": freeAddr(t),
		"POSTPIPE_LOG_LEVEL":          "warn",
	}
	startBinary(t, "stack", "stack", env)
	testkit.Listening(t, 60*time.Second, env["POSTPIPE_STACK_KAFKA_ADDR"], env["POSTPIPE_STACK_MONGODB_ADDR"])
	return map[string]string{
		"POSTPIPE_KAFKA_BROKERS":    env["POSTPIPE_STACK_KAFKA_ADDR"],
		"POSTPIPE_MONGODB_URI":      "mongodb://" + env["POSTPIPE_STACK_MONGODB_ADDR"] + "/",
		"POSTPIPE_KAFKA_PARTITIONS": "6",
	}
}
