package doc

import (
	"testing"
)

// The request path of a document of a declared stream: Parse, then Accept
// (reserved names, the schema, the id, the fingerprint, the size). newID
// is a constant, so a click's figures are this package's alone (the API's
// UUIDv7 adds its own).
//
//	go test -run '^$' -bench . -benchmem ./internal/doc/
func BenchmarkAcceptOrder(b *testing.B) { benchAccept(b, "orders", "order.json") }

func BenchmarkAcceptClick(b *testing.B) { benchAccept(b, "clicks", "click.json") }

func benchAccept(b *testing.B, stream, file string) {
	st := streamNamed(b, stream)
	data := readFile(b, file)
	newID := func() string { return "0193a1b2-0000-7000-8000-000000000001" }
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Accept(st, p, now, newID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseOrder is Parse alone, the part of Accept's path this
// package's scanner costs.
func BenchmarkParseOrder(b *testing.B) {
	data := readFile(b, "order.json")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnmarshalOrder is the sink's side: a record read and checked
// again.
func BenchmarkUnmarshalOrder(b *testing.B) {
	st := streamNamed(b, "orders")
	p, err := Parse(readFile(b, "order.json"))
	if err != nil {
		b.Fatal(err)
	}
	d, err := Accept(st, p, now, nil)
	if err != nil {
		b.Fatal(err)
	}
	value, key := Marshal(d), []byte(d.ID)
	b.SetBytes(int64(len(value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Unmarshal(st, key, value); err != nil {
			b.Fatal(err)
		}
	}
}
