package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// A request carrying both Content-Length and Transfer-Encoding is framed
// two ways: net/http goes by the chunked coding (and deletes
// Content-Length, so a handler cannot see it), a proxy in front may go by
// Content-Length, and what one takes for the body the other takes for the
// next request: request smuggling. Such a request is refused, 400, and its
// connection closed.
//
// Only the bytes can tell, so CheckFraming wraps each connection with a
// scanner of HTTP/1.1 framing that reads along with the server: request
// line, header lines, then the body as net/http frames it (Content-Length
// bytes, or chunk-size lines, data and trailers), so it finds the next
// request's head on a kept-alive connection, pipelined requests included.
// It counts the heads it has vetted and notes the first with both fields;
// NewServer's handler counts the requests served on the connection and
// marks the one that is not vetted, which the API then refuses (fail).
//
// The scanner mirrors net/http (go1.26) where net/http accepts, and stops
// where net/http refuses: a request line without exactly two spaces, a
// Content-Length that is not digits (or differs from an earlier one), a
// chunk-size line that is not hex digits, an extension and CRLF, chunk
// data not followed by CRLF. net/http then closes the connection itself
// (a 400 for a bad head; a body error ends the connection after the
// answer). Should net/http ever serve a request past such a point, that
// request is not vetted and is refused too: the scanner fails closed.
// At a head with both fields it stops too, so neither that request nor
// any after it on the connection is vetted.

// errAmbiguousFraming refuses a request with both Content-Length and
// Transfer-Encoding, or one whose framing the connection's scanner could
// not follow.
var errAmbiguousFraming = errors.New("the request has both Content-Length and Transfer-Encoding (or a framing that could not be checked); send one of them")

// framingRefused marks a request NewServer's handler found not vetted.
// Its space makes it a name no request can carry (net/http refuses it in a
// header), so the mark cannot be sent by a client.
const framingRefused = "Postpipe framing-refused"

// refuseFraming answers a request marked by NewServer's handler; it runs
// first in every layer of the API that answers before its routes.
func (a *API) refuseFraming(w http.ResponseWriter, r *http.Request) bool {
	if _, ok := r.Header[framingRefused]; !ok {
		return false
	}
	a.fail(w, r, errAmbiguousFraming)
	return true
}

// CheckFraming wraps ln so that each connection's requests are vetted for
// ambiguous framing; NewServer's handler acts on it.
func CheckFraming(ln net.Listener) net.Listener { return framingListener{ln} }

type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// framingConn scans what the server reads. The server never reads from
// two goroutines at once (its background read waits for the handler's
// reads to end), so the scanner needs no lock; the counts it publishes
// are atomic because the handler reads them.
type framingConn struct {
	net.Conn
	scan   framingScanner
	vetted atomic.Int64 // heads scanned whole, the first with both fields excluded
	served atomic.Int64 // requests NewServer's handler saw
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.scan.feed(p[:n]) {
		c.vetted.Store(c.scan.heads)
	}
	return n, err
}

// vet counts a request served on c and reports whether its head was
// vetted: scanned whole, without both Content-Length and Transfer-Encoding.
// Requests are served one after another on a connection, and the server
// has read a request's head before serving it, so the scanner has counted
// it.
func (c *framingConn) vet() bool { return c.served.Add(1) <= c.vetted.Load() }

// CloseWrite and ReadFrom keep what the wrapped connection offers (see
// countedConn).
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *framingConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

type framingConnKey struct{}

// framingContext is NewServer's ConnContext: it puts a framingConn in its
// connection's context, once per connection.
func framingContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, framingConnKey{}, fc)
	}
	return ctx
}

// framingGate is NewServer's handler: it counts each request on a
// CheckFraming connection and marks one not vetted for the API to refuse.
// It must see every request the server reads, which is why NewServer
// turns off the server's own answer to "OPTIONS *".
type framingGate struct{ next http.Handler }

func (g framingGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if fc, ok := r.Context().Value(framingConnKey{}).(*framingConn); ok && !fc.vet() {
		r.Header[framingRefused] = nil
		// Close even if a layer that does not know the mark answers.
		w.Header().Set("Connection", "close")
	}
	g.next.ServeHTTP(w, r)
}

// framingScanner follows HTTP/1.1 request framing a chunk of bytes at a
// time, in constant memory: a state and a few counters, nothing buffered.
type framingScanner struct {
	state uint8
	heads int64 // heads scanned whole (not counting one with both fields)

	// The head being scanned.
	spaces  int   // in the request line
	method  int   // bytes of the method matching "POST", -1 once not
	proto   int   // bytes of the version matching "HTTP/1.0", -1 once not
	name    int   // bytes of the header name so far
	clName  bool  // the name still matches content-length
	teName  bool  // the name still matches transfer-encoding
	inCL    bool  // the header being read (continuations too) is Content-Length
	cl      int64 // its value
	clPart  uint8 // 0 leading space, 1 digits, 2 trailing space
	hasCL   bool
	hasTE   bool
	clValue int64 // the Content-Length
	post    bool  // the last head was a POST: net/http skips up to 4 CR/LF after it
	skip    int

	// The body.
	remain int64 // bytes of the body, or of the chunk, left
	hex    int   // digits of the chunk size
	line   int   // bytes of the chunk-size line
}

