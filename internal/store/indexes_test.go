package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// On MongoDB every query the store issues must be served by an index —
// FerretDB 1.x scans whatever indexes exist, so the bench cannot show a
// missing one. This test takes the queries as the driver sends them (a
// command monitor on a real store), the indexes as the server lists them
// after EnsureIndexes, and checks each query against them with the rule
// MongoDB's planner follows for a bounded, sorted scan: the equality
// fields form a prefix of the index keys, the sort keys come next in the
// index's order (or all reversed), and the range fields are among them.

// keyPart is one field of an index or a sort, with its direction.
type keyPart struct {
	field string
	dir   int
}

// queryShape is what an index must serve of one find.
type queryShape struct {
	name string
	eq   []string  // fields compared for equality
	rng  []string  // fields bounded by a range ($lt, … also inside $or)
	sort []keyPart // in order
}

func keyParts(t *testing.T, doc bson.Raw) []keyPart {
	t.Helper()
	elems, err := doc.Elements()
	if err != nil {
		t.Fatalf("keys %s: %v", doc, err)
	}
	out := make([]keyPart, len(elems))
	for i, e := range elems {
		d, ok := e.Value().AsInt64OK() // int32, int64 or double
		if !ok {
			t.Fatalf("key %s of %s: direction %s is not a number", e.Key(), doc, e.Value())
		}
		out[i] = keyPart{e.Key(), int(d)}
	}
	return out
}

// filterFields sorts the fields of a filter into equality and range.
func filterFields(t *testing.T, filter bson.Raw, eq, rng *[]string) {
	t.Helper()
	elems, err := filter.Elements()
	if err != nil {
		t.Fatalf("filter %s: %v", filter, err)
	}
	for _, e := range elems {
		key, v := e.Key(), e.Value()
		if key == "$or" || key == "$and" {
			vals, _ := v.Array().Values()
			for _, sub := range vals {
				var subEq []string
				filterFields(t, sub.Document(), &subEq, rng)
				*rng = append(*rng, subEq...) // equal within a branch, a range across them
			}
			continue
		}
		if doc, ok := v.DocumentOK(); ok {
			ops, _ := doc.Elements()
			if len(ops) == 1 && ops[0].Key() == "$exists" {
				if b, ok := ops[0].Value().BooleanOK(); ok && !b {
					// {$exists: false} (the tombstones left out): the
					// planner checks it on the documents the index
					// scan fetches anyway; it bounds no scan. And it
					// costs nothing: a tombstone has no createdAt and no
					// body field, so it sorts past every date in the
					// (createdAt, _id) index and outside every value of
					// a list field's; a scan newest first meets one
					// only after every live document.
					continue
				}
			}
			if len(ops) > 0 && strings.HasPrefix(ops[0].Key(), "$") {
				if ops[0].Key() == "$eq" || ops[0].Key() == "$in" && len(ops) == 1 && key == "_id" {
					*eq = append(*eq, key)
				} else {
					*rng = append(*rng, key)
				}
				continue
			}
		}
		*eq = append(*eq, key)
	}
}

// serves says whether an index with keys serves q.
func serves(keys []keyPart, q queryShape) bool {
	n := len(q.eq)
	if n > len(keys) || n == 0 && len(q.sort) == 0 && len(q.rng) == 0 {
		return n == 0 && len(q.sort) == 0 && len(q.rng) == 0 // nothing to serve
	}
	for _, k := range keys[:n] {
		if !slices.Contains(q.eq, k.field) {
			return false
		}
	}
	rest := keys[n:]
	if len(q.sort) > len(rest) {
		return false
	}
	same, reversed := true, true
	for i, s := range q.sort {
		if s.field != rest[i].field {
			return false
		}
		same = same && s.dir == rest[i].dir
		reversed = reversed && s.dir == -rest[i].dir
	}
	if !same && !reversed {
		return false
	}
	for _, f := range q.rng {
		if !slices.ContainsFunc(rest, func(k keyPart) bool { return k.field == f }) {
			return false
		}
	}
	return n > 0 || len(q.sort) > 0
}

