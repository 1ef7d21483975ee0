package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/postpipe/postpipe/internal/post"
)

// draft2020 is the one dialect accepted: one set of rules for every stream
// (draft 7 ignores a $ref's siblings and has no unevaluatedProperties),
// and the one the docs describe. A schema without $schema is read as it.
const draft2020 = "https://json-schema.org/draft/2020-12/schema"

// Violation is one way a document fails its schema.
type Violation struct {
	// Pointer is the JSON Pointer of the failing value ("" is the
	// document itself).
	Pointer string
	// Message says what was expected there.
	Message string
}

// Validator checks decoded documents (see DecodeDocument) against a schema.
type Validator interface {
	// Validate returns at most post.MaxFieldErrors violations, each
	// message at most post.MaxFieldErrorText bytes, and how many more
	// there were; none for a valid document.
	Validate(doc any) (list []Violation, more int)
}

// DecodeDocument decodes one JSON value for validation. Numbers stay
// json.Number: a float64 would round an integer beyond 2^53, and a schema's
// maximum or const would then judge a number the client did not send.
func DecodeDocument(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("decode the document: %w", err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode the document: data after the JSON value")
	}
	return v, nil
}

// compiled is a Validator of santhosh-tekuri/jsonschema (chosen by
// measurement: docs/streams.md).
type compiled struct{ s *jsonschema.Schema }

var printer = message.NewPrinter(language.English)

func (c compiled) Validate(doc any) ([]Violation, int) {
	err := c.s.Validate(doc)
	if err == nil {
		return nil, 0
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// Not a failed keyword (a value that is not JSON, which
		// DecodeDocument does not make): say so at the root.
		return []Violation{{Message: post.Truncate(err.Error(), post.MaxFieldErrorText)}}, 0
	}
	var list []Violation
	more := 0
	// Only the leaves say what was expected; the nodes above them are
	// "allOf failed", "$ref failed" and the like.
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		if len(list) == post.MaxFieldErrors {
			more++
			return
		}
		list = append(list, Violation{
			Pointer: post.Truncate(pointer(e.InstanceLocation), post.MaxFieldErrorText),
			Message: post.Truncate(e.ErrorKind.LocalizedString(printer), post.MaxFieldErrorText),
		})
	}
	walk(ve)
	return list, more
}

// pointer makes a JSON Pointer (RFC 6901) of a path's tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	r := strings.NewReplacer("~", "~0", "/", "~1")
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(r.Replace(t))
	}
	return b.String()
}

// compileSchema compiles doc, the schema found at url. Only file: URLs are
// loaded (the default loader): a schema's $ref to http(s) fails to compile
// rather than fetching at start-up.
func compileSchema(url string, doc any) (*jsonschema.Schema, error) {
	if m, ok := doc.(map[string]any); ok {
		if d, ok := m["$schema"]; ok && d != draft2020 {
			return nil, fmt.Errorf("$schema %v: only %s is accepted", d, draft2020)
		}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// format is an assertion, not an annotation: a placedAt that is not a
	// date-time is refused, which is what a schema's author means.
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}
