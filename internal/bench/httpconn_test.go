package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer serves h and counts the connections it accepted.
func countingServer(t testing.TB, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func testConns(t testing.TB, target string, timeout time.Duration) *loadConns {
	t.Helper()
	p, err := newLoadConns(target, timeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// raw answers with exactly what is given, on a connection taken over from
// the server, and closes it.
func raw(answer string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		nc, bw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		_, _ = bw.WriteString(answer)
		_ = bw.Flush()
		nc.Close()
	}
}

// TestLoadConnAnswers: the answers the client must read, each sent 20 times
// — by Content-Length, chunked (with a trailer), until the server closes —
// and how many connections that takes: one, unless the server says it
// closes.
func TestLoadConnAnswers(t *testing.T) {
	const requests = 20
	echo := func(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
		body, _ := io.ReadAll(r.Body)
		if r.Method == http.MethodPost && (r.Header.Get("Content-Type") != "application/json" || r.ContentLength != int64(len(body))) {
			http.Error(w, "bad request headers", http.StatusBadRequest)
			return nil, false
		}
		return append([]byte(r.Method+" "+r.URL.RequestURI()+" "), body...), true
	}
	big := strings.Repeat("0123456789", 10_000) // several chunks
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		want      func(sent string) string
		wantConns int64
	}{
		{name: "content-length", wantConns: 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if b, ok := echo(w, r); ok {
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write(b)
				}
			},
			want: func(sent string) string { return sent }},
		{name: "chunked with a trailer", wantConns: 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if b, ok := echo(w, r); ok {
					w.Header().Set("Trailer", "X-Sum")
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write(b[:3])
					_ = http.NewResponseController(w).Flush() // no Content-Length now
					_, _ = w.Write(b[3:])
					_, _ = w.Write([]byte(big))
					w.Header().Set("X-Sum", "42")
				}
			},
			want: func(sent string) string { return sent + big }},
		{name: "connection close", wantConns: requests,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if b, ok := echo(w, r); ok {
					w.Header().Set("Connection", "close")
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write(b)
				}
			},
			want: func(sent string) string { return sent }},
		{name: "body until the server closes", wantConns: requests,
			handler: raw("HTTP/1.1 202 Accepted\r\nContent-Type: text/plain\r\n\r\nuntil close"),
			want:    func(string) string { return "until close" }},
		{name: "informational answer first", wantConns: 1,
			handler: func(w http.ResponseWriter, r *http.Request) {
				if b, ok := echo(w, r); ok {
					w.WriteHeader(http.StatusEarlyHints)
					w.WriteHeader(http.StatusAccepted)
					_, _ = w.Write(b)
				}
			},
			want: func(sent string) string { return sent }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, conns := countingServer(t, tt.handler)
			c := testConns(t, srv.URL, 10*time.Second).get()
			for i := range requests {
				method, path, body := http.MethodPost, fmt.Sprintf("/v1/posts?i=%d", i), []byte(fmt.Sprintf(`{"n":%d}`, i))
				if i%2 == 1 {
					method, body = http.MethodGet, nil
				}
				status, answer, err := c.exchange(t.Context(), method, path, body)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if want := tt.want(method + " " + path + " " + string(body)); status != http.StatusAccepted || string(answer) != want {
					t.Fatalf("request %d: %d %.80q…, want 202 %.80q…", i, status, answer, want)
				}
			}
			if got := conns.Load(); got != tt.wantConns {
				t.Errorf("%d requests took %d connections, want %d", requests, got, tt.wantConns)
			}
		})
	}
}

// TestLoadConnFailures: what a request that gets no (whole) answer is
// counted as, and that the next request gets a new connection.
func TestLoadConnFailures(t *testing.T) {
	// A stalled handler ends when the client gives up: it read the body,
	// so the server notices the connection close.
	stall := func(r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // transportFailure
	}{
		{name: "closed mid-answer", want: "connection",
			handler: raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it")},
		{name: "closed mid-chunk", want: "connection",
			handler: raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\nonly part")},
		{name: "closed before answering", want: "connection", handler: raw("")},
		{name: "not HTTP", want: "connection", handler: raw("SSH-2.0-OpenSSH_9.6\r\n\r\n")},
		{name: "stalls", want: "timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/ok" {
					stall(r)
				}
			}},
		{name: "stalls mid-answer", want: "timeout",
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/ok" {
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Length", "100")
				_, _ = w.Write([]byte("part"))
				_ = http.NewResponseController(w).Flush()
				stall(r)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, conns := countingServer(t, tt.handler)
			c := testConns(t, srv.URL, 200*time.Millisecond).get()
			status, _, err := c.exchange(t.Context(), http.MethodPost, "/", []byte(`{}`))
			if err == nil {
				t.Fatalf("answered %d, want an error", status)
			}
			if got := transportFailure(err); got != tt.want {
				t.Errorf("%v counted as %q, want %q", err, got, tt.want)
			}
			if c.nc != nil {
				t.Errorf("the connection was kept after %v", err)
			}
			if tt.want == "timeout" { // the server is well: the next request goes through, on a new connection
				if _, _, err := c.exchange(t.Context(), http.MethodGet, "/ok", nil); err != nil {
					t.Fatalf("next request: %v", err)
				}
				if conns.Load() != 2 {
					t.Errorf("%d connections, want 2: a new one after the failure", conns.Load())
				}
			}
		})
	}
}

