package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// loadConn is the HTTP/1.1 client of one virtual user: one keep-alive
// connection, one request at a time. net/http's Transport runs a read and a
// write goroutine per connection and hands every request and answer across
// channels; measured in the bench, that cost the client as much CPU per
// request as the server it measures, on the cores they share. A closed-loop
// user that owns its connection needs none of it: the request goes out in
// one Write from a reused buffer and the answer is parsed by hand from a
// reused reader into a reused buffer, so a round trip allocates nothing.
//
// It is not safe for concurrent use: one goroutine owns it.
type loadConn struct {
	addr    string      // host:port to dial
	host    string      // the Host header
	tls     *tls.Config // nil: plain TCP
	timeout time.Duration

	nc        net.Conn // nil: dial before the next request
	raw       net.Conn // nc's TCP connection (nc itself unless TLS)
	br        *bufio.Reader
	ctx       context.Context // the one the stop below watches
	stopWatch func() bool     // stops closing nc when ctx ends
	idleSince time.Time       // when it went back to its pool

	req    []byte // the request being written
	answer []byte // the last answer's body
}

// exchange sends one request — path is the request target, e.g.
// /v1/posts?author=a; body is sent as application/json unless nil — and
// returns the answer's status and body. The body is at most maxAnswerBytes
// (the rest is dropped) and valid until the next exchange. ctx ending
// interrupts it; the deadline is c.timeout per request. A transport error
// is a net.Error whose Timeout() says whether the deadline passed.
func (c *loadConn) exchange(ctx context.Context, method, path string, body []byte) (status int, answer []byte, err error) {
	return c.exchangeWith(ctx, method, path, jsonType, nil, body)
}

// jsonType is the Content-Type of a body sent by exchange.
const jsonType = "application/json"

// exchangeWith is exchange with the body's Content-Type (sent with a body
// only) and more header lines, each ending in CRLF ("Prefer: wait=5\r\n"),
// written as they are.
func (c *loadConn) exchangeWith(ctx context.Context, method, path, contentType string, headers, body []byte) (status int, answer []byte, err error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	if c.nc == nil {
		if err := c.dial(ctx); err != nil {
			return 0, nil, err
		}
	}
	if ctx != c.ctx {
		c.watch(ctx)
	}
	if err := c.nc.SetDeadline(time.Now().Add(c.timeout)); err != nil {
		c.close()
		return 0, nil, fmt.Errorf("set deadline: %w", err)
	}
	status, answer, keep, err := c.roundTrip(method, path, contentType, headers, body)
	if err != nil || !keep {
		c.close()
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err() // the run ended, not the connection
	}
	return status, answer, err
}

func (c *loadConn) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: min(c.timeout, 5*time.Second), KeepAlive: 30 * time.Second}
	tcp, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", c.addr, err)
	}
	nc := tcp
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		hctx, cancel := context.WithTimeout(ctx, c.timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return fmt.Errorf("tls handshake with %s: %w", c.addr, err)
		}
		nc = tc
	}
	c.nc, c.raw = nc, tcp
	if c.br == nil {
		c.br = bufio.NewReaderSize(nc, 32<<10)
	} else {
		c.br.Reset(nc)
	}
	c.ctx = nil // watch the new connection
	return nil
}

// watch closes the connection when ctx ends, which interrupts a request
// blocked on it; registered once per connection and context, not per
// request. It closes the TCP connection: closing TLS would first wait for a
// blocked write to send its alert.
func (c *loadConn) watch(ctx context.Context) {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	raw := c.raw
	c.ctx, c.stopWatch = ctx, context.AfterFunc(ctx, func() { raw.Close() })
}

// close drops the connection; the next exchange dials a new one.
func (c *loadConn) close() {
	if c.stopWatch != nil {
		c.stopWatch()
		c.stopWatch = nil
	}
	c.ctx = nil
	if c.nc != nil {
		c.nc.Close()
		c.nc, c.raw = nil, nil
	}
}

