package config

import (
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Sink is the sink's group membership and batching.
type Sink struct {
	// KafkaInstanceID makes the sink a static group member: restarted with
	// the same id, it gets its partitions back at once instead of after
	// the session timeout. Empty: dynamic membership (see InstanceID for
	// the default in a container).
	KafkaInstanceID string
	// KafkaSessionTimeout is how long the group waits for a silent sink
	// (a crashed process that does not come back) before giving its
	// partitions to others.
	KafkaSessionTimeout time.Duration

	SinkBatchSize int
	SinkBatchWait time.Duration
	// SinkWriters splits each batch into this many bulk writes that run
	// at once: a store serves one bulk write on one connection, and the
	// sink must keep up with a broker that takes posts faster than that.
	SinkWriters int
	// SinkFetchMinBytes and SinkFetchMaxWait make the broker hold the
	// sink's fetch until that many bytes are there or the wait has
	// passed (why: sink.New). An int, as the flag package has no int32:
	// validate keeps it far within the int32 the protocol carries.
	SinkFetchMinBytes int
	SinkFetchMaxWait  time.Duration
}

// MinSinkFetchMaxWait is the shortest fetch wait franz-go accepts.
const MinSinkFetchMaxWait = 10 * time.Millisecond

func defaultSink() Sink {
	return Sink{
		// Kafka's client default is 45 s. With static membership a restarted
		// sink no longer waits for it; it only bounds how long the partitions
		// of a sink that does not come back stall. A false expiry (a member
		// starved of CPU past it) costs a rebalance and rewrites of one batch,
		// which the idempotent writes absorb; 15 s is five missed heartbeats.
		KafkaSessionTimeout: 15 * time.Second,
		SinkBatchSize:       500,
		SinkBatchWait:       50 * time.Millisecond,
		SinkWriters:         2,
		SinkFetchMinBytes:   64 << 10,
		SinkFetchMaxWait:    50 * time.Millisecond,
	}
}

func (s *Sink) register(fs *flagSet) {
	fs.StringVar(&s.KafkaInstanceID, "kafka-instance-id", s.KafkaInstanceID, "static group membership id of this sink, unique per sink; empty: POD_NAME, or HOSTNAME in a container, else dynamic membership; 'none': dynamic")
	fs.DurationVar(&s.KafkaSessionTimeout, "kafka-session-timeout", s.KafkaSessionTimeout, "how long the group waits for a silent sink member before reassigning its partitions")
	fs.IntVar(&s.SinkBatchSize, "sink-batch-size", s.SinkBatchSize, "most records the sink writes in one bulk write")
	fs.DurationVar(&s.SinkBatchWait, "sink-batch-wait", s.SinkBatchWait, "longest the sink waits to fill a batch")
	fs.IntVar(&s.SinkWriters, "sink-writers", s.SinkWriters, "bulk writes the sink runs at once for one batch")
	fs.IntVar(&s.SinkFetchMinBytes, "sink-fetch-min-bytes", s.SinkFetchMinBytes, "bytes the broker waits for before it answers the sink's fetch (or the fetch max wait passes); 1 answers at every produce batch, at a cost in broker CPU")
	fs.DurationVar(&s.SinkFetchMaxWait, "sink-fetch-max-wait", s.SinkFetchMaxWait, "longest the broker holds the sink's fetch waiting for the fetch min bytes: it bounds the extra delay a record waits at low traffic, and a Prefer: wait request at low traffic waits up to it longer")
}

func (s Sink) validate(bad badFunc) {
	if strings.TrimSpace(s.KafkaInstanceID) != s.KafkaInstanceID || len(s.KafkaInstanceID) > 249 {
		bad("POSTPIPE_KAFKA_INSTANCE_ID", "must have no surrounding spaces and at most 249 characters, got %q", s.KafkaInstanceID)
	}
	if s.KafkaSessionTimeout < time.Second || s.KafkaSessionTimeout > 30*time.Minute {
		bad("POSTPIPE_KAFKA_SESSION_TIMEOUT", "must be between 1s and 30m, got %s", s.KafkaSessionTimeout)
	}
	if s.SinkBatchSize < 1 || s.SinkBatchSize > 10000 {
		bad("POSTPIPE_SINK_BATCH_SIZE", "must be between 1 and 10000, got %d", s.SinkBatchSize)
	}
	if s.SinkBatchWait <= 0 || s.SinkBatchWait > time.Minute {
		bad("POSTPIPE_SINK_BATCH_WAIT", "must be between 1ns and 1m, got %s", s.SinkBatchWait)
	}
	if s.SinkWriters < 1 || s.SinkWriters > 64 {
		bad("POSTPIPE_SINK_WRITERS", "must be between 1 and 64, got %d", s.SinkWriters)
	}
	if s.SinkFetchMinBytes < 1 || s.SinkFetchMinBytes > 64<<20 {
		bad("POSTPIPE_SINK_FETCH_MIN_BYTES", "must be between 1 and 67108864 (64 MiB), got %d", s.SinkFetchMinBytes)
	}
	if s.SinkFetchMaxWait < MinSinkFetchMaxWait || s.SinkFetchMaxWait > 10*time.Second {
		bad("POSTPIPE_SINK_FETCH_MAX_WAIT", "must be between %s (the Kafka client's least) and 10s, got %s", MinSinkFetchMaxWait, s.SinkFetchMaxWait)
	}
}

func (s Sink) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("kafka_instance_id", s.KafkaInstanceID),
		slog.Duration("kafka_session_timeout", s.KafkaSessionTimeout),
		slog.Int("sink_batch_size", s.SinkBatchSize),
		slog.Duration("sink_batch_wait", s.SinkBatchWait),
		slog.Int("sink_writers", s.SinkWriters),
		slog.Int("sink_fetch_min_bytes", s.SinkFetchMinBytes),
		slog.Duration("sink_fetch_max_wait", s.SinkFetchMaxWait),
	}
}

