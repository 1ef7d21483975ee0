package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/doc"
)

// A document of a stream with changes carries the version of the last op
// applied to it, _vp (the record's partition, an int32) and _v (its offset,
// an int64), and _ops, the ids of the newest ops applied (strings, oldest
// first, at most doc.MaxOpIDs). A deleted document is a tombstone: _id,
// _deleted (the date it was deleted), _v, _vp and _ops, and nothing else, so
// that a replay of an older op finds the delete's version and stops. The
// TTL index WithTombstoneTTL asks for removes it a while after.
//
// The sink reads the states of a batch's ids (States), applies its ops,
// and writes the new states back with WriteStates, each write conditional
// on the version it read: a write that finds another version is stale,
// and the sink reads again and redoes it.

// notDeleted is the filter member that leaves tombstones out.
var notDeleted = bson.E{Key: "_deleted", Value: bson.D{{Key: "$exists", Value: false}}}

// tombstoneIndex names the TTL index on _deleted.
const tombstoneIndex = "_deleted_ttl"

// ErrTTLUnsupported is wrapped by EnsureIndexes when the server refuses the
// TTL index on _deleted (FerretDB 1.x does: "not implemented"): every other
// index is in place, but tombstones stay until removed by other means.
var ErrTTLUnsupported = errors.New("the store does not support TTL indexes")

// notImplemented is the code of a command option the server does not
// implement (FerretDB's answer to expireAfterSeconds).
const notImplemented = 238

// WithTombstoneTTL makes EnsureIndexes also create a TTL index on
// _deleted, so that MongoDB removes a tombstone ttl after its delete (in
// whole seconds, at least one; MongoDB's TTL monitor runs about once a
// minute). ttl <= 0 creates none. It returns d; call it before d is used.
func (d *Docs) WithTombstoneTTL(ttl time.Duration) *Docs {
	d.tombstoneTTL = ttl
	return d
}

// ttlSeconds is ttl as the index's expireAfterSeconds.
func ttlSeconds(ttl time.Duration) int32 {
	s := ttl / time.Second
	switch {
	case s < 1:
		return 1
	case s > math.MaxInt32:
		return math.MaxInt32
	}
	return int32(s)
}

// ensureTombstoneTTL creates the TTL index on _deleted, or sets its
// expireAfterSeconds (collMod) when it exists with another.
func (d *Docs) ensureTombstoneTTL(ctx context.Context) error {
	want := ttlSeconds(d.tombstoneTTL)
	specs, err := d.coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", d.coll.Name(), err)
	}
	for _, sp := range specs {
		if sp.Name != tombstoneIndex {
			continue
		}
		if sp.ExpireAfterSeconds != nil && *sp.ExpireAfterSeconds == want {
			return nil
		}
		err := d.coll.Database().RunCommand(ctx, bson.D{
			{Key: "collMod", Value: d.coll.Name()},
			{Key: "index", Value: bson.D{{Key: "name", Value: tombstoneIndex}, {Key: "expireAfterSeconds", Value: want}}},
		}).Err()
		if err != nil {
			return fmt.Errorf("set the tombstones' TTL of %s to %d s: %w", d.coll.Name(), want, err)
		}
		return nil
	}
	_, err = d.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys:    bson.D{{Key: "_deleted", Value: 1}},
		Options: options.Index().SetName(tombstoneIndex).SetExpireAfterSeconds(want),
	})
	if err != nil {
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == notImplemented {
			return fmt.Errorf("create the tombstones' TTL index on %s: %w: %w", d.coll.Name(), ErrTTLUnsupported, err)
		}
		return fmt.Errorf("create the tombstones' TTL index on %s: %w", d.coll.Name(), err)
	}
	return nil
}

// isTombstone says whether raw is a tombstone.
func isTombstone(raw bson.Raw) bool {
	_, err := raw.LookupErr("_deleted")
	return err == nil
}

