package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/postpipe/postpipe/internal/post"
)

// readBody checks the content type and size and returns the whole body.
// An absent Content-Type is taken as JSON (old clients omit it); any other
// type is refused.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, badRequest(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported; send application/json", ct))
		}
	}
	tooLarge := badRequest(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than the limit of %d bytes", max))
	if r.ContentLength > max {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, badRequest(http.StatusBadRequest, "could not read the body: "+err.Error())
	}
	return body, nil
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
		return &requestError{status: http.StatusUnprocessableEntity, detail: valErr.Error(), fields: valErr.Fields}
	case errors.As(err, &tooMany):
		return badRequest(http.StatusUnprocessableEntity, tooMany.Error())
	case errors.Is(err, post.ErrNotArray):
		return badRequest(http.StatusBadRequest, err.Error())
	default:
		return badRequest(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
}