const (
	stStart        uint8 = iota // before a request line, skipping CR/LF after a POST
	stReqLine                   // in the request line
	stReqLineCR                 // the request line's CR came
	stLineStart                 // at a header line's start
	stHeadCR                    // a CR at a header line's start: the head's end if LF follows
	stName                      // in a header name
	stValue                     // in a value that does not matter
	stCLValue                   // in the value of Content-Length
	stBody                      // in a Content-Length body
	stChunkSize                 // in a chunk-size line's digits
	stChunkExt                  // in its extension, or its trailing space
	stChunkSizeCR               // its CR came
	stChunkData                 // in a chunk's data
	stChunkCR                   // after the data, its CR due
	stChunkLF                   // its LF due
	stTrailerStart              // at a trailer line's start
	stTrailerCR                 // a CR at a trailer line's start
	stTrailer                   // in a trailer line
	stStopped                   // a head with both fields came, or net/http refuses what came: nothing more is vetted
)

// maxChunkLine is net/http's bound on a chunk-size line (internal/chunked.go).
const maxChunkLine = 4096

// feed scans p and reports whether a head was completed.
func (s *framingScanner) feed(p []byte) bool {
	before := s.heads
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch s.state {
		case stStart:
			if s.skip > 0 && (b == '\r' || b == '\n') {
				s.skip--
				continue
			}
			s.beginHead()
			s.state = stReqLine
			i-- // the byte starts the request line
		case stReqLine:
			switch b {
			case '\r':
				s.state = stReqLineCR
			case '\n':
				s.endRequestLine()
			case ' ':
				s.spaces++
			default:
				if s.spaces == 1 { // the target: nothing in it matters
					if j := bytes.IndexAny(p[i:], " \r\n"); j >= 0 {
						i += j - 1
					} else {
						i = len(p)
					}
					continue
				}
				switch s.spaces {
				case 0:
					s.method = match(s.method, "POST", b)
				case 2:
					s.proto = match(s.proto, "HTTP/1.0", b)
				}
			}
		case stReqLineCR:
			if b != '\n' {
				s.stop() // a CR inside the request line: net/http refuses it
				continue
			}
			s.endRequestLine()
		case stLineStart:
			switch b {
			case '\r':
				s.state = stHeadCR
			case '\n':
				s.endHead()
			case ' ', '\t': // obs-fold: the previous header goes on
				if s.inCL {
					s.state = stCLValue
					s.clSpace()
				} else {
					s.state = stValue
				}
			default:
				if !s.endHeader() {
					continue
				}
				s.name, s.clName, s.teName = 0, true, true
				s.state = stName
				i--
			}
		case stHeadCR:
			if b != '\n' {
				s.stop()
				continue
			}
			s.endHead()
		case stName:
			if s.name == 0 { // the whole name at once when this read holds it
				if j := bytes.IndexAny(p[i:], ":\r\n"); j >= 0 && p[i+j] == ':' {
					name := p[i : i+j]
					s.name = j
					s.clName = j == len("content-length") && asciiEqualFold(name, "content-length")
					s.teName = j == len("transfer-encoding") && asciiEqualFold(name, "transfer-encoding")
					s.startValue()
					i += j
					continue
				}
			}
			if b == ':' {
				s.startValue()
				continue
			}
			if b == '\n' || b == '\r' {
				s.stop() // a header line without a colon
				continue
			}
			c := lower(b)
			s.clName = s.clName && s.name < len("content-length") && "content-length"[s.name] == c
			s.teName = s.teName && s.name < len("transfer-encoding") && "transfer-encoding"[s.name] == c
			s.name++
		case stValue:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				i = len(p)
				continue
			}
			i += j
			s.state = stLineStart
		case stCLValue:
			switch {
			case b == '\n':
				s.state = stLineStart
			case b == '\r':
				// net/http takes the CR of a CRLF off; one elsewhere
				// makes the value invalid, and the request refused.
			case b == ' ' || b == '\t':
				s.clSpace()
			case '0' <= b && b <= '9' && s.clPart < 2:
				s.clPart = 1
				if s.cl > (1<<63-1-9)/10 {
					s.stop() // net/http refuses a length past 2^63-1
					continue
				}
				s.cl = s.cl*10 + int64(b-'0')
			default:
				s.stop() // not a length: net/http refuses the request
			}
		case stBody:
			n := min(s.remain, int64(len(p)-i))
			s.remain -= n
			i += int(n) - 1
			if s.remain == 0 {
				s.endBody()
			}
		case stChunkSize:
			s.line++
			switch {
			case isHex(b) && s.hex < 16:
				s.hex++
				s.remain = s.remain<<4 | int64(unhex(b))
			case s.hex > 0 && (b == ';' || b == ' ' || b == '\t'):
				s.state = stChunkExt
			case s.hex > 0 && b == '\r':
				s.state = stChunkSizeCR
			default:
				s.stop() // no hex digit, more than 16, a bare LF or other bytes
			}
		case stChunkExt:
			s.line++
			switch {
			case s.line >= maxChunkLine:
				s.stop()
			case b == '\r':
				s.state = stChunkSizeCR
			case b == '\n':
				s.stop() // net/http wants CRLF here
			}
			// A space after the size may only be trailing space,
			// which net/http trims; a space then ';' it refuses.
			// Both are let through: the request is refused by
			// net/http either way, and its connection closed.
		case stChunkSizeCR:
			if b != '\n' || s.line >= maxChunkLine {
				s.stop()
				continue
			}
			s.line = 0
			if s.hex == 0 {
				s.stop()
				continue
			}
			s.hex = 0
			if s.remain < 0 { // 16 hex digits past 2^63: net/http's own bound is 2^64
				s.stop()
				continue
			}
			if s.remain == 0 {
				s.state = stTrailerStart
				continue
			}
			s.state = stChunkData
		case stChunkData:
			n := min(s.remain, int64(len(p)-i))
			s.remain -= n
			i += int(n) - 1
			if s.remain == 0 {
				s.state = stChunkCR
			}
		case stChunkCR:
			if b != '\r' {
				s.stop()
				continue
			}
			s.state = stChunkLF
		case stChunkLF:
			if b != '\n' {
				s.stop()
				continue
			}
			s.state = stChunkSize
		case stTrailerStart:
			switch b {
			case '\r':
				s.state = stTrailerCR
			case '\n':
				s.endBody()
			default:
				s.state = stTrailer
			}
		case stTrailerCR:
			if b != '\n' {
				s.stop()
				continue
			}
			s.endBody()
		case stTrailer:
			j := bytes.IndexByte(p[i:], '\n')
			if j < 0 {
				i = len(p)
				continue
			}
			i += j
			s.state = stTrailerStart
		case stStopped:
			return s.heads != before
		}
	}
	return s.heads != before
}