// storedVersion is the version raw carries: doc.None when it has none.
func storedVersion(raw bson.Raw) (doc.Version, error) {
	ov, errV := raw.LookupErr("_v")
	pv, errP := raw.LookupErr("_vp")
	switch {
	case errV != nil && errP != nil:
		return doc.None, nil
	case errV != nil || errP != nil:
		return doc.Version{}, errors.New("_v and _vp must be stored together")
	}
	// Any number type: MongoDB compares them by value, and a document
	// another tool wrote may hold a double.
	off, ok := ov.AsInt64OK()
	if !ok {
		return doc.Version{}, fmt.Errorf("_v is a %s, not an integer", ov.Type)
	}
	part, ok := pv.AsInt64OK()
	if !ok || part < math.MinInt32 || part > math.MaxInt32 {
		return doc.Version{}, fmt.Errorf("_vp is a %s, not an int32", pv.Type)
	}
	return doc.Version{Partition: int32(part), Offset: off}, nil
}

// storedOpIDs are the op ids raw carries, oldest first.
func storedOpIDs(raw bson.Raw) ([]string, error) {
	v, err := raw.LookupErr("_ops")
	if err != nil {
		return nil, nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, fmt.Errorf("_ops is a %s, not an array", v.Type)
	}
	vals, err := arr.Values()
	if err != nil {
		return nil, fmt.Errorf("_ops: %w", err)
	}
	out := make([]string, len(vals))
	for i, e := range vals {
		s, ok := e.StringValueOK()
		if !ok {
			return nil, fmt.Errorf("_ops[%d] is a %s, not a string", i, e.Type)
		}
		out[i] = s
	}
	return out, nil
}

// stateOf is the state stored as raw.
func (l layout) stateOf(raw bson.Raw) (doc.State, error) {
	ops, err := storedOpIDs(raw)
	if err != nil {
		return doc.State{}, err
	}
	if v, err := raw.LookupErr("_deleted"); err == nil {
		ms, ok := v.DateTimeOK()
		if !ok {
			return doc.State{}, fmt.Errorf("_deleted is a %s, not a date", v.Type)
		}
		ver, err := storedVersion(raw)
		if err != nil {
			return doc.State{}, err
		}
		return doc.State{Stored: true, Deleted: true, Version: ver, OpIDs: ops, DeletedAt: time.UnixMilli(ms).UTC()}, nil
	}
	dc, err := l.fromStored(raw)
	if err != nil {
		return doc.State{}, err
	}
	return doc.State{Stored: true, Doc: dc, Version: dc.Version, OpIDs: ops}, nil
}

// States returns what is stored under each of ids, in one query: a
// document (Stored, Doc with its Version, Version, OpIDs) or a tombstone
// (Stored, Deleted, Version, OpIDs, DeletedAt). An id with nothing stored
// is absent from the map.
func (d *Docs) States(ctx context.Context, ids []string) (map[string]doc.State, error) {
	out := make(map[string]doc.State, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cur, err := d.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("read the states of %d documents in %s: %w", len(ids), d.coll.Name(), err)
	}
	defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			return nil, fmt.Errorf("read the states in %s: _id is a %s, not a string", d.coll.Name(), cur.Current.Lookup("_id").Type)
		}
		st, err := d.stateOf(cur.Current)
		if err != nil {
			return nil, fmt.Errorf("read the state of %q in %s: %w", id, d.coll.Name(), err)
		}
		out[id] = st
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("read the states of %d documents in %s: %w", len(ids), d.coll.Name(), err)
	}
	return out, nil
}

// storedState is the state st as the store keeps it under id, stamped
// ingestedAt when a document.
func (l layout) storedState(id string, st doc.State, now time.Time) (bson.D, error) {
	var d bson.D
	if st.Deleted {
		at := st.DeletedAt
		if at.IsZero() {
			at = now
		}
		d = bson.D{{Key: "_id", Value: id}, {Key: "_deleted", Value: bson.NewDateTimeFromTime(at)}}
	} else {
		dc := st.Doc
		dc.ID = id
		var err error
		if d, err = l.stored(dc, now); err != nil {
			return nil, err
		}
	}
	ops := st.OpIDs
	if len(ops) > doc.MaxOpIDs {
		ops = ops[len(ops)-doc.MaxOpIDs:] // the newest
	}
	arr := make(bson.A, len(ops))
	for i, o := range ops {
		arr[i] = o
	}
	return append(d,
		bson.E{Key: "_v", Value: st.Version.Offset},
		bson.E{Key: "_vp", Value: st.Version.Partition},
		bson.E{Key: "_ops", Value: arr}), nil
}

