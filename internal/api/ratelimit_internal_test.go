package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiterRefills(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newLimiter(2, 3, c.now) // 2/s, burst 3
	for i := range 3 {
		if w := l.take("a"); w != 0 {
			t.Fatalf("request %d of the burst waited %s", i, w)
		}
	}
	if w := l.take("a"); w != 500*time.Millisecond {
		t.Fatalf("empty bucket: wait %s, want 500ms", w)
	}
	c.t = c.t.Add(250 * time.Millisecond) // half a token
	if w := l.take("a"); w != 250*time.Millisecond {
		t.Fatalf("half a token: wait %s, want 250ms", w)
	}
	c.t = c.t.Add(250 * time.Millisecond)
	if w := l.take("a"); w != 0 {
		t.Fatalf("after a refill: wait %s", w)
	}
	c.t = c.t.Add(time.Hour) // refills to the burst, not beyond
	for i := range 3 {
		if w := l.take("a"); w != 0 {
			t.Fatalf("request %d after an hour waited %s", i, w)
		}
	}
	if w := l.take("a"); w == 0 {
		t.Fatal("the bucket held more than its burst")
	}
}

func TestLimiterStaysBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newLimiter(1, 1, c.now)
	for i := range maxClients + 500 { // every client active: arbitrary ones go
		l.take(fmt.Sprint("active-", i))
	}
	if n := l.size(); n > maxClients {
		t.Fatalf("%d clients remembered, bound %d", n, maxClients)
	}
	c.t = c.t.Add(2 * time.Second)     // every bucket has refilled: all idle
	fresh := maxClients - l.size() + 1 // the last one finds no room
	for i := range fresh {
		l.take(fmt.Sprint("new-", i))
	}
	if n := l.size(); n > fresh {
		t.Fatalf("%d clients remembered after the idle ones could go, want at most the %d new ones", n, fresh)
	}
	// A limited client that stays active keeps its (empty) bucket.
	l.take("busy")
	if w := l.take("busy"); w == 0 {
		t.Fatal("busy client not limited")
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want int
	}{{time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {90 * time.Second, 90},
		{time.Hour + 1, 3600}, {math.MaxInt64, 3600}, {-time.Second, 1}} {
		if got := retryAfter(tt.wait); got != tt.want {
			t.Errorf("retryAfter(%s) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}

// TestLimiterTinyRates: the wait of an empty bucket is positive and capped
// whatever the rate; at 1e-10/s it used to overflow time.Duration and turn
// negative, which let every request through.
func TestLimiterTinyRates(t *testing.T) {
	for _, r := range []float64{1e-10, 1e-9, 1e-6, 1e-300} {
		c := &clock{t: time.Unix(1000, 0)}
		l := newLimiter(r, 1, c.now)
		if w := l.take("a"); w != 0 {
			t.Fatalf("rate %v: first request waited %s", r, w)
		}
		for range 3 {
			c.t = c.t.Add(time.Second)
			if w := l.take("a"); w <= 0 || w > maxRetryAfter {
				t.Fatalf("rate %v: wait %s, want within (0, %s]", r, w, maxRetryAfter)
			}
		}
	}
}

// TestClientOfIsTheConnCapsUnit: the rate limit and the connection cap
// name a client by one function, so they cannot drift apart again.
func TestClientOfIsTheConnCapsUnit(t *testing.T) {
	for _, addr := range []string{"192.0.2.7:80", "[::ffff:192.0.2.7]:80", "[2001:db8::1]:80", "[2001:db8::2:0:0:1]:443", "[fe80::1%eth0]:80"} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = addr
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		p, ok := clientPrefix(tcp)
		if want := "addr " + p.String(); !ok || clientOf(r) != want {
			t.Errorf("%s: clientOf = %q, the connection cap counts %q", addr, clientOf(r), want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "@" // a unix socket's peer: no address to group
	if got := clientOf(r); got != "addr @" {
		t.Errorf("clientOf(%q) = %q", r.RemoteAddr, got)
	}
}
