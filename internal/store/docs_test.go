package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// openDocs opens a store on uri and the Docs of collection, indexes in
// place, stamping ingestTime.
func openDocs(t *testing.T, uri, collection string, list []string, opts ...*options.ClientOptions) *Docs {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, uri, "postpipe_test", "posts", opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	s.now = func() time.Time { return ingestTime }
	d := s.Docs(collection, list)
	if err := d.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return d
}

// fingerprint is a made-up fingerprint that differs by seed.
func fingerprint(seed string) string {
	return fmt.Sprintf("%032x", post.KeyedID(seed)[:8])
}

func docIDs(ds []doc.Document) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// assertSameDoc compares every field; times must be equal instants in UTC.
func assertSameDoc(t *testing.T, got, want doc.Document) {
	t.Helper()
	if got.ID != want.ID || string(got.Body) != string(want.Body) || got.Fingerprint != want.Fingerprint {
		t.Errorf("document differs:\n got  %s %s fp %q\n want %s %s fp %q", got.ID, got.Body, got.Fingerprint, want.ID, want.Body, want.Fingerprint)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.IngestedAt.Equal(want.IngestedAt) {
		t.Errorf("document %s times (created %v, ingested %v), want (%v, %v)", want.ID, got.CreatedAt, got.IngestedAt, want.CreatedAt, want.IngestedAt)
	}
	if got.CreatedAt.Location() != time.UTC || got.IngestedAt.Location() != time.UTC {
		t.Errorf("document %s times not in UTC: %v, %v", want.ID, got.CreatedAt, got.IngestedAt)
	}
}

// TestDocsRoundTrip: every kind of value written by WriteBatch reads back
// by Get as the same bytes, and is stored as the BSON that holds it.
func TestDocsRoundTrip(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	created := time.Date(2025, 6, 7, 8, 9, 10, 123_000_000, time.UTC)

	var many strings.Builder // members in no sorted order
	many.WriteByte('{')
	for i := range 200 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, `"m%03d":%d`, (i*37)%200, i)
	}
	many.WriteByte('}')
	deep := strings.Repeat(`{"a":[`, doc.MaxDepth/2-1) + `{"leaf":1.5}` + strings.Repeat(`]}`, doc.MaxDepth/2-1)

	tests := []struct {
		name string
		body string // in normalized form, so it reads back as written
	}{
		{"integers", `{"small":1,"neg":-42,"zero":0,"i32max":2147483647,"i32min":-2147483648,"past32":2147483648,` +
			`"below32":-2147483649,"beyond53":9007199254740993,"i64max":9223372036854775807,"i64min":-9223372036854775808}`},
		{"fractions", `{"a":0.1,"b":19.99,"c":1e-7,"d":1.5e300,"e":-2.5,"f":5e-324,"g":1.7976931348623157e308}`},
		// Not -0.0: FerretDB 1.x stores it as 0.0 (MongoDB keeps the
		// sign); TestBSONValues covers it without a server.
		{"integral doubles", `{"two":2.0,"big":1e21,"neg":-3.0,"zero":0.0}`},
		{"strings", `{"esc":"q\"b\\n\nt\tc\u0001\u001f","uni":"Zoë ✓ 日本 😀","sep":"a\u2028b\u2029c","empty":"","html":"<&>"}`},
		// No array directly in an array: FerretDB 1.x refuses one (MongoDB
		// does not); TestBSONValues covers them without a server.
		{"nested in order", `{"z":{"y":{"x":[3,2,1]},"a":[{"b":null},{"a":true},{}]},"a":[],"m":{}}`},
		{"scalars", `{"t":true,"f":false,"n":null}`},
		{"an id member", `{"id":"doc-7","title":"x"}`},
		{"store names nested", `{"meta":{"_id":1,"createdAt":"x","ingestedAt":null,"_fp":[]}}`},
		{"empty", `{}`},
		{"many members", many.String()},
		{"deep", deep},
	}
	var docs []doc.Document
	for i, tt := range tests {
		docs = append(docs, doc.Document{
			ID:          "rt-" + strconv.Itoa(i),
			Body:        []byte(tt.body),
			CreatedAt:   created.Add(time.Duration(i) * time.Millisecond),
			Fingerprint: fingerprint(tt.name),
		})
	}
	if ins, dup, err := d.WriteBatch(ctx, docs); err != nil || ins != len(docs) || dup != 0 {
		t.Fatalf("WriteBatch = (%d, %d, %v), want (%d, 0, nil)", ins, dup, err, len(docs))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := d.Get(ctx, docs[i].ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want := docs[i]
			want.IngestedAt = ingestTime
			assertSameDoc(t, got, want)
		})
	}

	// As stored: _id, the body's members in order, then the store's own;
	// integers as int32 or int64, fractions as doubles.
	raw, err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: "rt-0"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	elems, err := raw.Elements()
	if err != nil {
		t.Fatal(err)
	}
	var layout []string
	for _, e := range elems {
		layout = append(layout, e.Key()+":"+e.Value().Type.String())
	}
	wantLayout := []string{"_id:string",
		"small:32-bit integer", "neg:32-bit integer", "zero:32-bit integer", "i32max:32-bit integer", "i32min:32-bit integer",
		"past32:64-bit integer", "below32:64-bit integer", "beyond53:64-bit integer", "i64max:64-bit integer", "i64min:64-bit integer",
		"createdAt:UTC datetime", "ingestedAt:UTC datetime", "_fp:string"}
	if !slices.Equal(layout, wantLayout) {
		t.Errorf("stored as\n %q\nwant\n %q", layout, wantLayout)
	}
	raw, err = d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: "rt-2"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if ty := raw.Lookup("two").Type; ty != bson.TypeDouble {
		t.Errorf("2.0 stored as %s, want a double", ty)
	}
}

