package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
	"github.com/postpipe/postpipe/internal/tracing"
)

// ErrNotAcknowledged means the broker did not acknowledge a record in time.
// The record may still land later (it was possibly in flight); a retry with
// the same Idempotency-Key cannot duplicate it.
var ErrNotAcknowledged = errors.New("broker did not acknowledge in time")

// Publisher produces posts to one topic and waits for the acknowledgement.
type Publisher struct {
	cl      *kgo.Client
	topic   string
	timeout time.Duration
	// acked counts acknowledged posts, for the dashboard's ingest rate.
	acked  atomic.Int64
	obs    Observer
	tracer trace.Tracer
	health produceHealth
	// deadlines answers the single-record waits (publishOne) whose
	// acknowledgement is late.
	deadlines *ackDeadlines
}

// Observer is told how each produced record ended and how long it took;
// internal/metrics implements it. outcome is one of the Outcome constants.
type Observer interface {
	Produced(stream, op, outcome string, d time.Duration)
}

// Outcomes of a produced record, as an Observer hears them.
const (
	OutcomeAcked   = "acked"
	OutcomeFailed  = "failed"  // the broker or client refused it
	OutcomeTimeout = "timeout" // no acknowledgement within the timeout: answered 503
)

type nopObserver struct{}

func (nopObserver) Produced(string, string, string, time.Duration) {}

// Instruments are a Publisher's optional observers; the zero value
// observes nothing.
type Instruments struct {
	Observer Observer
	// Tracer, when set, traces each Publish as a producer span and puts
	// its trace context in every record's headers; nil adds no headers.
	Tracer trace.Tracer
}

// NewPublisher publishes to topic through cl, giving each call at most
// timeout to be acknowledged.
func NewPublisher(cl *kgo.Client, topic string, timeout time.Duration, ins Instruments) *Publisher {
	p := &Publisher{cl: cl, topic: topic, timeout: timeout, obs: ins.Observer, tracer: ins.Tracer, deadlines: newAckDeadlines(timeout)}
	if p.obs == nil {
		p.obs = nopObserver{}
	}
	return p
}

// errPending marks a record whose acknowledgement has not come back.
var errPending = errors.New("pending")

// Publish produces one record per post (key = id, value = the post as JSON)
// and returns when every one is acknowledged or failed, or the timeout has
// passed. errs[i] is nil exactly when the broker acknowledged posts[i].
func (p *Publisher) Publish(ctx context.Context, posts []post.Post) []error {
	return p.publish(ctx, stream.Builtin, p.topic, len(posts), func(i int) (string, []byte, error) {
		v, err := post.Marshal(posts[i])
		return posts[i].ID, v, err
	})
}

// PublishDocs is Publish for documents of a declared stream, to its topic
// (key = id, value = doc.Marshal).
func (p *Publisher) PublishDocs(ctx context.Context, st *stream.Stream, docs []doc.Document) []error {
	return p.publish(ctx, st.Name, st.Topic, len(docs), func(i int) (string, []byte, error) {
		return docs[i].ID, doc.Marshal(docs[i]), nil
	})
}

