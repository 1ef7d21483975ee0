//go:build !nodev

package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/bench"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/stream"
)

// runBench is 'postpipe bench': load against a running server, then the
// results in --out. The work is in internal/bench; this reads the flags.
func runBench(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("postpipe bench", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		cfg                              bench.Config
		profile, scenarios, stages, rate string
		duration, warmup                 time.Duration
		rounds                           int
		mongoURI, mongoDB, mongoCl       string
		processes, brokers, topic        string
		streamsFile, summarize           string
	)
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL of the running server")
	fs.StringVar(&profile, "profile", "seed", "load profile: seed (the original k6 stages 30s:100,60s:100,30s:0, 10s warm-up, every scenario of posts), quick (1s:50,4s:50,1s:0 in 3 rounds, batch in 1, 3s warm-up, no reads) or ingest (0s:100,5s:100 in 4 rounds, 15s warm-up, the write paths only); quick and ingest run orders when the streams file declares it; explicit flags override it")
	fs.StringVar(&scenarios, "scenarios", "", "scenarios to run, one after another, from "+strings.Join(bench.ScenarioNames(), ",")+" (default: the profile's)")
	fs.DurationVar(&warmup, "warmup", -1, "how long each scenario runs at the peak of the stages before its measured window (default: the profile's; 0: none)")
	fs.IntVar(&rounds, "rounds", -1, "how many times the scenarios a ratio compares (noop, fire-and-forget, kafka, orders, direct) take turns, each running the stages once a round, so a drifting machine slows them alike; the others follow, each running its rounds one after another (default: the profile's; 1: every scenario once, in order)")
	fs.StringVar(&processes, "processes", "", "processes whose CPU per accepted post each scenario reports, name=pid[+pid…] (descendants included), e.g. api=12,broker=34,sink=56,store=78+90; the bench's own is always reported")
	fs.StringVar(&brokers, "kafka-brokers", "", "with no store to check: check the Kafka scenarios' posts on the topic through these brokers (default $POSTPIPE_KAFKA_BROKERS when no store is given), connecting with the TLS and SASL settings of $POSTPIPE_KAFKA_TLS* and $POSTPIPE_KAFKA_SASL_*, as the server's clients do")
	fs.StringVar(&topic, "kafka-topic", "", "the posts' topic for that check (default: the streams file's posts topic, else $POSTPIPE_KAFKA_TOPIC, else posts)")
	fs.StringVar(&streamsFile, "streams-file", "", "the streams file the server runs with (default $POSTPIPE_STREAMS_FILE): the orders scenario needs the stream orders it declares (examples/streams.yaml), and the checks look for its documents in its topic and collection")
	fs.StringVar(&stages, "stages", "", "closed model: virtual-user stages duration:target,… ramping linearly from 0 as in k6, e.g. 30s:60,60s:100,30s:0")
	fs.StringVar(&rate, "rate", "", "open model: requests per second, constant (500, for --duration) or as stages (10s:200,30s:200,5s:0); latency counts from when each request was due")
	fs.DurationVar(&duration, "duration", 0, "how long a constant --rate lasts (default: as long as the profile)")
	fs.IntVar(&cfg.MaxVUs, "max-vus", 1000, "open model: most requests in flight at once")
	fs.StringVar(&cfg.Out, "out", "", "results directory (default bench-results/<timestamp>/)")
	fs.IntVar(&cfg.ContentBytes, "content-bytes", 300, "bytes of random content per post")
	fs.IntVar(&cfg.BatchSize, "batch-size", 100, "posts per request in the batch scenario")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "longest wait for one answer")
	fs.StringVar(&mongoURI, "mongodb-uri", "", "store to check the Kafka scenarios against (default $POSTPIPE_MONGODB_URI; none: no check)")
	fs.StringVar(&mongoDB, "mongodb-database", "", "database of the posts (default $POSTPIPE_MONGODB_DATABASE, else postpipe)")
	fs.StringVar(&mongoCl, "mongodb-collection", "", "collection of the posts (default $POSTPIPE_MONGODB_COLLECTION, else posts)")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", 2*time.Minute, "longest wait for the sink to store the accepted posts after a scenario")
	fs.StringVar(&cfg.KafkaLabel, "kafka-label", "", `the broker, for the report, e.g. "Apache Kafka 4.x (1 broker)"`)
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "pid of the server when it runs on this machine: its peak resident memory goes in the report")
	fs.StringVar(&cfg.StoreLabel, "store-label", "", `the store, for the report, e.g. "FerretDB 1.24 on PostgreSQL 15"`)
	fs.StringVar(&summarize, "summarize", "", "runs no load: sums up deploy/bench.sh's extra runs of the ingest profile under this directory, a main run's results — scaling/*/ (the API pinned to k cores) and conns/*/ (kafka with more connections) — into scaling/scaling.{md,json} and conns/conns.{md,json}, and adds them to the main run's results.json, report.md and report.html")
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprint(out, "Usage: postpipe bench [flags]\n\nRuns load scenarios against a running server (start it with POSTPIPE_BENCH_ENDPOINTS=true for noop)\nand writes results.json, report.md and report.html.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(out, "  --%s  (default %q)\n      %s\n", f.Name, f.DefValue, f.Usage)
		})
	}
	if err := parseFlags(fs, "bench", args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return config.Usagef("bench", "postpipe bench: unexpected argument %q", fs.Arg(0))
	}
	if summarize != "" {
		return summarizeBench(summarize)
	}
	if !flagGiven(fs, "target") {
		if t := stackTarget(getenv, slog.New(slog.NewTextHandler(os.Stderr, nil))); t != "" {
			cfg.Target = t
		}
	}

	load, err := bench.ResolveLoad(profile, stages, rate, duration)
	if err != nil {
		return fmt.Errorf("postpipe bench: %w", err)
	}
	if warmup >= 0 {
		load.Warmup = warmup
	}
	if rounds >= 0 {
		load.Rounds = rounds
	}
	cfg.Load = load
	if cfg.Streams, err = stream.Load(cmp.Or(streamsFile, getenv("POSTPIPE_STREAMS_FILE"))); err != nil {
		return fmt.Errorf("postpipe bench: %w", err)
	}
	if scenarios == "" {
		cfg.Scenarios, _ = bench.ProfileScenarios(profile) // the profile is known: ResolveLoad took it
		cfg.Scenarios, cfg.Notes = withoutUndeclared(cfg.Scenarios, cfg.Streams)
	} else {
		cfg.Scenarios = strings.Split(scenarios, ",")
	}
	if cfg.Processes, err = bench.ParseProcessGroups(processes); err != nil {
		return fmt.Errorf("postpipe bench: --processes: %w", err)
	}
	// A streams file that declares posts sets its topic and collection, in
	// place of the Kafka and store settings, as it does for the server.
	var postsTopic, postsCollection string
	if p := cfg.Streams.Lookup(stream.Builtin); p != nil && p.Schema != "built-in" {
		postsTopic, postsCollection = p.Topic, p.Collection
	}
	cfg.MongoURI = cmp.Or(mongoURI, getenv("POSTPIPE_MONGODB_URI"))
	cfg.MongoDatabase = cmp.Or(mongoDB, getenv("POSTPIPE_MONGODB_DATABASE"), "postpipe")
	cfg.MongoCollection = cmp.Or(mongoCl, postsCollection, getenv("POSTPIPE_MONGODB_COLLECTION"), "posts")
	if cfg.MongoURI == "" {
		if b := cmp.Or(brokers, getenv("POSTPIPE_KAFKA_BROKERS")); b != "" {
			cfg.KafkaBrokers = strings.Split(b, ",")
			cfg.KafkaTopic = cmp.Or(topic, postsTopic, getenv("POSTPIPE_KAFKA_TOPIC"), "posts")
			if cfg.KafkaSecurity, err = benchKafkaSecurity(getenv); err != nil {
				return fmt.Errorf("postpipe bench: %w", err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	cfg.Args = args
	cfg.Version = version()
	cfg.Progress = os.Stderr

	res, err := bench.Run(ctx, cfg)
	if res != nil {
		fmt.Print(bench.Markdown(res))
		fmt.Fprintf(os.Stderr, "results in %s (results.json, report.md, report.html)\n", res.Dir)
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// summarizeBench is 'postpipe bench --summarize DIR': the summaries on
// stdout, the files written on stderr.
func summarizeBench(dir string) error {
	sum, err := bench.Summarize(dir)
	if err != nil {
		return fmt.Errorf("postpipe bench --summarize: %w", err)
	}
	fmt.Print(sum.Markdown())
	for _, n := range sum.Notes {
		fmt.Fprintln(os.Stderr, "note:", n)
	}
	fmt.Fprintf(os.Stderr, "written: %s\n", strings.Join(sum.Written, ", "))
	return nil
}

// flagGiven reports whether the command line set the flag name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// stackTarget is the API of the 'postpipe run' whose embedded stack's state
// file is in the data directory (POSTPIPE_DATA_DIR, else ./data), as a base
// URL; "" when none runs there.
func stackTarget(getenv func(string) string, log *slog.Logger) string {
	st := runningStack(stackDataDir("bench", config.Default(), getenv), log)
	if st.HTTP == "" {
		return ""
	}
	target := "http://" + st.HTTP
	log.Info("no --target: load goes to the API of the running embedded stack", "target", target, "stack", st.From)
	return target
}

// withoutUndeclared leaves the scenarios of streams the streams file does
// not declare out of a profile's scenarios, with a note saying so: the
// profiles run orders where the server serves it, and the rest everywhere.
func withoutUndeclared(names []string, set *stream.Set) (kept, notes []string) {
	for _, n := range names {
		if st := bench.ScenarioStream(n); st != "" && set.Lookup(st) == nil {
			notes = append(notes, fmt.Sprintf("%s left out of the profile's scenarios: no streams file declaring the stream %s was given (--streams-file or POSTPIPE_STREAMS_FILE, the file the server runs with; deploy/bench.sh writes one)", n, st))
			continue
		}
		kept = append(kept, n)
	}
	return kept, notes
}

// benchKafkaSecurity is the Kafka section's TLS and SASL settings, read
// from the environment by the names every role reads them by, as
// kafkaSecurity makes them of a role's settings: the bench's topic check
// connects as the server's clients do.
func benchKafkaSecurity(getenv func(string) string) (kafka.Security, error) {
	var cfg config.Config
	if v := getenv(config.EnvName("kafka-tls")); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return kafka.Security{}, fmt.Errorf("%s=%q: want true or false", config.EnvName("kafka-tls"), v)
		}
		cfg.KafkaTLS = on
	}
	cfg.KafkaTLSCAFile = getenv(config.EnvName("kafka-tls-ca-file"))
	cfg.KafkaTLSCertFile = getenv(config.EnvName("kafka-tls-cert-file"))
	cfg.KafkaTLSKeyFile = getenv(config.EnvName("kafka-tls-key-file"))
	cfg.KafkaSASLMechanism = getenv(config.EnvName("kafka-sasl-mechanism"))
	cfg.KafkaSASLUsername = getenv(config.EnvName("kafka-sasl-username"))
	cfg.KafkaSASLPassword = getenv(config.EnvName("kafka-sasl-password"))
	return kafkaSecurity(cfg), nil
}
