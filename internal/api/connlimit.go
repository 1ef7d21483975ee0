package api

import (
	"io"
	"net"
	"net/netip"
	"sync"
)

// LimitConnsPerClient wraps ln so that one client holds at most n
// connections open at once: a connection beyond that is closed as soon as
// it is accepted, before a byte of it is read, so a single client cannot
// hold every connection (and goroutine, and request slot) the process has.
// A client is an IPv4 address or an IPv6 /64, the block one subscriber
// usually gets: counting single IPv6 addresses would let any such client
// open n connections from each of its 2^64 addresses. Behind a proxy every
// client is the proxy: raise n or set 0 there. n <= 0 returns ln unchanged.
func LimitConnsPerClient(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &connLimitListener{Listener: ln, max: n, open: map[netip.Prefix]int{}}
}

type connLimitListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[netip.Prefix]int // only clients with a connection open
}

// Accept returns the next connection of a client under its bound; the
// others are closed without returning, so the server never sees them.
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
			_ = c.Close()
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
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

// clientPrefix is whom a connection counts against: its IPv4 address (an
// IPv4-mapped IPv6 one included) or its IPv6 /64.
func clientPrefix(a net.Addr) (netip.Prefix, bool) {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip := tcp.AddrPort().Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p, true
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
