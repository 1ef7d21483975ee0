package stream

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
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
// measurement: docs/streams.md), with the fast path where the schema
// allows one (fast.go).
type compiled struct {
	s    *jsonschema.Schema
	fast *fastSchema // nil: the library alone
}

// newCompiled is the Validator of s: its fast path when every keyword s
// uses is in the subset fast.go covers.
func newCompiled(s *jsonschema.Schema) compiled {
	return compiled{s: s, fast: compileFast(s)}
}

var printer = message.NewPrinter(language.English)

func (c compiled) Validate(doc any) ([]Violation, int) {
	// A document the fast path passes is one the library finds valid;
	// any other takes the library's path, which says why.
	if c.fast != nil && c.fast.check(doc) == pass {
		return nil, 0
	}
	var vs violations
	// The library judges every item of an array and keeps an error for
	// each bad one: 500,000 bad items in a 1 MB body cost it 0.5 s and
	// 384 MB. A document over a declared bound is refused on that alone.
	path := make([]string, 0, 8)
	overBounds(c.s, doc, &path, &vs)
	if vs.any() {
		return vs.list, vs.more
	}
	err := c.s.Validate(doc)
	if err == nil {
		return nil, 0
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// Not a failed keyword (a value that is not JSON, which
		// DecodeDocument does not make): say so at the root.
		vs.add(nil, err.Error())
		return vs.list, vs.more
	}
	// Only the leaves say what was expected; the nodes above them are
	// "allOf failed", "$ref failed" and the like. The library walks an
	// object's members in map order, so the leaves are sorted by place:
	// the same document gets the same 20 violations every time.
	var leaves []leaf
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		// One violation per field a schema does not allow, at the field,
		// as internal/post answers: the library's one message names them
		// all, in map order, however many a body has.
		if ap, ok := e.ErrorKind.(*kind.AdditionalProperties); ok {
			for _, name := range ap.Properties {
				leaves = append(leaves, leaf{path: append(e.InstanceLocation[:len(e.InstanceLocation):len(e.InstanceLocation)], name), msg: msgNotAllowed})
			}
			return
		}
		leaves = append(leaves, leaf{path: e.InstanceLocation, kind: e.ErrorKind})
	}
	walk(ve)
	slices.SortStableFunc(leaves, func(a, b leaf) int { return comparePaths(a.path, b.path) })
	for _, l := range leaves {
		if !vs.room() {
			continue
		}
		msg := l.msg
		if l.kind != nil {
			msg = l.kind.LocalizedString(printer)
		}
		vs.add(l.path, msg)
	}
	return vs.list, vs.more
}

// leaf is one failed keyword at one place, before its message is made:
// only the listed ones are ever formatted.
type leaf struct {
	path []string
	kind jsonschema.ErrorKind // nil: msg says it
	msg  string
}

// msgNotAllowed is a field that additionalProperties: false refuses.
const msgNotAllowed = "is not a field the schema allows (field names are case-sensitive)"

// violations collects a document's violations within the API's bounds
// (internal/post's, which every answer already keeps).
type violations struct {
	list []Violation
	more int
}

// room reports whether another violation will be listed, counting it
// when it will not, so the caller need not build its message.
func (v *violations) room() bool {
	if len(v.list) < post.MaxFieldErrors {
		return true
	}
	v.more++
	return false
}

func (v *violations) add(path []string, msg string) {
	v.list = append(v.list, Violation{
		Pointer: post.Truncate(pointer(path), post.MaxFieldErrorText),
		Message: post.Truncate(msg, post.MaxFieldErrorText),
	})
}

func (v *violations) any() bool { return len(v.list) > 0 }

