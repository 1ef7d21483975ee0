//go:build !nodev

package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/bench"
	"github.com/postpipe/postpipe/internal/config"
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
	)
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL of the running server")
	fs.StringVar(&profile, "profile", "seed", "load profile: seed (the original k6 stages 30s:100,60s:100,30s:0, 10s warm-up, every scenario), quick (1s:50,4s:50,1s:0 in 3 rounds, batch in 1, 3s warm-up, no reads) or ingest (0s:100,5s:100 in 4 rounds, 15s warm-up, the write paths only); explicit flags override it")
	fs.StringVar(&scenarios, "scenarios", "", "scenarios to run, one after another, from "+strings.Join(bench.ScenarioNames(), ",")+" (default: the profile's)")
	fs.DurationVar(&warmup, "warmup", -1, "how long each scenario runs at the peak of the stages before its measured window (default: the profile's; 0: none)")
	fs.IntVar(&rounds, "rounds", -1, "how many times the scenarios a ratio compares (noop, fire-and-forget, kafka, direct) take turns, each running the stages once a round, so a drifting machine slows them alike; the others follow, each running its rounds one after another (default: the profile's; 1: every scenario once, in order)")
	fs.StringVar(&processes, "processes", "", "processes whose CPU per accepted post each scenario reports, name=pid[+pid…] (descendants included), e.g. api=12,broker=34,sink=56,store=78+90; the bench's own is always reported")
	fs.StringVar(&brokers, "kafka-brokers", "", "with no store to check: check the Kafka scenarios' posts on the topic through these brokers (default $POSTPIPE_KAFKA_BROKERS when no store is given)")
	fs.StringVar(&topic, "kafka-topic", "", "the topic for that check (default $POSTPIPE_KAFKA_TOPIC, else posts)")
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
	if scenarios == "" {
		cfg.Scenarios, _ = bench.ProfileScenarios(profile) // the profile is known: ResolveLoad took it
	} else {
		cfg.Scenarios = strings.Split(scenarios, ",")
	}
	if cfg.Processes, err = bench.ParseProcessGroups(processes); err != nil {
		return fmt.Errorf("postpipe bench: --processes: %w", err)
	}
	cfg.MongoURI = cmp.Or(mongoURI, getenv("POSTPIPE_MONGODB_URI"))
	cfg.MongoDatabase = cmp.Or(mongoDB, getenv("POSTPIPE_MONGODB_DATABASE"), "postpipe")
	cfg.MongoCollection = cmp.Or(mongoCl, getenv("POSTPIPE_MONGODB_COLLECTION"), "posts")
	if cfg.MongoURI == "" {
		if b := cmp.Or(brokers, getenv("POSTPIPE_KAFKA_BROKERS")); b != "" {
			cfg.KafkaBrokers = strings.Split(b, ",")
			cfg.KafkaTopic = cmp.Or(topic, getenv("POSTPIPE_KAFKA_TOPIC"), "posts")
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
