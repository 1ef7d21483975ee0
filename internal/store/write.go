package store

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	res, err := s.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return len(res.InsertedIDs), 0, nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return 0, 0, fmt.Errorf("write batch of %d: %w", len(posts), err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != duplicateKey {
			return 0, 0, fmt.Errorf("write batch of %d: %w", len(posts), err)
		}
	}
	return len(posts) - len(bwe.WriteErrors), len(bwe.WriteErrors), nil
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
