package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
)

// Docs is the collection of one declared stream's documents. A document is
// stored as _id (its id), the body's own members in order, then createdAt,
// ingestedAt and _fp, so that MongoDB indexes and filters the body's
// fields like any others. A document of a stream with changes also
// carries _v, _vp and _ops, and a deleted one is a tombstone (see
// WriteStates). It is safe for concurrent use once made.
type Docs struct {
	layout
	coll    *mongo.Collection
	list    []string // the fields a listing may filter on
	indexes []indexSpec
	// tombstoneTTL is how long a tombstone stays before MongoDB removes
	// it (a TTL index on _deleted); 0: no such index.
	tombstoneTTL time.Duration
	now          func() time.Time
}

// Docs is the collection named collection, in the store's database and
// through its client, for a stream whose listing filters on listFields.
func (s *Store) Docs(collection string, listFields []string) *Docs {
	d := &Docs{
		coll: s.coll.Database().Collection(collection),
		list: slices.Clone(listFields),
		now:  s.now,
	}
	// The same shapes as the posts' indexes: newest first overall, and
	// newest first among the documents with one value of a list field.
	d.indexes = []indexSpec{{"createdAt_id", bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}}}
	for _, f := range d.list {
		d.indexes = append(d.indexes, indexSpec{f + "_createdAt_id", bson.D{
			{Key: f, Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1},
		}})
	}
	return d
}

// layout is how a collection's documents are laid out beyond their body.
type layout struct {
	// fp is the fingerprint's member; "" is _fp. The posts' typed path
	// has always stored it as fp (PostsDocs).
	fp string
}

func (l layout) fpKey() string {
	if l.fp == "" {
		return "_fp"
	}
	return l.fp
}

// PostsDocs is the posts collection as the changes of the built-in posts
// stream read and write it: the typed path's layout (the fingerprint in
// fp), listed by author.
func (s *Store) PostsDocs() *Docs {
	d := s.Docs(s.coll.Name(), []string{"author"})
	d.fp = "fp"
	return d
}

// EnsureIndexes creates the indexes the listing needs that are missing, as
// Store.EnsureIndexes does for posts; and, with WithTombstoneTTL, the TTL
// index on _deleted. A server that does not take TTL indexes (FerretDB
// 1.x) makes it return an error wrapping ErrTTLUnsupported, once every
// other index is in place.
func (d *Docs) EnsureIndexes(ctx context.Context) error {
	if err := ensureIndexes(ctx, d.coll, d.indexes); err != nil {
		return err
	}
	if d.tombstoneTTL > 0 {
		return d.ensureTombstoneTTL(ctx)
	}
	return nil
}

// stored is the document as the store keeps it, stamped ingestedAt. A
// body the store cannot keep wraps post.ErrBadRecord: writing it again
// would fail again.
func (l layout) stored(dc doc.Document, ingestedAt time.Time) (bson.D, error) {
	d := make(bson.D, 1, 8)
	d[0] = bson.E{Key: "_id", Value: dc.ID}
	d, err := appendBody(d, dc.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: document %q: %w", post.ErrBadRecord, dc.ID, err)
	}
	d = append(d,
		bson.E{Key: "createdAt", Value: bson.NewDateTimeFromTime(dc.CreatedAt)},
		bson.E{Key: "ingestedAt", Value: bson.NewDateTimeFromTime(ingestedAt)})
	// Left out when empty, as for posts: Fingerprints then reads "".
	if dc.Fingerprint != "" {
		d = append(d, bson.E{Key: l.fpKey(), Value: dc.Fingerprint})
	}
	return d, nil
}

