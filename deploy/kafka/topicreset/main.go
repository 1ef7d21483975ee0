// Command topicreset deletes Kafka topics and consumer groups and waits
// until the broker no longer lists the topics. deploy/bench.sh runs it
// before every run: the bench topics start empty, as the bench database
// does, so what earlier runs produced (the ingest profile leaves ~2.5 GB a
// run that nothing consumes) neither fills the disk nor makes one run's
// broker differ from the next's.
//
//	topicreset -brokers 127.0.0.1:9092 -group bench-sink bench.posts bench.posts.dlq
//
// Topics and groups that do not exist are fine. Exit 1 on any other error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	brokers := flag.String("brokers", "127.0.0.1:9092", "bootstrap brokers, comma-separated")
	groups := flag.String("group", "", "consumer groups to delete as well, comma-separated (their committed offsets point into the old topics)")
	timeout := flag.Duration("timeout", time.Minute, "how long to wait for the deletions")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, strings.Split(*brokers, ","), split(*groups), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "topicreset:", err)
		os.Exit(1)
	}
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func run(ctx context.Context, brokers, groups, topics []string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	if len(groups) > 0 {
		if err := deleteGroups(ctx, adm, groups); err != nil {
			return err
		}
	}
	if len(topics) == 0 {
		return nil
	}
	existing, err := present(ctx, adm, topics)
	if err != nil {
		return err
	}
	if len(existing) == 0 {
		return nil
	}
	resp, err := adm.DeleteTopics(ctx, existing...)
	if err != nil {
		return fmt.Errorf("delete topics: %w", err)
	}
	for _, t := range resp.Sorted() {
		if t.Err != nil && !errors.Is(t.Err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("delete topic %s: %w", t.Topic, t.Err)
		}
	}
	// Deleting is asynchronous: a topic created again too soon can fail,
	// or come back with the old one's data still being removed.
	for {
		left, err := present(ctx, adm, existing)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			fmt.Printf("deleted %s\n", strings.Join(existing, ", "))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still listed: %w", strings.Join(left, ", "), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// deleteGroups deletes the groups, trying again while the broker cannot
// answer for them yet: a broker just started (a fresh clone's first bench
// run formats one) loads its group coordinator a moment after it accepts
// requests, and answers COORDINATOR_NOT_AVAILABLE or
// COORDINATOR_LOAD_IN_PROGRESS until then.
func deleteGroups(ctx context.Context, adm *kadm.Client, groups []string) error {
	for {
		resp, err := adm.DeleteGroups(ctx, groups...)
		var retry error
		switch {
		case err == nil:
		case retriableShards(err):
			retry = fmt.Errorf("delete groups: %w", err)
			resp = nil
		default:
			return fmt.Errorf("delete groups: %w", err)
		}
		for _, g := range resp.Sorted() {
			switch {
			case g.Err == nil, errors.Is(g.Err, kerr.GroupIDNotFound):
			case kerr.IsRetriable(g.Err):
				retry = fmt.Errorf("delete group %s: %w", g.Group, g.Err)
			default:
				return fmt.Errorf("delete group %s: %w", g.Group, g.Err)
			}
		}
		if retry == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", retry, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// retriableShards reports whether err is kadm's shard errors, every one
// of them retriable: the coordinator lookup kadm does first fails whole
// this way, not per group.
func retriableShards(err error) bool {
	var se *kadm.ShardErrors
	if !errors.As(err, &se) || len(se.Errs) == 0 {
		return false
	}
	for _, e := range se.Errs {
		if !kerr.IsRetriable(e.Err) {
			return false
		}
	}
	return true
}

// present are those of topics the broker lists.
func present(ctx context.Context, adm *kadm.Client, topics []string) ([]string, error) {
	all, err := adm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []string
	for _, t := range topics {
		if all.Has(t) {
			out = append(out, t)
		}
	}
	return out, nil
}