// servedBy names an index that serves q, or "".
func servedBy(indexes map[string][]keyPart, q queryShape) string {
	for _, name := range slicesSortedKeys(indexes) {
		if serves(indexes[name], q) {
			return name
		}
	}
	return ""
}

func slicesSortedKeys(m map[string][]keyPart) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// findRecorder keeps the find commands a client sends.
type findRecorder struct {
	mu    sync.Mutex
	finds []bson.Raw
}

func (r *findRecorder) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" {
			r.mu.Lock()
			r.finds = append(r.finds, slices.Clone(e.Command))
			r.mu.Unlock()
		}
	}}
}

// namedCall is one read a store makes.
type namedCall struct {
	name string
	call func() error
}

// shapes runs each call and returns the shape of the one find it sends.
func (r *findRecorder) shapes(t *testing.T, calls []namedCall) []queryShape {
	t.Helper()
	var shapes []queryShape
	for _, c := range calls {
		r.mu.Lock()
		r.finds = nil
		r.mu.Unlock()
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		r.mu.Lock()
		got := r.finds
		r.mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("%s sent %d find commands, want 1", c.name, len(got))
		}
		q := queryShape{name: c.name}
		if f, ok := got[0].Lookup("filter").DocumentOK(); ok {
			filterFields(t, f, &q.eq, &q.rng)
		}
		if srt, ok := got[0].Lookup("sort").DocumentOK(); ok {
			q.sort = keyParts(t, srt)
		}
		shapes = append(shapes, q)
	}
	return shapes
}

// assertServed checks that an index of coll, as the server lists them,
// serves each of shapes; and that without any one of created (the indexes
// the store creates) some shape is left to a collection scan, so that the
// check can fail.
func assertServed(t *testing.T, ctx context.Context, coll *mongo.Collection, shapes []queryShape, created []string) {
	t.Helper()
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	indexes := map[string][]keyPart{}
	for _, sp := range specs {
		indexes[sp.Name] = keyParts(t, sp.KeysDocument)
	}
	for _, q := range shapes {
		if name := servedBy(indexes, q); name == "" {
			t.Errorf("%s (equality %v, range %v, sort %v) is served by none of the indexes %v", q.name, q.eq, q.rng, q.sort, indexes)
		} else {
			t.Logf("%s: served by %s %v", q.name, name, indexes[name])
		}
	}
	for _, ix := range created {
		t.Run("without "+ix, func(t *testing.T) {
			if _, ok := indexes[ix]; !ok {
				t.Fatalf("index %s was not created", ix)
			}
			fewer := map[string][]keyPart{}
			for name, keys := range indexes {
				if name != ix {
					fewer[name] = keys
				}
			}
			var unserved []string
			for _, q := range shapes {
				if servedBy(fewer, q) == "" {
					unserved = append(unserved, q.name)
				}
			}
			if len(unserved) == 0 {
				t.Errorf("every query is still served without %s: the index is useless or the check is blind", ix)
			}
		})
	}
}

func TestEveryQueryIsServedByAnIndex(t *testing.T) {
	var rec findRecorder
	m := testkit.Store(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := Open(ctx, m.URI(), "postpipe_test", "posts", options.Client().SetMonitor(rec.monitor()))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}

	// Every query shape the store issues: Get, and List newest first
	// overall and by author, each on the first page and after a cursor.
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	p := post.New(post.NewID(at), post.Input{Author: "ann", Title: "t", Content: "c"}, at)
	after := &post.Position{CreatedAt: at, ID: p.ID}
	shapes := rec.shapes(t, []namedCall{
		{"Get", func() error { _, err := s.Get(ctx, p.ID); return ignoreNotFound(err) }},
		{"List newest", func() error { _, err := collect(ctx, s, post.Query{Limit: 21}); return err }},
		{"List newest after a cursor", func() error { _, err := collect(ctx, s, post.Query{Limit: 21, After: after}); return err }},
		{"List by author", func() error { _, err := collect(ctx, s, post.Query{Author: "ann", Limit: 21}); return err }},
		{"List by author after a cursor", func() error {
			_, err := collect(ctx, s, post.Query{Author: "ann", Limit: 21, After: after})
			return err
		}},
	})
	// The check can fail: without any one of the indexes EnsureIndexes
	// creates, some query is left to a collection scan.
	assertServed(t, ctx, s.coll, shapes, indexesCreated())
}

