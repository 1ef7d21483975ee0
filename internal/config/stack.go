package config

import (
	"log/slog"
	"net/url"
)

// Data is where the embedded broker and store keep their files.
type Data struct {
	DataDir string
}

func defaultData() Data { return Data{DataDir: "./data"} }

func (s *Data) register(fs *flagSet) {
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir, "where the embedded broker and store keep their files")
}

func (s Data) validate(bad badFunc) { checkNotEmpty(bad, "POSTPIPE_DATA_DIR", s.DataDir) }

func (s Data) attrs() []slog.Attr { return []slog.Attr{slog.String("data_dir", s.DataDir)} }

// Stack is what 'postpipe stack' serves. The addresses are also where api,
// sink and the dlq tools look when no broker or store is configured: they
// use the defaults there, since they do not register this section.
type Stack struct {
	StackKafka     bool // 'postpipe stack' serves the Kafka protocol
	StackKafkaAddr string
	StackMongo     bool // 'postpipe stack' serves the MongoDB protocol
	StackMongoAddr string
	// StackPostgreSQLURL makes the stack's FerretDB keep its data in
	// PostgreSQL instead of SQLite files in DataDir.
	StackPostgreSQLURL string
}

func defaultStack() Stack {
	return Stack{StackKafka: true, StackKafkaAddr: "127.0.0.1:9092", StackMongo: true, StackMongoAddr: "127.0.0.1:27017"}
}

func (s *Stack) register(fs *flagSet) {
	fs.BoolVar(&s.StackKafka, "stack-kafka", s.StackKafka, "serve the Kafka protocol")
	fs.StringVar(&s.StackKafkaAddr, "stack-kafka-addr", s.StackKafkaAddr, "address of the Kafka protocol server")
	fs.BoolVar(&s.StackMongo, "stack-mongodb", s.StackMongo, "serve the MongoDB protocol")
	fs.StringVar(&s.StackMongoAddr, "stack-mongodb-addr", s.StackMongoAddr, "address of the MongoDB protocol server")
	fs.StringVar(&s.StackPostgreSQLURL, "stack-postgresql-url", s.StackPostgreSQLURL, "keep the MongoDB-protocol data in this PostgreSQL database instead of SQLite")
}

func (s Stack) validate(bad badFunc) {
	checkAddr(bad, "POSTPIPE_STACK_KAFKA_ADDR", s.StackKafkaAddr)
	checkAddr(bad, "POSTPIPE_STACK_MONGODB_ADDR", s.StackMongoAddr)
	if s.StackPostgreSQLURL != "" {
		if u, err := url.Parse(s.StackPostgreSQLURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			bad("POSTPIPE_STACK_POSTGRESQL_URL", "must be a postgres:// URL")
		}
	}
}

func (s Stack) attrs() []slog.Attr {
	attrs := []slog.Attr{
		slog.Bool("stack_kafka", s.StackKafka),
		slog.String("stack_kafka_addr", s.StackKafkaAddr),
		slog.Bool("stack_mongodb", s.StackMongo),
		slog.String("stack_mongodb_addr", s.StackMongoAddr),
	}
	if s.StackPostgreSQLURL != "" {
		attrs = append(attrs, slog.String("stack_postgresql_url", RedactURI(s.StackPostgreSQLURL)))
	}
	return attrs
}

// DLQ is the dlq tools' own settings. Its flags are plain words (--limit,
// --match), so its variables carry the prefix DLQ_: POSTPIPE_DLQ_LIMIT.
type DLQ struct {
	// DLQMatch keeps only records whose reason or key contains it.
	DLQMatch string
	// DLQRedriveGroup remembers what was redriven; empty: <group>.redrive.
	DLQRedriveGroup string
	// DLQLimit is the most records 'dlq list' shows (0: all).
	DLQLimit int
	// DLQStream is the stream whose dead letters the command reads (its
	// topics from the streams file); empty: posts.
	DLQStream string
}

func defaultDLQ() DLQ { return DLQ{DLQLimit: 50} }

func (DLQ) envPrefix() string { return "DLQ_" }

func (s *DLQ) register(fs *flagSet) {
	fs.StringVar(&s.DLQMatch, "match", s.DLQMatch, "only records whose reason or key contains this text")
	fs.StringVar(&s.DLQRedriveGroup, "redrive-group", s.DLQRedriveGroup, "consumer group that remembers what was redriven (default <kafka-group>.redrive)")
	fs.IntVar(&s.DLQLimit, "limit", s.DLQLimit, "'dlq list': most records shown, newest first (0: all)")
	fs.StringVar(&s.DLQStream, "stream", s.DLQStream, "the stream whose dead letters to read (its topic and <topic>.dlq, from the streams file); empty: posts")
}

func (s DLQ) validate(bad badFunc) {
	if s.DLQLimit < 0 {
		bad("POSTPIPE_DLQ_LIMIT", "must be 0 (all) or positive, got %d", s.DLQLimit)
	}
}

func (s DLQ) attrs() []slog.Attr {
	return []slog.Attr{slog.String("match", s.DLQMatch), slog.String("redrive_group", s.DLQRedriveGroup), slog.Int("limit", s.DLQLimit), slog.String("stream", s.DLQStream)}
}
