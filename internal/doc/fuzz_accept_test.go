package doc

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// FuzzAcceptExamples runs decode + validate for every stream of
// examples/streams.yaml: a body is parsed, then accepted or refused by each
// stream's schema. Refusals are errors the API knows (never a panic, never
// another type); what a stream accepts travels: its record decodes back,
// checked as the sink checks it, to the same document.
func FuzzAcceptExamples(f *testing.F) {
	set, err := stream.Load("../../examples/streams.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{"testdata/order.json", "testdata/click.json"} {
		seed, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(seed)
	}
	f.Add([]byte(`{"author":"a","title":"t","content":"c","tags":["x"]}`))
	f.Add([]byte(`{"orderId":"o-1","customer":"c","status":"paid","placedAt":"2026-12-04T10:00:00Z","items":[{"sku":"s","quantity":1,"amount":0.1}]}`))
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			return // Parse's own properties are FuzzParse's
		}
		for _, st := range set.Streams {
			d, err := Accept(st, p, now, func() string { return post.NewID(now) })
			if err != nil {
				var (
					valErr   *post.ValidationError
					tooLarge *TooLargeError
				)
				if !errors.As(err, &valErr) && !errors.As(err, &tooLarge) {
					t.Fatalf("%s: Accept refused with %T: %v", st.Name, err, err)
				}
				continue
			}
			back, err := Unmarshal(st, []byte(d.ID), Marshal(d))
			if err != nil {
				t.Fatalf("%s: an accepted document's record is refused: %v\nbody %s", st.Name, err, d.Body)
			}
			if back.ID != d.ID || !bytes.Equal(back.Body, d.Body) || back.Fingerprint != d.Fingerprint || !back.CreatedAt.Equal(d.CreatedAt) {
				t.Fatalf("%s: record round trip\n got %+v\nwant %+v", st.Name, back, d)
			}
			if !reflect.DeepEqual(p.Tree, mustParse(t, string(back.Body)).Tree) {
				t.Fatalf("%s: the record's body decodes to another document", st.Name)
			}
		}
	})
}