// roundTrip writes the request and reads the answer; keep says whether the
// connection can carry the next one.
func (c *loadConn) roundTrip(method, path, contentType string, headers, body []byte) (status int, answer []byte, keep bool, err error) {
	b := append(c.req[:0], method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\nUser-Agent: postpipe-bench\r\n"...)
	b = append(b, headers...)
	if body != nil {
		b = append(b, "Content-Type: "...)
		b = append(b, contentType...)
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.req = b
	if _, err := c.nc.Write(b); err != nil {
		return 0, nil, false, fmt.Errorf("write request: %w", err)
	}

	var h answerHead
	for {
		if h, err = c.readHead(); err != nil {
			return 0, nil, false, err
		}
		if h.status >= 200 || h.status == 101 {
			break
		}
		// 1xx (100 Continue, 103 Early Hints): the answer follows.
	}
	keep = !h.close
	c.answer = c.answer[:0]
	switch {
	case h.status == 204 || h.status == 304 || method == "HEAD":
	case h.chunked:
		keep, err = c.readChunked(keep)
	case h.length >= 0:
		n := min(h.length, maxAnswerBytes)
		c.answer = grow(c.answer, int(n))
		if _, err = io.ReadFull(c.br, c.answer); err != nil {
			err = fmt.Errorf("read answer body: %w", unexpected(err))
		}
		keep = keep && n == h.length // what was left unread stays on the wire
	default: // the body runs until the server closes
		keep = false
		err = c.readToEnd(c.br)
	}
	if err != nil {
		return 0, nil, false, err
	}
	return h.status, c.answer, keep, nil
}

// answerHead is what the status line and headers say.
type answerHead struct {
	status  int
	length  int64 // -1: not given
	chunked bool
	close   bool // the connection ends after this answer
}

func (c *loadConn) readHead() (answerHead, error) {
	h := answerHead{length: -1}
	line, err := c.line()
	if err != nil {
		return h, fmt.Errorf("read status line: %w", unexpected(err))
	}
	// HTTP/1.1 202 Accepted
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return h, fmt.Errorf("malformed status line %q", line)
	}
	code, ok := atoi(line[9:12])
	if !ok || code < 100 || (len(line) > 12 && line[12] != ' ') {
		return h, fmt.Errorf("malformed status line %q", line)
	}
	h.status = code
	h.close = line[7] == '0' // HTTP/1.0 closes unless it says keep-alive
	for {
		line, err := c.line()
		if err != nil {
			return h, fmt.Errorf("read headers: %w", unexpected(err))
		}
		if len(line) == 0 {
			return h, nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return h, fmt.Errorf("malformed header line %q", line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := atoi(value)
			if !ok {
				return h, fmt.Errorf("malformed Content-Length %q", value)
			}
			h.length = int64(n)
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			h.chunked = bytes.EqualFold(value, []byte("chunked"))
			if !h.chunked {
				return h, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(value, []byte("close")) {
				h.close = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				h.close = false
			}
		}
	}
}

// line returns the next line without its CRLF, valid until the next read.
func (c *loadConn) line() ([]byte, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("header line too long")
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

// readChunked reads a chunked body and its trailer.
func (c *loadConn) readChunked(keep bool) (bool, error) {
	if err := c.readToEnd(httputil.NewChunkedReader(c.br)); err != nil {
		return false, err
	}
	if len(c.answer) == maxAnswerBytes {
		return false, nil // the rest stays on the wire
	}
	for { // the trailer, up to its blank line
		line, err := c.line()
		if err != nil {
			return false, fmt.Errorf("read trailer: %w", unexpected(err))
		}
		if len(line) == 0 {
			return keep, nil
		}
	}
}

// readToEnd appends r to c.answer up to maxAnswerBytes.
func (c *loadConn) readToEnd(r io.Reader) error {
	for len(c.answer) < maxAnswerBytes {
		if len(c.answer) == cap(c.answer) {
			c.answer = append(c.answer, 0)[:len(c.answer)]
		}
		n, err := r.Read(c.answer[len(c.answer):min(cap(c.answer), maxAnswerBytes)])
		c.answer = c.answer[:len(c.answer)+n]
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read answer body: %w", err)
		}
	}
	return nil
}

// grow returns b resized to n, reusing its array when it is big enough.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

// unexpected turns an EOF in the middle of an answer into what it is.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// atoi parses a non-negative decimal without allocating.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int(d-'0')
	}
	return n, true
}

// connIdleMax is how long a connection may wait in its pool and still be
// reused: the server closes idle connections after a while (two minutes
// for postpipe's API), and a request sent on one it closed would fail.
const connIdleMax = 10 * time.Second

// loadConns is a scenario's connections: each goroutine that sends load
// takes one when it starts and gives it back when it leaves, so users that
// come and go with the stages reuse warm connections (as net/http's idle
// pool did), and close drops them all at the scenario's end. The lock is
// taken per goroutine, never per request.
type loadConns struct {
	addr, host string
	basePath   string // the target's path, before every request's
	tls        *tls.Config
	timeout    time.Duration

	mu   sync.Mutex
	idle []*loadConn
	all  []*loadConn
}

// newLoadConns prepares the connections to target, a base URL (http or
// https). tlsConfig is for https targets; nil: the system's roots.
func newLoadConns(target string, timeout time.Duration, tlsConfig *tls.Config) (*loadConns, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", target, err)
	}
	p := &loadConns{host: u.Host, basePath: u.EscapedPath(), timeout: timeout}
	port := u.Port()
	switch u.Scheme {
	case "http":
		port = cmp.Or(port, "80")
	case "https":
		port = cmp.Or(port, "443")
		p.tls = tlsConfig
		if p.tls == nil {
			p.tls = &tls.Config{}
		}
		p.tls = p.tls.Clone()
		if p.tls.ServerName == "" {
			p.tls.ServerName = u.Hostname()
		}
		p.tls.NextProtos = []string{"http/1.1"}
	default:
		return nil, fmt.Errorf("target %q: want http or https", target)
	}
	p.addr = net.JoinHostPort(u.Hostname(), port)
	return p, nil
}

// fresh returns an empty set of connections to the same target.
func (p *loadConns) fresh() *loadConns {
	return &loadConns{addr: p.addr, host: p.host, basePath: p.basePath, tls: p.tls, timeout: p.timeout}
}

// get returns a connection for one goroutine's use.
func (p *loadConns) get() *loadConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		if time.Since(c.idleSince) > connIdleMax {
			c.close() // redialled on use
		}
		return c
	}
	c := &loadConn{addr: p.addr, host: p.host, tls: p.tls, timeout: p.timeout}
	p.all = append(p.all, c)
	return c
}

// put gives a connection back once its goroutine is done with it.
func (p *loadConns) put(c *loadConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.idleSince = time.Now()
	if c.nc == nil && len(p.idle) > 0 {
		// Closed (an error, or the server said close): the next get
		// should take a live connection first; this one redials.
		p.idle = append(p.idle, nil)
		copy(p.idle[1:], p.idle)
		p.idle[0] = c
		return
	}
	p.idle = append(p.idle, c)
}

// close closes every connection; call it once no goroutine uses one.
func (p *loadConns) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.all {
		c.close()
	}
	p.idle, p.all = nil, nil
}
