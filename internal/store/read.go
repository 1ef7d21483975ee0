package store

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/post"
)

// Get returns the stored post with id, or post.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (post.Post, error) {
	var d document
	if err := s.coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		if errors.Is(err, mongo.ErrNoDocuments) {
			return post.Post{}, post.ErrNotFound
		}
		return post.Post{}, fmt.Errorf("get post %s: %w", id, err)
	}
	return d.post(), nil
}

// List returns up to q.Limit posts newest first, after q.After.
func (s *Store) List(ctx context.Context, q post.Query) ([]post.Post, error) {
	filter := bson.D{}
	if q.Author != "" {
		filter = append(filter, bson.E{Key: "author", Value: q.Author})
	}
	if q.After != nil {
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{
			bson.D{{Key: "createdAt", Value: bson.D{{Key: "$lt", Value: q.After.CreatedAt}}}},
			bson.D{{Key: "createdAt", Value: q.After.CreatedAt}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: q.After.ID}}}},
		}})
	}
	opts := options.Find().
		SetSort(bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}).
		SetLimit(int64(q.Limit))
	cur, err := s.coll.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	var docs []document
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("list posts: %w", err)
	}
	posts := make([]post.Post, len(docs))
	for i, d := range docs {
		posts[i] = d.post()
	}
	return posts, nil
}