// TestEveryDocsQueryIsServedByAnIndex is the same check for a stream's
// collection: Get, Fingerprints, States, and List overall and by each list field,
// each on the first page and after a cursor.
func TestEveryDocsQueryIsServedByAnIndex(t *testing.T) {
	var rec findRecorder
	d := openDocs(t, testkit.Store(t).URI(), "events", []string{"kind", "n"}, options.Client().SetMonitor(rec.monitor()))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	after := &doc.Position{CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), ID: "x"}
	list := func(q doc.Query) func() error {
		return func() error { _, err := collectDocs(ctx, d, q); return err }
	}
	shapes := rec.shapes(t, []namedCall{
		{"Get", func() error { _, err := d.Get(ctx, "x"); return ignoreNotFound(err) }},
		{"Fingerprints", func() error { _, err := d.Fingerprints(ctx, []string{"x", "y"}); return err }},
		{"States", func() error { _, err := d.States(ctx, []string{"x", "y"}); return err }},
		{"List newest", list(doc.Query{Limit: 21})},
		{"List newest after a cursor", list(doc.Query{Limit: 21, After: after})},
		{"List by kind", list(doc.Query{Field: "kind", Value: "click", Limit: 21})},
		{"List by kind after a cursor", list(doc.Query{Field: "kind", Value: "click", Limit: 21, After: after})},
		{"List by n", list(doc.Query{Field: "n", Value: int64(7), Limit: 21})},
		{"List by n after a cursor", list(doc.Query{Field: "n", Value: int64(7), Limit: 21, After: after})},
	})
	var created []string
	for _, ix := range d.indexes {
		created = append(created, ix.name)
	}
	assertServed(t, ctx, d.coll, shapes, created)
}

func indexesCreated() []string {
	names := make([]string, len(indexes))
	for i, ix := range indexes {
		names[i] = ix.name
	}
	return names
}

func ignoreNotFound(err error) error {
	if err != nil && strings.Contains(err.Error(), post.ErrNotFound.Error()) {
		return nil
	}
	return err
}

func TestServesRule(t *testing.T) {
	idx := []keyPart{{"author", 1}, {"createdAt", -1}, {"_id", -1}}
	tests := []struct {
		q    queryShape
		want bool
	}{
		{queryShape{eq: []string{"author"}, sort: []keyPart{{"createdAt", -1}, {"_id", -1}}}, true},
		{queryShape{eq: []string{"author"}, sort: []keyPart{{"createdAt", 1}, {"_id", 1}}}, true}, // walked backwards
		{queryShape{eq: []string{"author"}, sort: []keyPart{{"createdAt", -1}, {"_id", 1}}}, false},
		{queryShape{sort: []keyPart{{"createdAt", -1}, {"_id", -1}}}, false}, // author is not bound
		{queryShape{eq: []string{"author"}, rng: []string{"createdAt", "_id"}, sort: []keyPart{{"createdAt", -1}, {"_id", -1}}}, true},
		{queryShape{eq: []string{"author"}, rng: []string{"title"}}, false},
		{queryShape{eq: []string{"title"}}, false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if got := serves(idx, tt.q); got != tt.want {
				t.Errorf("serves(%v, %+v) = %v, want %v", idx, tt.q, got, tt.want)
			}
		})
	}
}