// publish produces n records to topic, record(i) giving the i-th's id
// (its key) and value, and keeps Publish's promise for them.
func (p *Publisher) publish(ctx context.Context, name, topic string, n int, record func(i int) (id string, value []byte, err error)) []error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	start := time.Now()
	var span trace.Span
	if p.tracer != nil {
		ctx, span = p.startSpan(ctx, topic, n)
		defer span.End()
	}

	var (
		mu   sync.Mutex
		errs = make([]error, n)
		ids  = make([]string, n)
		left = n
		done = make(chan struct{})
	)
	finish := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errs[i] != errPending {
			return
		}
		errs[i] = err
		p.health.record(ctx, err)
		outcome := OutcomeAcked
		if err != nil {
			outcome = OutcomeFailed
		}
		p.obs.Produced(name, opCreate, outcome, time.Since(start))
		if left--; left == 0 {
			close(done)
		}
	}
	for i := range errs {
		errs[i] = errPending
	}
	for i := range n {
		id, value, err := record(i)
		ids[i] = id
		if err != nil {
			finish(i, err)
			continue
		}
		r := &kgo.Record{Topic: topic, Key: []byte(id), Value: value}
		if span != nil {
			tracing.Inject(ctx, r)
		}
		// TryProduce fails a record at once when the client's buffer is
		// full (kgo.ErrMaxBuffered) instead of blocking the request: with
		// the broker down, memory stays bounded and clients hear 503 now.
		p.cl.TryProduce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				err = fmt.Errorf("produce %s: %w", id, err)
			}
			finish(i, err)
		})
	}

	select {
	case <-done:
	case <-ctx.Done():
		// Answer promptly: callbacks that come later find their slot
		// already settled and change nothing.
		mu.Lock()
		for i, err := range errs {
			if err == errPending {
				errs[i] = fmt.Errorf("produce %s: %w (%v)", ids[i], ErrNotAcknowledged, ctx.Err())
				p.health.record(ctx, errs[i])
				p.obs.Produced(name, opCreate, OutcomeTimeout, time.Since(start))
			}
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	var acked int64
	for _, err := range errs {
		if err == nil {
			acked++
		}
	}
	p.acked.Add(acked)
	if failed := int64(len(errs)) - acked; span != nil && failed > 0 {
		span.SetStatus(codes.Error, fmt.Sprintf("%d of %d records not acknowledged", failed, len(errs)))
	}
	return append([]error(nil), errs...)
}

// startSpan starts the producer span of sending n records to topic; the
// caller ends it.
func (p *Publisher) startSpan(ctx context.Context, topic string, n int) (context.Context, trace.Span) {
	return p.tracer.Start(ctx, "send "+topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", topic),
			attribute.Int("messaging.batch.message_count", n),
		))
}

// PublishOne is Publish for one post, the API's most frequent call: it
// produces the same record and keeps the same promise (nil exactly when the
// broker acknowledged it, an error wrapping ErrNotAcknowledged once the
// timeout has passed without an answer) without the slice, mutex and
// channel Publish needs for many. Its waiter (channel, callback) is pooled
// and its timeout shared (see publishOne). With a tracer it is Publish,
// which makes the span.
func (p *Publisher) PublishOne(ctx context.Context, pst post.Post) error {
	if p.tracer != nil {
		return p.Publish(ctx, []post.Post{pst})[0]
	}
	start := time.Now()
	value, err := post.Marshal(pst)
	if err != nil {
		p.health.record(ctx, err)
		p.obs.Produced(stream.Builtin, opCreate, OutcomeFailed, time.Since(start))
		return err
	}
	_, err = p.publishOne(ctx, stream.Builtin, opCreate, &kgo.Record{Topic: p.topic, Key: []byte(pst.ID), Value: value}, pst.ID, start)
	return err
}

// PublishPost is PublishOne returning where the broker put the post's
// record: its version, for a client that waits for the sink to apply it
// (posts with changes, Prefer: wait). It makes no span of its own.
func (p *Publisher) PublishPost(ctx context.Context, pst post.Post) (doc.Version, error) {
	start := time.Now()
	value, err := post.Marshal(pst)
	if err != nil {
		p.health.record(ctx, err)
		p.obs.Produced(stream.Builtin, opCreate, OutcomeFailed, time.Since(start))
		return doc.None, err
	}
	return p.publishOne(ctx, stream.Builtin, opCreate, &kgo.Record{Topic: p.topic, Key: []byte(pst.ID), Value: value}, pst.ID, start)
}

// PublishDoc is PublishOne for a document of a declared stream.
func (p *Publisher) PublishDoc(ctx context.Context, st *stream.Stream, d doc.Document) error {
	if p.tracer != nil {
		return p.PublishDocs(ctx, st, []doc.Document{d})[0]
	}
	_, err := p.publishOne(ctx, st.Name, opCreate, &kgo.Record{Topic: st.Topic, Key: []byte(d.ID), Value: doc.Marshal(d)}, d.ID, time.Now())
	return err
}

