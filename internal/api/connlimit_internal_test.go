package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// TestConnLimitRealListener: over a real TCP listener and http.Server, a
// client's connection beyond its bound is answered 503 by the listener, another
// address is unaffected, and a closed connection frees its place.
func TestConnLimitRealListener(t *testing.T) {
	ln := serveLimited(t, 2)

	a1, a2 := dialFrom(t, ln, "127.0.0.1"), dialFrom(t, ln, "127.0.0.1")
	for i, c := range []net.Conn{a1, a2} {
		if code, err := roundTrip(c); code != http.StatusOK {
			t.Fatalf("connection %d of 2 not served: %d %v", i+1, code, err)
		}
	}
	// One more is answered 503 with Retry-After, never by the handler.
	third := dialFrom(t, ln, "127.0.0.1")
	if code, err := roundTrip(third); code != http.StatusServiceUnavailable {
		t.Fatalf("a third connection from one address, bound 2: %d %v; want 503", code, err)
	}
	// 127.0.0.2 is another client (Linux routes all of 127/8 to lo).
	if code, err := roundTrip(dialFrom(t, ln, "127.0.0.2")); code != http.StatusOK {
		t.Fatalf("another address was refused: %d %v", code, err)
	}
	// The kept-alive connections still work: refusing others took nothing.
	if code, err := roundTrip(a1); code != http.StatusOK {
		t.Fatalf("an admitted connection broke: %d %v", code, err)
	}
	// Closing one gives its place back once the server has seen the close;
	// no timing is asserted, only that it happens.
	_ = a2.Close()
	for attempt := 0; ; attempt++ {
		code, err := roundTrip(dialFrom(t, ln, "127.0.0.1"))
		if code == http.StatusOK {
			break
		}
		if attempt == 200 {
			t.Fatalf("the place of a closed connection never came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveLimited serves "ok" on a loopback listener bounded to n connections
// per client.
func serveLimited(t *testing.T, n int) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(LimitConnsPerClient(ln, n)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln
}

func dialFrom(t *testing.T, ln net.Listener, local string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip sends one keep-alive request on c and reads the answer: its
// status, 0 when none came. A refusal must say when to retry.
func roundTrip(c net.Conn) (int, error) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
		return 0, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if res.StatusCode == http.StatusServiceUnavailable && (res.Header.Get("Retry-After") != "1" || !json.Valid(body)) {
		return 0, fmt.Errorf("a refusal without Retry-After or a problem document: %v %s", res.Header, body)
	}
	return res.StatusCode, err
}

func TestClientPrefix(t *testing.T) {
	for _, tt := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 1}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:bbbb::9"), Port: 2}, "2001:db8:1:2::/64"},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, ""},
	} {
		got, ok := clientPrefix(tt.addr)
		if tt.want == "" {
			if ok {
				t.Errorf("clientPrefix(%v) = %v, want none", tt.addr, got)
			}
			continue
		}
		if want := netip.MustParsePrefix(tt.want); !ok || got != want {
			t.Errorf("clientPrefix(%v) = %v, %v; want %v", tt.addr, got, ok, want)
		}
	}
}

// TestConnLimitAnswersHTTPClients: a Go http.Client, like most clients,
// drops an answer that comes before its request was written as unsolicited
// and fails the request. The refusal must come after the request's head, so
// the client reads a 503 it can act on, not an error.
func TestConnLimitAnswersHTTPClients(t *testing.T) {
	ln := serveLimited(t, 1)

	held := dialFrom(t, ln, "127.0.0.1")
	if code, err := roundTrip(held); code != http.StatusOK {
		t.Fatalf("the first connection was not served: %d %v", code, err)
	}
	// Nothing comes before the request: an early answer is what a client
	// drops as unsolicited.
	early := dialFrom(t, ln, "127.0.0.1")
	_ = early.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := early.Read(make([]byte, 1)); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection over the bound was sent %d bytes (%v) before it wrote a request", n, err)
	}
	if code, err := roundTrip(early); code != http.StatusServiceUnavailable {
		t.Fatalf("then its request got %d %v, want 503", code, err)
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	res, err := cl.Post("http://"+ln.Addr().String()+"/v1/posts", "application/json", strings.NewReader(`{"author":"a"}`))
	if err != nil {
		t.Fatalf("a request over the bound failed instead of getting a 503: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("a request over the bound got %d (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
}