// NoInstanceID as POSTPIPE_KAFKA_INSTANCE_ID asks for dynamic group
// membership where the default would be static.
const NoInstanceID = "none"

// InstanceID is the sink's static group membership id, "" for dynamic
// membership: KafkaInstanceID when set; otherwise, only in a container
// (inContainer), POD_NAME or else HOSTNAME. A container runs one process
// and Kubernetes and Docker give each one its own name; on a host,
// HOSTNAME is shared by every process, and two sinks with one id would
// fence each other out of the group. A Kubernetes pod keeps its name when
// its container restarts; a StatefulSet's pod keeps it when replaced too.
func (s Sink) InstanceID(getenv func(string) string, inContainer bool) string {
	switch {
	case s.KafkaInstanceID == NoInstanceID:
		return ""
	case s.KafkaInstanceID != "":
		return s.KafkaInstanceID
	case !inContainer:
		return ""
	case getenv("POD_NAME") != "":
		return getenv("POD_NAME")
	default:
		return getenv("HOSTNAME")
	}
}

// Store is where the sink writes and the API reads the posts.
type Store struct {
	MongoURI        string
	MongoDatabase   string
	MongoCollection string
}

func defaultStore() Store { return Store{MongoDatabase: "postpipe", MongoCollection: "posts"} }

// EmbeddedMongo reports whether no store is configured, so the process
// starts its own (or uses the local stack's).
func (s Store) EmbeddedMongo() bool { return s.MongoURI == "" }

func (s *Store) register(fs *flagSet) {
	fs.StringVar(&s.MongoURI, "mongodb-uri", s.MongoURI, "MongoDB connection URI; empty starts an embedded FerretDB on SQLite ('run') or uses the local stack's")
	fs.StringVar(&s.MongoDatabase, "mongodb-database", s.MongoDatabase, "database that holds the posts")
	fs.StringVar(&s.MongoCollection, "mongodb-collection", s.MongoCollection, "collection that holds the posts")
}

func (s Store) validate(bad badFunc) {
	checkNotEmpty(bad, "POSTPIPE_MONGODB_DATABASE", s.MongoDatabase)
	checkNotEmpty(bad, "POSTPIPE_MONGODB_COLLECTION", s.MongoCollection)
	if s.MongoURI != "" {
		if u, err := url.Parse(s.MongoURI); err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
			bad("POSTPIPE_MONGODB_URI", "must be a mongodb:// or mongodb+srv:// URI")
		} else if _, ok := parseURI(s.MongoURI); !ok {
			// It would be logged as "(unparseable URI)" and the driver's
			// errors about it could not be masked reliably.
			bad("POSTPIPE_MONGODB_URI", "cannot be taken apart safely: %%-escape '@', ':', '/' and '?' in the user name and password, and give at least one host")
		}
	}
}

func (s Store) attrs() []slog.Attr {
	mongo := "embedded"
	if !s.EmbeddedMongo() {
		mongo = RedactURI(s.MongoURI)
	}
	return []slog.Attr{
		slog.String("mongodb_uri", mongo),
		slog.String("mongodb_database", s.MongoDatabase),
		slog.String("mongodb_collection", s.MongoCollection),
	}
}