// WriteBatch inserts docs with one unordered bulk write, stamping
// ingestedAt. A duplicate _id means the document was written before (a
// redelivery after a crash or rebalance) and counts as success.
//
// A document the store refuses for good does not hold the others: a body
// it cannot convert (see stored) is left out of the write, one the server
// refuses for good (see permanentCodes) is left unwritten by it, every
// other document is written and counted, and the error is a
// *RejectedError (wrapped) that lists the refused ones with their reasons,
// each wrapping post.ErrBadRecord and naming the id. Any other failure is
// returned with zero counts, and the whole batch may be written again
// safely.
func (d *Docs) WriteBatch(ctx context.Context, docs []doc.Document) (inserted, duplicates int, err error) {
	if len(docs) == 0 {
		return 0, 0, nil
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	out := make([]bson.D, 0, len(docs))
	from := make([]int, 0, len(docs)) // out[k] is docs[from[k]]
	rej := &RejectedError{}
	for i, dc := range docs {
		sd, err := d.stored(dc, now)
		if err != nil {
			rej.add(i, dc.ID, err)
			continue
		}
		out, from = append(out, sd), append(from, i)
	}
	if len(out) > 0 {
		var refused []refusal
		inserted, duplicates, refused, err = insertUnordered(ctx, d.coll, out)
		if err != nil {
			return 0, 0, fmt.Errorf("write batch of %d to %s: %w", len(docs), d.coll.Name(), err)
		}
		for _, r := range refused {
			i := from[r.index]
			rej.add(i, docs[i].ID, r.reason("document", docs[i].ID))
		}
	}
	if len(rej.Documents) > 0 {
		slices.SortFunc(rej.Documents, func(a, b Rejection) int { return a.Index - b.Index })
		return inserted, duplicates, fmt.Errorf("write batch of %d to %s: %w", len(docs), d.coll.Name(), rej)
	}
	return inserted, duplicates, nil
}

// Insert writes one document now (the direct path) and returns it as
// stored: IngestedAt set, times in milliseconds, the body in the form Get
// returns it. It returns post.ErrExists when a document with that id is
// already stored.
func (d *Docs) Insert(ctx context.Context, dc doc.Document) (doc.Document, error) {
	sd, err := d.stored(dc, d.now().UTC().Truncate(time.Millisecond))
	if err != nil {
		return doc.Document{}, fmt.Errorf("insert into %s: %w", d.coll.Name(), err)
	}
	// Marshalled here rather than by the driver, so what is returned is
	// read from the very bytes that were stored.
	raw, err := bson.Marshal(sd)
	if err != nil {
		return doc.Document{}, fmt.Errorf("insert %q into %s: %w", dc.ID, d.coll.Name(), err)
	}
	if _, err := d.coll.InsertOne(ctx, bson.Raw(raw)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return doc.Document{}, post.ErrExists
		}
		return doc.Document{}, fmt.Errorf("insert %q into %s: %w", dc.ID, d.coll.Name(), err)
	}
	out, err := d.fromStored(raw)
	if err != nil {
		return doc.Document{}, fmt.Errorf("insert %q into %s: %w", dc.ID, d.coll.Name(), err)
	}
	return out, nil
}

// Get returns the stored document with id, or post.ErrNotFound (also for a
// tombstone).
func (d *Docs) Get(ctx context.Context, id string) (doc.Document, error) {
	raw, err := d.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return doc.Document{}, post.ErrNotFound
		}
		return doc.Document{}, fmt.Errorf("get %q from %s: %w", id, d.coll.Name(), err)
	}
	if isTombstone(raw) {
		return doc.Document{}, post.ErrNotFound
	}
	out, err := d.fromStored(raw)
	if err != nil {
		return doc.Document{}, fmt.Errorf("get %q from %s: %w", id, d.coll.Name(), err)
	}
	return out, nil
}

