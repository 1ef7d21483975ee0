package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/kafka"
)

// topicVerifier checks, when no sink runs (the ingest profile), that every
// post a scenario was answered 202 for is a record on the topic it went to
// (posts', or its stream's): it reads the records the topic gained since
// just before the scenario and matches their keys — the post ids — against
// the accepted ids. Records of the window with other keys (the tail of an
// earlier scenario, posts answered 503) are not counted; a key of an
// accepted post seen twice is.
type topicVerifier struct {
	opts []kgo.Opt // kafka.Opts: the brokers, with the Kafka section's TLS and SASL
	cl   *kgo.Client
	adm  *kadm.Client
}

// openTopicVerifier connects as every client of postpipe does — through
// kafka.Opts, with cfg's brokers and security — and checks that each of
// topics exists.
func openTopicVerifier(ctx context.Context, cfg Config, topics []string) (*topicVerifier, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := kafka.Opts(cfg.KafkaSecurity, cfg.KafkaBrokers, log)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.ClientID("postpipe-bench"))...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	t := &topicVerifier{opts: opts, cl: cl, adm: kadm.NewClient(cl)}
	for _, topic := range topics {
		if err := t.await(ctx, topic); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return t, nil
}

// topicWait is how long the check waits for a topic to be known: a server
// that has just created its topics may answer ready before its broker's
// metadata names them (seen with deploy/bench.sh and no settling wait).
var topicWait = 10 * time.Second

// await waits, up to topicWait, until the broker knows topic.
func (t *topicVerifier) await(ctx context.Context, topic string) error {
	deadline := time.Now().Add(topicWait)
	for {
		_, err := t.ends(ctx, topic)
		if err == nil || !errors.Is(err, kerr.UnknownTopicOrPartition) && !errors.Is(err, errNoTopic) || !time.Now().Before(deadline) {
			return err
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// errNoTopic is a topic the broker lists no partition of.
var errNoTopic = errors.New("topic does not exist")

func (t *topicVerifier) close() { t.cl.Close() }

// ends are the topic's end offsets now, by partition.
func (t *topicVerifier) ends(ctx context.Context, topic string) (map[int32]int64, error) {
	offs, err := t.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := map[int32]int64{}
	var first error
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			first = cmp.Or(first, fmt.Errorf("end offset of %s/%d: %w", topic, o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	if first != nil {
		return nil, first
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", topic, errNoTopic)
	}
	return out, nil
}

// check reads the records of topic from the offsets in from up to the end
// offsets now, and counts which accepted posts are among them.
func (t *topicVerifier) check(ctx context.Context, topic string, from map[int32]int64, promised promises) (*Verification, error) {
	start := time.Now()
	to, err := t.ends(ctx, topic)
	if err != nil {
		return nil, err
	}
	accepted := make(map[string]int, len(promised.accepted))
	for _, a := range promised.accepted {
		accepted[a.ID] = 0
	}
	maybe := make(map[string]bool, len(promised.maybe))
	for _, m := range promised.maybe {
		maybe[m.ID] = true
	}
	res := &Verification{Accepted: int64(len(accepted)), Unacknowledged: int64(len(maybe)), lags: newLags(), Where: "topic"}
	err = kafka.ReadRange(ctx, append(slices.Clone(t.opts), kgo.ClientID("postpipe-bench-verify")), topic, from, to, func(r *kgo.Record) {
		id := string(r.Key)
		if n, ok := accepted[id]; ok {
			if n == 0 {
				res.Landed++
			} else {
				res.DuplicateCopies++
			}
			accepted[id] = n + 1
			return
		}
		if maybe[id] {
			res.UnacknowledgedLanded++
			maybe[id] = false
		}
	})
	if err != nil {
		return nil, err
	}
	res.Lost = res.Accepted - res.Landed
	res.Duplicated = res.DuplicateCopies
	res.Drained = true
	res.CheckS = round3(time.Since(start).Seconds())
	return res, nil
}
