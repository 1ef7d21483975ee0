package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Verification is what the store holds of the posts a scenario was promised
// would land: every accepted id exactly once.
type Verification struct {
	Accepted   int64   `json:"accepted"`   // posts answered 202
	Landed     int64   `json:"landed"`     // of those, found in the store
	Lost       int64   `json:"lost"`       // accepted, not found within the drain timeout
	Duplicated int64   `json:"duplicated"` // stored documents of the scenario that are not one of its posts, once
	LagP50     float64 `json:"lag_p50_ms"` // ingestedAt − createdAt of the landed posts
	LagP99     float64 `json:"lag_p99_ms"`
	LagMax     float64 `json:"lag_max_ms"`
	// Duplicated, split: second copies of posts (under another id, found
	// by the title marker), and documents of posts never answered with an
	// id.
	DuplicateCopies  int64 `json:"duplicate_copies"`
	StoredUnaccepted int64 `json:"stored_unaccepted"`
	// Posts answered 503 naming an id: the broker did not acknowledge them
	// in time, and they may still land once under that id — not a loss, and
	// not a duplicate when they do.
	Unacknowledged       int64   `json:"unacknowledged"`
	UnacknowledgedLanded int64   `json:"unacknowledged_landed"`
	CheckS               float64 `json:"check_s"` // how long the check took: waiting for the sink, reading back
	Drained              bool    `json:"drained"` // every accepted post landed within the drain timeout
	// Where the posts were looked for: "store" (landed: stored by the
	// sink) or "topic" (landed: a record on the topic; no sink ran, so no
	// lag).
	Where string `json:"where"`

	lags *lags
}

// verifier checks the store for what the sink should have written.
type verifier struct {
	client   *mongo.Client
	coll     *mongo.Collection
	drain    time.Duration
	poll     time.Duration
	progress io.Writer
}

// idChunk is how many ids one $in query asks for: about 3 MB of command,
// under the 16 MB limit. On FerretDB every query scans the collection
// whatever it asks, so the lookup is one query (one scan) in practice.
const idChunk = 100000

func openVerifier(ctx context.Context, uri, database, collection string, drain time.Duration, progress io.Writer) (*verifier, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetAppName("postpipe-bench"))
	if err != nil {
		return nil, fmt.Errorf("connect to the store: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("ping the store: %w", err)
	}
	return &verifier{
		client: client, coll: client.Database(database).Collection(collection),
		drain: drain, poll: 500 * time.Millisecond, progress: progress,
	}, nil
}

// in is the verifier of another collection of the same database, through
// the same client: where a declared stream's documents land.
func (v *verifier) in(collection string) *verifier {
	c := *v
	c.coll = v.coll.Database().Collection(collection)
	return &c
}

func (v *verifier) close(ctx context.Context) error {
	if err := v.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from the store: %w", err)
	}
	return nil
}

// stall is how long the document count may stand still before the check
// stops waiting on it and reads the documents. FerretDB on PostgreSQL
// reports an estimate that can stop short of (or dip below) the true count,
// so waiting on it long only wastes time; the reading that follows waits
// for the missing posts itself, up to the drain timeout.
const stall = 3 * time.Second

// check waits, up to the drain timeout, for the accepted posts to land,
// then counts what landed, what is missing and what is stored beyond them.
// before is the collection's document count from before the scenario's
// load (see count), or -1 where it is unknown.
//
// On FerretDB every query reads the whole collection — tens of seconds per
// query once it holds a few hundred thousand posts, stealing CPU from the
// sink it waits for — so the check waits on the collection's count, which
// the store keeps, and then reads the scenario's documents by author in
// one query: that finds the landed posts and any extra copies at once, and
// on MongoDB the author index serves it. Accepted ids not found that way
// are looked up by id, in chunks with $in, in case they landed with another
// author. owner is the field that holds author: "author" for posts,
// "customer" for orders (a list field of the stream, indexed alike).
func (v *verifier) check(ctx context.Context, label, owner, author string, promised promises, before int64) (*Verification, error) {
	start := time.Now()
	deadline := start.Add(v.drain)
	accepted := promised.accepted
	res := &Verification{Accepted: int64(len(accepted)), Unacknowledged: int64(len(promised.maybe)), lags: newLags(), Where: "store"}
	acceptedIDs := make(map[string]bool, len(accepted))
	for _, a := range accepted {
		acceptedIDs[a.ID] = true
	}
	var lastSay time.Time
	say := func(landed int64) {
		if time.Since(lastSay) >= time.Second {
			fmt.Fprintf(v.progress, "%s: waiting for the sink: %d of %d accepted posts stored (%.0fs)\n", label, landed, len(acceptedIDs), time.Since(start).Seconds())
			lastSay = time.Now()
		}
	}

	if before >= 0 {
		if err := v.waitStored(ctx, before+int64(len(acceptedIDs))-promised.refused, deadline, func(n int64) { say(n - before) }); err != nil {
			return nil, err
		}
	}

	var docs []storedDoc
	for {
		var err error
		read := time.Now()
		if docs, err = v.docsOf(ctx, owner, author); err != nil {
			return nil, err
		}
		landed := 0
		for _, d := range docs {
			if acceptedIDs[d.ID] {
				landed++
			}
		}
		if int64(landed)+promised.refused >= int64(len(acceptedIDs)) || !time.Now().Before(deadline) {
			break
		}
		say(int64(landed))
		// A read of a large collection is heavy on FerretDB: rest at
		// least as long as it took, leaving the CPU to the sink.
		if err := sleep(ctx, max(v.poll, time.Since(read))); err != nil {
			return nil, err
		}
	}

	missing := make(map[string]bool)
	for id := range acceptedIDs {
		missing[id] = true
	}
	maybeIDs := make(map[string]bool, len(promised.maybe))
	markers := make(map[string]bool, len(accepted)+len(promised.maybe))
	for _, a := range accepted {
		markers[a.Marker] = true
	}
	for _, m := range promised.maybe {
		maybeIDs[m.ID] = true
		markers[m.Marker] = true
	}
	for _, d := range docs {
		switch {
		case missing[d.ID]:
			delete(missing, d.ID)
			res.Landed++
			res.lags.record(d.IngestedAt.Sub(d.CreatedAt))
		case acceptedIDs[d.ID]: // cannot happen: _id is unique
		case maybeIDs[d.ID]:
			res.UnacknowledgedLanded++
		case markers[d.Title]:
			res.DuplicateCopies++
		default:
			res.StoredUnaccepted++
		}
	}
	if len(missing) > 0 {
		if err := v.findByID(ctx, missing, res); err != nil {
			return nil, err
		}
	}
	res.Lost = res.Accepted - res.Landed
	res.Drained = len(missing) == 0
	res.CheckS = round3(time.Since(start).Seconds())
	res.Duplicated = res.DuplicateCopies + res.StoredUnaccepted
	res.LagP50, res.LagP99, res.LagMax = res.lags.ms(50), res.lags.ms(99), res.lags.maxMS()
	return res, nil
}