// Fingerprints returns the stored fingerprint of each document in ids that
// is stored ("" for one stored without), in one query that reads nothing
// else. A tombstone is no stored document.
func (d *Docs) Fingerprints(ctx context.Context, ids []string) (map[string]string, error) {
	fps := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return fps, nil
	}
	cur, err := d.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}, notDeleted},
		options.Find().SetProjection(bson.D{{Key: d.fpKey(), Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read fingerprints of %d documents in %s: %w", len(ids), d.coll.Name(), err)
	}
	for cur.Next(ctx) {
		id, _ := cur.Current.Lookup("_id").StringValueOK()
		fp, _ := cur.Current.Lookup(d.fpKey()).StringValueOK()
		fps[id] = fp
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read fingerprints of %d documents in %s: %w", len(ids), d.coll.Name(), err)
	}
	_ = cur.Close(ctx)
	return fps, nil
}

// List calls each with up to q.Limit documents newest first, by
// (createdAt, id) descending, after q.After and with q.Field equal to
// q.Value when q.Field is set, decoding one document at a time from the
// cursor, until each returns false. q.Field must be one of the list fields
// the Docs was made with: only those have an index that serves the query.
// Tombstones are never listed.
func (d *Docs) List(ctx context.Context, q doc.Query, each func(doc.Document) bool) error {
	if q.Limit < 1 {
		// A limit of 0 means none to MongoDB: the whole collection.
		return fmt.Errorf("list %s: limit %d, want at least 1", d.coll.Name(), q.Limit)
	}
	// Not a bound the indexes need: a tombstone has no createdAt nor body,
	// so it sorts after every document and never equals a list field's
	// value; the server drops it from what the index scan fetched.
	filter := bson.D{notDeleted}
	if q.Field != "" {
		if !slices.Contains(d.list, q.Field) {
			return fmt.Errorf("list %s: %q is not a list field (%q)", d.coll.Name(), q.Field, d.list)
		}
		// Only scalars: a document as the value would be read as operators
		// ({"$ne": …}), a query no longer the equality the index serves.
		switch q.Value.(type) {
		case string, int64, float64, bool, int32, int:
		default:
			return fmt.Errorf("list %s: filter %s on a %T, want a string, number or bool", d.coll.Name(), q.Field, q.Value)
		}
		// MongoDB compares numbers by value across types, so an int64
		// finds a document that stored the same number as int32.
		filter = append(filter, bson.E{Key: q.Field, Value: q.Value})
	}
	if q.After != nil {
		filter = append(filter, keysetAfter(q.After.CreatedAt, q.After.ID))
	}
	err := findNewestFirst(ctx, d.coll, filter, q.Limit, func(raw bson.Raw) (bool, error) {
		dc, err := d.fromStored(raw)
		if err != nil {
			return false, err
		}
		return each(dc), nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", d.coll.Name(), err)
	}
	return nil
}

// fromStored is the document stored as raw, with its Version (doc.None
// when no op of the pipeline wrote it).
func (l layout) fromStored(raw bson.Raw) (doc.Document, error) {
	body, err := fromBSON(raw, l.fp)
	if err != nil {
		return doc.Document{}, err
	}
	out := doc.Document{Body: body}
	if v, err := raw.LookupErr("_id"); err == nil {
		id, ok := v.StringValueOK()
		if !ok {
			return doc.Document{}, fmt.Errorf("_id is a %s, not a string", v.Type)
		}
		out.ID = id
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"createdAt", &out.CreatedAt}, {"ingestedAt", &out.IngestedAt}} {
		v, err := raw.LookupErr(f.name)
		if err != nil {
			continue
		}
		ms, ok := v.DateTimeOK()
		if !ok {
			return doc.Document{}, fmt.Errorf("%s is a %s, not a date", f.name, v.Type)
		}
		*f.to = time.UnixMilli(ms).UTC()
	}
	if v, err := raw.LookupErr(l.fpKey()); err == nil {
		fp, ok := v.StringValueOK()
		if !ok {
			return doc.Document{}, fmt.Errorf("%s is a %s, not a string", l.fpKey(), v.Type)
		}
		out.Fingerprint = fp
	}
	v, err := storedVersion(raw)
	if err != nil {
		return doc.Document{}, err
	}
	out.Version = v
	return out, nil
}
