package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/postpipe/postpipe/internal/post"
)

// Get returns the stored post with id, or post.ErrNotFound (also for a
// deleted one).
func (s *Store) Get(ctx context.Context, id string) (post.Post, error) {
	var d document
	if err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}, notDeleted}).Decode(&d); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return post.Post{}, post.ErrNotFound
		}
		return post.Post{}, fmt.Errorf("get post %s: %w", id, err)
	}
	return d.post(), nil
}

// listBatch is how many documents List asks the server for at a time: a
// caller that stops early (the API cuts a page at a few MiB) then leaves
// the rest on the server, and one batch of posts of about a megabyte each
// stays around 16 MiB however large q.Limit is.
const listBatch = 16

// closeTimeout bounds closing a listing's cursor, one killCursors.
const closeTimeout = 5 * time.Second

// List calls each with up to q.Limit posts newest first, after q.After,
// leaving out deleted ones, decoding one document at a time from the cursor, until each returns
// false.
func (s *Store) List(ctx context.Context, q post.Query, each func(post.Post) bool) error {
	filter := bson.D{notDeleted}
	if q.Author != "" {
		filter = append(filter, bson.E{Key: "author", Value: q.Author})
	}
	if q.After != nil {
		filter = append(filter, keysetAfter(q.After.CreatedAt, q.After.ID))
	}
	err := findNewestFirst(ctx, s.coll, filter, q.Limit, func(raw bson.Raw) (bool, error) {
		var d document
		if err := bson.Unmarshal(raw, &d); err != nil {
			return false, err
		}
		return each(d.post()), nil
	})
	if err != nil {
		return fmt.Errorf("list posts: %w", err)
	}
	return nil
}

// keysetAfter is the filter member that starts a listing strictly after
// (createdAt, id) in the order newest first: an $or of two bounds the
// (createdAt, _id) index serves as ranges.
func keysetAfter(createdAt time.Time, id string) bson.E {
	return bson.E{Key: "$or", Value: bson.A{
		bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: createdAt}}}},
		bson.D{{Key: "createdAt", Value: createdAt}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: id}}}},
	}}
}

// findNewestFirst sends one find of filter on coll sorted by (createdAt,
// _id) descending, for up to limit documents, and calls each with every
// document in turn until it returns false or an error. The document is only
// valid during the call.
func findNewestFirst(ctx context.Context, coll *mongo.Collection, filter bson.D, limit int, each func(bson.Raw) (bool, error)) error {
	// A find command of its own rather than Collection.Find: Find never
	// sends maxTimeMS (the driver leaves it off the operations that return
	// a cursor, DRIVERS-2722), so a query whose caller gave up ran on in
	// the store to its end. RunCommandCursor sends ctx's time left as
	// maxTimeMS, which bounds the cursor's getMores too.
	cmd := bson.D{
		{Key: "find", Value: coll.Name()},
		{Key: "filter", Value: filter},
		{Key: "sort", Value: bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}},
		{Key: "limit", Value: int64(limit)},
		{Key: "batchSize", Value: int32(min(limit, listBatch))},
	}
	cur, err := coll.Database().RunCommandCursor(ctx, cmd)
	if err != nil {
		return err
	}
	// Closing kills the server-side cursor when each stopped early. It
	// runs after ctx may have ended, so it has a bound of its own: without
	// one a stalled store would hold the caller (and its place among the
	// API's reads) for good.
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = cur.Close(cctx)
	}()
	for cur.Next(ctx) {
		more, err := each(cur.Current)
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
	}
	return cur.Err()
}
