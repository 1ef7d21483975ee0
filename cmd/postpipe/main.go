// Command postpipe is a write API that answers once Kafka has a post and a
// sink that lands the posts in MongoDB. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/stream"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv)
	stop()
	os.Exit(exitCode(os.Stderr, err))
}

// exitCode prints err for the operator, once, and returns the exit status:
// 0 on success or --help, 2 for a usage error (with a hint where to look)
// or a bad streams file (the file is the operator's input, as flags are),
// 1 for anything else.
func exitCode(w io.Writer, err error) int {
	var usageErr *config.UsageError
	var streamsErr *stream.FileError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &usageErr):
		fmt.Fprintf(w, "postpipe: %v\n%s\n", err, usageErr.Hint())
		return 2
	case errors.As(err, &streamsErr):
		fmt.Fprintln(w, "postpipe:", err)
		return 2
	default:
		fmt.Fprintln(w, "postpipe:", err)
		return 1
	}
}

// parseFlags parses the flags of a command that has its own flag set: the
// flag package's own printing (the error, then the whole usage) is
// replaced by one usage error; --help still prints the usage.
func parseFlags(fs *flag.FlagSet, cmd string, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage()
		return err
	case err != nil:
		return &config.UsageError{Cmd: cmd, Err: err}
	}
	return nil
}

const usage = `postpipe: a write API in front of Kafka, and a sink from Kafka into MongoDB.

Usage: postpipe <command> [flags]

Commands:
  run      API and sink in one process; starts an embedded broker and store
           when POSTPIPE_KAFKA_BROKERS / POSTPIPE_MONGODB_URI are empty
  api      the HTTP API alone
  sink     the Kafka -> MongoDB writer alone (a consumer-group member)
  stack    the embedded broker and store as network servers for api and sink
  dlq      list the dead-letter topic (dlq list) or put records back (dlq redrive)
  bench    load-test a running server and write a report (see bench --help)
  probe    exit 0 when a URL answers 2xx (the container health check)
  streams  check a streams file: 'postpipe streams check FILE' (the streams
           are declared and checked; only posts is served yet)
  apikey   mint an API key: 'postpipe apikey NAME' prints the key once and
           its line for POSTPIPE_API_KEYS_FILE
  version  print the version

Run 'postpipe <command> --help' for the flags of a command.
`

// run is main without the process: it returns instead of exiting.
func run(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return config.Usagef("", "no command given")
	}
	err := dispatch(ctx, args[0], args[1:], getenv)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped (SIGTERM, Ctrl-C) before it had finished starting: that
		// is a clean stop, not a failure of the command.
		return nil
	}
	return err
}

func dispatch(ctx context.Context, cmd string, rest []string, getenv func(string) string) error {
	switch cmd {
	case "run":
		return runAll(ctx, rest, getenv)
	case "api":
		return runAPI(ctx, rest, getenv)
	case "sink":
		return runSink(ctx, rest, getenv)
	case "stack":
		return runStack(ctx, rest, getenv)
	case "bench":
		return runBench(ctx, rest, getenv)
	case "probe":
		return runProbe(ctx, rest)
	case "apikey":
		return runAPIKey(rest, os.Stdout)
	case "dlq":
		return runDLQ(ctx, rest, getenv)
	case "streams":
		return runStreams(rest, os.Stdout)
	case "version", "--version", "-version":
		fmt.Println(versionLine())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Print(usage)
		return nil
	default:
		return config.Usagef("", "unknown command %q", cmd)
	}
}
