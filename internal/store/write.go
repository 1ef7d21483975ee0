package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/post"
)

const duplicateKey = 11000

// WriteBatch inserts posts with one unordered bulk write, stamping
// ingestedAt. A duplicate _id means the post was written before (a redelivery
// after a crash or rebalance) and counts as success; any other failure is
// returned and the whole batch may be written again safely. It reports how
// many documents were new and how many were already there.
func (s *Store) WriteBatch(ctx context.Context, posts []post.Post) (inserted, duplicates int, err error) {
	if len(posts) == 0 {
		return 0, 0, nil
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	docs := make([]document, len(posts))
	for i, p := range posts {
		docs[i] = toDocument(p, now)
	}
	inserted, duplicates, err = insertUnordered(ctx, s.coll, docs)
	if err != nil {
		return 0, 0, fmt.Errorf("write batch of %d: %w", len(posts), err)
	}
	return inserted, duplicates, nil
}

// insertUnordered writes docs with one
// unordered bulk insert, so one duplicate does not stop the rest. A
// duplicate _id means the document was written before and counts as
// success; any other failure is returned, and the whole batch may be
// written again safely.
func insertUnordered[T any](ctx context.Context, coll *mongo.Collection, docs []T) (inserted, duplicates int, err error) {
	res, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return len(res.InsertedIDs), 0, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return 0, 0, err
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != duplicateKey {
			return 0, 0, err
		}
	}
	return len(docs) - len(bwe.WriteErrors), len(bwe.WriteErrors), nil
}

// Insert writes one post now (the direct path) and returns it as stored.
// It returns post.ErrExists when a post with that id is already stored.
func (s *Store) Insert(ctx context.Context, p post.Post) (post.Post, error) {
	d := toDocument(p, s.now().UTC().Truncate(time.Millisecond))
	if _, err := s.coll.InsertOne(ctx, d); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return post.Post{}, post.ErrExists
		}
		return post.Post{}, fmt.Errorf("insert post %s: %w", p.ID, err)
	}
	return d.post(), nil
}

// Fingerprints returns the stored input fingerprint of each post in ids
// that is stored ("" for one stored without a fingerprint), in one query
// that reads nothing else.
func (s *Store) Fingerprints(ctx context.Context, ids []string) (map[string]string, error) {
	fps := make(map[string]string, len(ids))
	if len(ids) == 0 {
		return fps, nil
	}
	cur, err := s.coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: "fp", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("read fingerprints of %d posts: %w", len(ids), err)
	}
	var docs []struct {
		ID string `bson:"_id"`
		FP string `bson:"fp"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read fingerprints of %d posts: %w", len(ids), err)
	}
	for _, d := range docs {
		fps[d.ID] = d.FP
	}
	return fps, nil
}
