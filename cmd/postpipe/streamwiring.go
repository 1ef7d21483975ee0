package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/store"
	"github.com/postpipe/postpipe/internal/stream"
)

// loadStreams reads the streams file (none: posts alone) and returns the
// streams served on the generic path: every declared stream but posts, and
// posts too when the file gives it another schema than the built-in one
// (otherwise it keeps its typed path, which is cheaper, and posts is that
// path's stream: the built-in one, or the file's with the built-in
// schema; nil when posts is among declared). A file that declares posts
// sets its topic (the DLQ is <topic>.dlq) and collection in cfg, in place
// of the Kafka and store settings. A bad file is a *stream.FileError: the
// process exits 2, as 'postpipe streams check' does.
func loadStreams(cfg *config.Config) (declared []*stream.Stream, posts *stream.Stream, err error) {
	set, err := stream.Load(cfg.StreamsFile)
	if err != nil {
		return nil, nil, err
	}
	for _, st := range set.Streams {
		if st.Name != stream.Builtin {
			declared = append(declared, st)
			continue
		}
		if st.Schema == "built-in" { // not in the file: the settings say where posts go
			posts = st
			continue
		}
		cfg.KafkaTopic, cfg.KafkaDLQTopic, cfg.MongoCollection = st.Topic, st.DLQTopic(), st.Collection
		if st.BuiltinSchema() {
			posts = st
		} else {
			declared = append(declared, st)
		}
	}
	if posts != nil {
		// Its topic is the settings' (or the file's, copied into them).
		cp := *posts
		cp.Topic, cp.Collection = cfg.KafkaTopic, cfg.MongoCollection
		posts = &cp
	}
	return declared, posts, nil
}

// keyedTopics are the topics whose records are placed by key: those of the
// streams with changes, whose ops on one document must keep their order.
func keyedTopics(declared []*stream.Stream, posts *stream.Stream) []string {
	var out []string
	if posts != nil && posts.Changes {
		out = append(out, posts.Topic)
	}
	for _, st := range declared {
		if st.Changes {
			out = append(out, st.Topic)
		}
	}
	return out
}

// tombstoneTTL is how long a deleted document's tombstone is kept: longer
// than the topic keeps its records, so that no replay of an op older than
// the delete can still come (docs/streams.md, "Tombstones"); 0 (kept) when
// the topic's retention is the broker's, which postpipe does not know.
func tombstoneTTL(cfg config.Config) time.Duration {
	if cfg.KafkaRetention <= 0 {
		return 0
	}
	return cfg.KafkaRetention + 24*time.Hour
}

// streamTopics are the declared streams' topics and dead-letter topics,
// with the settings posts' topics get.
func streamTopics(cfg config.Config, declared []*stream.Stream) []kafka.Topic {
	var topics []kafka.Topic
	for _, st := range declared {
		if st.Name == stream.Builtin {
			continue // posts' topics are cfg's, created with them
		}
		topics = append(topics,
			kafka.PostsTopic(st.Topic, cfg.KafkaPartitions, cfg.KafkaReplication, cfg.KafkaMinInsyncReplicas, cfg.KafkaRetention),
			kafka.DLQTopic(st.DLQTopic(), cfg.KafkaPartitions, cfg.KafkaReplication, cfg.KafkaMinInsyncReplicas, cfg.KafkaDLQRetention))
	}
	return topics
}

// openDocs opens each declared stream's collection and creates its indexes
// (for a stream with changes, the tombstones' TTL index too where the store
// has them; FerretDB has not: a warning, and tombstones are kept).
func openDocs(ctx context.Context, cfg config.Config, st *store.Store, declared []*stream.Stream, log *slog.Logger) (map[string]*store.Docs, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	docs := make(map[string]*store.Docs, len(declared))
	for _, s := range declared {
		d := st.Docs(s.Collection, s.List)
		if s.Changes {
			d.WithTombstoneTTL(tombstoneTTL(cfg))
		}
		if err := ensureDocIndexes(ctx, d, log); err != nil {
			return nil, fmt.Errorf("stream %s: collection %s: %w", s.Name, s.Collection, err)
		}
		docs[s.Name] = d
	}
	return docs, nil
}

