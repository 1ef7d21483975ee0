package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/post"
)

// Headers on a dead-lettered record, beside the original key, value and
// headers, saying why it could not be stored and where it came from.
const (
	HeaderError           = "postpipe-error"
	HeaderSourceTopic     = "postpipe-source-topic"
	HeaderSourcePartition = "postpipe-source-partition"
	HeaderSourceOffset    = "postpipe-source-offset"
	HeaderSourceTimestamp = "postpipe-source-timestamp"
	HeaderFailedAt        = "postpipe-failed-at"
)

// flush stores a batch and then commits it. Store and DLQ failures are
// retried with capped backoff until they succeed or ctx ends; nothing is
// committed unless everything in the batch is stored or dead-lettered.
func (s *Sink) flush(ctx context.Context, recs []*kgo.Record) error {
	posts := make([]post.Post, 0, len(recs))
	seen := make(map[string]bool, len(recs))
	var dead []*kgo.Record
	repeated := 0
	for _, r := range recs {
		p, err := post.Unmarshal(r.Key, r.Value)
		if err != nil {
			dead = append(dead, deadLetter(s.cfg.DLQTopic, r, err))
			continue
		}
		// A retried request (same Idempotency-Key) can put one id on the
		// topic twice, often in the same batch: write it once. FerretDB
		// also fails a bulk insert that repeats an _id in itself.
		if seen[p.ID] {
			repeated++
			continue
		}
		seen[p.ID] = true
		posts = append(posts, p)
	}

	wctx, span := s.startWriteSpan(ctx, recs)
	inserted, dups, err := s.write(wctx, posts)
	dups += repeated
	endWriteSpan(span, inserted, dups, err)
	if err != nil {
		return err
	}
	if len(dead) > 0 {
		if err := retry(ctx, func() error {
			err := s.cl.ProduceSync(ctx, dead...).FirstErr()
			if err != nil {
				s.log.Warn("dead-letter failed; retrying", "records", len(dead), "err", err)
			}
			return err
		}); err != nil {
			return fmt.Errorf("dead-letter %d records: %w", len(dead), err)
		}
		for _, d := range dead {
			s.log.Warn("record sent to the dead-letter topic", "topic", d.Topic,
				"source", headerValue(d, HeaderSourceTopic)+"/"+headerValue(d, HeaderSourcePartition)+"@"+headerValue(d, HeaderSourceOffset),
				"reason", headerValue(d, HeaderError))
		}
	}

	s.stats.batches.Add(1)
	s.stats.inserted.Add(int64(inserted))
	s.stats.duplicates.Add(int64(dups))
	s.stats.deadLettered.Add(int64(len(dead)))
	s.obs.BatchDone(len(recs), inserted, dups, len(dead))

	// The batch is stored: commit it even if ctx ended meanwhile (Run
	// was told to stop during the write), within FlushTimeout. With ctx
	// the commit would fail and a stopped sink would leave stored records
	// uncommitted.
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.FlushTimeout)
	defer ccancel()
	if err := s.cl.CommitRecords(cctx, recs...); err != nil {
		// The batch is stored; if the commit is lost the records come
		// back and are written again as duplicates, which is harmless.
		s.log.Warn("commit failed; the batch may be delivered again", "records", len(recs), "err", err)
	}
	return nil
}

// minPerWriter keeps the parts of a split batch large enough that a bulk
// write's fixed cost stays small next to its documents.
const minPerWriter = 50

// write stores posts in up to cfg.Writers bulk writes at once, each retried
// until it succeeds or ctx ends. The writes are idempotent, so a part that
// succeeded is never undone by another that failed: the whole batch is
// written (or the error returned) before anything is committed.
func (s *Sink) write(ctx context.Context, posts []post.Post) (inserted, dups int, err error) {
	parts := max(1, min(s.cfg.Writers, len(posts)/minPerWriter))
	size := (len(posts) + parts - 1) / max(parts, 1)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for start := 0; start < len(posts); start += size {
		part := posts[start:min(start+size, len(posts))]
		wg.Go(func() {
			var n, d int
			err := retry(ctx, func() error {
				var err error
				start := time.Now()
				n, d, err = s.w.WriteBatch(ctx, part)
				s.obs.WriteAttempted(time.Since(start), err)
				if err != nil {
					s.log.Warn("write batch failed; retrying", "posts", len(part), "err", err)
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			inserted, dups = inserted+n, dups+d
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, fmt.Errorf("write batch: %w", err)
	}
	return inserted, dups, nil
}

func deadLetter(topic string, r *kgo.Record, reason error) *kgo.Record {
	h := append([]kgo.RecordHeader(nil), r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(reason.Error())},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: HeaderSourceTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: HeaderFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
	)
	return &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value, Headers: h}
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// retry calls fn until it succeeds or ctx ends, waiting 100ms, 200ms, …
// up to 5s (with jitter) between attempts.
func retry(ctx context.Context, fn func() error) error {
	const maxWait = 5 * time.Second
	wait := 100 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return errors.Join(err, ctx.Err())
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxWait)
	}
}