// PublishChange produces the record of one op on a document of a stream
// with changes (key = the document's id, value = doc.MarshalChange, and
// for every op but a create the doc.HeaderOp header naming it) and keeps
// PublishOne's promise for it. It returns where the broker put the record,
// the op's version: the sink orders the ops on one id by it, and the API
// answers it as the ETag and waits on it (AppliedWatcher). The topic must
// be placed by key (ProducerOpts' keyed topics) for the ops on one id to
// share a partition. On an error the version is doc.None.
func (p *Publisher) PublishChange(ctx context.Context, st *stream.Stream, c doc.Change) (doc.Version, error) {
	start := time.Now()
	if c.Op < doc.OpCreate || c.Op > doc.OpDelete {
		return doc.None, fmt.Errorf("publish change of %s: unknown %s", c.ID, c.Op)
	}
	r := &kgo.Record{Topic: st.Topic, Key: []byte(c.ID), Value: doc.MarshalChange(c)}
	if c.Op != doc.OpCreate {
		r.Headers = []kgo.RecordHeader{{Key: doc.HeaderOp, Value: opHeaderValues[c.Op-1]}}
	}
	if p.tracer != nil {
		var span trace.Span
		ctx, span = p.startSpan(ctx, st.Topic, 1)
		defer span.End()
		tracing.Inject(ctx, r)
		v, err := p.publishOne(ctx, st.Name, c.Op.String(), r, c.ID, start)
		if err != nil {
			span.SetStatus(codes.Error, "1 of 1 records not acknowledged")
		}
		return v, err
	}
	return p.publishOne(ctx, st.Name, c.Op.String(), r, c.ID, start)
}

// opCreate is the op label of every create's record.
var opCreate = doc.OpCreate.String()

// opHeaderValues are the values of the doc.HeaderOp header, by op (create
// first, never sent): shared, since the client only reads header values.
var opHeaderValues = func() [][]byte {
	out := make([][]byte, len(doc.OpNames))
	for i, n := range doc.OpNames {
		out[i] = []byte(n)
	}
	return out
}()

// publishOne produces r (the record of the document id, of stream name)
// and waits for its acknowledgement; v is where the broker put it.
//
// The wait is one receive on the waiter's channel, which either the
// record's promise or the publisher's deadlines (ackDeadlines: one queue
// and one timer for every record in flight) fills, whichever settles the
// waiter first. A runtime timer per post and a select over the
// acknowledgement, the timer and the request's context (whose done channel
// the select had to make) cost CPU on every post: the profile of the ack
// wait is in docs/benchmark-results.md (issue 22).
//
// The record is not bound to the request's context: once handed to the
// client it is produced whether or not the client still listens, as a
// record whose acknowledgement came too late is (ErrNotAcknowledged
// says it may land). A client gone away only stops hearing the answer; the
// handler still returns within the timeout.
func (p *Publisher) publishOne(ctx context.Context, name, op string, r *kgo.Record, id string, start time.Time) (v doc.Version, err error) {
	w := waiters.Get().(*waiter)
	gen := w.arm()
	p.deadlines.add(w, gen, start.Add(p.timeout))
	p.cl.TryProduce(context.Background(), r, w.promise)
	err = <-w.done
	if err == errAckTimeout {
		// The promise may still run later, and it cannot tell this
		// record's generation from the next one's: this waiter is not
		// given back to the pool, where a later post would take it and
		// could hear this record's outcome as its own.
		err = fmt.Errorf("produce %s: %w (%v)", id, ErrNotAcknowledged, context.DeadlineExceeded)
		p.health.record(ctx, err)
		p.obs.Produced(name, op, OutcomeTimeout, time.Since(start))
		return doc.None, err
	}
	// The promise wrote w.at before sending on w.done.
	v = w.at
	waiters.Put(w)
	p.health.record(ctx, err)
	if err != nil {
		p.obs.Produced(name, op, OutcomeFailed, time.Since(start))
		return doc.None, fmt.Errorf("produce %s: %w", id, err)
	}
	p.obs.Produced(name, op, OutcomeAcked, time.Since(start))
	p.acked.Add(1)
	return v, nil
}

// errAckTimeout is what ackDeadlines sends a waiter whose time is up.
var errAckTimeout = errors.New("acknowledgement timed out")

// waiter is what publishOne waits on. It is settled once, by whichever
// comes first: promise, which notes where the record landed in at and
// sends the outcome, or expire, which sends errAckTimeout. done is
// buffered, so neither ever blocks. state is the waiter's generation
// (shifted left by one) with the low bit set once settled: a waiter goes
// back to the pool and serves another post, and ackDeadlines, which may
// still hold an entry of an earlier generation, must not expire the new
// one.
type waiter struct {
	done    chan error
	promise func(*kgo.Record, error)
	state   atomic.Uint64
	at      doc.Version
}

// arm readies the waiter for a new record and returns its generation.
func (w *waiter) arm() uint64 {
	gen := w.state.Load()>>1 + 1
	w.state.Store(gen << 1)
	return gen
}

