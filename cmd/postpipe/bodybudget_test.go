package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodyBudgetBoundsMemory is issue 18, item 2, against the API process
// with its default settings (body budget 256 MiB, a quarter of it per
// client, batch bodies up to 16 MiB):
//
//   - 100 connections that send only the headers of a 16 MiB batch must
//     not make the API reserve heap for the bodies they announce (1.68 GB
//     were, when the buffer was sized from Content-Length);
//   - 64 connections that send all of a 16 MiB batch body but its last
//     byte may grow the API's RSS by at most 400 MB (it went from 37 MB to
//     1,064 MB), and meanwhile another client's post is answered 202.
//
// All of these come from 127.0.0.1, the other client from 127.0.0.2
// (Linux loopback takes any 127/8 source address).
func TestBodyBudgetBoundsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack and the binary")
	}
	env := binaryStackEnv(t)
	addr := freeAddr(t)
	api := startBinary(t, "api", "api", with(env, "POSTPIPE_HTTP_ADDR", addr, "POSTPIPE_LOG_LEVEL", "warn",
		"POSTPIPE_MAX_CONNS_PER_CLIENT", "1000"))
	base := "http://" + addr
	waitReady(t, base)
	pid := api.cmd.Process.Pid
	const batch = 16 << 20 // the default POSTPIPE_MAX_BATCH_BODY_BYTES
	head := fmt.Sprintf("POST /v1/posts:batch HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", batch)

	// Headers only.
	heapBefore, rssBefore := heapInuse(t, base), procStatusKB(pid, "VmRSS:")
	held := openBodies(t, addr, 100, head, nil)
	heapPeak := heapBefore
	for range 10 { // the heap is sampled: a connection refused after a second frees what it held
		time.Sleep(200 * time.Millisecond)
		heapPeak = max(heapPeak, heapInuse(t, base))
	}
	rssAfter := procStatusKB(pid, "VmRSS:")
	held.close()
	t.Logf("100 connections with headers only: heap in use %d MB before, %d MB at most after; VmRSS %d MB before, %d MB after",
		heapBefore>>20, heapPeak>>20, rssBefore/1024, rssAfter/1024)
	if grew := heapPeak - heapBefore; grew > 64<<20 {
		t.Errorf("headers alone grew the heap in use by %d MB, bound 64 MB", grew>>20)
	}
	if grew := rssAfter - rssBefore; grew > 64*1024 {
		t.Errorf("headers alone grew VmRSS by %d MB, bound 64 MB", grew/1024)
	}
	time.Sleep(time.Second) // the handlers see the closed connections and release

	// All but the last byte.
	rssBefore = procStatusKB(pid, "VmRSS:")
	body := bytes.Repeat([]byte{' '}, batch-1)
	held = openBodies(t, addr, 64, head, body)
	time.Sleep(500 * time.Millisecond)
	other := postFrom(t, "127.0.0.2", addr, `{"author":"other","title":"t","content":"not starved"}`)
	time.Sleep(2 * time.Second) // past the budget's wait of 1 s: every refusal is in
	peak := procStatusKB(pid, "VmHWM:")
	refused := held.refused.Load()
	held.close()
	t.Logf("64 connections with 16 MiB but a byte: VmRSS %d MB before, peak (VmHWM) %d MB; %d answered 503; another client's post: %d",
		rssBefore/1024, peak/1024, refused, other)
	if grew := peak - rssBefore; peak == 0 || grew > 400*1024 {
		t.Errorf("the bodies grew the API's RSS by %d MB, bound 400 MB", grew/1024)
	}
	if refused == 0 {
		t.Errorf("no body was refused 503: the budget let all of them in")
	}
	if other != http.StatusAccepted {
		t.Errorf("another client's post was answered %d, want 202", other)
	}
}

// heldBodies are connections sending bodies that never end.
type heldBodies struct {
	conns   []net.Conn
	wg      sync.WaitGroup
	refused atomic.Int64 // answered 503 with Retry-After
}

// openBodies opens n connections from 127.0.0.1 that send head and then
// body (which lacks the bytes the head announces), each reading its
// answer at the same time.
func openBodies(t *testing.T, addr string, n int, head string, body []byte) *heldBodies {
	t.Helper()
	h := &heldBodies{}
	for range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			h.close()
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		h.conns = append(h.conns, c)
		h.wg.Go(func() {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				return // closed by the test, or by the server after a 408
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
				h.refused.Add(1)
			}
		})
		h.wg.Go(func() {
			if _, err := io.WriteString(c, head); err == nil && body != nil {
				_, _ = c.Write(body) // fails once a refused connection is closed
			}
		})
	}
	return h
}

func (h *heldBodies) close() {
	for _, c := range h.conns {
		_ = c.Close()
	}
	h.wg.Wait()
}

// postFrom sends one post from the local address ip and returns the
// status of its answer (0 when there was none).
func postFrom(t *testing.T, ip, addr, body string) int {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	resp, err := cl.Post("http://"+addr+"/v1/posts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Errorf("post from %s: %v", ip, err)
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// heapInuse is go_memstats_heap_inuse_bytes of the API's /metrics.
func heapInuse(t *testing.T, base string) int64 {
	t.Helper()
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	t.Fatalf("no go_memstats_heap_inuse_bytes in /metrics (%v)", sc.Err())
	return 0
}
