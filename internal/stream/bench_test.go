package stream

import (
	"os"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

// BenchmarkValidate is what a document costs on the request path: decoding
// it for validation (json.Number kept) and validating it. The comparison
// with google/jsonschema-go that chose the library was run in a throwaway
// module, to keep the loser out of go.mod; docs/streams.md has its cases
// and figures.
//
//	go test -run '^$' -bench Validate -benchmem ./internal/stream/
func BenchmarkValidate(b *testing.B) {
	set, err := Load("../../examples/streams.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ stream, doc string }{
		{"posts", "testdata/post.json"},
		{"orders", "testdata/order.json"},
	} {
		b.Run(bc.stream, func(b *testing.B) {
			data, err := os.ReadFile(bc.doc)
			if err != nil {
				b.Fatal(err)
			}
			v := set.Lookup(bc.stream).Validator
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				doc, err := DecodeDocument(data)
				if err != nil {
					b.Fatal(err)
				}
				if vs, _ := v.Validate(doc); len(vs) > 0 {
					b.Fatalf("%s: %+v", bc.doc, vs)
				}
			}
		})
	}
}

// BenchmarkPostHandDecoder is the same post through internal/post's
// hand-written decoder and Validate, today's request path: what the posts
// stream would give up by validating through its schema instead.
func BenchmarkPostHandDecoder(b *testing.B) {
	data, err := os.ReadFile("testdata/post.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		in, err := post.DecodeInput(data)
		if err == nil {
			err = in.Validate()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
