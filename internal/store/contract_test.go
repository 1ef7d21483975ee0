package store

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/sink/sinktest"
	"github.com/postpipe/postpipe/internal/testkit"
)

// The store's rejection is what the sink takes as one, without either
// package importing the other.
var _ sink.Rejections = (*RejectedError)(nil)

// TestStoresKeepTheWriterContract: the posts store and a stream's
// collection keep the promises the sink's guarantees rest on, refusing a
// document for good without holding the others included.
func TestStoresKeepTheWriterContract(t *testing.T) {
	srv := testkit.Store(t)
	var n atomic.Int64
	t.Run("docs", func(t *testing.T) {
		at := time.Now().UTC().Truncate(time.Millisecond)
		// mk is a new document of body (its %d the number in its id),
		// keyed or not.
		mk := func(body string, keyed bool) doc.Document {
			i := n.Add(1)
			d := doc.Document{ID: fmt.Sprintf("d-%d", i), Body: fmt.Appendf(nil, body, i), CreatedAt: at}
			if keyed {
				d.Fingerprint = fingerprint(d.ID)
			}
			return d
		}
		sinktest.WriterContract(t, sinktest.Contract[doc.Document]{
			New: func(t *testing.T) sink.Writer[doc.Document] {
				return openDocs(t, srv.URI(), fmt.Sprintf("contract_%d", n.Add(1)), nil)
			},
			Doc: func() doc.Document { return mk(`{"n":%d}`, true) },
			Variant: func(d doc.Document) doc.Document {
				d.Body, d.Fingerprint = []byte(`{"other":true}`), fingerprint(d.ID+" again")
				return d
			},
			Unkeyed: func() doc.Document { return mk(`{"n":%d}`, false) },
			// FerretDB refuses an array directly in an array; the
			// conversion refuses nothing here.
			Refused: func() doc.Document { return mk(`{"n":%d,"a":[[1]]}`, true) },
			ID:      func(d doc.Document) (string, string) { return d.ID, d.Fingerprint },
		})
	})
	t.Run("posts", func(t *testing.T) {
		keyed := func(title string) post.Post {
			in := post.Input{Author: "a", Title: title, Content: "c"}
			p := post.New(post.KeyedID(fmt.Sprintf("contract-%d", n.Add(1))), in, time.Now())
			p.Fingerprint = in.Fingerprint()
			return p
		}
		sinktest.WriterContract(t, sinktest.Contract[post.Post]{
			// Each its own server: the posts' collection is one.
			New: func(t *testing.T) sink.Writer[post.Post] { return newStore(t) },
			Doc: func() post.Post { return keyed("keyed") },
			Variant: func(p post.Post) post.Post {
				in := post.Input{Author: p.Author, Title: p.Title + ", again", Content: p.Content}
				p.Title, p.Fingerprint = in.Title, in.Fingerprint()
				return p
			},
			Unkeyed: func() post.Post {
				now := time.Now()
				return post.New(post.NewID(now), post.Input{Author: "a", Title: "unkeyed", Content: "c"}, now)
			},
			// No post the development store refuses: the typed fields
			// hold nothing it cannot.
			ID: func(p post.Post) (string, string) { return p.ID, p.Fingerprint },
		})
	})
}
