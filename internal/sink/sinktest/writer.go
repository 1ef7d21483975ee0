// Package sinktest checks that a sink.Writer keeps the promises the sink's
// guarantees rest on, so every store behind a route (the posts store, each
// stream's collection, the sink's own test fakes) is held to the same ones.
package sinktest

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/postpipe/postpipe/internal/sink"
)

// Contract says how to make the writer under test and its documents.
type Contract[D any] struct {
	// New returns a writer with nothing stored; each subtest has its own.
	New func(t *testing.T) sink.Writer[D]
	// Doc returns a document with a fingerprint; each call a new id.
	Doc func() D
	// Variant returns a document with d's id and another fingerprint: the
	// same Idempotency-Key used with another body.
	Variant func(d D) D
	// Unkeyed, when set, returns a document without a fingerprint (one sent
	// without a key); each call a new id.
	Unkeyed func() D
	// Refused, when set, returns a document the writer's store refuses for
	// good (a value it cannot hold); each call a new id.
	Refused func() D
	// ID returns a document's id and fingerprint, as the route's id does.
	ID func(D) (id, fingerprint string)
}

// WriterContract runs the contract's subtests against c's writer:
//   - new documents are inserted and their fingerprints stored;
//   - writing them again counts each a duplicate and changes nothing;
//   - a batch mixing stored and new documents inserts the new ones and
//     counts the stored ones, wherever they stand in it (a duplicate does
//     not stop the rest of an unordered write);
//   - another body under a stored id counts a duplicate and leaves the
//     stored fingerprint (what is stored first stands);
//   - Fingerprints leaves out ids that are not stored, and reports "" for
//     a document stored without a fingerprint (Unkeyed);
//   - documents refused for good (Refused) do not hold the others: the
//     others are written and counted, and the error is a sink.Rejections
//     that names exactly the refused ones by their index in the batch,
//     each with a reason; a refused document is not stored.
//
// The sink never writes an empty batch, nor one that repeats an id, so the
// contract asks neither of a writer.
func WriterContract[D any](t *testing.T, c Contract[D]) {
	t.Helper()
	if c.New == nil || c.Doc == nil || c.Variant == nil || c.ID == nil {
		t.Fatal("sinktest: the contract needs New, Doc, Variant and ID")
	}
	// A contract whose documents are not what it says tests nothing.
	d := c.Doc()
	id, fp := c.ID(d)
	vid, vfp := c.ID(c.Variant(d))
	if id == "" || fp == "" || vid != id || vfp == "" || vfp == fp {
		t.Fatalf("sinktest: Doc gives id %q, fingerprint %q; its Variant id %q, fingerprint %q: want an id, and the same id with another fingerprint", id, fp, vid, vfp)
	}
	if id2, _ := c.ID(c.Doc()); id2 == id {
		t.Fatalf("sinktest: two calls of Doc gave the same id %q", id)
	}

	t.Run("new documents are inserted", func(t *testing.T) {
		w := c.New(t)
		docs := c.docs(3)
		c.write(t, w, docs, 3, 0)
		c.checkFingerprints(t, w, docs, nil)
	})

	t.Run("a repeat counts duplicates and changes nothing", func(t *testing.T) {
		w := c.New(t)
		docs := c.docs(3)
		c.write(t, w, docs, 3, 0)
		c.write(t, w, docs, 0, 3)
		c.write(t, w, docs[1:2], 0, 1)
		c.checkFingerprints(t, w, docs, nil)
	})

	t.Run("a batch of stored and new documents inserts the new ones", func(t *testing.T) {
		w := c.New(t)
		stored := c.docs(2)
		c.write(t, w, stored, 2, 0)
		fresh := c.docs(3)
		// Stored first, in the middle and last: an ordered write would
		// stop at the first duplicate.
		mixed := []D{stored[0], fresh[0], fresh[1], stored[1], fresh[2]}
		c.write(t, w, mixed, 3, 2)
		c.checkFingerprints(t, w, mixed, nil)
	})

	t.Run("another body under a stored id changes nothing", func(t *testing.T) {
		w := c.New(t)
		docs := c.docs(2)
		c.write(t, w, docs, 2, 0)
		c.write(t, w, []D{c.Variant(docs[0]), c.Variant(docs[1])}, 0, 2)
		c.checkFingerprints(t, w, docs, nil)
	})

	t.Run("fingerprints of ids not stored are absent", func(t *testing.T) {
		w := c.New(t)
		stored, absent := c.docs(2), c.docs(2)
		if got := c.fingerprints(t, w, absent); len(got) != 0 {
			t.Errorf("Fingerprints of ids never written = %v, want none", got)
		}
		c.write(t, w, stored, 2, 0)
		c.checkFingerprints(t, w, append(stored, absent...), absent)
	})

	t.Run("a document without a fingerprint is stored with none", func(t *testing.T) {
		if c.Unkeyed == nil {
			t.Skip("the contract has no Unkeyed documents")
		}
		w := c.New(t)
		docs := []D{c.Unkeyed(), c.Doc(), c.Unkeyed()}
		for _, d := range []D{docs[0], docs[2]} {
			if id, fp := c.ID(d); id == "" || fp != "" {
				t.Fatalf("sinktest: Unkeyed gives id %q, fingerprint %q; want an id and no fingerprint", id, fp)
			}
		}
		c.write(t, w, docs, 3, 0)
		c.checkFingerprints(t, w, docs, nil)
	})

	t.Run("documents refused for good do not hold the others", func(t *testing.T) {
		if c.Refused == nil {
			t.Skip("the contract has no Refused documents")
		}
		w := c.New(t)
		stored := c.Doc()
		c.write(t, w, []D{stored}, 1, 0)
		fresh, refused := c.docs(2), []D{c.Refused(), c.Refused()}
		batch := []D{stored, refused[0], fresh[0], refused[1], fresh[1]}
		c.writeRefused(t, w, batch, 2, 1, 1, 3)
		// Again: the refused are refused the same way, the rest are
		// duplicates now.
		c.writeRefused(t, w, batch, 0, 3, 1, 3)
		c.writeRefused(t, w, refused[:1], 0, 0, 0)
		c.checkFingerprints(t, w, batch, refused)
	})
}

