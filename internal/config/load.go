package config

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Load fills a Config from defaults, then POSTPIPE_* environment variables,
// then command-line flags (the flag wins). Every flag --foo-bar has the
// variable POSTPIPE_FOO_BAR. It returns flag.ErrHelp after printing usage
// for -h/--help.
func Load(cmd string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	return LoadWith(cmd, args, getenv, out, nil)
}

// LoadWith is Load for a command with flags of its own besides the
// settings: extra registers them on the same flag set.
func LoadWith(cmd string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet)) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("postpipe "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	c.register(fs)
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: postpipe %s [flags]\n\nEvery flag can also be set by the environment variable shown.\n\n", cmd)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(out, "  --%s  (%s, default %q)\n      %s\n", f.Name, EnvName(f.Name), f.DefValue, f.Usage)
		})
	}

	// Environment first, through the flags' own parsers so both give the
	// same errors; then the command line overrides it.
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Sprintf("%s=%q: %v", EnvName(f.Name), v, err))
			}
		}
	})
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid environment:\n%s", strings.Join(errs, "\n"))
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("postpipe %s: unexpected argument %q", cmd, fs.Arg(0))
	}
	return c, nil
}

// EnvName is the environment variable for a flag name.
func EnvName(flagName string) string {
	return "POSTPIPE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *Config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "address the HTTP API listens on")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "address of the admin listener (pprof, metrics, probes); a port alone (:6060) listens on loopback, 0.0.0.0:6060 on every interface; with API keys on, all but the probes need a key; empty: off")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", c.MaxBodyBytes, "largest request body accepted for one post (413 above)")
	fs.Int64Var(&c.MaxBatchBodyBytes, "max-batch-body-bytes", c.MaxBatchBodyBytes, "largest request body accepted by POST /v1/posts:batch")
	fs.DurationVar(&c.ProduceTimeout, "produce-timeout", c.ProduceTimeout, "how long a request waits for the broker's acknowledgement before answering 503")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "most requests served at once; beyond it 503 with Retry-After at once (0: no bound)")
	fs.IntVar(&c.MaxConnsPerClient, "max-conns-per-client", c.MaxConnsPerClient, "most connections one client address may hold open; one more is closed at once (0: no bound)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long shutdown may take to finish in-flight work")

	fs.Var((*listValue)(&c.KafkaBrokers), "kafka-brokers", "comma-separated Kafka bootstrap brokers; empty starts an embedded broker")
	fs.StringVar(&c.KafkaTopic, "kafka-topic", c.KafkaTopic, "topic the posts are produced to")
	fs.StringVar(&c.KafkaDLQTopic, "kafka-dlq-topic", c.KafkaDLQTopic, "dead-letter topic for records the sink cannot store")
	fs.IntVar(&c.KafkaPartitions, "kafka-partitions", c.KafkaPartitions, "partitions of the topics when the service creates them")
	fs.IntVar(&c.KafkaReplication, "kafka-replication", c.KafkaReplication, "replication factor of the topics when the service creates them (-1: broker default)")
	fs.IntVar(&c.KafkaMinInsyncReplicas, "kafka-min-insync-replicas", c.KafkaMinInsyncReplicas, "min.insync.replicas of the topics when the service creates them (0: replication factor - 1, at least 1)")
	fs.DurationVar(&c.KafkaRetention, "kafka-retention", c.KafkaRetention, "retention of the topic when the service creates it (0: broker default)")
	fs.DurationVar(&c.KafkaDLQRetention, "kafka-dlq-retention", c.KafkaDLQRetention, "retention of the dead-letter topic when the service creates it (0: broker default)")
	fs.StringVar(&c.KafkaGroup, "kafka-group", c.KafkaGroup, "consumer group of the sink")
	fs.StringVar(&c.KafkaInstanceID, "kafka-instance-id", c.KafkaInstanceID, "static group membership id of this sink, unique per sink; empty: POD_NAME, or HOSTNAME in a container, else dynamic membership; 'none': dynamic")
	fs.DurationVar(&c.KafkaSessionTimeout, "kafka-session-timeout", c.KafkaSessionTimeout, "how long the group waits for a silent sink member before reassigning its partitions")
	fs.IntVar(&c.KafkaMaxBufferedRecords, "kafka-max-buffered-records", c.KafkaMaxBufferedRecords, "most unacknowledged records the producer holds; a post beyond it is answered 503")
	fs.IntVar(&c.KafkaMaxBufferedBytes, "kafka-max-buffered-bytes", c.KafkaMaxBufferedBytes, "most unacknowledged bytes the producer holds; a post beyond it is answered 503")
	fs.DurationVar(&c.KafkaLinger, "kafka-linger", c.KafkaLinger, "how long the producer waits to fill a batch before sending")

	fs.StringVar(&c.MongoURI, "mongodb-uri", c.MongoURI, "MongoDB connection URI; empty starts an embedded FerretDB on SQLite")
	fs.StringVar(&c.MongoDatabase, "mongodb-database", c.MongoDatabase, "database that holds the posts")
	fs.StringVar(&c.MongoCollection, "mongodb-collection", c.MongoCollection, "collection that holds the posts")

	fs.IntVar(&c.SinkBatchSize, "sink-batch-size", c.SinkBatchSize, "most records the sink writes in one bulk write")
	fs.DurationVar(&c.SinkBatchWait, "sink-batch-wait", c.SinkBatchWait, "longest the sink waits to fill a batch")
	fs.IntVar(&c.SinkWriters, "sink-writers", c.SinkWriters, "bulk writes the sink runs at once for one batch")

	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "where the embedded broker and store keep their files")
	fs.BoolVar(&c.StackKafka, "stack-kafka", c.StackKafka, "'postpipe stack' serves the Kafka protocol")
	fs.BoolVar(&c.StackMongo, "stack-mongodb", c.StackMongo, "'postpipe stack' serves the MongoDB protocol")
	fs.StringVar(&c.StackPostgreSQLURL, "stack-postgresql-url", c.StackPostgreSQLURL, "'postpipe stack' keeps the MongoDB-protocol data in this PostgreSQL database instead of SQLite")
	fs.StringVar(&c.StackKafkaAddr, "stack-kafka-addr", c.StackKafkaAddr, "address of the Kafka protocol server started by 'postpipe stack'")
	fs.StringVar(&c.StackMongoAddr, "stack-mongodb-addr", c.StackMongoAddr, "address of the MongoDB protocol server started by 'postpipe stack'")

	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.BenchEndpoints, "bench-endpoints", c.BenchEndpoints, "enable POST /v1/bench/noop (decode and validate only) and /v1/bench/fire-and-forget (produce without waiting for the ack) for 'postpipe bench'")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	c.Security.register(fs)
	fs.Float64Var(&c.AccessLogSample, "access-log-sample", c.AccessLogSample, "fraction of requests (0..1) logged with method, route, status, duration and request_id; 0: none")
}

// listValue is a comma-separated list flag.
type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }

func (l *listValue) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}