// overBounds walks doc beside s, through properties and items only, and
// lists the arrays longer than their maxItems and the objects of more
// members than their maxProperties. It goes into an array or object only
// once it is within its bounds, so it costs at most what the bounds allow.
//
// path is the value's place, one shared buffer pushed and popped on the
// way down: copying it per value was an allocation per array item.
func overBounds(s *jsonschema.Schema, doc any, path *[]string, vs *violations) {
	over := false
	eachPart(s, 0, func(part *jsonschema.Schema) {
		switch d := doc.(type) {
		case []any:
			if !over && part.MaxItems != nil && len(d) > *part.MaxItems {
				over = true
				if vs.room() {
					vs.add(*path, fmt.Sprintf("maxItems: got %d, want %d", len(d), *part.MaxItems))
				}
			}
		case map[string]any:
			if !over && part.MaxProperties != nil && len(d) > *part.MaxProperties {
				over = true
				if vs.room() {
					vs.add(*path, fmt.Sprintf("maxProperties: got %d, want %d", len(d), *part.MaxProperties))
				}
			}
		}
	})
	if over {
		return
	}
	eachPart(s, 0, func(part *jsonschema.Schema) {
		switch d := doc.(type) {
		case []any:
			for i, item := range d {
				sub := part.Items2020
				if i < len(part.PrefixItems) {
					sub = part.PrefixItems[i]
				}
				if sub != nil {
					*path = append(*path, strconv.Itoa(i))
					overBounds(sub, item, path, vs)
					*path = (*path)[:len(*path)-1]
				}
			}
		case map[string]any:
			for name, sub := range part.Properties {
				if v, ok := d[name]; ok {
					*path = append(*path, name)
					overBounds(sub, v, path, vs)
					*path = (*path)[:len(*path)-1]
				}
			}
		}
	})
}

// maxPartDepth bounds eachPart's walk: a $ref may point back at its own
// schema, and a chain of real $refs and allOfs is short.
const maxPartDepth = 16

// eachPart calls fn with s and the schemas it applies to the same value
// in every case, its $ref and allOf, followed through. It is parts without
// the slice, for the per-value walk of every document.
func eachPart(s *jsonschema.Schema, depth int, fn func(*jsonschema.Schema)) {
	if s == nil || depth == maxPartDepth {
		return
	}
	fn(s)
	eachPart(s.Ref, depth+1, fn)
	for _, a := range s.AllOf {
		eachPart(a, depth+1, fn)
	}
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
	if err := check2020(doc); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(draftLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	// format is an assertion, not an annotation: a placedAt that is not a
	// date-time is refused, which is what a schema's author means.
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// check2020 refuses a schema document that names a draft other than
// 2020-12.
func check2020(doc any) error {
	if m, ok := doc.(map[string]any); ok {
		if d, ok := m["$schema"]; ok && d != draft2020 {
			return fmt.Errorf("$schema %v: only %s is accepted", d, draft2020)
		}
	}
	return nil
}

// draftLoader loads the files a schema's $ref names, as the library's
// FileLoader does, and holds them to 2020-12 too: the library would read
// a referenced draft-07 file by draft 7's rules.
type draftLoader struct{}

func (draftLoader) Load(url string) (any, error) {
	doc, err := jsonschema.FileLoader{}.Load(url)
	if err != nil {
		return nil, err
	}
	if err := check2020(doc); err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return doc, nil
}

// comparePaths orders places in a document: token by token, array indexes
// as numbers (so /tags/2 comes before /tags/10), a parent before its
// children. It is a total order, so that the sort's result does not depend
// on the map order the leaves come in: a token that is an index (digits as
// strconv.Itoa writes them) comes before one that is not, and two that are
// not compare as strings ("0" and "00" are two names, not one number).
func comparePaths(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		x, xIndex := index(a[i])
		y, yIndex := index(b[i])
		switch {
		case xIndex && yIndex:
			return cmp.Compare(x, y)
		case xIndex:
			return -1
		case yIndex:
			return 1
		}
		return strings.Compare(a[i], b[i])
	}
	return len(a) - len(b)
}

// index reads a token that is an array index.
func index(token string) (int, bool) {
	i, err := strconv.Atoi(token)
	return i, err == nil && i >= 0 && strconv.Itoa(i) == token
}
