package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/dlq"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/stream"
)

// runDLQ is 'postpipe dlq list|redrive': what the sink dead-lettered, and
// putting it back on the main topic once fixed. The work is in internal/dlq.
func runDLQ(ctx context.Context, args []string, getenv func(string) string) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "redrive") {
		return config.Usagef("dlq list", "usage: postpipe dlq list|redrive [flags]")
	}
	action := args[0]
	cfg, err := config.Load("dlq "+action, args[1:], getenv, os.Stderr)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	// No broker configured: the embedded stack's, found as api and sink
	// find it (a 'postpipe run' beside it listens on a random port).
	if cfg.EmbeddedKafka() {
		cfg.DataDir = stackDataDir("dlq", cfg, getenv)
		log := newLogger(cfg)
		cfg.KafkaBrokers = []string{stackBroker(cfg, runningStack(cfg.DataDir, log), log)}
	}
	if err := dlqStream(&cfg); err != nil {
		return err
	}
	match, group, limit := cfg.DLQMatch, cfg.DLQRedriveGroup, cfg.DLQLimit
	if group == "" {
		group = cfg.KafkaGroup + ".redrive"
	}
	// The same options as the service's own clients: a broker that wants
	// TLS or SASL wants them from the operator's tools too.
	opts, err := kafka.Opts(kafkaSecurity(cfg), cfg.KafkaBrokers, quieter(newLogger(cfg), slog.LevelWarn))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	if action == "redrive" {
		res, err := dlq.Redrive(ctx, opts, cfg.KafkaDLQTopic, cfg.KafkaTopic, group, func(e dlq.Entry) bool { return dlq.Matches(e, match) })
		if err != nil {
			return fmt.Errorf("redrive %s: %w", cfg.KafkaDLQTopic, err)
		}
		fmt.Printf("redrive %s -> %s (group %s): %d read, %d put back, %d not matching (passed; a new --redrive-group sees them again)\n",
			cfg.KafkaDLQTopic, cfg.KafkaTopic, group, res.Read, res.Redriven, res.Skipped)
		return nil
	}

	entries, err := dlq.List(ctx, opts, cfg.KafkaDLQTopic, group)
	if err != nil {
		return fmt.Errorf("list %s: %w", cfg.KafkaDLQTopic, err)
	}
	shown := 0
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAILED AT\tDLQ\tORIGIN\tOP\tKEY\tREDRIVEN\tREASON")
	for _, e := range entries {
		if !dlq.Matches(e, match) {
			continue
		}
		if limit > 0 && shown == limit {
			break
		}
		shown++
		fmt.Fprintf(tw, "%s\t%d@%d\t%s\t%s\t%s\t%t\t%s\n", e.FailedAt.Format(time.RFC3339), e.Partition, e.Offset, e.Origin(), e.Op(), strconv.Quote(string(e.Key)), e.Redriven, e.Reason)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write the list: %w", err)
	}
	fmt.Printf("%d shown of %d on %s\n", shown, len(entries), cfg.KafkaDLQTopic)
	return nil
}

// dlqStream points cfg's topics at the stream --stream names: its topic and
// dead-letter topic, from the streams file (posts' are the Kafka settings,
// unless the file declares posts).
func dlqStream(cfg *config.Config) error {
	declared, _, err := loadStreams(cfg)
	if err != nil {
		return err
	}
	if cfg.DLQStream == "" || cfg.DLQStream == stream.Builtin {
		return nil
	}
	for _, st := range declared {
		if st.Name == cfg.DLQStream {
			cfg.KafkaTopic, cfg.KafkaDLQTopic = st.Topic, st.DLQTopic()
			return nil
		}
	}
	where := "no streams file is given (POSTPIPE_STREAMS_FILE)"
	if cfg.StreamsFile != "" {
		where = "the streams file " + cfg.StreamsFile + " serves " + strings.Join(streamNames(declared), ", ")
	}
	return config.Usagef("dlq list", "--stream %s: no such stream; %s", cfg.DLQStream, where)
}
