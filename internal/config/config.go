// Package config holds postpipe's settings: one struct, its defaults, how
// flags and POSTPIPE_* environment variables fill it, and the checks it must
// pass before anything connects.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"time"
)

// Config is every setting of every subcommand.
type Config struct {
	HTTPAddr string
	// AdminAddr, when set, serves pprof (and other operator routes) on a
	// listener of its own, away from the public port.
	AdminAddr    string
	MaxBodyBytes int64
	// MaxBatchBodyBytes bounds POST /v1/posts:batch, which carries up to
	// MaxBatchPosts posts in one body.
	MaxBatchBodyBytes int64
	ProduceTimeout    time.Duration
	ShutdownTimeout   time.Duration
	// MaxInFlight bounds the requests served at once; beyond it the API
	// answers 503 with Retry-After at once (0: no bound).
	MaxInFlight int
	// MaxConnsPerClient bounds the connections one client address holds
	// open at once; one more is closed as it is accepted (0: no bound).
	MaxConnsPerClient int

	KafkaBrokers     []string
	KafkaTopic       string
	KafkaDLQTopic    string
	KafkaPartitions  int
	KafkaReplication int
	KafkaGroup       string
	// KafkaSessionTimeout is how long the group waits for a silent sink
	// (a crashed process) before giving its partitions to others.
	KafkaSessionTimeout time.Duration
	// KafkaLinger trades latency for batching: 0 sends at once and still
	// batches whatever arrives while a request is in flight.
	KafkaLinger time.Duration
	// The producer's buffer of unacknowledged records, bounded in records
	// and bytes; a post that finds it full is answered 503 at once.
	KafkaMaxBufferedRecords int
	KafkaMaxBufferedBytes   int

	MongoURI        string
	MongoDatabase   string
	MongoCollection string

	SinkBatchSize int
	SinkBatchWait time.Duration
	// SinkWriters splits each batch into this many bulk writes that run
	// at once: a store serves one bulk write on one connection, and the
	// sink must keep up with a broker that takes posts faster than that.
	SinkWriters int

	DataDir        string
	StackKafka     bool // 'postpipe stack' serves the Kafka protocol
	StackKafkaAddr string
	StackMongo     bool // 'postpipe stack' serves the MongoDB protocol
	StackMongoAddr string
	// StackPostgreSQLURL makes the stack's FerretDB keep its data in
	// PostgreSQL instead of SQLite files in DataDir.
	StackPostgreSQLURL string

	LogLevel  string
	LogFormat string
	// AccessLogSample is the fraction of requests logged when answered
	// (0..1); 0, the default, keeps the request path free of logging.
	AccessLogSample float64

	// BenchEndpoints enables POST /v1/bench/noop and /v1/bench/fire-and-forget, the ceilings the bench
	// command measures the write paths against. Off in production.
	BenchEndpoints bool

	Security
}

// Security is who may use the API and how the service reaches Kafka.
type Security struct {
	// APIKeysFile, when set, makes every path but AuthExempt need a key
	// listed in it ("name:sha256-hex" lines).
	APIKeysFile string
	AuthExempt  []string
	// RateLimit is requests per second per API key (per client address
	// without keys); 0 is off.
	RateLimit float64
	RateBurst int

	KafkaTLS           bool
	KafkaTLSCAFile     string
	KafkaTLSCertFile   string
	KafkaTLSKeyFile    string
	KafkaSASLMechanism string
	KafkaSASLUsername  string
	KafkaSASLPassword  string
}

// MaxBatchPosts is the most posts one batch request may carry.
const MaxBatchPosts = 500

// Bounds of the topic settings. Validate keeps the settings within them, so
// they fit the int32 and int16 the Kafka protocol carries them in.
const (
	MaxPartitions  = 10000
	MaxReplication = math.MaxInt16 // 32767
)

// Default returns the defaults: the only place they are written down.
func Default() Config {
	return Config{
		HTTPAddr:          ":8080",
		MaxBodyBytes:      1 << 20,
		MaxBatchBodyBytes: 16 << 20,
		ProduceTimeout:    5 * time.Second,
		ShutdownTimeout:   8 * time.Second,
		MaxInFlight:       1024,
		// Half of MaxInFlight, so one address can never hold every request
		// slot; five times the 100 virtual users (a connection each) of the
		// heaviest bench profile, seed, on one loopback address (see
		// docs/limits.md).
		MaxConnsPerClient: 512,

		KafkaTopic:          "posts",
		KafkaDLQTopic:       "posts.dlq",
		KafkaPartitions:     6,
		KafkaReplication:    -1,
		KafkaGroup:          "postpipe-sink",
		KafkaSessionTimeout: 45 * time.Second,
		KafkaLinger:         time.Millisecond,

		KafkaMaxBufferedRecords: 10000,
		KafkaMaxBufferedBytes:   64 << 20,

		MongoDatabase:   "postpipe",
		MongoCollection: "posts",

		SinkBatchSize: 500,
		SinkBatchWait: 50 * time.Millisecond,
		SinkWriters:   2,

		DataDir:        "./data",
		StackKafka:     true,
		StackKafkaAddr: "127.0.0.1:9092",
		StackMongo:     true,
		StackMongoAddr: "127.0.0.1:27017",

		LogLevel:  "info",
		LogFormat: "text",

		Security: Security{
			AuthExempt: []string{"/healthz", "/readyz"},
			RateBurst:  50,
		},
	}
}

