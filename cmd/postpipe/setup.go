package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/logging"
	"github.com/postpipe/postpipe/internal/store"
	"github.com/postpipe/postpipe/internal/stream"
)

// connectTimeout bounds how long start-up waits for the broker and store.
const connectTimeout = 30 * time.Second

// setup loads and checks the configuration of cmd and builds the logger.
// It warns about POSTPIPE_* variables no command reads (a typo is
// otherwise silently ignored).
func setup(cmd string, args []string, getenv func(string) string) (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(cmd, args, getenv, os.Stderr)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	cfg.KafkaInstanceID = cfg.InstanceID(getenv, inContainer(getenv))
	cfg.DataDir = stackDataDir(cmd, cfg, getenv)
	log := newLogger(cfg)
	log.Info("postpipe starting", "command", cmd, "version", version(), "config", cfg.For(cmd))
	warnUnknownVariables(log, os.Environ())
	return cfg, log, nil
}

// warnUnknownVariables logs each POSTPIPE_* variable of environ that no
// command reads, with the known name it is closest to.
func warnUnknownVariables(log *slog.Logger, environ []string) {
	for _, u := range config.UnknownVariables(environ) {
		if u.Closest != "" {
			log.Warn("unknown environment variable, ignored; did you mean "+u.Closest+"?", "name", u.Name, "closest", u.Closest)
		} else {
			log.Warn("unknown environment variable, ignored (see docs/configuration.md)", "name", u.Name)
		}
	}
}

// inContainer reports whether the process runs in a container, where
// HOSTNAME names this process alone (see config.Config.InstanceID).
func inContainer(getenv func(string) string) bool {
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}

// quieter returns log without the records below min, unless log is at debug
// level: the broker client and the embedded servers are chatty at info.
func quieter(log *slog.Logger, min slog.Level) *slog.Logger {
	if log.Enabled(context.Background(), slog.LevelDebug) {
		return log
	}
	return slog.New(levelFloor{log.Handler(), min})
}

// levelFloor drops records below min, whatever the wrapped handler allows.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(as []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(as), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

func newLogger(cfg config.Config) *slog.Logger {
	level, _ := config.ParseLevel(cfg.LogLevel) // checked by Validate
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, opts)
	}
	return slog.New(logging.NewHandler(h))
}

// stackAt is where a running embedded stack listens, as its state file in
// the data directory says (runningStack); the zero value is none found.
type stackAt struct {
	Kafka    string // host:port
	MongoURI string
	HTTP     string // where the API of 'postpipe run' answers, host:port
	From     string // which process wrote it and where, for the log
}

// stackDataDir is the folder where cmd looks for the embedded stack's state
// file: its own data dir where it has one (run, stack), else
// POSTPIPE_DATA_DIR, else the default. api, sink and the dlq tools take no
// data-dir setting, but beside a 'postpipe run' on another folder they find
// its broker and store by the same variable.
func stackDataDir(cmd string, cfg config.Config, getenv func(string) string) string {
	name, _, _ := strings.Cut(cmd, " ")
	for _, c := range config.Commands {
		if c.Name == name && slices.Contains(c.Sections, config.SectionData) {
			return cfg.DataDir
		}
	}
	return cmp.Or(getenv(config.EnvName("data-dir")), config.Default().DataDir)
}

// localStack points api and sink processes that have no broker or store
// configured at the embedded stack: the one whose state file is in the data
// directory ('postpipe run' on free ports, or 'postpipe stack'), else the
// addresses 'postpipe stack' listens on by default.
func localStack(cfg config.Config, log *slog.Logger) config.Config {
	if !cfg.EmbeddedKafka() && !cfg.EmbeddedMongo() {
		return cfg
	}
	st := runningStack(cfg.DataDir, log)
	if cfg.EmbeddedKafka() {
		cfg.KafkaBrokers = []string{stackBroker(cfg, st, log)}
	}
	if cfg.EmbeddedMongo() {
		if st.MongoURI != "" {
			cfg.MongoURI = st.MongoURI
			log.Info("no POSTPIPE_MONGODB_URI: using the store of the running embedded stack", "uri", cfg.MongoURI, "stack", st.From)
		} else {
			cfg.MongoURI = "mongodb://" + cfg.StackMongoAddr + "/"
			log.Info("no POSTPIPE_MONGODB_URI and no running embedded stack in "+cfg.DataDir+": using the local stack's default store (start it with 'postpipe stack')", "uri", cfg.MongoURI)
		}
		cfg.DevStoreReads()
	}
	return cfg
}