// TestDocsNormalize: a body reads back in canonical form: what Get and
// Insert return for a body written with other spellings of its numbers and
// strings.
func TestDocsNormalize(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	in := `{ "price": 1.50, "n": 1E2, "f": 0.0000001, "i": -0, "s": "\u00e9\/", "a": [ 1.0 ] }`
	want := `{"price":1.5,"n":100.0,"f":1e-7,"i":0,"s":"é/","a":[1.0]}`
	at := time.Now().UTC().Truncate(time.Millisecond)
	if _, _, err := d.WriteBatch(ctx, []doc.Document{{ID: "batch", Body: []byte(in), CreatedAt: at}}); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(ctx, "batch")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != want {
		t.Errorf("WriteBatch of %s, Get gives %s, want %s", in, got.Body, want)
	}
	ins, err := d.Insert(ctx, doc.Document{ID: "direct", Body: []byte(in), CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	if string(ins.Body) != want {
		t.Errorf("Insert of %s returns %s, want %s", in, ins.Body, want)
	}
}

// TestDocsWriteBatch: writing a batch again counts its documents as
// duplicates and leaves them as first written; a batch mixing new and
// stored documents writes only the new ones.
func TestDocsWriteBatch(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	base := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(prefix string, n int, body string) []doc.Document {
		out := make([]doc.Document, n)
		for i := range out {
			out[i] = doc.Document{
				ID:          fmt.Sprintf("%s-%02d", prefix, i),
				Body:        []byte(fmt.Sprintf(`{"i":%d,"v":%q}`, i, body)),
				CreatedAt:   base.Add(-time.Duration(i) * time.Millisecond),
				Fingerprint: fingerprint(prefix + body + strconv.Itoa(i)),
			}
		}
		return out
	}
	const n = 30
	first := mk("a", n, "first")
	// The same ids with other bodies: a redelivery never overwrites.
	rewritten := mk("a", n, "second")
	fresh := mk("b", 20, "fresh")
	var mixed []doc.Document
	for i := range 20 {
		mixed = append(mixed, fresh[i])
		if i < 10 {
			mixed = append(mixed, rewritten[i*3])
		}
	}

	steps := []struct {
		name             string
		batch            []doc.Document
		wantIns, wantDup int
		wantCount        int64
	}{
		{"empty batch", nil, 0, 0, 0},
		{"new documents", first, n, 0, n},
		{"same batch again", first, 0, n, n},
		{"same ids, other bodies", rewritten, 0, n, n},
		{"one duplicate", first[7:8], 0, 1, n},
		{"mixed new and stored", mixed, 20, 10, n + 20},
	}
	for _, st := range steps {
		stamp := ingestTime.Add(time.Duration(len(st.name)) * time.Minute)
		d.now = func() time.Time { return stamp }
		ins, dup, err := d.WriteBatch(ctx, st.batch)
		if err != nil {
			t.Fatalf("%s: WriteBatch: %v", st.name, err)
		}
		if ins != st.wantIns || dup != st.wantDup {
			t.Errorf("%s: WriteBatch = (inserted %d, duplicates %d), want (%d, %d)", st.name, ins, dup, st.wantIns, st.wantDup)
		}
		if got, err := d.coll.CountDocuments(ctx, bson.D{}); err != nil || got != st.wantCount {
			t.Errorf("%s: %d documents stored (%v), want %d", st.name, got, err, st.wantCount)
		}
	}
	check := func(ds []doc.Document, stamp time.Time) {
		t.Helper()
		for _, want := range ds {
			got, err := d.Get(ctx, want.ID)
			if err != nil {
				t.Fatalf("Get %s: %v", want.ID, err)
			}
			want.IngestedAt = stamp
			assertSameDoc(t, got, want)
		}
	}
	check(first, ingestTime.Add(time.Duration(len("new documents"))*time.Minute))
	check(fresh, ingestTime.Add(time.Duration(len("mixed new and stored"))*time.Minute))
	// A body the store cannot keep: TestDocsWriteBatchRejectsOnlyTheRefused.
}

// TestDocsInsert: Insert returns the document as stored and refuses an id
// already stored, which keeps its first body.
func TestDocsInsert(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	created := time.Date(2024, 11, 5, 23, 59, 58, 123_456_789, time.FixedZone("X", 5*3600))
	dc := doc.Document{ID: "one", Body: []byte(`{"a":[1,2.5,"x"]}`), CreatedAt: created, Fingerprint: fingerprint("one")}

	got, err := d.Insert(ctx, dc)
	if err != nil {
		t.Fatalf("first Insert: %v", err)
	}
	want := dc
	want.CreatedAt = created.UTC().Truncate(time.Millisecond) // what a BSON date keeps
	want.IngestedAt = ingestTime
	assertSameDoc(t, got, want)

	again := dc
	again.Body = []byte(`{"a":"other"}`)
	if _, err := d.Insert(ctx, again); !errors.Is(err, post.ErrExists) {
		t.Fatalf("second Insert: err = %v, want post.ErrExists", err)
	}
	stored, err := d.Get(ctx, "one")
	if err != nil {
		t.Fatal(err)
	}
	assertSameDoc(t, stored, want)

	if _, err := d.Insert(ctx, doc.Document{ID: "bad", Body: []byte(`{"$x":1}`)}); !errors.Is(err, post.ErrBadRecord) {
		t.Errorf("Insert of a body with $x: %v, want post.ErrBadRecord", err)
	}
	for _, id := range []string{"bad", "unknown", ""} {
		if _, err := d.Get(ctx, id); !errors.Is(err, post.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want post.ErrNotFound", id, err)
		}
	}
}

// TestDocsFingerprints: the fingerprint written first is the one read back
// (a redelivery with another does not replace it); a document stored
// without one reads "", and an unknown id is absent.
func TestDocsFingerprints(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	at := time.Now()
	keyed := doc.Document{ID: "k", Body: []byte(`{"a":1}`), CreatedAt: at, Fingerprint: fingerprint("k")}
	plain := doc.Document{ID: "p", Body: []byte(`{"a":2}`), CreatedAt: at}
	if _, _, err := d.WriteBatch(ctx, []doc.Document{keyed, plain}); err != nil {
		t.Fatal(err)
	}
	other := keyed
	other.Body, other.Fingerprint = []byte(`{"a":3}`), fingerprint("other")
	if _, dup, err := d.WriteBatch(ctx, []doc.Document{other}); err != nil || dup != 1 {
		t.Fatalf("WriteBatch of a reused id = (dup %d, %v), want 1 duplicate", dup, err)
	}
	fps, err := d.Fingerprints(ctx, []string{"k", "p", "unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"k": keyed.Fingerprint, "p": ""}; !mapsEqual(fps, want) {
		t.Errorf("Fingerprints = %v, want %v", fps, want)
	}
	if fps, err := d.Fingerprints(ctx, nil); err != nil || len(fps) != 0 {
		t.Errorf("Fingerprints(nil) = %v, %v", fps, err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// collectDocs is every document List gives for q.
func collectDocs(ctx context.Context, d *Docs, q doc.Query) ([]doc.Document, error) {
	var out []doc.Document
	err := d.List(ctx, q, func(dc doc.Document) bool { out = append(out, dc); return true })
	return out, err
}

// TestDocsList: newest first by (createdAt, id), filtered by a string or a
// number, in pages that neither skip nor repeat.
func TestDocsList(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "events", []string{"kind", "n", "score"})
	ctx := testCtx(t)
	base := time.Now().UTC().Truncate(time.Millisecond)

	type meta struct {
		kind  string
		n     int64
		score float64
	}
	var all []doc.Document
	metas := map[string]meta{}
	add := func(id string, at time.Time, m meta) {
		body := fmt.Sprintf(`{"kind":%q,"n":%d,"score":%s,"x":[1]}`, m.kind, m.n, string(appendDouble(nil, m.score)))
		all = append(all, doc.Document{ID: id, Body: []byte(body), CreatedAt: at})
		metas[id] = m
	}
	const big = 1<<40 + 3 // stored as int64
	// Distinct times, three kinds interleaved; n is small (int32) or big.
	for i := range 18 {
		at := base.Add(-time.Duration(i) * time.Second)
		n := int64(i % 3)
		if i%4 == 0 {
			n = big
		}
		add(fmt.Sprintf("t%02d", i), at, meta{kind: []string{"click", "view", "buy"}[i%3], n: n, score: float64(i%2) + 0.5})
	}
	// Many documents sharing one millisecond, with ids that do not sort
	// the way they were made.
	same := base.Add(-2500 * time.Millisecond)
	for i := range 23 {
		add(post.KeyedID(fmt.Sprint("same-", i)), same, meta{kind: []string{"click", "rare"}[i%2], n: 7, score: 2.0})
	}
	shuffled := slices.Clone(all)
	slices.SortFunc(shuffled, func(a, b doc.Document) int { return strings.Compare(string(a.Body)+a.ID, string(b.Body)+b.ID) })
	for _, part := range [][]doc.Document{shuffled[:20], shuffled[20:]} {
		if _, _, err := d.WriteBatch(ctx, part); err != nil {
			t.Fatalf("WriteBatch: %v", err)
		}
	}

	newestFirst := func(match func(meta) bool) []string {
		var ds []doc.Document
		for _, dc := range all {
			if match(metas[dc.ID]) {
				ds = append(ds, dc)
			}
		}
		slices.SortFunc(ds, func(a, b doc.Document) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		return docIDs(ds)
	}
	filters := []struct {
		name  string
		field string
		value any
		match func(meta) bool
		none  bool // matches nothing on purpose
	}{
		{"all", "", nil, func(meta) bool { return true }, false},
		{"kind click", "kind", "click", func(m meta) bool { return m.kind == "click" }, false},
		{"kind rare", "kind", "rare", func(m meta) bool { return m.kind == "rare" }, false},
		{"kind none", "kind", "nothing", func(meta) bool { return false }, true},
		{"n int64 7 finds int32 7", "n", int64(7), func(m meta) bool { return m.n == 7 }, false},
		{"n int64 1", "n", int64(1), func(m meta) bool { return m.n == 1 }, false},
		{"n beyond int32", "n", int64(big), func(m meta) bool { return m.n == big }, false},
		{"n as a double", "n", 2.0, func(m meta) bool { return m.n == 2 }, false},
		{"score 1.5", "score", 1.5, func(m meta) bool { return m.score == 1.5 }, false},
		{"kind is no number", "kind", int64(7), func(meta) bool { return false }, true},
	}
	// The filters must mean something: each picks some but not all.
	for _, f := range filters[1:] {
		if n := len(newestFirst(f.match)); n == len(all) || (n == 0) != f.none {
			t.Fatalf("filter %s picks %d of %d documents", f.name, n, len(all))
		}
	}

	t.Run("first page", func(t *testing.T) {
		for _, f := range filters {
			for _, limit := range []int{1, 5, 100} {
				got, err := collectDocs(ctx, d, doc.Query{Field: f.field, Value: f.value, Limit: limit})
				if err != nil {
					t.Fatalf("List(%s, limit %d): %v", f.name, limit, err)
				}
				want := newestFirst(f.match)
				want = want[:min(limit, len(want))]
				if !slices.Equal(docIDs(got), want) {
					t.Errorf("List(%s, limit %d) = %q, want %q", f.name, limit, docIDs(got), want)
				}
			}
		}
	})

	t.Run("paging", func(t *testing.T) {
		for _, f := range filters {
			for _, limit := range []int{1, 4, 7} {
				want := newestFirst(f.match)
				var got []string
				var after *doc.Position
				for page := 0; ; page++ {
					if page > len(want)+1 {
						t.Fatalf("%s, limit %d: paging does not end; so far %d documents", f.name, limit, len(got))
					}
					ds, err := collectDocs(ctx, d, doc.Query{Field: f.field, Value: f.value, Limit: limit, After: after})
					if err != nil {
						t.Fatalf("List page %d: %v", page, err)
					}
					if len(ds) > limit {
						t.Fatalf("page %d has %d documents, limit %d", page, len(ds), limit)
					}
					if len(ds) == 0 {
						break
					}
					got = append(got, docIDs(ds)...)
					last := ds[len(ds)-1]
					after = &doc.Position{CreatedAt: last.CreatedAt, ID: last.ID}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s, limit %d: pages gave %d documents %q\nwant %d %q", f.name, limit, len(got), got, len(want), want)
				}
			}
		}
	})

	t.Run("documents as stored", func(t *testing.T) {
		got, err := collectDocs(ctx, d, doc.Query{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string]doc.Document{}
		for _, dc := range all {
			byID[dc.ID] = dc
		}
		for _, g := range got {
			want := byID[g.ID]
			want.IngestedAt = ingestTime
			assertSameDoc(t, g, want)
		}
	})

	t.Run("stopping early", func(t *testing.T) {
		want := newestFirst(filters[0].match)[:3]
		var got []doc.Document
		err := d.List(ctx, doc.Query{Limit: 100}, func(dc doc.Document) bool {
			got = append(got, dc)
			return len(got) < 3
		})
		if err != nil || !slices.Equal(docIDs(got), want) {
			t.Errorf("List stopped after 3: %q, %v; want %q", docIDs(got), err, want)
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, q := range []doc.Query{
			{Field: "x", Value: int64(1), Limit: 5}, // not a list field: no index serves it
			{Field: "_id", Value: "t01", Limit: 5},
			{Limit: 0}, // MongoDB reads 0 as no limit at all
			{Field: "kind", Value: bson.D{{Key: "$ne", Value: ""}}, Limit: 5}, // operators, not a value
			{Field: "kind", Value: nil, Limit: 5},
		} {
			if err := d.List(ctx, q, func(doc.Document) bool { return true }); err == nil {
				t.Errorf("List(%+v): no error", q)
			}
		}
	})
}

// TestDocsListRefusesForeignTypes: a stored document holding a type no
// stream writes fails the listing with an error naming its field.
func TestDocsListRefusesForeignTypes(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	if _, err := d.coll.InsertOne(ctx, bson.D{
		{Key: "_id", Value: "foreign"}, {Key: "a", Value: bson.D{{Key: "when", Value: bson.NewDateTimeFromTime(ingestTime)}}},
		{Key: "createdAt", Value: bson.NewDateTimeFromTime(ingestTime)},
	}); err != nil {
		t.Fatal(err)
	}
	err := d.List(ctx, doc.Query{Limit: 5}, func(doc.Document) bool { return true })
	if err == nil || !strings.Contains(err.Error(), `"/a/when"`) {
		t.Errorf("List over a document with a date in its body: %v, want an error naming /a/when", err)
	}
	if _, err := d.Get(ctx, "foreign"); err == nil || !strings.Contains(err.Error(), `"/a/when"`) {
		t.Errorf("Get of a document with a date in its body: %v, want an error naming /a/when", err)
	}
}

// TestDocsEnsureIndexes: the indexes are the listing's, and ensuring them
// again (another process, a restart) changes nothing.
func TestDocsEnsureIndexes(t *testing.T) {
	m := testkit.Store(t)
	d := openDocs(t, m.URI(), "events", []string{"kind", "n"})
	ctx := testCtx(t)
	for range 2 {
		if err := d.EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
	}
	openDocs(t, m.URI(), "events", []string{"kind", "n"})
	specs, err := d.coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name+" "+sp.KeysDocument.String())
	}
	slices.Sort(names)
	want := []string{
		`_id_ {"_id": {"$numberInt":"1"}}`,
		`createdAt_id {"createdAt": {"$numberInt":"-1"},"_id": {"$numberInt":"-1"}}`,
		`kind_createdAt_id {"kind": {"$numberInt":"1"},"createdAt": {"$numberInt":"-1"},"_id": {"$numberInt":"-1"}}`,
		`n_createdAt_id {"n": {"$numberInt":"1"},"createdAt": {"$numberInt":"-1"},"_id": {"$numberInt":"-1"}}`,
	}
	if !slices.Equal(names, want) {
		t.Errorf("indexes =\n %q\nwant\n %q", names, want)
	}
	// The posts' collection in the same database is left alone.
	if specs, err := d.coll.Database().Collection("posts").Indexes().ListSpecifications(ctx); err != nil || len(specs) > 1 {
		t.Errorf("posts' indexes: %d, %v; want none made by Docs", len(specs), err)
	}
}

// TestDocsReadsSendTheirDeadline: as for posts (TestReadsSendTheirDeadline),
// Get and List with a deadline send maxTimeMS of at most the time left, so
// the server stops a read nobody waits for; without one they send none.
func TestDocsReadsSendTheirDeadline(t *testing.T) {
	var (
		mu      sync.Mutex
		maxTime []bson.RawValue // of each find, in order; zero when none
	)
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" {
			mu.Lock()
			maxTime = append(maxTime, e.Command.Lookup("maxTimeMS"))
			mu.Unlock()
		}
	}}
	d := openDocs(t, testkit.Store(t).URI(), "things", []string{"kind"}, options.Client().SetMonitor(mon))
	const limit = 3 * time.Second
	read := func(ctx context.Context) {
		if _, err := d.Get(ctx, "none"); !errors.Is(err, post.ErrNotFound) {
			t.Fatalf("Get: %v, want ErrNotFound", err)
		}
		if _, err := collectDocs(ctx, d, doc.Query{Field: "kind", Value: "a", Limit: 2}); err != nil {
			t.Fatalf("List: %v", err)
		}
	}
	bounded, cancel := context.WithTimeout(testCtx(t), limit)
	read(bounded)
	cancel()
	read(context.Background())

	mu.Lock()
	defer mu.Unlock()
	if len(maxTime) != 4 {
		t.Fatalf("%d find commands seen, want 4 (Get and List, with and without a deadline)", len(maxTime))
	}
	for i, v := range maxTime[:2] {
		if ms, ok := v.AsInt64OK(); !ok || ms <= 0 || ms > limit.Milliseconds() {
			t.Errorf("read %d with a %s deadline sent maxTimeMS %v, want 1..%d", i, limit, v, limit.Milliseconds())
		}
	}
	for i, v := range maxTime[2:] {
		if v.Type != 0 {
			t.Errorf("read %d without a deadline sent maxTimeMS %v, want none", i, v)
		}
	}
}
