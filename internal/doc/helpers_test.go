package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// examples is examples/streams.yaml: posts, orders (id /orderId, list
// customer and status) and clicks (generated ids).
var examples = sync.OnceValues(func() (*stream.Set, error) {
	return stream.Load("../../examples/streams.yaml")
})

// things is a stream whose id is /id, and that allows any other member, of
// any size, and lists by a field of each type.
const thingsYAML = `streams:
  - name: things
    id: /id
    list: [name, count, price, active]
    schema:
      type: object
      required: [id]
      properties:
        id: {type: string}
        name: {type: string}
        count: {type: integer}
        price: {type: number}
        active: {type: boolean}
`

var things = sync.OnceValues(func() (*stream.Set, error) {
	dir, err := os.MkdirTemp("", "doc-things")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "streams.yaml")
	if err := os.WriteFile(path, []byte(thingsYAML), 0o600); err != nil {
		return nil, err
	}
	return stream.Load(path)
})

// streamNamed returns orders or clicks of the examples, or things.
func streamNamed(t testing.TB, name string) *stream.Stream {
	t.Helper()
	load := examples
	if name == "things" {
		load = things
	}
	set, err := load()
	if err != nil {
		t.Fatal(err)
	}
	st := set.Lookup(name)
	if st == nil {
		t.Fatalf("no stream %s", name)
	}
	return st
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, body string) Parsed {
	t.Helper()
	p, err := Parse([]byte(body))
	if err != nil {
		t.Fatalf("Parse(%q): %v", body, err)
	}
	return p
}

// stdDecode decodes data as the validator's callers used to, with
// encoding/json keeping numbers as json.Number.
func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

// sameTree reports whether a tree equals what encoding/json decodes.
func sameTree(tree map[string]any, std any) bool {
	return reflect.DeepEqual(any(tree), std)
}

// fieldsOf returns the field errors of a *post.ValidationError, failing
// the test for any other error.
func fieldsOf(t *testing.T, err error) *post.ValidationError {
	t.Helper()
	var ve *post.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%T %v, want a *post.ValidationError", err, err)
	}
	return ve
}
