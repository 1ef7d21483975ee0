package api

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strconv"
	"testing"
)

// scanEnds feeds in to a scanner a byte at a time and returns the offsets
// just past each head it vetted, and whether it stopped.
func scanEnds(in []byte) (ends []int, stopped bool) {
	var s framingScanner
	for i := range in {
		if s.feed(in[i : i+1]) {
			ends = append(ends, i+1)
		}
	}
	return ends, s.state == stStopped
}

// scanSplit feeds in cut at the given offsets and returns the heads vetted.
func scanSplit(in []byte, cuts ...int) int64 {
	var s framingScanner
	last := 0
	for _, c := range cuts {
		if c > last && c < len(in) {
			s.feed(in[last:c])
			last = c
		}
	}
	s.feed(in[last:])
	return s.heads
}

// goHeads is what net/http's server reads of in, with its own parser: the
// offset past each request head it accepts, until it refuses a head or a
// body, and whether each head had both Content-Length and
// Transfer-Encoding (read from the raw head: net/http deletes one).
func goHeads(in []byte) (ends []int, both []bool) {
	rd := bytes.NewReader(in)
	br := bufio.NewReaderSize(rd, 4096) // the server's
	pos := func() int { return len(in) - rd.Len() - br.Buffered() }
	post := false
	for {
		if post { // as the server does after a POST (server.go)
			peek, _ := br.Peek(4)
			n := 0
			for n < len(peek) && (peek[n] == '\r' || peek[n] == '\n') {
				n++
			}
			_, _ = br.Discard(n)
		}
		start := pos()
		req, err := http.ReadRequest(br)
		if err != nil || req.ProtoMajor != 1 {
			return
		}
		end := pos()
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(in[start:end])))
		_, _ = tp.ReadLine()
		h, _ := tp.ReadMIMEHeader()
		_, cl := h["Content-Length"]
		_, te := h["Transfer-Encoding"]
		ends, both = append(ends, end), append(both, cl && te)
		if cl && te {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		post = req.Method == http.MethodPost
	}
}

// checkAgainstGo holds the scanner to net/http on in: every head net/http
// accepts, the scanner vets, ending at the same byte, until the first with
// both fields, which it does not vet, nor anything after.
func checkAgainstGo(t *testing.T, in []byte) {
	t.Helper()
	want, both := goHeads(in)
	got, stopped := scanEnds(in)
	for i, end := range want {
		if both[i] {
			if len(got) != i || !stopped {
				t.Fatalf("%q: head %d has both fields; the scanner vetted %d heads (stopped %v), want %d and stopped", in, i+1, len(got), stopped, i)
			}
			break
		}
		if i >= len(got) || got[i] != end {
			t.Fatalf("%q: net/http reads heads ending at %v, the scanner %v", in, want, got)
		}
	}
	for _, cut := range []int{1, len(in) / 3, len(in) / 2, len(in) - 1} {
		if n := scanSplit(in, cut, cut+7, cut+8); n != int64(len(got)) {
			t.Fatalf("%q split at %d: %d heads, a byte at a time %d", in, cut, n, len(got))
		}
	}
}

// framingCases are framings net/http accepts, odd ones included, and the
// smuggling shapes.
var framingCases = []string{
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST /v1/posts HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n5;name=value\r\nhello\r\n3 \r\nabc\r\nA\r\n0123456789\r\n0;x\r\nTrailer-One: 1\r\nTrailer-Two: 2\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n  5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\nHost: a\nContent-Length: 2\n\nokPOST / HTTP/1.1\nHost: a\nContent-Length: 0\n\n\nGET / HTTP/1.1\nHost: a\n\n",
	"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	// smuggling: both fields, either order, any case, folded
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nCONTENT-LENGTH: 3\r\ntransfer-encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	// net/http refuses these; the scanner must not vet past them
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcdGET / HTTP/1.1\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
}

// TestFramingScannerMatchesGo: on each case, fed a byte at a time and cut
// anywhere, the scanner finds the heads net/http reads, and no head after
// one with both fields.
func TestFramingScannerMatchesGo(t *testing.T) {
	for _, c := range framingCases {
		checkAgainstGo(t, []byte(c))
		in := []byte(c)
		want := scanSplit(in)
		for cut := 1; cut < len(in); cut++ { // every two-piece split
			if got := scanSplit(in, cut); got != want {
				t.Fatalf("%q cut at %d: %d heads, whole %d", c, cut, got, want)
			}
		}
	}
}

// TestFramingScannerFindsBoth: the smuggling shapes stop the scanner at
// the head with both fields, whatever came before it.
func TestFramingScannerFindsBoth(t *testing.T) {
	for _, tt := range []struct {
		in     string
		vetted int
	}{
		{framingCases[12], 0}, {framingCases[13], 0}, {framingCases[14], 1}, {framingCases[15], 0},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n" + framingCases[12], 1},
		{framingCases[3] + framingCases[13], 2},
	} {
		ends, stopped := scanEnds([]byte(tt.in))
		if len(ends) != tt.vetted || !stopped {
			t.Errorf("%q: vetted %d (stopped %v), want %d and stopped", tt.in, len(ends), stopped, tt.vetted)
		}
	}
}

// FuzzFramingScanner holds the scanner to net/http's own parser on any
// input.
func FuzzFramingScanner(f *testing.F) {
	for _, c := range framingCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<12 {
			return
		}
		checkAgainstGo(t, in)
	})
}

// BenchmarkFramingScanner: the scanner's cost per request, a ~300-byte
// post with the headers a client typically sends.
func BenchmarkFramingScanner(b *testing.B) {
	body := `{"author":"Ada","title":"Notes on the engine","subtitle":"first","content":"The analytical engine weaves algebraic patterns.","tags":["go","kafka"]}`
	req := []byte("POST /v1/posts HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n" +
		"Content-Type: application/json\r\nIdempotency-Key: order-1234\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	var s framingScanner
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		s.feed(req)
	}
	if s.heads != int64(b.N) {
		b.Fatalf("%d heads, want %d", s.heads, b.N)
	}
}

// BenchmarkFramingGate: what the gate adds to each request on a checked
// connection (finding the connection in the context, two atomics), and
// the refusal check of one API layer.
func BenchmarkFramingGate(b *testing.B) {
	fc := &framingConn{}
	fc.vetted.Store(1 << 62)
	a := &API{}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.refuseFraming(w, r) })
	g := framingGate{next}
	r := httptest.NewRequest(http.MethodPost, "/v1/posts", nil)
	r = r.WithContext(context.WithValue(context.WithValue(r.Context(), framingConnKey{}, fc), struct{ k int }{1}, 1))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		g.ServeHTTP(w, r)
	}
}