// TestLoadConnStopsWithTheContext: cancelling the run interrupts a request
// the server never answers, long before the request's own deadline.
func TestLoadConnStopsWithTheContext(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	c := testConns(t, srv.URL, time.Hour).get()
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	done := make(chan error, 1)
	go func() {
		_, _, err := c.exchange(ctx, http.MethodPost, "/", []byte(`{}`))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("exchange = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute): // a hang guard, not a timing: the deadline is an hour
		t.Fatal("cancelling the context did not interrupt the request")
	}
}

// TestLoadConnBoundsTheAnswer: an answer over maxAnswerBytes is cut there
// and its connection, with the rest on the wire, not reused.
func TestLoadConnBoundsTheAnswer(t *testing.T) {
	huge := bytes.Repeat([]byte("x"), maxAnswerBytes+10_000)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/small" {
					_, _ = w.Write([]byte("small"))
					return
				}
				if !chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(huge)))
				}
				_, _ = w.Write(huge)
			}))
			c := testConns(t, srv.URL, 10*time.Second).get()
			status, answer, err := c.exchange(t.Context(), http.MethodGet, "/huge", nil)
			if err != nil || status != http.StatusOK || len(answer) != maxAnswerBytes {
				t.Fatalf("got %d, %d bytes, %v; want 200 and %d bytes", status, len(answer), err, maxAnswerBytes)
			}
			status, answer, err = c.exchange(t.Context(), http.MethodGet, "/small", nil)
			if err != nil || status != http.StatusOK || string(answer) != "small" {
				t.Fatalf("next request: %d %.40q, %v", status, answer, err)
			}
			if conns.Load() != 2 {
				t.Errorf("%d connections, want 2: the cut one is not reused", conns.Load())
			}
		})
	}
}

// TestLoadConnsHTTPS: an https target is served over TLS, one connection
// for every request.
func TestLoadConnsHTTPS(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p, err := newLoadConns(srv.URL, 10*time.Second, &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	c := p.get()
	for range 3 {
		status, answer, err := c.exchange(t.Context(), http.MethodGet, "/", nil)
		if err != nil || status != http.StatusOK || string(answer) != "HTTP/1.1" {
			t.Fatalf("got %d %q, %v; want 200 HTTP/1.1", status, answer, err)
		}
	}
	if conns.Load() != 1 {
		t.Errorf("%d connections, want 1", conns.Load())
	}
}

// TestLoadConnsReuse: a goroutine that leaves gives its connection to the
// next, unless it waited too long (the server may have closed it), and
// close closes them all.
func TestLoadConnsReuse(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	p := testConns(t, srv.URL, 10*time.Second)
	use := func(c *loadConn) {
		t.Helper()
		if _, _, err := c.exchange(t.Context(), http.MethodGet, "/", nil); err != nil {
			t.Fatal(err)
		}
	}
	a := p.get()
	use(a)
	p.put(a)
	b := p.get()
	use(b)
	if b != a || conns.Load() != 1 {
		t.Errorf("the second user got a new connection (%d dialled), want the first's", conns.Load())
	}
	p.put(b)
	b.idleSince = time.Now().Add(-connIdleMax - time.Second)
	c := p.get()
	use(c)
	if conns.Load() != 2 {
		t.Errorf("%d connections, want 2: one idle too long is redialled", conns.Load())
	}
	p.close()
	if c.nc != nil {
		t.Error("close left a connection open")
	}
}

// TestLoadConnRoundTripAllocatesNothing: in the steady state a request and
// its answer cost no allocation. The server is a canned one that allocates
// nothing either: the count is the process's.
func TestLoadConnRoundTripAllocatesNothing(t *testing.T) {
	c := testConns(t, cannedServer(t), 10*time.Second).get()
	body := bytes.Repeat([]byte("b"), 300)
	ctx := t.Context()
	allocs := testing.AllocsPerRun(200, func() {
		if status, _, err := c.exchange(ctx, http.MethodPost, "/v1/posts", body); err != nil || status != http.StatusAccepted {
			t.Fatal(status, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per round trip, want 0", allocs)
	}
}

// acceptedAnswer is the API's answer to an accepted post.
const acceptedAnswer = `{"id":"0196a1b2c3d4e5f6a7b8c9d0e1f2a3b4","status":"accepted"}` + "\n"

// cannedServer answers every request, keep-alive, with the API's 202 and
// allocates nothing per request, so that a measurement in the same process
// sees the client's allocations only. It returns its URL.
func cannedServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(acceptedAnswer)) + "\r\n\r\n" + acceptedAnswer)
	serve := func(nc net.Conn) {
		defer nc.Close()
		br := bufio.NewReader(nc)
		for {
			length := 0
			for { // the head, up to its blank line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
				if name, value, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(name, []byte("Content-Length")) {
					length, _ = atoi(bytes.TrimSpace(value))
				}
			}
			if _, err := br.Discard(length); err != nil {
				return
			}
			if _, err := nc.Write(answer); err != nil {
				return
			}
		}
	}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(nc)
		}
	}()
	return "http://" + ln.Addr().String()
}

