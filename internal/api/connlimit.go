package api

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// LimitConnsPerClient wraps ln so that one client holds at most n
// connections open at once: a connection beyond that never reaches the
// server — it is answered 503 with Retry-After and closed (see refuse) — so
// a single client cannot hold every connection (and goroutine, and request
// slot) the process has, and a client that overshoots hears "retry" rather
// than a reset it cannot tell from a crash.
// A client is an IPv4 address or an IPv6 /64, the block one subscriber
// usually gets: counting single IPv6 addresses would let any such client
// open n connections from each of its 2^64 addresses. Behind a proxy every
// client is the proxy: raise n or set 0 there. n <= 0 returns ln unchanged.
func LimitConnsPerClient(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &connLimitListener{Listener: ln, max: n, open: map[netip.Prefix]int{},
		refusing: make(chan struct{}, maxRefusing), refusal: refusal(n)}
}

// maxRefusing bounds the connections being answered 503 at once; beyond it
// one is closed unanswered, so a flood of connections costs at most this
// many short-lived goroutines.
const maxRefusing = 256

// refuseFor bounds how long a refused connection is kept to read the
// request's head, write the 503 and read what else the client sent.
const refuseFor = time.Second

// refusal is the whole answer to a connection over the bound: the problem
// document the API gives for an overload, with the bound named.
func refusal(n int) []byte {
	body := fmt.Sprintf(`{"type":"about:blank","title":"Service Unavailable","status":503,`+
		`"detail":"this client already has %d connections open, the most one client may hold; reuse a connection or retry later"}`, n)
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"+
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

type connLimitListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[netip.Prefix]int // only clients with a connection open

	refusing chan struct{} // one per connection being refused
	refusal  []byte
}

// Accept returns the next connection of a client under its bound; the
// others are refused without returning, so the server never sees them.
func (l *connLimitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client, ok := clientPrefix(c.RemoteAddr())
		if !ok { // not TCP (a test's pipe, a unix socket): no client to count
			return c, nil
		}
		if !l.acquire(client) {
			select {
			case l.refusing <- struct{}{}:
				go func() {
					defer func() { <-l.refusing }()
					l.refuse(c)
				}()
			default:
				_ = c.Close()
			}
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

// refuse answers c 503 and closes it. It reads the request's head first:
// an answer sent before the request was written is one an HTTP client
// drops as unsolicited, and its request then fails as if reset. Then the
// write side is shut and what else the client sent is read and dropped
// for a moment, because closing a socket with unread data makes the
// kernel send a reset, which can destroy the answer before it is read.
func (l *connLimitListener) refuse(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(refuseFor))
	in := bufio.NewReaderSize(io.LimitReader(c, 64<<10), 4<<10)
	if _, err := http.ReadRequest(in); err != nil {
		return // no request head in time (or not HTTP): nothing to answer
	}
	if _, err := c.Write(l.refusal); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, in)
}

func (l *connLimitListener) acquire(client netip.Prefix) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client] >= l.max {
		return false
	}
	l.open[client]++
	return true
}

func (l *connLimitListener) release(client netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client) // the map holds only clients with connections
	}
}

// clientPrefix is whom a connection counts against: clientUnit of its
// address.
func clientPrefix(a net.Addr) (netip.Prefix, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	return clientUnit(tcp.AddrPort().Addr()), true
}

// clientUnit is the one unit the connection cap and the rate limit count
// a client in: its IPv4 address (an IPv4-mapped IPv6 one included) or its
// IPv6 /64, the block one subscriber usually gets.
func clientUnit(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits) // cannot fail: bits fits the address
	return p
}

// countedConn gives its client's place back when closed, once however
// often Close is called (the server and a handler may both close it).
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite lets the server half-close before it closes, as it does on a
// bare TCP connection, so a client still reads an error answer (a 413)
// sent before its whole body was read instead of a reset.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) usable.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }
