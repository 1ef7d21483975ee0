package api_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/api"
)

// serveFraming serves h as the process does: NewServer on a CheckFraming
// listener.
func serveFraming(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer("", h, time.Second, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(api.CheckFraming(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// exchange writes raw on one connection and reads every answer until the
// server closes it (or 2 s pass: then closed is false).
func exchange(t *testing.T, addr, raw string) (answers []*http.Response, bodies []string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			return answers, bodies, !(errors.As(err, &ne) && ne.Timeout())
		}
		b, _ := io.ReadAll(resp.Body)
		answers, bodies = append(answers, resp), append(bodies, string(b))
	}
}

const smuggled = "GET /v1/posts/smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

// clte is a post whose Content-Length covers the smuggled request while
// its chunked body ends before it: a proxy going by Content-Length sees
// one request, net/http two.
func clte(extra string) string {
	return "POST /v1/posts HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" + extra +
		"Content-Length: " + strconv.Itoa(len("0\r\n\r\n"+smuggled)) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled
}

func chunked(body string) string {
	return "POST /v1/posts HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
}

func withLength(body string) string {
	return "POST /v1/posts HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// TestBothLengthAndChunkedRefused: a request with both Content-Length and
// Transfer-Encoding is answered 400 with a problem document and
// Connection: close, the connection is closed, and the request smuggled
// behind it is never answered; requests before it on the connection are
// served. Before, net/http went by the chunked coding and answered both.
func TestBothLengthAndChunkedRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		keys   bool
		before string // sent first on the same connection
		want   []int
	}{
		{"alone", false, "", []int{400}},
		{"after a kept-alive request", false, withLength(postJSON("first")), []int{202, 400}},
		{"after a chunked request", false, chunked(postJSON("first")), []int{202, 400}},
		// The key check answers first: the refusal must come before it,
		// and the requests it refused must be counted.
		{"with keys, no key", true, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n" + withLength(postJSON("x")), []int{200, 401, 400}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ta := newTestAPI(t)
			var h http.Handler = ta.h
			if tt.keys {
				h, ta = guardedAPI(t, api.Guard{Exempt: []string{"/healthz"}, RateLimit: 1000, RateBurst: 1000}, true)
			}
			addr := serveFraming(t, api.Instrument(h, api.Instruments{}))
			answers, bodies, closed := exchange(t, addr, tt.before+clte(""))
			var got []int
			for _, a := range answers {
				got = append(got, a.StatusCode)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("answers %v, want %v (the smuggled request must not be answered)", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("answers %v, want %v", got, tt.want)
				}
			}
			last := answers[len(answers)-1]
			if !last.Close { // ReadResponse takes "Connection: close" out of the header into Close
				t.Errorf("the 400 does not close the connection: %v", last.Header)
			}
			var p problemBody
			if err := json.Unmarshal([]byte(bodies[len(bodies)-1]), &p); err != nil || p.Status != 400 ||
				!strings.Contains(p.Detail, "Content-Length and Transfer-Encoding") || last.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("the 400 is not the problem document: %s (%v)", bodies[len(bodies)-1], err)
			}
			if !closed {
				t.Error("the connection was left open")
			}
			for _, p := range ta.pub.published() {
				if p.Title != "first" {
					t.Errorf("published %+v", p)
				}
			}
		})
	}
}

// TestFramingKeepsNormalRequests: chunked and Content-Length requests,
// one after another and pipelined in one write, are all served on one
// connection.
func TestFramingKeepsNormalRequests(t *testing.T) {
	ta := newTestAPI(t)
	addr := serveFraming(t, ta.h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	roundTrip := func(raw string, n int) {
		t.Helper()
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for i := range n {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("answer %d of %d: %v", i+1, n, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusAccepted || resp.Close {
				t.Fatalf("answer %d of %d: %d, close %v", i+1, n, resp.StatusCode, resp.Close)
			}
		}
	}
	roundTrip(withLength(postJSON("1")), 1)
	roundTrip(chunked(postJSON("2")), 1)
	roundTrip(withLength(postJSON("3"))+chunked(postJSON("4"))+withLength(postJSON("5"))+"\r\n"+chunked(postJSON("6")), 4)
	// a chunked body in pieces, with extensions and a trailer
	body := postJSON("7")
	roundTrip("POST /v1/posts HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"5;ext=1\r\n"+body[:5]+"\r\n"+strconv.FormatInt(int64(len(body)-5), 16)+"\r\n"+body[5:]+"\r\n0\r\nX-Trailer: t\r\n\r\n", 1)
	if n := len(ta.pub.published()); n != 7 {
		t.Fatalf("%d posts published, want 7", n)
	}
}