// writeRefused writes docs and fails unless the writer counts inserted new
// ones and duplicates stored ones, and refuses exactly the documents at
// the indexes refused, each with a reason.
func (c Contract[D]) writeRefused(t *testing.T, w sink.Writer[D], docs []D, inserted, duplicates int, refused ...int) {
	t.Helper()
	n, d, err := w.WriteBatch(t.Context(), docs)
	var rj sink.Rejections
	if !errors.As(err, &rj) {
		t.Fatalf("WriteBatch of %d documents, %d of them refused for good: %v; want a sink.Rejections", len(docs), len(refused), err)
	}
	got := rj.Rejected()
	if !slices.Equal(slices.Sorted(maps.Keys(got)), refused) {
		t.Errorf("WriteBatch refused the documents at %v (%v), want those at %v", slices.Sorted(maps.Keys(got)), err, refused)
	}
	for i, reason := range got {
		if reason == nil || reason.Error() == "" {
			t.Errorf("document %d refused without a reason", i)
		}
	}
	if n != inserted || d != duplicates {
		t.Errorf("WriteBatch of %d documents, %d refused = %d inserted, %d duplicates; want %d, %d", len(docs), len(refused), n, d, inserted, duplicates)
	}
}

func (c Contract[D]) docs(n int) []D {
	out := make([]D, n)
	for i := range out {
		out[i] = c.Doc()
	}
	return out
}

// write writes docs and fails unless the writer counts inserted new ones and
// duplicates stored ones.
func (c Contract[D]) write(t *testing.T, w sink.Writer[D], docs []D, inserted, duplicates int) {
	t.Helper()
	n, d, err := w.WriteBatch(t.Context(), docs)
	if err != nil {
		t.Fatalf("WriteBatch of %d documents: %v", len(docs), err)
	}
	if n != inserted || d != duplicates {
		t.Errorf("WriteBatch of %d documents = %d inserted, %d duplicates; want %d, %d", len(docs), n, d, inserted, duplicates)
	}
}

func (c Contract[D]) fingerprints(t *testing.T, w sink.Writer[D], docs []D) map[string]string {
	t.Helper()
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i], _ = c.ID(d)
	}
	got, err := w.Fingerprints(t.Context(), ids)
	if err != nil {
		t.Fatalf("Fingerprints of %d ids: %v", len(ids), err)
	}
	return got
}

// checkFingerprints fails unless Fingerprints of docs' ids reports each
// document's own fingerprint, absent ones left out.
func (c Contract[D]) checkFingerprints(t *testing.T, w sink.Writer[D], docs, absent []D) {
	t.Helper()
	want := map[string]string{}
	for _, d := range docs {
		id, fp := c.ID(d)
		want[id] = fp
	}
	for _, d := range absent {
		id, _ := c.ID(d)
		delete(want, id)
	}
	if got := c.fingerprints(t, w, docs); !maps.Equal(got, want) {
		t.Errorf("Fingerprints = %v, want %v", got, want)
	}
}