func (s *framingScanner) beginHead() {
	s.spaces, s.method, s.proto = 0, 0, 0
	s.inCL, s.hasCL, s.hasTE, s.clValue = false, false, false, -1
}

// endRequestLine notes what the body's framing depends on: net/http
// needs a method, a target and a version.
func (s *framingScanner) endRequestLine() {
	if s.spaces != 2 {
		s.stop()
		return
	}
	s.post = s.method == len("POST")
	s.state = stLineStart
}

// startValue begins the value of the header whose name ended.
func (s *framingScanner) startValue() {
	switch {
	case s.clName && s.name == len("content-length"):
		s.inCL, s.cl, s.clPart = true, 0, 0
		s.state = stCLValue
		return
	case s.teName && s.name == len("transfer-encoding"):
		s.hasTE = true
	}
	s.state = stValue
}

// clSpace is optional white space in a Content-Length value: net/http
// trims it at either end and refuses it between digits.
func (s *framingScanner) clSpace() {
	if s.clPart == 1 {
		s.clPart = 2
	}
}

// endHeader closes the header before a new line or the head's end; a
// Content-Length must be digits, and equal to any earlier one.
func (s *framingScanner) endHeader() bool {
	if !s.inCL {
		return true
	}
	s.inCL = false
	if s.clPart == 0 || s.hasCL && s.cl != s.clValue {
		s.stop()
		return false
	}
	s.hasCL, s.clValue = true, s.cl
	return true
}

// endHead completes a head and sets the body's framing as net/http does:
// chunked when Transfer-Encoding is there on HTTP/1.1 (net/http ignores
// it on HTTP/1.0), else Content-Length bytes, else none.
func (s *framingScanner) endHead() {
	if !s.endHeader() {
		return
	}
	if s.hasCL && s.hasTE {
		s.stop()
		return
	}
	s.heads++
	switch {
	case s.hasTE && s.proto != len("HTTP/1.0"):
		s.remain, s.hex, s.line = 0, 0, 0
		s.state = stChunkSize
	case s.hasCL && s.clValue > 0:
		s.remain = s.clValue
		s.state = stBody
	default:
		s.endBody()
	}
}

// endBody readies for the next request.
func (s *framingScanner) endBody() {
	s.skip = 0
	if s.post {
		s.skip = 4
	}
	s.state = stStart
}

func (s *framingScanner) stop() { s.state = stStopped }

// match advances a match of want by b: the bytes matched so far, -1 once
// the input differs.
func match(at int, want string, b byte) int {
	if at < 0 || at >= len(want) || want[at] != b {
		return -1
	}
	return at + 1
}

func asciiEqualFold(b []byte, lowered string) bool {
	for i, c := range b {
		if lower(c) != lowered[i] {
			return false
		}
	}
	return true
}

func lower(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

func unhex(b byte) byte {
	switch {
	case b <= '9':
		return b - '0'
	case b >= 'a':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}
