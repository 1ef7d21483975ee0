package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// The read flood of TestReadFloodSparesWrites (issue 18, item 3).
const (
	floodPosts   = 10000 // enough that FerretDB's lists (no index serves their sort) take CPU for a good part of a second
	floodClients = 64
	floodFor     = 15 * time.Second
	// recoverWithin is how soon after the flood lists must answer 200
	// again: the reads its clients abandoned end at the latest at their
	// read timeout (5 s), the maxTimeMS the store enforces, and at most
	// POSTPIPE_MAX_READS_IN_FLIGHT of them were running.
	recoverWithin = 5 * time.Second
)

// TestReadFloodSparesWrites is issue 18's read flood against the binaries:
// 64 clients list posts (GET /v1/posts, ?author=…) as fast as they are
// answered, from 127.0.0.1, while another address, 127.0.0.2, posts one
// post at a time. Its POST p99 during the flood must stay within 3× of the
// same client's idle p99, floored at 20 ms: a 2 ms idle p99 would make 6 ms
// the bound, which the scheduler alone breaks on a loaded machine, and the
// issue's failure was 951 ms p50. When the flood stops its clients leave
// with their reads unanswered, as clients that give up do, and a list must
// answer 200 again within 5 s. (It failed before: the POSTs' p99 went to
// seconds, and lists timed out for minutes after.) The store is the stack's
// FerretDB, a process of its own as in the issue.
func TestReadFloodSparesWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack and the binary, floods it for 15 s")
	}
	env := binaryStackEnv(t)
	addr := freeAddr(t)
	// The api reaches the stack by its URI here (the stack's ports are
	// free ones), so it is told the bound it would take by default with
	// the development store ('make run', or 'postpipe stack' on its
	// default ports): config.DevStoreReads.
	startBinary(t, "api", "api", with(env, "POSTPIPE_HTTP_ADDR", addr, "POSTPIPE_LOG_LEVEL", "error",
		"POSTPIPE_MAX_CONNS_PER_CLIENT", "0", "POSTPIPE_MAX_READS_IN_FLIGHT", strconv.Itoa(max(1, runtime.GOMAXPROCS(0)/2))))
	base := "http://" + addr
	waitReady(t, base)

	coll := connectMongo(t, env)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	created := time.Now().UTC().Truncate(time.Millisecond).Add(-time.Hour)
	for i := 0; i < floodPosts; i += 1000 {
		docs := make([]any, 0, 1000)
		for n := i; n < i+1000; n++ {
			docs = append(docs, map[string]any{
				"_id": post.KeyedID("flood-" + strconv.Itoa(n)), "author": "author-" + strconv.Itoa(n%16), "title": "t",
				"content": strings.Repeat("c", 200), "createdAt": created.Add(time.Duration(n) * time.Millisecond), "ingestedAt": created,
			})
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d posts stored in %s", floodPosts, time.Since(began).Round(time.Millisecond))

	// The writer: one client of its own address, one post at a time.
	writer := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext,
	}}
	postFor := func(d time.Duration) []time.Duration {
		var took []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); {
			body := fmt.Sprintf(`{"author":"writer","title":"t%d","content":"c"}`, len(took))
			start := time.Now()
			resp, err := writer.Post(base+"/v1/posts", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("POST = %d, want 202", resp.StatusCode)
			}
			took = append(took, time.Since(start))
			time.Sleep(10 * time.Millisecond)
		}
		return took
	}
	idle := p99(postFor(5 * time.Second))

	// The flood: 64 clients on 127.0.0.1, each listing again as soon as it
	// is answered; after a 503 they wait the Retry-After it carries, as
	// the API asks (one that does not is the rate limit's business).
	floodCtx, stopFlood := context.WithCancel(context.Background())
	defer stopFlood()
	flood := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: floodClients}}
	var (
		wg          sync.WaitGroup
		ok, refused atomic.Int64
		other       sync.Map // status → count, for the log
	)
	for c := range floodClients {
		wg.Go(func() {
			for i := 0; floodCtx.Err() == nil; i++ {
				target := base + "/v1/posts?limit=20"
				if (c+i)%2 == 1 {
					target = base + "/v1/posts?author=author-" + strconv.Itoa((c+i)%16)
				}
				req, _ := http.NewRequestWithContext(floodCtx, http.MethodGet, target, nil)
				resp, err := flood.Do(req)
				if err != nil {
					continue // the flood's end
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusServiceUnavailable:
					refused.Add(1)
					wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
					select {
					case <-floodCtx.Done():
					case <-time.After(time.Duration(max(wait, 1)) * time.Second):
					}
				default:
					n, _ := other.LoadOrStore(resp.StatusCode, new(atomic.Int64))
					n.(*atomic.Int64).Add(1)
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // the flood under way
	during := p99(postFor(floodFor - 2*time.Second))
	stopFlood() // the clients leave, their reads unanswered
	stopped := time.Now()
	wg.Wait()

	// A list answers 200 again: how long after the flood the first 200
	// arrived, lists tried one after another.
	recovered := time.Duration(-1)
	for time.Since(stopped) < 3*recoverWithin {
		resp, err := writer.Get(base + "/v1/posts?limit=20")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			recovered = time.Since(stopped)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var others []string
	other.Range(func(k, v any) bool {
		others = append(others, fmt.Sprintf("%v: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("POST p99 idle %s, during the flood %s; flood lists: %d answered 200, %d 503, others %v; a list answered 200 again %s after the flood",
		idle.Round(time.Microsecond), during.Round(time.Microsecond), ok.Load(), refused.Load(), others, recovered.Round(time.Millisecond))

	if bound := 3 * max(idle, 20*time.Millisecond); during > bound {
		t.Errorf("POST p99 during the read flood %s, over 3× the idle p99 (%s, floored at 20 ms): %s", during, idle, bound)
	}
	if recovered < 0 || recovered > recoverWithin {
		t.Errorf("a list answered 200 again %s after the flood (-1: not within %s), want within %s", recovered, 3*recoverWithin, recoverWithin)
	}
	if len(others) > 0 {
		t.Errorf("flood lists answered other than 200 or 503: %v", others)
	}
}

// p99 is the 99th percentile of ds (the largest for fewer than 100).
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*99/100)]
}
