package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freezer is a TCP proxy that can stop passing bytes on: the store behind
// it then hangs without closing a connection, as a store that stopped
// answering does.
type freezer struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln}
	t.Cleanup(f.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, up)
			f.mu.Unlock()
			go f.pipe(up, c)
			go f.pipe(c, up)
		}
	}()
	return f
}

// pipe copies src to dst, holding every chunk while frozen.
func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for f.frozen.Load() {
			time.Sleep(10 * time.Millisecond)
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (f *freezer) close() {
	f.frozen.Store(false)
	f.ln.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
}

// hangingListener accepts connections and never answers: a trace
// collector that stopped responding.
func hangingListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
	}()
	return ln.Addr().String()
}

// TestStopMeetsTheShutdownDeadline is issue 12's shutdown budget: with the
// store hung while the sink holds a batch, and the trace collector hung,
// the whole stop (HTTP drain, producer flush, the sink's write and commit,
// closing the store, exporting the last spans) takes
// POSTPIPE_SHUTDOWN_TIMEOUT in total, not a slice per step plus fresh
// timeouts (it took 6 s with a 2 s timeout before). The margin is
// generous: the test is about the sum, not timing.
func TestStopMeetsTheShutdownDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack")
	}
	const timeout, margin = 2 * time.Second, 3 * time.Second
	// The exporter reads its endpoint from the process environment.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+hangingListener(t))
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	env := stackEnv(t)
	mongoAddr := strings.TrimSuffix(strings.TrimPrefix(env["POSTPIPE_MONGODB_URI"], "mongodb://"), "/")
	proxy := newFreezer(t, mongoAddr)
	addr := freeAddr(t)
	base := "http://" + addr
	p := start(t, "run", with(env,
		"POSTPIPE_MONGODB_URI", "mongodb://"+proxy.ln.Addr().String()+"/",
		"POSTPIPE_HTTP_ADDR", addr,
		"POSTPIPE_DATA_DIR", t.TempDir(),
		"POSTPIPE_SHUTDOWN_TIMEOUT", timeout.String(),
		"OTEL_TRACES_EXPORTER", "otlp"))
	waitReady(t, base)
	if code := postJSON(t, base+"/v1/posts", input("before"), nil, nil); code != http.StatusAccepted {
		t.Fatalf("POST: %d, want 202", code)
	}

	proxy.frozen.Store(true) // the store hangs: the sink's next write blocks
	for i := range 5 {
		if code := postJSON(t, base+"/v1/posts", input("held-"+string(rune('a'+i))), nil, nil); code != http.StatusAccepted {
			t.Fatalf("POST while the store hangs: %d, want 202 (the API answers once Kafka has it)", code)
		}
	}
	time.Sleep(500 * time.Millisecond) // the sink polls them and starts its write

	began := time.Now()
	err := p.stop()
	took := time.Since(began)
	if err != nil {
		t.Errorf("stop: %v", err)
	}
	if took > timeout+margin {
		t.Errorf("the stop took %s with POSTPIPE_SHUTDOWN_TIMEOUT=%s; want at most %s", took.Round(time.Millisecond), timeout, timeout+margin)
	}
	t.Logf("stop took %s (POSTPIPE_SHUTDOWN_TIMEOUT=%s)", took.Round(time.Millisecond), timeout)
}