// maxReplacesPerBulk bounds the conditional replaces of one bulk write.
const maxReplacesPerBulk = 16

// modelChunk is one bulk write of WriteStates: models[k] writes
// writes[at[k]].
type modelChunk struct {
	models []mongo.WriteModel
	at     []int
}

// chunkModels splits models (models[k] writes writes[at[k]]) into one bulk
// write of the inserts and bulk writes of at most maxReplacesPerBulk
// replaces.
func chunkModels(models []mongo.WriteModel, writes []doc.StateWrite, at []int) []modelChunk {
	var inserts modelChunk
	var out []modelChunk
	var cur modelChunk
	for k, m := range models {
		if !writes[at[k]].Expect.Stored {
			inserts.models, inserts.at = append(inserts.models, m), append(inserts.at, at[k])
			continue
		}
		cur.models, cur.at = append(cur.models, m), append(cur.at, at[k])
		if len(cur.models) == maxReplacesPerBulk {
			out, cur = append(out, cur), modelChunk{}
		}
	}
	if len(cur.models) > 0 {
		out = append(out, cur)
	}
	if len(inserts.models) > 0 {
		out = append([]modelChunk{inserts}, out...)
	}
	return out
}

// WriteStates writes each New state under its ID while what is stored
// there is still its Expect, with one unordered bulk write: an insert when
// Expect is not Stored, else a replace of the document or tombstone whose
// version is Expect.Version (of one without a version for doc.None). A
// document is stamped ingestedAt now; a tombstone without a DeletedAt is
// deleted now.
//
// stale are the ids whose write found something else stored (another
// writer came first, or the write was applied before): their New is not
// stored, or is stored by an earlier run of the same write; the caller
// reads them again and redoes their ops. The ids of writes must be
// distinct, and every New stored, with a version other than doc.None.
// A write whose body the store cannot convert, or that the server refuses
// for good, does not hold the others: they are written (and their stale
// ids returned), and the error is a *RejectedError (wrapped) listing the
// refused writes by index, each reason wrapping post.ErrBadRecord and
// naming the id; what is stored under a refused id is untouched. Any
// other failure is an error that says nothing of what was written;
// writing the same writes again is then safe.
func (d *Docs) WriteStates(ctx context.Context, writes []doc.StateWrite) (stale []string, err error) {
	if len(writes) == 0 {
		return nil, nil
	}
	now := d.now().UTC().Truncate(time.Millisecond)
	models := make([]mongo.WriteModel, 0, len(writes))
	at := make([]int, 0, len(writes)) // models[k] writes writes[at[k]]
	rej := &RejectedError{}
	seen := make(map[string]bool, len(writes))
	for i, w := range writes {
		switch {
		case w.ID == "":
			return nil, fmt.Errorf("write states to %s: write %d has no id", d.coll.Name(), i)
		case seen[w.ID]:
			return nil, fmt.Errorf("write states to %s: %q is written twice", d.coll.Name(), w.ID)
		case !w.New.Stored:
			return nil, fmt.Errorf("write states to %s: the new state of %q is not stored", d.coll.Name(), w.ID)
		case w.New.Version == doc.None:
			return nil, fmt.Errorf("write states to %s: the new state of %q has no version", d.coll.Name(), w.ID)
		case !w.New.Deleted && w.New.Doc.ID != "" && w.New.Doc.ID != w.ID:
			return nil, fmt.Errorf("write states to %s: the new document of %q has id %q", d.coll.Name(), w.ID, w.New.Doc.ID)
		}
		seen[w.ID] = true
		sd, err := d.storedState(w.ID, w.New, now)
		if err != nil {
			// A body the store cannot keep: refused alone, the others
			// written.
			rej.add(i, w.ID, err)
			continue
		}
		at = append(at, i)
		if !w.Expect.Stored {
			models = append(models, mongo.NewInsertOneModel().SetDocument(sd))
			continue
		}
		filter := bson.D{{Key: "_id", Value: w.ID}}
		if w.Expect.Version == doc.None {
			filter = append(filter, bson.E{Key: "_v", Value: bson.D{{Key: "$exists", Value: false}}})
		} else {
			filter = append(filter,
				bson.E{Key: "_v", Value: w.Expect.Version.Offset},
				bson.E{Key: "_vp", Value: w.Expect.Version.Partition})
		}
		models = append(models, mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(sd))
	}

	isStale := make([]bool, len(writes))
	refused := make([]bool, len(writes))
	for _, r := range rej.Documents {
		refused[r.Index] = true
	}
	// The inserts go in one bulk write, the replaces in bulk writes of at
	// most maxReplacesPerBulk: FerretDB 1.x hangs (its connection pool
	// exhausted) on one bulk write of ~100 conditional replaces, and takes
	// time quadratic in their number below that.
	// unknown marks the replaces whose outcome the bulk result does not
	// tell (it counts matches, it does not name them): a chunk of replaces
	// that matched fewer than it sent. An insert is known from its error
	// alone: none, written; a duplicate key, stale. Only the unknown are
	// read back — a read of every id of a batch of creates would be a
	// collection scan on FerretDB, per batch.
	unknown := make([]bool, len(writes))
	for _, chunk := range chunkModels(models, writes, at) {
		res, err := d.coll.BulkWrite(ctx, chunk.models, options.BulkWrite().SetOrdered(false))
		if replaces := writes[chunk.at[0]].Expect.Stored; replaces && (res == nil || res.MatchedCount < int64(len(chunk.models))) {
			for _, i := range chunk.at {
				unknown[i] = true
			}
		}
		if err == nil {
			continue
		}
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
			return nil, fmt.Errorf("write %d states to %s: %w", len(writes), d.coll.Name(), err)
		}
		for _, we := range bwe.WriteErrors {
			if we.Index < 0 || we.Index >= len(chunk.at) {
				return nil, fmt.Errorf("write %d states to %s: %w", len(writes), d.coll.Name(), err)
			}
			i := chunk.at[we.Index]
			w := writes[i]
			switch classify(we.Code) {
			case alreadyStored:
				if !w.Expect.Stored { // someone stored it meanwhile
					isStale[i] = true
					continue
				}
			case permanent:
				// Refused for good: the others stand.
				r := refusal{index: i, code: we.Code, msg: we.Message}
				rej.add(i, w.ID, r.reason("document", w.ID))
				refused[i] = true
				continue
			}
			return nil, fmt.Errorf("write %d states to %s: %w", len(writes), d.coll.Name(), err)
		}
	}
	allDone := !slices.Contains(unknown, true)
	rejected := func() error {
		if len(rej.Documents) == 0 {
			return nil
		}
		slices.SortFunc(rej.Documents, func(a, b Rejection) int { return a.Index - b.Index })
		return fmt.Errorf("write %d states to %s: %w", len(writes), d.coll.Name(), rej)
	}
	if allDone {
		for i, w := range writes {
			if isStale[i] {
				stale = append(stale, w.ID)
			}
		}
		return stale, rejected()
	}

	// The result does not say which replaces matched: what is stored now
	// does. A write whose new version is stored was applied (by this run
	// or an earlier one of the same write); any other is stale.
	var again []string
	for i, w := range writes {
		if unknown[i] && !isStale[i] && !refused[i] {
			again = append(again, w.ID)
		}
	}
	versions := make(map[string]doc.Version, len(again))
	if len(again) > 0 {
		cur, err := d.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: again}}}},
			options.Find().SetProjection(bson.D{{Key: "_v", Value: 1}, {Key: "_vp", Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("read back %d states in %s: %w", len(again), d.coll.Name(), err)
		}
		defer func() { _ = cur.Close(context.WithoutCancel(ctx)) }()
		for cur.Next(ctx) {
			id, _ := cur.Current.Lookup("_id").StringValueOK()
			v, err := storedVersion(cur.Current)
			if err != nil {
				return nil, fmt.Errorf("read back the state of %q in %s: %w", id, d.coll.Name(), err)
			}
			versions[id] = v
		}
		if err := cur.Err(); err != nil {
			return nil, fmt.Errorf("read back %d states in %s: %w", len(again), d.coll.Name(), err)
		}
	}
	for i, w := range writes {
		if refused[i] {
			continue
		}
		if isStale[i] {
			stale = append(stale, w.ID)
			continue
		}
		if !unknown[i] {
			continue // written, as its bulk result said
		}
		if v, ok := versions[w.ID]; !ok || v != w.New.Version {
			stale = append(stale, w.ID)
		}
	}
	return stale, rejected()
}
