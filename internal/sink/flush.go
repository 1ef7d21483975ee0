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

// flush stores a batch and then commits it. Store and DLQ failures are
// retried with capped backoff until they succeed or ctx ends; nothing is
// committed unless everything in the batch is stored or dead-lettered.
func (s *Sink) flush(ctx context.Context, recs []*kgo.Record) error {
	posts := make([]post.Post, 0, len(recs))
	from := make([]*kgo.Record, 0, len(recs)) // posts[j] came from from[j]
	firstFP := make(map[string]string, len(recs))
	var (
		dead []*kgo.Record
		// variants repeat an id of posts with another input; the
		// stored post decides which of them conflict.
		variants    []post.Post
		variantRecs []*kgo.Record
	)
	repeated, conflicts := 0, 0
	for _, r := range recs {
		p, err := post.Unmarshal(r.Key, r.Value)
		if err != nil {
			dead = append(dead, deadLetter(s.cfg.DLQTopic, r, err))
			continue
		}
		// A retried request (same Idempotency-Key) can put one id on the
		// topic twice, often in the same batch: write it once. FerretDB
		// also fails a bulk insert that repeats an _id in itself.
		if fp, ok := firstFP[p.ID]; ok {
			if fingerprintsDiffer(fp, p.Fingerprint) {
				variants = append(variants, p)
				variantRecs = append(variantRecs, r)
				continue
			}
			repeated++
			continue
		}
		firstFP[p.ID] = p.Fingerprint
		posts = append(posts, p)
		from = append(from, r)
	}

	wctx, span := s.startWriteSpan(ctx, recs)
	inserted, dups, err := s.write(wctx, posts)
	if err == nil && (dups > 0 || len(variants) > 0) {
		// Some ids were stored already: a redelivery, a retry, or a
		// reused key whose first post reached the store first (from
		// another API instance, or past one instance's window). What is
		// stored stands; a keyed post with other input is dead-lettered.
		var stored map[string]string
		stored, err = s.storedFingerprints(wctx, append(posts, variants...))
		for j, p := range posts {
			if fp, ok := stored[p.ID]; ok && fingerprintsDiffer(fp, p.Fingerprint) {
				dead = append(dead, deadLetter(s.cfg.DLQTopic, from[j], keyConflict(p.ID)))
				dups--
				conflicts++
			}
		}
		for k, p := range variants {
			if fp, ok := stored[p.ID]; ok && !fingerprintsDiffer(fp, p.Fingerprint) {
				repeated++
				continue
			}
			dead = append(dead, deadLetter(s.cfg.DLQTopic, variantRecs[k], keyConflict(p.ID)))
			conflicts++
		}
	}
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
				"source", headerValue(d, post.DLQHeaderSourceTopic)+"/"+headerValue(d, post.DLQHeaderSourcePartition)+"@"+headerValue(d, post.DLQHeaderSourceOffset),
				"reason", headerValue(d, post.DLQHeaderError))
		}
	}

	s.stats.keyConflicts.Add(int64(conflicts))
	s.stats.batches.Add(1)
	s.stats.inserted.Add(int64(inserted))
	s.stats.duplicates.Add(int64(dups))
	s.stats.deadLettered.Add(int64(len(dead)))
	s.obs.BatchDone(len(recs), inserted, dups, len(dead))

	// The batch is stored: commit it even if ctx ended meanwhile (Run
	// was told to stop during the write), within FlushTimeout and the
	// shutdown deadline. With ctx the commit would fail and a stopped sink
	// would leave stored records uncommitted.
	cctx, ccancel := s.afterStop()
	defer ccancel()
	if err := s.cl.CommitRecords(cctx, recs...); err != nil {
		// The batch is stored; if the commit is lost the records come
		// back and are written again as duplicates, which is harmless.
		s.log.Warn("commit failed; the batch may be delivered again", "records", len(recs), "err", err)
	}
	return nil
}

// ErrKeyConflict is the reason a keyed post goes to the DLQ when another
// post with different input is stored under its id: the same
// Idempotency-Key was used for two posts, and the API could not tell (the
// two reached different instances, or came further apart than an
// instance's window).
var ErrKeyConflict = errors.New("idempotency key conflict")

func keyConflict(id string) error {
	return fmt.Errorf("%w: a different post is already stored under id %s (its Idempotency-Key was used with another body); this post was not stored", ErrKeyConflict, id)
}

// fingerprintsDiffer tells two inputs apart; a post without a fingerprint
// (sent without a key, or stored before fingerprints were kept) matches any.
func fingerprintsDiffer(a, b string) bool { return a != "" && b != "" && a != b }

// storedFingerprints reads the stored fingerprints of the keyed posts in
// one query, retried like a write.
func (s *Sink) storedFingerprints(ctx context.Context, posts []post.Post) (map[string]string, error) {
	var ids []string
	for _, p := range posts {
		if p.Fingerprint != "" {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var stored map[string]string
	if err := retry(ctx, func() error {
		var err error
		stored, err = s.w.Fingerprints(ctx, ids)
		if err != nil {
			s.log.Warn("reading stored fingerprints failed; retrying", "posts", len(ids), "err", err)
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("read stored fingerprints: %w", err)
	}
	return stored, nil
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
		kgo.RecordHeader{Key: post.DLQHeaderError, Value: []byte(reason.Error())},
		kgo.RecordHeader{Key: post.DLQHeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: post.DLQHeaderSourcePartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
		kgo.RecordHeader{Key: post.DLQHeaderSourceOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
		kgo.RecordHeader{Key: post.DLQHeaderSourceTimestamp, Value: []byte(r.Timestamp.UTC().Format(time.RFC3339Nano))},
		kgo.RecordHeader{Key: post.DLQHeaderFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))},
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
