package api

import (
	"bytes"
	"encoding/json"
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

// decodeInput decodes one post strictly: unknown fields and wrong types are
// validation failures (422), anything that is not JSON is a 400.
func decodeInput(data []byte) (post.Input, error) {
	var in post.Input
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return post.Input{}, classifyJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return post.Input{}, badRequest(http.StatusBadRequest, "malformed JSON: unexpected data after the post object")
	}
	return in, nil
}

// decodeBatch decodes a JSON array of posts in one pass over the body:
// the batch path is where decoding is most of the CPU, so the array is not
// first validated and split into raw elements. A body that is not a JSON
// array is an error; items[i] is valid only where itemErrs[i] is nil (a
// wrong type or unknown field fails that item alone). More than max posts
// is an error naming how many there were.
func decodeBatch(data []byte, max int) (items []post.Input, itemErrs []error, err error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '[' {
		if json.Valid(data) {
			return nil, nil, badRequest(http.StatusBadRequest, "the body must be a JSON array of posts")
		}
		var v any
		return nil, nil, classifyJSONError(json.Unmarshal(data, &v))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil { // the '['
		return nil, nil, classifyJSONError(err)
	}
	n := 0
	for dec.More() {
		n++
		if n > max {
			// Count the rest for the answer without decoding them.
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, nil, classifyJSONError(err)
			}
			continue
		}
		var in post.Input
		err := dec.Decode(&in)
		var (
			syntax *json.SyntaxError
			typ    *json.UnmarshalTypeError
		)
		switch {
		case err == nil:
		case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
			return nil, nil, classifyJSONError(err)
		case errors.As(err, &typ), strings.HasPrefix(err.Error(), "json: unknown field "):
			// The decoder has read the whole element: the rest still decode.
			in, err = post.Input{}, classifyJSONError(err)
		default:
			return nil, nil, classifyJSONError(err)
		}
		items = append(items, in)
		itemErrs = append(itemErrs, err)
	}
	if n > max {
		return nil, nil, badRequest(http.StatusUnprocessableEntity, fmt.Sprintf("the batch has %d posts; the limit is %d", n, max))
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return nil, nil, classifyJSONError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, badRequest(http.StatusBadRequest, "malformed JSON: unexpected data after the array")
	}
	return items, itemErrs, nil
}

func classifyJSONError(err error) error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return badRequest(http.StatusBadRequest, "malformed JSON: the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest(http.StatusBadRequest, "malformed JSON: the body ends too early")
	case errors.As(err, &syntax):
		return badRequest(http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return badRequest(http.StatusBadRequest, fmt.Sprintf("the body must be a JSON object, not %s", typeErr.Value))
		}
		kind := jsonKind(typeErr.Type.String())
		if strings.HasPrefix(field, "tags") { // an element of tags reports the element's type
			kind = "an array of strings"
		}
		msg := fmt.Sprintf("must be %s, not %s", kind, typeErr.Value)
		return &requestError{status: http.StatusUnprocessableEntity, detail: "invalid post: " + field + ": " + msg,
			fields: []post.FieldError{{Field: field, Message: msg}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &requestError{status: http.StatusUnprocessableEntity, detail: "invalid post: unknown field " + name,
			fields: []post.FieldError{{Field: name, Message: "is not a field of a post"}}}
	default:
		return badRequest(http.StatusBadRequest, "malformed JSON: "+err.Error())
	}
}

func jsonKind(goType string) string {
	switch goType {
	case "string":
		return "a string"
	case "[]string":
		return "an array of strings"
	default:
		return "a JSON object"
	}
}
