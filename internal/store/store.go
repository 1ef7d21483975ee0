// Package store keeps posts in MongoDB (or anything speaking its wire
// protocol, such as FerretDB) through the official Go driver. It satisfies
// the writer the sink needs and the store the API reads from.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Store is one collection of posts.
type Store struct {
	client *mongo.Client
	coll   *mongo.Collection
	now    func() time.Time
}

// Open connects to uri and checks that the server answers. Extra client
// options (pool size, monitors) are applied after the URI.
func Open(ctx context.Context, uri, database, collection string, opts ...*options.ClientOptions) (*Store, error) {
	all := append([]*options.ClientOptions{
		options.Client().ApplyURI(uri).
			SetServerSelectionTimeout(5 * time.Second).
			SetConnectTimeout(5 * time.Second).
			SetAppName("postpipe"),
	}, opts...)
	client, err := mongo.Connect(all...)
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %w", err)
	}
	s := &Store{client: client, coll: client.Database(database).Collection(collection), now: time.Now}
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Ping checks that the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping mongodb: %w", err)
	}
	return nil
}

// indexSpec is one index a collection needs, found by its name.
type indexSpec struct {
	name string
	keys bson.D
}

// indexes serve the listing, newest first, overall and per author.
var indexes = []indexSpec{
	{"createdAt_id", bson.D{{Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}},
	{"author_createdAt_id", bson.D{{Key: "author", Value: 1}, {Key: "createdAt", Value: -1}, {Key: "_id", Value: -1}}},
}

// EnsureIndexes creates the missing indexes (see ensureIndexes).
func (s *Store) EnsureIndexes(ctx context.Context) error {
	return ensureIndexes(ctx, s.coll, indexes)
}

// ensureIndexes creates those of want that coll lacks. It leaves existing
// ones alone and tries again when creation fails, because FerretDB 1.24
// drops the connection on a createIndexes that repeats an existing compound
// index — which also happens when several postpipe processes start at once.
func ensureIndexes(ctx context.Context, coll *mongo.Collection, want []indexSpec) error {
	// About 20 s in all: on a loaded machine a racing process can hold
	// FerretDB's index creation for seconds.
	var err error
	for attempt := 1; attempt <= 14; attempt++ {
		if err = createMissingIndexes(ctx, coll, want); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(min(time.Duration(attempt)*200*time.Millisecond, 2*time.Second)):
		}
	}
	return err
}

func createMissingIndexes(ctx context.Context, coll *mongo.Collection, want []indexSpec) error {
	specs, err := coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("list indexes of %s: %w", coll.Name(), err)
	}
	have := make(map[string]bool, len(specs))
	for _, sp := range specs {
		have[sp.Name] = true
	}
	var missing []mongo.IndexModel
	for _, ix := range want {
		if !have[ix.name] {
			missing = append(missing, mongo.IndexModel{Keys: ix.keys, Options: options.Index().SetName(ix.name)})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if _, err := coll.Indexes().CreateMany(ctx, missing); err != nil {
		return fmt.Errorf("create indexes on %s: %w", coll.Name(), err)
	}
	return nil
}

// Close disconnects; pending operations get until ctx ends.
func (s *Store) Close(ctx context.Context) error {
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect mongodb: %w", err)
	}
	return nil
}