// ensureDocIndexes creates d's indexes; a store without TTL indexes is
// told in a warning, not an error.
func ensureDocIndexes(ctx context.Context, d *store.Docs, log *slog.Logger) error {
	err := d.EnsureIndexes(ctx)
	if errors.Is(err, store.ErrTTLUnsupported) {
		log.Warn("the store has no TTL indexes: tombstones of deleted documents are kept, not cleaned up", "err", err)
		return nil
	}
	return err
}

// openPostsChanges is the posts collection as the changes of posts write
// it, its TTL index ensured; nil when posts has no changes.
func openPostsChanges(ctx context.Context, cfg config.Config, st *store.Store, posts *stream.Stream, log *slog.Logger) (*store.Docs, error) {
	if posts == nil || !posts.Changes {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	d := st.PostsDocs().WithTombstoneTTL(tombstoneTTL(cfg))
	if err := ensureDocIndexes(ctx, d, log); err != nil {
		return nil, fmt.Errorf("stream posts: collection %s: %w", cfg.MongoCollection, err)
	}
	return d, nil
}

// streamNames is posts and the declared streams' names, for the metrics'
// stream label.
func streamNames(declared []*stream.Stream) []string {
	names := []string{stream.Builtin}
	for _, st := range declared {
		if st.Name != stream.Builtin {
			names = append(names, st.Name)
		}
	}
	return names
}

// checkKeyStreams refuses a keys file that limits a key to a stream no
// longer served: the key would be refused everywhere without a word.
func checkKeyStreams(cfg config.Config, guard api.Guard, declared []*stream.Stream) error {
	set, ok := guard.Keys.(*apikey.Set)
	if !ok {
		return nil
	}
	served := streamNames(declared)
	for key, streams := range set.Limited() {
		for _, st := range streams {
			if !slices.Contains(served, st) {
				return fmt.Errorf("api keys file %s: key %s: streams=%s names %q, which is not served (the streams are %s)",
					cfg.APIKeysFile, key, strings.Join(streams, ","), st, strings.Join(served, ", "))
			}
		}
	}
	return nil
}

// docRoutes are the sink's routes of the declared streams: each record of a
// stream's topic decoded and checked against that stream (doc.Unmarshal, or
// doc.UnmarshalChange for a stream with changes), written to its
// collection.
func docRoutes(declared []*stream.Stream, docs map[string]*store.Docs) []sink.Route {
	routes := make([]sink.Route, 0, len(declared))
	for _, st := range declared {
		if st.Changes {
			routes = append(routes, sink.ChangesRoute(st, docs[st.Name]))
			continue
		}
		decode := func(key, value []byte) (doc.Document, error) { return doc.Unmarshal(st, key, value) }
		routes = append(routes, sink.DocumentsRoute(st.Name, st.Topic, st.DLQTopic(), decode, docs[st.Name]))
	}
	return routes
}

// typedPosts reports whether posts keeps its typed path: no streams file
// gave it another schema.
func typedPosts(declared []*stream.Stream) bool {
	for _, st := range declared {
		if st.Name == stream.Builtin {
			return false
		}
	}
	return true
}

// offsetTopics are the topics whose progress the dashboard shows: posts'
// (cfg's) and every declared stream's.
func offsetTopics(cfg config.Config, declared []*stream.Stream) []kafka.StreamTopics {
	topics := []kafka.StreamTopics{{Stream: stream.Builtin, Topic: cfg.KafkaTopic, DLQTopic: cfg.KafkaDLQTopic}}
	for _, st := range declared {
		if st.Name != stream.Builtin {
			topics = append(topics, kafka.StreamTopics{Stream: st.Name, Topic: st.Topic, DLQTopic: st.DLQTopic()})
		}
	}
	return topics
}