// EmbeddedKafka reports whether no broker is configured, so the process
// starts its own.
func (c Config) EmbeddedKafka() bool { return len(c.KafkaBrokers) == 0 }

// EmbeddedMongo reports whether no store is configured, so the process
// starts its own.
func (c Config) EmbeddedMongo() bool { return c.MongoURI == "" }

// Validate reports every invalid setting at once, by its environment name.
func (c Config) Validate() error {
	var errs []error
	bad := func(env, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", env, fmt.Sprintf(format, args...)))
	}
	addr := func(env, v string) {
		if _, _, err := net.SplitHostPort(v); err != nil {
			bad(env, "%q is not host:port", v)
		}
	}
	addr("POSTPIPE_HTTP_ADDR", c.HTTPAddr)
	if c.AdminAddr != "" {
		addr("POSTPIPE_ADMIN_ADDR", c.AdminAddr)
		if c.AdminAddr == c.HTTPAddr {
			bad("POSTPIPE_ADMIN_ADDR", "must differ from POSTPIPE_HTTP_ADDR (%q)", c.HTTPAddr)
		}
	}
	addr("POSTPIPE_STACK_KAFKA_ADDR", c.StackKafkaAddr)
	addr("POSTPIPE_STACK_MONGODB_ADDR", c.StackMongoAddr)
	for _, b := range c.KafkaBrokers {
		addr("POSTPIPE_KAFKA_BROKERS", b)
	}
	if c.MaxBodyBytes < 1024 {
		bad("POSTPIPE_MAX_BODY_BYTES", "must be at least 1024, got %d", c.MaxBodyBytes)
	}
	if c.MaxBatchBodyBytes < c.MaxBodyBytes {
		bad("POSTPIPE_MAX_BATCH_BODY_BYTES", "must be at least POSTPIPE_MAX_BODY_BYTES (%d), got %d", c.MaxBodyBytes, c.MaxBatchBodyBytes)
	}
	// franz-go refuses a record delivery timeout under 1s.
	if c.ProduceTimeout < time.Second || c.ProduceTimeout > 2*time.Minute {
		bad("POSTPIPE_PRODUCE_TIMEOUT", "must be between 1s and 2m, got %s", c.ProduceTimeout)
	}
	if c.ShutdownTimeout < time.Second || c.ShutdownTimeout > 10*time.Minute {
		bad("POSTPIPE_SHUTDOWN_TIMEOUT", "must be between 1s and 10m, got %s", c.ShutdownTimeout)
	}
	for env, v := range map[string]string{
		"POSTPIPE_KAFKA_TOPIC": c.KafkaTopic, "POSTPIPE_KAFKA_DLQ_TOPIC": c.KafkaDLQTopic,
		"POSTPIPE_KAFKA_GROUP": c.KafkaGroup, "POSTPIPE_MONGODB_DATABASE": c.MongoDatabase,
		"POSTPIPE_MONGODB_COLLECTION": c.MongoCollection, "POSTPIPE_DATA_DIR": c.DataDir,
	} {
		if strings.TrimSpace(v) == "" {
			bad(env, "must not be empty")
		}
	}
	if c.KafkaTopic == c.KafkaDLQTopic {
		bad("POSTPIPE_KAFKA_DLQ_TOPIC", "must differ from POSTPIPE_KAFKA_TOPIC (%q)", c.KafkaTopic)
	}
	// Kafka carries partitions as int32 and the replication factor as
	// int16: a value out of range would wrap when narrowed (65535 becomes
	// -1, the broker's default) instead of being refused.
	if c.KafkaPartitions < 1 || c.KafkaPartitions > MaxPartitions {
		bad("POSTPIPE_KAFKA_PARTITIONS", "must be between 1 and %d, got %d", MaxPartitions, c.KafkaPartitions)
	}
	if c.KafkaReplication != -1 && (c.KafkaReplication < 1 || c.KafkaReplication > MaxReplication) {
		bad("POSTPIPE_KAFKA_REPLICATION", "must be -1 (broker default) or between 1 and %d, got %d", MaxReplication, c.KafkaReplication)
	}
	if c.StackPostgreSQLURL != "" {
		if u, err := url.Parse(c.StackPostgreSQLURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("POSTPIPE_STACK_POSTGRESQL_URL", "must be a postgres:// URL")
		}
	}
	if c.KafkaSessionTimeout < time.Second || c.KafkaSessionTimeout > 30*time.Minute {
		bad("POSTPIPE_KAFKA_SESSION_TIMEOUT", "must be between 1s and 30m, got %s", c.KafkaSessionTimeout)
	}
	if c.MaxInFlight < 0 {
		bad("POSTPIPE_MAX_IN_FLIGHT", "must be 0 (no bound) or positive, got %d", c.MaxInFlight)
	}
	if c.MaxConnsPerClient < 0 {
		bad("POSTPIPE_MAX_CONNS_PER_CLIENT", "must be 0 (no bound) or positive, got %d", c.MaxConnsPerClient)
	}
	if c.KafkaMaxBufferedRecords < 1 {
		bad("POSTPIPE_KAFKA_MAX_BUFFERED_RECORDS", "must be positive, got %d", c.KafkaMaxBufferedRecords)
	}
	if int64(c.KafkaMaxBufferedBytes) < c.MaxBodyBytes {
		bad("POSTPIPE_KAFKA_MAX_BUFFERED_BYTES", "must be at least POSTPIPE_MAX_BODY_BYTES (%d), got %d", c.MaxBodyBytes, c.KafkaMaxBufferedBytes)
	}
	if c.KafkaLinger < 0 || c.KafkaLinger > time.Second {
		bad("POSTPIPE_KAFKA_LINGER", "must be between 0 and 1s, got %s", c.KafkaLinger)
	}
	if c.MongoURI != "" {
		if u, err := url.Parse(c.MongoURI); err != nil || (u.Scheme != "mongodb" && u.Scheme != "mongodb+srv") {
			bad("POSTPIPE_MONGODB_URI", "must be a mongodb:// or mongodb+srv:// URI")
		} else if _, ok := parseURI(c.MongoURI); !ok {
			// It would be logged as "(unparseable URI)" and the driver's
			// errors about it could not be masked reliably.
			bad("POSTPIPE_MONGODB_URI", "cannot be taken apart safely: %%-escape '@', ':', '/' and '?' in the user name and password, and give at least one host")
		}
	}
	if c.SinkBatchSize < 1 || c.SinkBatchSize > 10000 {
		bad("POSTPIPE_SINK_BATCH_SIZE", "must be between 1 and 10000, got %d", c.SinkBatchSize)
	}
	if c.SinkBatchWait <= 0 || c.SinkBatchWait > time.Minute {
		bad("POSTPIPE_SINK_BATCH_WAIT", "must be between 1ns and 1m, got %s", c.SinkBatchWait)
	}
	if c.SinkWriters < 1 || c.SinkWriters > 64 {
		bad("POSTPIPE_SINK_WRITERS", "must be between 1 and 64, got %d", c.SinkWriters)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		bad("POSTPIPE_LOG_LEVEL", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("POSTPIPE_LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}
	errs = append(errs, c.Security.validate()...)
	if !(c.AccessLogSample >= 0 && c.AccessLogSample <= 1) { // NaN fails too
		bad("POSTPIPE_ACCESS_LOG_SAMPLE", "must be between 0 and 1, got %v", c.AccessLogSample)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	return nil
}

// ParseLevel turns debug, info, warn or error into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// LogValue lets the whole config be logged at start with credentials masked.
func (c Config) LogValue() slog.Value {
	brokers := "embedded"
	if !c.EmbeddedKafka() {
		brokers = strings.Join(c.KafkaBrokers, ",")
	}
	mongo := "embedded"
	if !c.EmbeddedMongo() {
		mongo = RedactURI(c.MongoURI)
	}
	attrs := []slog.Attr{
		slog.String("http_addr", c.HTTPAddr),
		slog.String("admin_addr", c.AdminAddr),
		slog.String("kafka_brokers", brokers),
		slog.String("kafka_topic", c.KafkaTopic),
		slog.String("kafka_dlq_topic", c.KafkaDLQTopic),
		slog.Int("kafka_partitions", c.KafkaPartitions),
		slog.String("kafka_group", c.KafkaGroup),
		slog.String("mongodb_uri", mongo),
		slog.String("mongodb_database", c.MongoDatabase),
		slog.String("data_dir", c.DataDir),
		slog.Int("sink_batch_size", c.SinkBatchSize),
		slog.Duration("sink_batch_wait", c.SinkBatchWait),
		slog.Int("sink_writers", c.SinkWriters),
		slog.Duration("produce_timeout", c.ProduceTimeout),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Float64("access_log_sample", c.AccessLogSample),
		slog.Int("max_in_flight", c.MaxInFlight),
		slog.Int("max_conns_per_client", c.MaxConnsPerClient),
		slog.Int("kafka_max_buffered_records", c.KafkaMaxBufferedRecords),
		slog.Int("kafka_max_buffered_bytes", c.KafkaMaxBufferedBytes),
	}
	if c.StackPostgreSQLURL != "" {
		attrs = append(attrs, slog.String("stack_postgresql_url", RedactURI(c.StackPostgreSQLURL)))
	}
	attrs = append(attrs, c.Security.attrs()...)
	return slog.GroupValue(attrs...)
}
