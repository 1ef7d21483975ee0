package post

import (
	"encoding/json"
	"strings"
	"testing"
)

// benchPost is a typical post body of about 300 bytes.
const benchPost = `{"author":"Ada Lovelace","title":"Notes on the Analytical Engine","subtitle":"Sketch of the engine invented by Charles Babbage",` +
	`"content":"The engine can arrange and combine its numerical quantities exactly as if they were letters or any other general symbols. Ça va — naïve café.",` +
	`"tags":["history","computing","engines"]}`

func benchBatch() []byte {
	return []byte("[" + strings.TrimSuffix(strings.Repeat(benchPost+",", 500), ",") + "]")
}

func BenchmarkDecodeInput(b *testing.B) {
	data := []byte(benchPost)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeInput(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeInputEncodingJSON(b *testing.B) {
	data := []byte(benchPost)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := stdDecode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBatch500(b *testing.B) {
	data := benchBatch()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeBatch(data, 1000); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatch500EncodingJSON decodes the batch as the API did
// before: one json.Decoder over the array.
func BenchmarkDecodeBatch500EncodingJSON(b *testing.B) {
	data := benchBatch()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var items []Input
		if err := json.Unmarshal(data, &items); err != nil {
			b.Fatal(err)
		}
	}
}
