package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// readBody checks the content type and size and returns the whole body.
// An absent Content-Type is taken as JSON (old clients omit it); any other
// type is refused.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	// The exact "application/json" every client sends is taken without
	// parsing (mime.ParseMediaType allocates a map per call).
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, badRequest(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported; send application/json", ct))
		}
	}
	if r.ContentLength > max {
		return nil, bodyTooLarge(max)
	}
	if ra, ok := r.Body.(*readAheadBody); ok {
		if int64(len(ra.data)) > max {
			return nil, bodyTooLarge(max)
		}
		return ra.data, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, bodyTooLarge(max)
		}
		return nil, badRequest(http.StatusBadRequest, "could not read the body: "+err.Error())
	}
	return body, nil
}

func bodyTooLarge(max int64) error {
	return badRequest(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", max))
}

// readAheadBody is a body read in full before the request took its slot.
type readAheadBody struct {
	*bytes.Reader
	data []byte
	orig io.Closer
}

func (b *readAheadBody) Close() error { return b.orig.Close() }

// readAhead reads r's body (up to max+1 bytes, so readBody still sees one
// that is too large) within timeout (408 beyond it) and puts it back as a
// *readAheadBody. A Content-Length over max is left to readBody, which
// refuses it without reading. The body's bytes are reserved in res first:
// the declared length before a byte is read, so a body the budget cannot
// hold is answered 503 while it still costs nothing; a body without a
// declared length as its buffer grows.
func readAhead(w http.ResponseWriter, r *http.Request, max int64, timeout time.Duration, res *reservation) error {
	if r.ContentLength > max {
		return nil
	}
	if err := res.grow(r.ContentLength); err != nil {
		return err
	}
	// Not every ResponseWriter reaches a connection (httptest's does not):
	// the server's ReadTimeout then still bounds the read.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(timeout))
	data, err := readAll(r.Body, r.ContentLength, max+1, res)
	if err != nil {
		var budgetErr *bodyBudgetError
		switch {
		case errors.As(err, &budgetErr):
			return err
		case errors.Is(err, os.ErrDeadlineExceeded):
			return badRequest(http.StatusRequestTimeout, fmt.Sprintf("the body did not arrive within %s", timeout))
		}
		return badRequest(http.StatusBadRequest, "could not read the body: "+err.Error())
	}
	// Lift the deadline once the body is in: net/http may read on in the
	// background while the handler runs, and a read failing on the
	// deadline then could cancel the request's context mid-publish.
	// Nothing more is read from this request; the server sets new
	// deadlines for the connection's next one. (After a failed read the
	// deadline stays, as it does for a body over the limit: net/http
	// would otherwise wait for the rest of the body before answering.)
	if int64(len(data)) <= max {
		_ = rc.SetReadDeadline(time.Time{})
	}
	r.Body = &readAheadBody{Reader: bytes.NewReader(data), data: data, orig: r.Body}
	return nil
}

// firstReadBytes caps readAll's first buffer. The usual post (a few
// hundred bytes, declared) fits the first buffer exactly, in one
// allocation; a larger body grows its buffer with the bytes that arrive,
// never from the declared length alone: a client that declares 16 MiB and
// sends nothing costs this much, not 16 MiB.
const firstReadBytes = 32 << 10

// readAll reads body up to limit bytes; a body longer than declared is
// still read on, up to limit. Its buffer starts at min(declared+1,
// firstReadBytes) (512 bytes without a declared length, as io.ReadAll)
// and doubles when full, but not past declared+1 while the body is within
// its declared length, so a declared body ends in a buffer of its size.
// Each growth is reserved in res first (res may be nil).
func readAll(body io.Reader, declared, limit int64, res *reservation) ([]byte, error) {
	size := int64(512)
	if declared > 0 {
		size = min(declared+1, firstReadBytes) // +1: room to see the end without growing
	}
	size = max(min(size, limit), 1)
	if err := res.grow(size); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, size)
	for {
		if int64(len(buf)) >= limit { // the buffer may have grown past it (size classes)
			return buf, nil
		}
		if len(buf) == cap(buf) {
			next := min(2*int64(cap(buf)), limit)
			if int64(len(buf)) <= declared {
				next = min(next, declared+1)
			}
			if err := res.grow(next); err != nil {
				return buf, err
			}
			buf = slices.Grow(buf, int(next)-len(buf))
		}
		room := buf[len(buf):min(cap(buf), int(limit))]
		n, err := body.Read(room)
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// decodeInput decodes one post strictly (post.DecodeInput): field problems
// are validation failures (422), anything that is not one JSON object is a
// 400.
func decodeInput(data []byte) (post.Input, error) {
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return post.Input{}, badRequest(http.StatusBadRequest, "malformed JSON: the body is empty")
	}
	in, err := post.DecodeInput(data)
	if err != nil {
		return post.Input{}, classifyDecodeError(err, "the body")
	}
	return in, nil
}

// decodeBatch decodes a JSON array of posts in one pass over the body
// (post.DecodeBatch). A body that is not a JSON array is an error; items[i]
// is valid only where itemErrs[i] is nil (a wrong type, unknown field or bad
// string fails that item alone). More than max posts is an error naming how
// many there were.
func decodeBatch(data []byte, max int) (items []post.Input, itemErrs []error, err error) {
	if len(bytes.TrimLeft(data, " \t\r\n")) == 0 {
		return nil, nil, badRequest(http.StatusBadRequest, "malformed JSON: the body is empty")
	}
	items, itemErrs, err = post.DecodeBatch(data, max)
	if err != nil {
		return nil, nil, classifyDecodeError(err, "the body")
	}
	for i, e := range itemErrs {
		if e != nil {
			itemErrs[i] = classifyDecodeError(e, "a post")
		}
	}
	return items, itemErrs, nil
}

// classifyDecodeError turns a decoding error into the client error it
// answers; what names the value that should have been an object.
func classifyDecodeError(err error, what string) error {
	var (
		syntax  *post.SyntaxError
		notObj  *post.NotObjectError
		valErr  *post.ValidationError
		tooMany *post.TooManyError
	)
	switch {
	case errors.As(err, &syntax) && syntax.EOF:
		return badRequest(http.StatusBadRequest, "malformed JSON: the body ends too early")
	case errors.As(err, &syntax):
		return badRequest(http.StatusBadRequest, syntax.Error())
	case errors.As(err, &notObj):
		return badRequest(http.StatusBadRequest, fmt.Sprintf("%s must be a JSON object, not %s", what, notObj.Kind))
	case errors.As(err, &valErr):
		return &requestError{status: http.StatusUnprocessableEntity, detail: valErr.Error(), fields: valErr.Fields, more: valErr.More}
	case errors.As(err, &tooMany):
		return badRequest(http.StatusUnprocessableEntity, tooMany.Error())
	case errors.Is(err, post.ErrNotArray):
		return badRequest(http.StatusBadRequest, err.Error())
	default:
		return badRequest(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
}