// waitStored waits, until deadline, for the collection to hold target
// documents, calling say with each count it reads. It gives up early when
// the count stands still for stall, or cannot be read: the caller's check
// then finds what is missing. Only an ended ctx is an error.
func (v *verifier) waitStored(ctx context.Context, target int64, deadline time.Time, say func(n int64)) error {
	last, grew := int64(-1), time.Now()
	for time.Now().Before(deadline) {
		n, err := v.count(ctx)
		if err != nil || n >= target {
			return ctx.Err()
		}
		if n > last {
			last, grew = n, time.Now()
		} else if time.Since(grew) > stall {
			return nil
		}
		say(n)
		if err := sleep(ctx, v.poll); err != nil {
			return err
		}
	}
	return nil
}

// count is how many documents the collection holds, from collStats: the
// store's own bookkeeping, where counting documents would read them all on
// FerretDB.
func (v *verifier) count(ctx context.Context) (int64, error) {
	var stats struct {
		Count int64 `bson:"count"`
	}
	err := v.coll.Database().RunCommand(ctx, bson.D{{Key: "collStats", Value: v.coll.Name()}}).Decode(&stats)
	if err != nil {
		return 0, fmt.Errorf("count the documents of %s: %w", v.coll.Name(), err)
	}
	return stats.Count, nil
}

// storedDoc is the part of a stored post the check reads.
type storedDoc struct {
	ID         string    `bson:"_id"`
	Title      string    `bson:"title"`
	CreatedAt  time.Time `bson:"createdAt"`
	IngestedAt time.Time `bson:"ingestedAt"`
}

var storedDocFields = bson.D{{Key: "title", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "ingestedAt", Value: 1}}

// docsOf reads every document whose field owner is author.
func (v *verifier) docsOf(ctx context.Context, owner, author string) ([]storedDoc, error) {
	cur, err := v.coll.Find(ctx, bson.D{{Key: owner, Value: author}}, options.Find().SetProjection(storedDocFields))
	if err != nil {
		return nil, fmt.Errorf("find the documents of %s: %w", author, err)
	}
	var docs []storedDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read the documents of %s: %w", author, err)
	}
	return docs, nil
}

// findByID looks the ids in missing up, by chunks, removes the ones found
// and counts them as landed.
func (v *verifier) findByID(ctx context.Context, missing map[string]bool, res *Verification) error {
	ids := make([]string, 0, len(missing))
	for id := range missing {
		ids = append(ids, id)
	}
	opts := options.Find().SetProjection(storedDocFields)
	for len(ids) > 0 {
		chunk := ids[:min(idChunk, len(ids))]
		ids = ids[len(chunk):]
		cur, err := v.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: chunk}}}}, opts)
		if err != nil {
			return fmt.Errorf("look up %d accepted ids: %w", len(chunk), err)
		}
		var docs []storedDoc
		if err := cur.All(ctx, &docs); err != nil {
			return fmt.Errorf("read %d accepted ids: %w", len(chunk), err)
		}
		for _, d := range docs {
			if missing[d.ID] {
				delete(missing, d.ID)
				res.Landed++
				res.lags.record(d.IngestedAt.Sub(d.CreatedAt))
			}
		}
	}
	return nil
}

// combine adds verifications up: the run's totals over its scenarios.
func combine(vs []*Verification) *Verification {
	if len(vs) == 0 {
		return nil
	}
	out := &Verification{Drained: true, lags: newLags(), Where: vs[0].Where}
	for _, v := range vs {
		out.Accepted += v.Accepted
		out.Landed += v.Landed
		out.Lost += v.Lost
		out.Duplicated += v.Duplicated
		out.DuplicateCopies += v.DuplicateCopies
		out.StoredUnaccepted += v.StoredUnaccepted
		out.Unacknowledged += v.Unacknowledged
		out.UnacknowledgedLanded += v.UnacknowledgedLanded
		out.CheckS = round3(out.CheckS + v.CheckS)
		out.Drained = out.Drained && v.Drained
		out.lags.merge(v.lags)
	}
	out.LagP50, out.LagP99, out.LagMax = out.lags.ms(50), out.lags.ms(99), out.lags.maxMS()
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
