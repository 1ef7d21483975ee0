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
	Duplicated int64   `json:"duplicated"` // stored documents of the run beyond one per accepted post
	LagP50     float64 `json:"lag_p50_ms"` // ingestedAt − createdAt of the landed posts
	LagP99     float64 `json:"lag_p99_ms"`
	LagMax     float64 `json:"lag_max_ms"`
	// Duplicated, split: second copies of accepted posts (under another
	// id, found by the title marker), and documents of posts that were not
	// answered 202 (a 503 says the post may land anyway).
	DuplicateCopies  int64   `json:"duplicate_copies"`
	StoredUnaccepted int64   `json:"stored_unaccepted"`
	DrainS           float64 `json:"drain_s"` // how long the check waited for the sink
	Drained          bool    `json:"drained"` // every accepted post landed within the drain timeout

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

// idChunk is how many ids one $in query asks for: a few hundred kilobytes
// of command, far under the 16 MB limit. On FerretDB every query scans the
// collection whatever it asks, so fewer, larger queries are what is fast.
const idChunk = 10000

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

func (v *verifier) close(ctx context.Context) error {
	if err := v.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from the store: %w", err)
	}
	return nil
}

// check waits, up to the drain timeout, for the accepted posts to land,
// then counts what landed, what is missing and what is stored beyond them.
//
// Each wait reads the documents of author (the scenario's marker) in one
// query, which finds the landed posts and any extra copies at once; on
// MongoDB the author index serves it, and on FerretDB, where every query
// scans the whole collection (seconds per query on the embedded store),
// one query per poll is what keeps the check short. The accepted ids not
// found that way are then looked up by id, in chunks with $in, in case they
// landed with another author.
func (v *verifier) check(ctx context.Context, label, author string, accepted []acceptedPost) (*Verification, error) {
	start := time.Now()
	deadline := start.Add(v.drain)
	res := &Verification{Accepted: int64(len(accepted)), lags: newLags()}
	acceptedIDs := make(map[string]bool, len(accepted))
	for _, a := range accepted {
		acceptedIDs[a.ID] = true
	}

	var (
		docs    []storedDoc
		lastSay time.Time
	)
	for {
		var err error
		if docs, err = v.docsOf(ctx, author); err != nil {
			return nil, err
		}
		landed := 0
		for _, d := range docs {
			if acceptedIDs[d.ID] {
				landed++
			}
		}
		if landed == len(acceptedIDs) || !time.Now().Before(deadline) {
			break
		}
		if time.Since(lastSay) >= time.Second {
			fmt.Fprintf(v.progress, "%s: waiting for the sink: %d of %d accepted posts stored (%.0fs)\n", label, landed, len(acceptedIDs), time.Since(start).Seconds())
			lastSay = time.Now()
		}
		if err := sleep(ctx, v.poll); err != nil {
			return nil, err
		}
	}

	missing := make(map[string]bool)
	for id := range acceptedIDs {
		missing[id] = true
	}
	acceptedMarkers := make(map[string]bool, len(accepted))
	for _, a := range accepted {
		acceptedMarkers[a.Marker] = true
	}
	for _, d := range docs {
		switch {
		case missing[d.ID]:
			delete(missing, d.ID)
			res.Landed++
			res.lags.record(d.IngestedAt.Sub(d.CreatedAt))
		case acceptedIDs[d.ID]: // cannot happen: _id is unique
		case acceptedMarkers[d.Title]:
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
	res.DrainS = round3(time.Since(start).Seconds())
	res.Duplicated = res.DuplicateCopies + res.StoredUnaccepted
	res.LagP50, res.LagP99, res.LagMax = res.lags.ms(50), res.lags.ms(99), res.lags.maxMS()
	return res, nil
}

// storedDoc is the part of a stored post the check reads.
type storedDoc struct {
	ID         string    `bson:"_id"`
	Title      string    `bson:"title"`
	CreatedAt  time.Time `bson:"createdAt"`
	IngestedAt time.Time `bson:"ingestedAt"`
}

var storedDocFields = bson.D{{Key: "title", Value: 1}, {Key: "createdAt", Value: 1}, {Key: "ingestedAt", Value: 1}}

// docsOf reads every document of author.
func (v *verifier) docsOf(ctx context.Context, author string) ([]storedDoc, error) {
	cur, err := v.coll.Find(ctx, bson.D{{Key: "author", Value: author}}, options.Find().SetProjection(storedDocFields))
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
	out := &Verification{Drained: true, lags: newLags()}
	for _, v := range vs {
		out.Accepted += v.Accepted
		out.Landed += v.Landed
		out.Lost += v.Lost
		out.Duplicated += v.Duplicated
		out.DuplicateCopies += v.DuplicateCopies
		out.StoredUnaccepted += v.StoredUnaccepted
		out.DrainS = round3(out.DrainS + v.DrainS)
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
