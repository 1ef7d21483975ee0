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
)

// runBench is 'postpipe bench': load against a running server, then the
// results in --out. The work is in internal/bench; this reads the flags.
func runBench(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("postpipe bench", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	var (
		cfg                              bench.Config
		profile, scenarios, stages, rate string
		duration                         time.Duration
		mongoURI, mongoDB, mongoCl       string
	)
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:8080", "base URL of the running server")
	fs.StringVar(&profile, "profile", "seed", "load profile: seed (the original k6 stages 30s:100,60s:100,30s:0) or quick (1s:50,4s:50,1s:0); explicit flags override it")
	fs.StringVar(&scenarios, "scenarios", strings.Join(bench.ScenarioNames(), ","), "scenarios to run, one after another")
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("postpipe bench: unexpected argument %q", fs.Arg(0))
	}

	load, err := bench.ResolveLoad(profile, stages, rate, duration)
	if err != nil {
		return fmt.Errorf("postpipe bench: %w", err)
	}
	cfg.Load = load
	cfg.Scenarios = strings.Split(scenarios, ",")
	cfg.MongoURI = cmp.Or(mongoURI, getenv("POSTPIPE_MONGODB_URI"))
	cfg.MongoDatabase = cmp.Or(mongoDB, getenv("POSTPIPE_MONGODB_DATABASE"), "postpipe")
	cfg.MongoCollection = cmp.Or(mongoCl, getenv("POSTPIPE_MONGODB_COLLECTION"), "posts")
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
