package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

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
// (otherwise it keeps its typed path, which is cheaper). A file that
// declares posts sets its topic (the DLQ is <topic>.dlq) and collection in
// cfg, in place of the Kafka and store settings. A bad file is a
// *stream.FileError: the process exits 2, as 'postpipe streams check' does.
func loadStreams(cfg *config.Config) ([]*stream.Stream, error) {
	set, err := stream.Load(cfg.StreamsFile)
	if err != nil {
		return nil, err
	}
	var declared []*stream.Stream
	for _, st := range set.Streams {
		if st.Name != stream.Builtin {
			declared = append(declared, st)
			continue
		}
		if st.Schema == "built-in" { // not in the file: the settings say where posts go
			continue
		}
		cfg.KafkaTopic, cfg.KafkaDLQTopic, cfg.MongoCollection = st.Topic, st.DLQTopic(), st.Collection
		if !st.BuiltinSchema() {
			declared = append(declared, st)
		}
	}
	return declared, nil
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

// openDocs opens each declared stream's collection and creates its indexes.
func openDocs(ctx context.Context, st *store.Store, declared []*stream.Stream) (map[string]*store.Docs, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	docs := make(map[string]*store.Docs, len(declared))
	for _, s := range declared {
		d := st.Docs(s.Collection, s.List)
		if err := d.EnsureIndexes(ctx); err != nil {
			return nil, fmt.Errorf("stream %s: collection %s: %w", s.Name, s.Collection, err)
		}
		docs[s.Name] = d
	}
	return docs, nil
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
// stream's topic decoded and checked against that stream (doc.Unmarshal),
// written to its collection.
func docRoutes(declared []*stream.Stream, docs map[string]*store.Docs) []sink.Route {
	routes := make([]sink.Route, 0, len(declared))
	for _, st := range declared {
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