// stackBroker is the broker of st, the running embedded stack, else the
// address 'postpipe stack' listens on by default.
func stackBroker(cfg config.Config, st stackAt, log *slog.Logger) string {
	if st.Kafka != "" {
		log.Info("no POSTPIPE_KAFKA_BROKERS: using the broker of the running embedded stack", "addr", st.Kafka, "stack", st.From)
		return st.Kafka
	}
	log.Info("no POSTPIPE_KAFKA_BROKERS and no running embedded stack in "+cfg.DataDir+": using the local stack's default broker (start it with 'postpipe stack')", "addr", cfg.StackKafkaAddr)
	return cfg.StackKafkaAddr
}

// newProducer connects the API's producer and makes sure the topics exist.
func newProducer(ctx context.Context, cfg config.Config, declared []*stream.Stream, posts *stream.Stream, kopts []kgo.Opt, log *slog.Logger) (*kgo.Client, error) {
	opts := append(slices.Clone(kopts), kafka.ProducerOpts(cfg.ProduceTimeout, cfg.KafkaLinger, keyedTopics(declared, posts)...)...)
	opts = append(opts, kafka.BufferOpts(cfg.KafkaMaxBufferedRecords, cfg.KafkaMaxBufferedBytes)...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create kafka producer: %w", err)
	}
	if err := ensureTopics(ctx, cfg, declared, cl, log); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// ensureTopics creates the topics with their settings and warns about
// every setting of an existing topic that differs: it is not altered.
func ensureTopics(ctx context.Context, cfg config.Config, declared []*stream.Stream, cl *kgo.Client, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	topics := append([]kafka.Topic{
		kafka.PostsTopic(cfg.KafkaTopic, cfg.KafkaPartitions, cfg.KafkaReplication, cfg.KafkaMinInsyncReplicas, cfg.KafkaRetention),
		kafka.DLQTopic(cfg.KafkaDLQTopic, cfg.KafkaPartitions, cfg.KafkaReplication, cfg.KafkaMinInsyncReplicas, cfg.KafkaDLQRetention),
	}, streamTopics(cfg, declared)...)
	mismatches, err := kafka.EnsureTopics(ctx, cl, topics...)
	if err != nil {
		return fmt.Errorf("kafka at %v: %w", cfg.KafkaBrokers, err)
	}
	for _, m := range mismatches {
		log.Warn("existing topic differs from the configured setting; left as it is (alter it on the broker if the setting is right)",
			"topic", m.Topic, "key", m.Key, "want", m.Want, "have", m.Have)
	}
	return nil
}

// openStore connects to the store and creates its indexes.
func openStore(ctx context.Context, cfg config.Config) (*store.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	st, err := store.Open(ctx, cfg.MongoURI, cfg.MongoDatabase, cfg.MongoCollection)
	if err != nil {
		// The driver quotes parts of a URI it refuses (an option value it
		// cannot unescape, say): mask the credentials in its text too.
		return nil, fmt.Errorf("mongodb at %s: %w", config.RedactURI(cfg.MongoURI), config.RedactError(err, cfg.MongoURI))
	}
	if err := st.EnsureIndexes(ctx); err != nil {
		_ = st.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return st, nil
}

// closeStore closes the store within ctx, the shutdown deadline's.
func closeStore(ctx context.Context, st *store.Store, log *slog.Logger) {
	if err := st.Close(ctx); err != nil {
		log.Warn("closing the store failed", "err", err)
	}
}