// pending reports whether the waiter still waits in generation gen.
func (w *waiter) pending(gen uint64) bool { return w.state.Load() == gen<<1 }

// expire settles the waiter of generation gen with errAckTimeout unless it
// is settled already.
func (w *waiter) expire(gen uint64) {
	if w.state.CompareAndSwap(gen<<1, gen<<1|1) {
		w.done <- errAckTimeout
	}
}

var waiters = sync.Pool{New: func() any {
	w := &waiter{done: make(chan error, 1)}
	w.promise = func(r *kgo.Record, err error) {
		s := w.state.Load()
		if s&1 != 0 || !w.state.CompareAndSwap(s, s|1) {
			return // expired: the post was answered 503 already
		}
		w.at = doc.None
		if err == nil {
			w.at = doc.Version{Partition: r.Partition, Offset: r.Offset}
		}
		w.done <- err
	}
	return w
}}

// Acknowledged is how many posts Publish has returned as acknowledged: the
// posts this process accepted.
func (p *Publisher) Acknowledged() int64 { return p.acked.Load() }

// Flush waits until every buffered record is acknowledged or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}

// ErrRefusingWrites is what CheckProduce returns while the broker refuses
// (or never acknowledges) every record: a disk full, say, where metadata
// and pings still answer.
var ErrRefusingWrites = errors.New("the broker refuses writes")

// Produce health. The check fails while at least failingAfter records in a
// row have failed with nothing acknowledged since, and the last of them
// failed within failingFor. A success ends it at once. The time bound is
// what keeps it from sticking: once readiness has taken the instance out
// of rotation no posts arrive, nothing can succeed, and without it the
// instance would stay unready after the broker recovered. After failingFor
// without a failure it reports ready again; the next posts show whether the
// broker takes writes, and if not, failingAfter of them take it out again.
const (
	failingAfter = 3
	failingFor   = 30 * time.Second
)

// produceHealth tracks outcomes with atomics only: every record passes
// through record, and a success when all is well is one load.
type produceHealth struct {
	streak   atomic.Int64 // records failed in a row
	lastFail atomic.Int64 // unix nanoseconds of the last failure
	lastErr  atomic.Pointer[string]
	now      func() time.Time // nil: time.Now
}

// record notes how one record ended. A record refused for what it is
// (too large, invalid) says nothing about the broker, and neither does one
// whose request was abandoned by its client (ctx cancelled): neither
// counts.
func (h *produceHealth) record(ctx context.Context, err error) {
	if err == nil {
		if h.streak.Load() != 0 {
			h.streak.Store(0)
		}
		return
	}
	if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(ctx.Err(), context.Canceled) {
		return
	}
	msg := err.Error()
	h.lastErr.Store(&msg)
	h.lastFail.Store(h.clock().UnixNano())
	h.streak.Add(1)
}

func (h *produceHealth) clock() time.Time {
	if h.now != nil {
		return h.now()
	}
	return time.Now()
}

func (h *produceHealth) check() error {
	if h.streak.Load() < failingAfter {
		return nil
	}
	if h.clock().Sub(time.Unix(0, h.lastFail.Load())) > failingFor {
		return nil
	}
	last := ""
	if p := h.lastErr.Load(); p != nil {
		last = *p
	}
	return fmt.Errorf("%w: the last %d records failed, none acknowledged since (last: %s)", ErrRefusingWrites, h.streak.Load(), last)
}

// CheckProduce is a readiness check of the write path: it fails with
// ErrRefusingWrites while the recent records all failed (see failingAfter).
// A ping alone answers while a broker with a full disk refuses every write.
func (p *Publisher) CheckProduce(context.Context) error { return p.health.check() }

// PublishNoWait produces pst through the same client as Publish, as the
// same record, but returns at once: done hears later whether the broker
// acknowledged it (nil) or not. It promises nothing to anyone and is not
// counted in Acknowledged. It exists for the bench's fire-and-forget
// comparison (POST /v1/bench/fire-and-forget), which prices what waiting
// for acks=all costs; no client-facing route may use it.
func (p *Publisher) PublishNoWait(pst post.Post, done func(error)) {
	value, err := post.Marshal(pst)
	if err != nil {
		done(err)
		return
	}
	// Not the request's context: it ends with the answer, long before the ack.
	p.cl.TryProduce(context.Background(), &kgo.Record{Topic: p.topic, Key: []byte(pst.ID), Value: value},
		func(_ *kgo.Record, err error) { done(err) })
}
