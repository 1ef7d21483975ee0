package config

import (
	"log/slog"
	"slices"
	"strings"
	"time"
)

// Kafka is how every client reaches the brokers (TLS and SASL included)
// and the topics' names.
type Kafka struct {
	KafkaBrokers  []string
	KafkaTopic    string
	KafkaDLQTopic string

	KafkaTLS           bool
	KafkaTLSCAFile     string
	KafkaTLSCertFile   string
	KafkaTLSKeyFile    string
	KafkaSASLMechanism string
	KafkaSASLUsername  string
	KafkaSASLPassword  string
}

func defaultKafka() Kafka { return Kafka{KafkaTopic: "posts", KafkaDLQTopic: "posts.dlq"} }

// SASL mechanisms POSTPIPE_KAFKA_SASL_MECHANISM accepts.
var saslMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// EmbeddedKafka reports whether no broker is configured, so the process
// starts its own (or uses the local stack's).
func (s Kafka) EmbeddedKafka() bool { return len(s.KafkaBrokers) == 0 }

func (s *Kafka) register(fs *flagSet) {
	fs.Var((*listValue)(&s.KafkaBrokers), "kafka-brokers", "comma-separated Kafka bootstrap brokers; empty starts an embedded broker ('run') or uses the local stack's")
	fs.StringVar(&s.KafkaTopic, "kafka-topic", s.KafkaTopic, "topic the posts are produced to")
	fs.StringVar(&s.KafkaDLQTopic, "kafka-dlq-topic", s.KafkaDLQTopic, "dead-letter topic for records the sink cannot store")
	fs.BoolVar(&s.KafkaTLS, "kafka-tls", s.KafkaTLS, "connect to Kafka over TLS")
	fs.StringVar(&s.KafkaTLSCAFile, "kafka-tls-ca-file", s.KafkaTLSCAFile, "PEM CA certificates to verify the brokers with (default: the system's)")
	fs.StringVar(&s.KafkaTLSCertFile, "kafka-tls-cert-file", s.KafkaTLSCertFile, "PEM client certificate for mutual TLS")
	fs.StringVar(&s.KafkaTLSKeyFile, "kafka-tls-key-file", s.KafkaTLSKeyFile, "PEM key of the client certificate")
	fs.StringVar(&s.KafkaSASLMechanism, "kafka-sasl-mechanism", s.KafkaSASLMechanism, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL")
	fs.StringVar(&s.KafkaSASLUsername, "kafka-sasl-username", s.KafkaSASLUsername, "SASL username")
	fs.StringVar(&s.KafkaSASLPassword, "kafka-sasl-password", s.KafkaSASLPassword, "SASL password (prefer the environment variable: flags show in ps)")
}

func (s Kafka) validate(bad badFunc) {
	for _, b := range s.KafkaBrokers {
		checkAddr(bad, "POSTPIPE_KAFKA_BROKERS", b)
	}
	checkNotEmpty(bad, "POSTPIPE_KAFKA_TOPIC", s.KafkaTopic)
	checkNotEmpty(bad, "POSTPIPE_KAFKA_DLQ_TOPIC", s.KafkaDLQTopic)
	if s.KafkaTopic == s.KafkaDLQTopic {
		bad("POSTPIPE_KAFKA_DLQ_TOPIC", "must differ from POSTPIPE_KAFKA_TOPIC (%q)", s.KafkaTopic)
	}
	if !s.KafkaTLS && (s.KafkaTLSCAFile != "" || s.KafkaTLSCertFile != "" || s.KafkaTLSKeyFile != "") {
		bad("POSTPIPE_KAFKA_TLS", "must be true when a POSTPIPE_KAFKA_TLS_* file is set")
	}
	if (s.KafkaTLSCertFile == "") != (s.KafkaTLSKeyFile == "") {
		bad("POSTPIPE_KAFKA_TLS_CERT_FILE", "and POSTPIPE_KAFKA_TLS_KEY_FILE must be set together")
	}
	switch {
	case s.KafkaSASLMechanism == "":
		if s.KafkaSASLUsername != "" || s.KafkaSASLPassword != "" {
			bad("POSTPIPE_KAFKA_SASL_MECHANISM", "must be set when a SASL username or password is")
		}
	case !slices.Contains(saslMechanisms, s.KafkaSASLMechanism):
		bad("POSTPIPE_KAFKA_SASL_MECHANISM", "must be one of %s, got %q", strings.Join(saslMechanisms, ", "), s.KafkaSASLMechanism)
	case s.KafkaSASLUsername == "" || s.KafkaSASLPassword == "":
		bad("POSTPIPE_KAFKA_SASL_USERNAME", "and POSTPIPE_KAFKA_SASL_PASSWORD are both needed for SASL")
	}
}

// attrs name the files and the SASL user, never the password or a key.
func (s Kafka) attrs() []slog.Attr {
	brokers := "embedded"
	if !s.EmbeddedKafka() {
		brokers = strings.Join(s.KafkaBrokers, ",")
	}
	return []slog.Attr{
		slog.String("kafka_brokers", brokers),
		slog.String("kafka_topic", s.KafkaTopic),
		slog.String("kafka_dlq_topic", s.KafkaDLQTopic),
		slog.Bool("kafka_tls", s.KafkaTLS),
		slog.String("kafka_tls_ca_file", s.KafkaTLSCAFile),
		slog.String("kafka_tls_cert_file", s.KafkaTLSCertFile),
		slog.String("kafka_sasl_mechanism", s.KafkaSASLMechanism),
		slog.String("kafka_sasl_username", s.KafkaSASLUsername),
	}
}

// Topics are the topics' settings when the service creates them.
type Topics struct {
	KafkaPartitions  int
	KafkaReplication int
	// KafkaMinInsyncReplicas is the topics' min.insync.replicas when the
	// service creates them; 0: the replication factor minus one, at least 1.
	KafkaMinInsyncReplicas int
	// KafkaRetention and KafkaDLQRetention are the topics' retention.ms
	// when the service creates them (0: the broker's default). The DLQ
	// keeps its records longer: someone has to look at them.
	KafkaRetention    time.Duration
	KafkaDLQRetention time.Duration
}

func defaultTopics() Topics {
	return Topics{KafkaPartitions: 6, KafkaReplication: -1, KafkaRetention: 7 * 24 * time.Hour, KafkaDLQRetention: 30 * 24 * time.Hour}
}

func (s *Topics) register(fs *flagSet) {
	fs.IntVar(&s.KafkaPartitions, "kafka-partitions", s.KafkaPartitions, "partitions of the topics when the service creates them")
	fs.IntVar(&s.KafkaReplication, "kafka-replication", s.KafkaReplication, "replication factor of the topics when the service creates them (-1: broker default)")
	fs.IntVar(&s.KafkaMinInsyncReplicas, "kafka-min-insync-replicas", s.KafkaMinInsyncReplicas, "min.insync.replicas of the topics when the service creates them (0: replication factor - 1, at least 1)")
	fs.DurationVar(&s.KafkaRetention, "kafka-retention", s.KafkaRetention, "retention of the topic when the service creates it (0: broker default)")
	fs.DurationVar(&s.KafkaDLQRetention, "kafka-dlq-retention", s.KafkaDLQRetention, "retention of the dead-letter topic when the service creates it (0: broker default)")
}

func (s Topics) validate(bad badFunc) {
	// Kafka carries partitions as int32 and the replication factor as
	// int16: a value out of range would wrap when narrowed (65535 becomes
	// -1, the broker's default) instead of being refused.
	if s.KafkaPartitions < 1 || s.KafkaPartitions > MaxPartitions {
		bad("POSTPIPE_KAFKA_PARTITIONS", "must be between 1 and %d, got %d", MaxPartitions, s.KafkaPartitions)
	}
	if s.KafkaReplication != -1 && (s.KafkaReplication < 1 || s.KafkaReplication > MaxReplication) {
		bad("POSTPIPE_KAFKA_REPLICATION", "must be -1 (broker default) or between 1 and %d, got %d", MaxReplication, s.KafkaReplication)
	}
	if s.KafkaMinInsyncReplicas < 0 || s.KafkaMinInsyncReplicas > 32767 {
		bad("POSTPIPE_KAFKA_MIN_INSYNC_REPLICAS", "must be 0 (replication factor - 1) or positive, got %d", s.KafkaMinInsyncReplicas)
	} else if s.KafkaReplication > 0 && s.KafkaMinInsyncReplicas > s.KafkaReplication {
		bad("POSTPIPE_KAFKA_MIN_INSYNC_REPLICAS", "must not exceed POSTPIPE_KAFKA_REPLICATION (%d), got %d: no post could be acknowledged", s.KafkaReplication, s.KafkaMinInsyncReplicas)
	}
	for _, r := range []struct {
		env string
		d   time.Duration
	}{{"POSTPIPE_KAFKA_RETENTION", s.KafkaRetention}, {"POSTPIPE_KAFKA_DLQ_RETENTION", s.KafkaDLQRetention}} {
		if r.d < 0 || (r.d > 0 && r.d < time.Minute) {
			bad(r.env, "must be 0 (the broker's default) or at least 1m, got %s", r.d)
		}
	}
}

func (s Topics) attrs() []slog.Attr {
	return []slog.Attr{
		slog.Int("kafka_partitions", s.KafkaPartitions),
		slog.Int("kafka_replication", s.KafkaReplication),
		slog.Int("kafka_min_insync_replicas", s.KafkaMinInsyncReplicas),
		slog.Duration("kafka_retention", s.KafkaRetention),
		slog.Duration("kafka_dlq_retention", s.KafkaDLQRetention),
	}
}

// Producer is the API's producer: how long a post waits for its ack and
// what it may hold unacknowledged.
type Producer struct {
	ProduceTimeout time.Duration
	// KafkaLinger trades latency for batching: 0 sends at once and still
	// batches whatever arrives while a request is in flight. The default,
	// 1 ms, fills a produce request with the posts of many concurrent
	// requests; the broker's CPU per record falls steeply with records per
	// batch (docs/benchmark.md, hot path).
	KafkaLinger time.Duration
	// The producer's buffer of unacknowledged records, bounded in records
	// and bytes; a post that finds it full is answered 503 at once.
	KafkaMaxBufferedRecords int
	KafkaMaxBufferedBytes   int
}

func defaultProducer() Producer {
	return Producer{ProduceTimeout: 5 * time.Second, KafkaLinger: time.Millisecond, KafkaMaxBufferedRecords: 10000, KafkaMaxBufferedBytes: 64 << 20}
}

func (s *Producer) register(fs *flagSet) {
	fs.DurationVar(&s.ProduceTimeout, "produce-timeout", s.ProduceTimeout, "how long a request waits for the broker's acknowledgement before answering 503")
	fs.DurationVar(&s.KafkaLinger, "kafka-linger", s.KafkaLinger, "how long the producer waits to fill a batch before sending; 0 answers ~1.5 ms sooner for about twice the broker's CPU per post from a few thousand posts/s (docs/benchmark.md)")
	fs.IntVar(&s.KafkaMaxBufferedRecords, "kafka-max-buffered-records", s.KafkaMaxBufferedRecords, "most unacknowledged records the producer holds; a post beyond it is answered 503")
	fs.IntVar(&s.KafkaMaxBufferedBytes, "kafka-max-buffered-bytes", s.KafkaMaxBufferedBytes, "most unacknowledged bytes the producer holds; a post beyond it is answered 503")
}

func (s Producer) validate(bad badFunc) {
	// franz-go refuses a record delivery timeout under 1s.
	if s.ProduceTimeout < time.Second || s.ProduceTimeout > 2*time.Minute {
		bad("POSTPIPE_PRODUCE_TIMEOUT", "must be between 1s and 2m, got %s", s.ProduceTimeout)
	}
	if s.KafkaLinger < 0 || s.KafkaLinger > time.Second {
		bad("POSTPIPE_KAFKA_LINGER", "must be between 0 and 1s, got %s", s.KafkaLinger)
	}
	if s.KafkaMaxBufferedRecords < 1 {
		bad("POSTPIPE_KAFKA_MAX_BUFFERED_RECORDS", "must be positive, got %d", s.KafkaMaxBufferedRecords)
	}
}

func (s Producer) attrs() []slog.Attr {
	return []slog.Attr{
		slog.Duration("produce_timeout", s.ProduceTimeout),
		slog.Duration("kafka_linger", s.KafkaLinger),
		slog.Int("kafka_max_buffered_records", s.KafkaMaxBufferedRecords),
		slog.Int("kafka_max_buffered_bytes", s.KafkaMaxBufferedBytes),
	}
}

// Group is the sink's consumer group, which the dlq tools name too.
type Group struct {
	KafkaGroup string
}

func defaultGroup() Group { return Group{KafkaGroup: "postpipe-sink"} }

func (s *Group) register(fs *flagSet) {
	fs.StringVar(&s.KafkaGroup, "kafka-group", s.KafkaGroup, "consumer group of the sink")
}

func (s Group) validate(bad badFunc) { checkNotEmpty(bad, "POSTPIPE_KAFKA_GROUP", s.KafkaGroup) }

func (s Group) attrs() []slog.Attr { return []slog.Attr{slog.String("kafka_group", s.KafkaGroup)} }
