package sink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/post"
)

// flush stores a batch and then commits it. The records of each stream go
// to their route, the routes' writes running at once (within cfg.Writers);
// store and DLQ failures are retried with capped backoff until they succeed
// or ctx ends. Nothing is committed unless everything in the batch, of every
// stream, is stored or dead-lettered.
func (s *Sink) flush(ctx context.Context, recs []*kgo.Record) error {
	var order []*Route // the batch's routes, as first met
	byRoute := map[*Route][]*kgo.Record{}
	for _, r := range recs {
		rt := s.byTopic[r.Topic]
		if rt == nil {
			// The client consumes the routes' topics only; committing a
			// record no route stored would lose it.
			return fmt.Errorf("record of topic %q, which no route consumes", r.Topic)
		}
		if _, ok := byRoute[rt]; !ok {
			order = append(order, rt)
		}
		byRoute[rt] = append(byRoute[rt], r)
	}

	parts := make([]part, len(order))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for i, rt := range order {
		wg.Go(func() { parts[i], errs[i] = rt.store(ctx, s, rt, byRoute[rt]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		// A stream that was stored stays stored (the writes are
		// idempotent); the whole batch comes again.
		return err
	}

	var dead []*kgo.Record
	for _, p := range parts {
		dead = append(dead, p.dead...)
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
		for _, p := range parts {
			for _, d := range p.dead {
				s.log.Warn("record sent to the dead-letter topic", "stream", p.rt.stream, "topic", d.Topic,
					"source", headerValue(d, post.DLQHeaderSourceTopic)+"/"+headerValue(d, post.DLQHeaderSourcePartition)+"@"+headerValue(d, post.DLQHeaderSourceOffset),
					"reason", headerValue(d, post.DLQHeaderError))
			}
		}
	}

	for _, p := range parts {
		c := p.rt.stats
		c.keyConflicts.Add(int64(p.conflicts))
		c.batches.Add(1)
		c.inserted.Add(int64(p.inserted))
		c.duplicates.Add(int64(p.duplicates))
		c.deadLettered.Add(int64(len(p.dead)))
		s.obs.BatchDone(p.rt.stream, p.records, p.inserted, p.duplicates, len(p.dead))
		reportOps(s.obs, p.rt.stream, p.ops)
	}

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

// ErrKeyConflict is the reason a keyed document goes to the DLQ when
// another one with different input is stored under its id: the same
// Idempotency-Key was used for two documents, and the API could not tell
// (the two reached different instances, or came further apart than an
// instance's window).
var ErrKeyConflict = errors.New("idempotency key conflict")

// keyConflict says it of id; noun is what the stream's documents are called.
func keyConflict(noun, id string) error {
	return fmt.Errorf("%w: a different %s is already stored under id %s (its Idempotency-Key was used with another body); this %s was not stored", ErrKeyConflict, noun, id, noun)
}

// fingerprintsDiffer tells two inputs apart; a document without a
// fingerprint (sent without a key, or stored before fingerprints were kept)
// matches any.
func fingerprintsDiffer(a, b string) bool { return a != "" && b != "" && a != b }

// storedFingerprints reads the stored fingerprints of the keyed documents
// of docs in one query, retried like a write.
func storedFingerprints[D any](ctx context.Context, s *Sink, w Writer[D], id func(D) (string, string), docs []D) (map[string]string, error) {
	var ids []string
	for _, d := range docs {
		if i, fp := id(d); fp != "" {
			ids = append(ids, i)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var stored map[string]string
	if err := retry(ctx, func() error {
		release, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		stored, err = w.Fingerprints(ctx, ids)
		release()
		if err != nil {
			s.log.Warn("reading stored fingerprints failed; retrying", "documents", len(ids), "err", err)
		}
		return err
	}); err != nil {
		return nil, fmt.Errorf("read stored fingerprints: %w", err)
	}
	return stored, nil
}

// acquire takes one of the cfg.Writers slots for a store call; release
// gives it back. A slot is held for one attempt only, so a stream whose
// store is down waits out its backoff without holding up the others.
func (s *Sink) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// minPerWriter keeps the parts of a split batch large enough that a bulk
// write's fixed cost stays small next to its documents.
const minPerWriter = 50

// Rejections is what a Writer's error carries, found by errors.As, when the
// store refused some documents of a batch for good: writing them again
// would fail the same way (a value the store cannot hold, a validation
// rule the document breaks). A writer that returns it has written every
// other document of the batch, and its counts are theirs. The sink
// dead-letters the records of the refused documents, each with its
// reason, and commits the batch: one document never holds the others.
// Any other error says nothing of what was written, and the whole batch is
// written again. store.RejectedError is one.
type Rejections interface {
	error
	// Rejected returns the reason of each refused document, by its index
	// in the batch given to WriteBatch.
	Rejected() map[int]error
}

// rejections is what err says was refused of a batch of n documents: nil
// and err itself when it is not a Rejections, or not one that names
// documents of the batch (that writer's word cannot be taken; the batch is
// retried as after any failure).
func rejections(err error, n int) (map[int]error, error) {
	var rj Rejections
	if err == nil || !errors.As(err, &rj) {
		return nil, err
	}
	rejected := rj.Rejected()
	if len(rejected) == 0 {
		return nil, fmt.Errorf("a rejection of no documents: %w", err)
	}
	for i, reason := range rejected {
		if i < 0 || i >= n || reason == nil {
			return nil, fmt.Errorf("a rejection of document %d of %d, reason %v: %w", i, n, reason, err)
		}
	}
	return rejected, nil
}

// write stores docs in up to cfg.Writers bulk writes, each retried until it
// succeeds or ctx ends; other streams' writes share the slots. The writes
// are idempotent, so a part that succeeded is never undone by another that
// failed: the whole batch is written (or the error returned) before
// anything is committed. A write whose error is a Rejections succeeded for
// every other document: it is not retried, and its refused documents are
// returned in rejected, by their index in docs.
func write[D any](ctx context.Context, s *Sink, stream string, w Writer[D], docs []D) (inserted, dups int, rejected map[int]error, err error) {
	parts := max(1, min(s.cfg.Writers, len(docs)/minPerWriter))
	size := (len(docs) + parts - 1) / max(parts, 1)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	for start := 0; start < len(docs); start += size {
		part := docs[start:min(start+size, len(docs))]
		wg.Go(func() {
			var (
				n, d int
				rej  map[int]error
			)
			err := retry(ctx, func() error {
				release, err := s.acquire(ctx)
				if err != nil {
					return err
				}
				t0 := time.Now()
				n, d, err = w.WriteBatch(ctx, part)
				release()
				// A rejection is a write that succeeded: its refused
				// documents are dead letters, not write errors.
				rej, err = rejections(err, len(part))
				s.obs.WriteAttempted(stream, time.Since(t0), err)
				if err != nil {
					s.log.Warn("write batch failed; retrying", "stream", stream, "documents", len(part), "err", err)
				}
				return err
			})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			inserted, dups = inserted+n, dups+d
			for i, reason := range rej {
				if rejected == nil {
					rejected = map[int]error{}
				}
				rejected[start+i] = reason
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, nil, fmt.Errorf("write batch: %w", err)
	}
	return inserted, dups, rejected, nil
}

// maxReason bounds the reason header of a dead letter: a store's reason may
// quote the document, and the dead letter carries the record already; one
// too big for the DLQ topic would hold the batch as surely as the store did.
const maxReason = 4096

// deadLetter is r for topic, with the reason and where r came from in its
// headers.
func deadLetter(topic string, r *kgo.Record, reason error) *kgo.Record {
	why := reason.Error()
	if len(why) > maxReason {
		cut := maxReason
		for cut > 0 && !utf8.RuneStart(why[cut]) {
			cut--
		}
		why = why[:cut] + "…"
	}
	h := append([]kgo.RecordHeader(nil), r.Headers...)
	h = append(h,
		kgo.RecordHeader{Key: post.DLQHeaderError, Value: []byte(why)},
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
