package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

// FuzzParse holds Parse to its promises on any input (the seeds are in
// testdata/fuzz/FuzzParse: an order and a click of the example streams,
// and hostile bodies):
//
//   - it never panics;
//
//   - what it accepts, encoding/json accepts, and decodes (numbers as
//     json.Number) to the same Tree: Parse is stricter, never different;
//
//   - Body is a fixed point: Parse(Body) gives the same Body and Tree, and
//     encoding/json decodes Body to Tree too;
//
//   - a refusal as a document (not an object, or field errors) is of data
//     that is JSON;
//
//   - as the item of a batch, the document is read alike.
//
//     go test -run '^$' -fuzz FuzzParse -fuzztime 60s ./internal/doc/
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var nobj *post.NotObjectError
			var ve *post.ValidationError
			if (errors.As(err, &nobj) || errors.As(err, &ve)) && !json.Valid(data) {
				t.Fatalf("%v for data that is not JSON", err)
			}
			return
		}
		std, err := stdDecode(data)
		if err != nil {
			t.Fatalf("Parse accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(any(p.Tree), std) {
			t.Fatalf("Tree %#v\nencoding/json %#v", p.Tree, std)
		}
		again, err := Parse(p.Body)
		if err != nil {
			t.Fatalf("Parse(Body): %v\nBody %q", err, p.Body)
		}
		if !bytes.Equal(again.Body, p.Body) || !reflect.DeepEqual(again.Tree, p.Tree) {
			t.Fatalf("Parse(Body) is not Body: %q, want %q", again.Body, p.Body)
		}
		fromBody, err := stdDecode(p.Body)
		if err != nil || !reflect.DeepEqual(any(p.Tree), fromBody) {
			t.Fatalf("encoding/json decodes Body %q to %#v (%v), want the Tree %#v", p.Body, fromBody, err, p.Tree)
		}
		items, errs, err := ParseBatch(append(append([]byte("["), data...), ']'), 1)
		if err != nil || len(items) != 1 || errs[0] != nil || !bytes.Equal(items[0].Body, p.Body) {
			t.Fatalf("as a batch item: %v %v %q, want Body %q", err, errs, items, p.Body)
		}
	})
}

// FuzzParseBatch: ParseBatch never panics, gives an item or an error for
// each document, and each item it accepts is what Parse makes of its Body.
//
//	go test -run '^$' -fuzz FuzzParseBatch -fuzztime 60s ./internal/doc/
func FuzzParseBatch(f *testing.F) {
	for _, seed := range []string{`[]`, `[{"a":1},{"a":1,"a":2},[1],"x",{"b":"\u00e9"}]`, `[{},`, `[{}] x`, `{"a":1}`, `[{"$a":1e400}]`, `[{},{},{}]`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, errs, err := ParseBatch(data, 2)
		if err != nil {
			if items != nil || errs != nil {
				t.Fatalf("items %q and errors %v beside %v", items, errs, err)
			}
			return
		}
		if len(items) != len(errs) || len(items) > 2 {
			t.Fatalf("%d items, %d errors", len(items), len(errs))
		}
		for i, p := range items {
			if errs[i] != nil {
				continue
			}
			again, err := Parse(p.Body)
			if err != nil || !bytes.Equal(again.Body, p.Body) || !reflect.DeepEqual(again.Tree, p.Tree) {
				t.Fatalf("item %d: Parse(Body %q) = %q, %v", i, p.Body, again.Body, err)
			}
		}
	})
}