// acceptHandler answers as the API accepts a post.
func acceptHandler() http.HandlerFunc {
	answer := []byte(acceptedAnswer)
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(answer)
	}
}

// BenchmarkLoadClientRoundTrip is one request of the load and its answer,
// through the load client and, for comparison, through net/http's Client as
// the bench used it before: against an httptest server with a trivial
// handler (its cost and allocations are in the figures, the same for both)
// and against a canned server that allocates nothing (the client's alone):
//
//	go test -run '^$' -bench LoadClientRoundTrip -benchmem ./internal/bench
//
// ns/op is the round trip's wall time; cpu-µs/op is the CPU the whole
// process (client and server) spent per round trip, from /proc, which is
// what the client takes from the server in a local run.
func BenchmarkLoadClientRoundTrip(b *testing.B) {
	httptestSrv, _ := countingServer(b, acceptHandler())
	payload := appendPost(nil, newPosts(newWords(300), "B", "kafka", 300).next())
	for _, server := range []struct{ name, url string }{{"httptest", httptestSrv.URL}, {"canned", cannedServer(b)}} {
		b.Run("server="+server.name+"/client=loadConn", func(b *testing.B) {
			c := testConns(b, server.url, 10*time.Second).get()
			ctx := context.Background()
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				status, _, err := c.exchange(ctx, http.MethodPost, "/v1/posts", payload)
				if err != nil || status != http.StatusAccepted {
					b.Fatal(status, err)
				}
			}
		})
		b.Run("server="+server.name+"/client=net-http", func(b *testing.B) {
			client := newClient(10 * time.Second)
			b.Cleanup(client.CloseIdleConnections)
			ctx := context.Background()
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, server.url+"/v1/posts", bytes.NewReader(payload))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusAccepted {
					b.Fatal(resp.StatusCode, err)
				}
			}
		})
	}
}

// reportCPU reports, when the returned func is called, the process's CPU
// time per op since reportCPU was: in µs, from /proc (clock ticks, so only
// meaningful over a run of a second or more).
func reportCPU(b *testing.B) func() {
	self := []ProcessGroup{{Name: "self", PIDs: []int{os.Getpid()}}}
	procs := procfs{root: "/proc"}
	before := procs.sample(self)
	return func() {
		if secs, ok := cpuSeconds(before, procs.sample(self))["self"]; ok && b.N > 0 {
			b.ReportMetric(secs*1e6/float64(b.N), "cpu-µs/op")
		}
	}
}

// A connection the server closed goes back behind the live ones: the next
// request takes a live connection rather than redialling (a server at its
// bound of connections per client refuses the new one).
func TestLoadConnsPrefersLiveConnections(t *testing.T) {
	p := &loadConns{}
	live, closed := p.get(), p.get()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	live.nc = a
	p.put(live)
	p.put(closed) // nc == nil: closed
	if got := p.get(); got != live {
		t.Fatalf("get gave the closed connection, want the live one")
	}
	if got := p.get(); got != closed {
		t.Fatalf("second get did not give the closed connection")
	}
}
