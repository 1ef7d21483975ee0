// Package sink moves documents from Kafka into the store: a consumer-group
// member that reads the topic of every stream it routes, writes mini-batches
// with one idempotent bulk write per stream each and commits offsets only
// once a batch is durably written, so a crash, restart or rebalance can
// repeat a write but never lose one.
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
)

// Writer stores a batch of documents of type D idempotently: writing a
// document whose id is already stored must succeed and count it as a
// duplicate, leaving the stored document as it was. A document the store
// refuses for good (one no retry can store) is reported with an error that
// satisfies Rejections, naming it, while the others are written: the sink
// dead-letters it instead of retrying the batch forever. Any other error
// means the call may be repeated whole. sinktest.WriterContract checks an
// implementation.
type Writer[D any] interface {
	WriteBatch(ctx context.Context, docs []D) (inserted, duplicates int, err error)
	// Fingerprints returns the stored fingerprint of each of ids that is
	// stored ("" for a document stored without one); an id that is not
	// stored is absent. The sink calls it only after a write reported
	// duplicates, to tell a redelivery from a reused Idempotency-Key.
	Fingerprints(ctx context.Context, ids []string) (map[string]string, error)
}

// Config says how the sink joins its group and batches. What it reads and
// where it writes are its routes.
type Config struct {
	Group string
	// SessionTimeout is how long the group waits for a silent member;
	// zero keeps franz-go's default.
	SessionTimeout time.Duration
	// InstanceID, when set, makes the sink a static member: a restart with
	// the same id takes the member's partitions back at once, without a
	// rebalance and without waiting out the session timeout. Each sink
	// needs its own; a second one with the same id fences the first.
	InstanceID string
	// BatchSize bounds the records of one polled batch, all streams
	// together.
	BatchSize int
	BatchWait time.Duration
	// Writers is how many bulk writes (and stored-fingerprint reads) run
	// at once, over every stream of a batch; below 1 means 1. A stream's
	// part of a batch is split into up to Writers writes.
	Writers int
	// FetchMinBytes and FetchMaxWait make the broker hold each fetch
	// until that many bytes are there or the wait has passed; zero means
	// DefaultFetchMinBytes and DefaultFetchMaxWait. franz-go refuses a
	// wait under 10ms.
	FetchMinBytes int32
	FetchMaxWait  time.Duration
	// FlushTimeout bounds each commit, and the last flush at shutdown.
	FlushTimeout time.Duration
	// Stop, when set, is the process's one shutdown deadline: a context
	// that ends when a stop has taken long enough. The last flush and
	// every commit run within it as well as within FlushTimeout, so a stop
	// does not get a fresh FlushTimeout per step. Nil: Background.
	Stop context.Context
	// Observer, when set, is told about every bulk write and batch.
	Observer Observer
	// Tracer, when set, traces each stream's write of a batch as a span
	// linked to the trace of every record in it (up to MaxSpanLinks).
	Tracer trace.Tracer
}

// The defaults of Config.FetchMinBytes and FetchMaxWait: about a hundred
// posts, a fifth of a default batch; and the longest a record at low
// traffic waits on the broker for them. Under load the bytes come first
// (at 10,000 posts/s in ~7 ms), so the wait only matters at low traffic,
// where a fetch every 50 ms costs the broker nothing worth saving, and
// where it adds to a Prefer: wait: the sink's own batch wait (50 ms) is
// the same trade. Near idle, Prefer: wait's p50 was 109 ms with 100 ms
// and 127 ms with 50 ms, one noisy run each (90 ms before held fetches):
// the bound on the extra wait is what the shorter setting buys
// (docs/benchmark-results.md, issue 22).
const (
	DefaultFetchMinBytes = 64 << 10
	DefaultFetchMaxWait  = 50 * time.Millisecond
)

// Observer watches the sink's writes; internal/metrics implements it.
// stream is the name of the route written.
type Observer interface {
	// WriteAttempted is called after each bulk write, failed ones included.
	WriteAttempted(stream string, d time.Duration, err error)
	// BatchDone is called once per stream with records in a batch, when
	// the whole batch is stored and dead-lettered, before its commit.
	BatchDone(stream string, records, inserted, duplicates, deadLettered int)
}

type nopObserver struct{}

func (nopObserver) WriteAttempted(string, time.Duration, error) {}
func (nopObserver) BatchDone(string, int, int, int, int)        {}

// Stats are running totals since the sink started.
type Stats struct {
	// Batches counts the stream parts of the batches written: a polled
	// batch counts once for each stream it holds records of (once in all
	// with one stream), as the Observer's BatchDone calls do.
	Batches      int64
	Inserted     int64
	Duplicates   int64
	DeadLettered int64
	// KeyConflicts counts the dead-lettered documents whose id was stored
	// (or earlier in the batch) with a different input: reused keys.
	KeyConflicts int64
}

// counters are a stream's running totals.
type counters struct{ batches, inserted, duplicates, deadLettered, keyConflicts atomic.Int64 }

func (c *counters) load() Stats {
	return Stats{
		Batches:      c.batches.Load(),
		Inserted:     c.inserted.Load(),
		Duplicates:   c.duplicates.Load(),
		DeadLettered: c.deadLettered.Load(),
		KeyConflicts: c.keyConflicts.Load(),
	}
}

// Sink is one consumer-group member. Run it once.
type Sink struct {
	cfg Config
	// routes are the sink's own copies, in the order given; byTopic finds
	// a record's.
	routes  []*Route
	byTopic map[string]*Route
	log     *slog.Logger
	cl      *kgo.Client
	// opts are the caller's client options, for the admin client that
	// leaves the group at the end.
	opts []kgo.Opt
	obs  Observer
	// slots bound the store calls in flight over all streams to Writers.
	slots chan struct{}
	// running is true while Run consumes.
	running atomic.Bool

	lagMu sync.Mutex
	lag   map[topicPartition]*partitionLag
	// offsets are the partitions' offsets the lag gauge reads from the
	// broker.
	offsets *brokerOffsets

	// held is what the member holds, for the rebalance logs.
	held *holding
}

// New creates the group member, consuming the topic of every route. It
// refuses no routes, a route not built by NewRoute, and routes that share a
// topic or a stream name or dead-letter to a topic the sink consumes. opts
// carry the brokers, logger and any security settings; the sink adds what
// its guarantees depend on.
func New(cfg Config, routes []Route, log *slog.Logger, opts ...kgo.Opt) (*Sink, error) {
	if err := checkRoutes(routes); err != nil {
		return nil, err
	}
	s := &Sink{
		cfg: cfg, log: log, obs: cfg.Observer, opts: slices.Clone(opts),
		byTopic: make(map[string]*Route, len(routes)),
		slots:   make(chan struct{}, max(1, cfg.Writers)),
		lag:     map[topicPartition]*partitionLag{},
	}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	topics := make([]string, 0, len(routes))
	for _, r := range routes {
		rt := r // the sink's own copy, with its own counters
		rt.stats = &counters{}
		s.routes = append(s.routes, &rt)
		s.byTopic[rt.topic] = &rt
		topics = append(topics, rt.topic)
	}
	s.held = newHolding(topics)
	minBytes, maxWait := cfg.FetchMinBytes, cfg.FetchMaxWait
	if minBytes == 0 {
		minBytes = DefaultFetchMinBytes
	}
	if maxWait == 0 {
		maxWait = DefaultFetchMaxWait
	}
	all := append(append([]kgo.Opt(nil), opts...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Offsets are committed by hand after each write...
		kgo.DisableAutoCommit(),
		// ...and partitions are handed over only between batches, when
		// everything polled is written and committed.
		kgo.BlockRebalanceOnPoll(),
		// Held fetches. The broker answers each fetch, and with franz-go's
		// default of 1 byte a sink at the topic's end drew a response to
		// every produce batch (~1 ms of linger): serving those was ~27 %
		// of a stored post's CPU (~80 µs of broker CPU). A held fetch
		// returns once minBytes are there or maxWait has passed, so at
		// low traffic a record waits up to maxWait more. The lag gauge
		// reads the end offsets from the broker (lag.go): a held fetch's
		// high watermark is as old as the fetch.
		kgo.FetchMinBytes(minBytes),
		kgo.FetchMaxWait(maxWait),
		// Each rebalance log says the change and what the member holds
		// after it, topic by topic: franz-go hands the callbacks the
		// change alone. It calls OnPartitionsAssigned after every
		// rebalance, with nothing when nothing was added: that line still
		// says what the member holds once the rebalance is over. A
		// revocation of nothing is only debug.
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			log.Info("partitions assigned", "assigned", sorted(m), "holds", s.held.add(m))
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			level := slog.LevelInfo
			if count(m) == 0 {
				level = slog.LevelDebug
			}
			log.Log(ctx, level, "partitions revoked", "revoked", sorted(m), "holds", s.held.remove(m))
			s.forgetLag(m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			log.Warn("partitions lost", "lost", sorted(m), "holds", s.held.remove(m))
			s.forgetLag(m)
		}),
	)
	if cfg.SessionTimeout > 0 {
		all = append(all, kgo.SessionTimeout(cfg.SessionTimeout))
	}
	if cfg.InstanceID != "" {
		all = append(all, kgo.InstanceID(cfg.InstanceID))
	}
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("create consumer: %w", err)
	}
	s.cl = cl
	s.offsets = &brokerOffsets{reader: kadmOffsets{adm: kadm.NewClient(cl), group: cfg.Group}}
	return s, nil
}

// holding is the partitions a member holds, by topic, kept from the
// changes the rebalance callbacks are given.
type holding struct {
	mu     sync.Mutex
	topics []string // every topic consumed, so a log shows the ones held none of
	held   map[string]map[int32]bool
}

func newHolding(topics []string) *holding {
	return &holding{topics: topics, held: map[string]map[int32]bool{}}
}

// add records partitions as held and returns what is held now.
func (h *holding) add(partitions map[string][]int32) map[string][]int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, ps := range partitions {
		if h.held[t] == nil {
			h.held[t] = map[int32]bool{}
		}
		for _, p := range ps {
			h.held[t][p] = true
		}
	}
	return h.snapshot()
}

// remove records partitions as no longer held and returns what is held now.
func (h *holding) remove(partitions map[string][]int32) map[string][]int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t, ps := range partitions {
		for _, p := range ps {
			delete(h.held[t], p)
		}
	}
	return h.snapshot()
}

// snapshot is what is held, each consumed topic present (an empty list for
// one with none), partitions in order. Called with mu held.
func (h *holding) snapshot() map[string][]int32 {
	out := make(map[string][]int32, len(h.topics))
	for _, t := range h.topics {
		out[t] = []int32{}
	}
	for t, ps := range h.held {
		for p := range ps {
			out[t] = append(out[t], p)
		}
		slices.Sort(out[t])
	}
	return out
}

// count is how many partitions there are in partitions.
func count(partitions map[string][]int32) (n int) {
	for _, ps := range partitions {
		n += len(ps)
	}
	return n
}

// sorted is partitions with each topic's in order, for a log.
func sorted(partitions map[string][]int32) map[string][]int32 {
	out := make(map[string][]int32, len(partitions))
	for t, ps := range partitions {
		out[t] = slices.Sorted(slices.Values(ps))
	}
	return out
}

// Stats returns the running totals over every stream.
func (s *Sink) Stats() Stats {
	var t Stats
	for _, rt := range s.routes {
		st := rt.stats.load()
		t.Batches += st.Batches
		t.Inserted += st.Inserted
		t.Duplicates += st.Duplicates
		t.DeadLettered += st.DeadLettered
		t.KeyConflicts += st.KeyConflicts
	}
	return t
}

// StreamStats returns the running totals of each stream, by name.
func (s *Sink) StreamStats() map[string]Stats {
	out := make(map[string]Stats, len(s.routes))
	for _, rt := range s.routes {
		out[rt.stream] = rt.stats.load()
	}
	return out
}

// Ping checks that a broker answers.
func (s *Sink) Ping(ctx context.Context) error {
	if err := s.cl.Ping(ctx); err != nil {
		return fmt.Errorf("ping kafka: %w", err)
	}
	return nil
}

// Joined is the sink's readiness: nil while Run consumes as a member of
// the group. A member without partitions (more members than partitions)
// is ready too: it stands by for the next rebalance.
func (s *Sink) Joined(context.Context) error {
	if !s.running.Load() {
		return errors.New("sink not consuming")
	}
	if member, _ := s.cl.GroupMetadata(); member == "" {
		return fmt.Errorf("not (yet) a member of group %s", s.cfg.Group)
	}
	return nil
}

// ErrFenced means another sink joined the group with this sink's instance
// id and took its place: two sinks were given one POSTPIPE_KAFKA_INSTANCE_ID.
var ErrFenced = errors.New("fenced out of the group by another member with the same instance id")

// Run consumes until ctx ends, then writes and commits what it holds (within
// FlushTimeout), leaves the group and closes its client. It returns nil on a
// clean stop, ErrFenced (wrapped) when another member took its instance id.
func (s *Sink) Run(ctx context.Context) (err error) {
	defer func() { s.close(!errors.Is(err, ErrFenced)) }()
	s.running.Store(true)
	defer s.running.Store(false)

	var (
		batch []*kgo.Record
		first time.Time // when the oldest record in batch was polled
	)
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if len(batch) > 0 {
			pollCtx, cancel = context.WithDeadline(ctx, first.Add(s.cfg.BatchWait))
		}
		fetches := s.cl.PollRecords(pollCtx, s.cfg.BatchSize-len(batch))
		cancel()
		if fetches.IsClientClosed() {
			return errors.New("consumer closed unexpectedly")
		}
		fetchFailed, fenced := false, false
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, kerr.FencedInstanceID) {
				fenced = true
				return
			}
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				fetchFailed = true
				s.log.Warn("fetch failed", "topic", topic, "partition", p, "err", err)
			}
		})
		if fenced {
			// Fighting for the id would fence the other one in turn; what
			// this sink holds uncommitted is delivered again to the group.
			return fmt.Errorf("group %s, instance id %q: %w; give each sink its own POSTPIPE_KAFKA_INSTANCE_ID",
				s.cfg.Group, s.cfg.InstanceID, ErrFenced)
		}
		if fetchFailed && fetches.NumRecords() == 0 && len(batch) == 0 {
			// A lasting error would come back at once on every poll:
			// pause so the loop does not spin and flood the log.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if len(batch) == 0 {
			first = time.Now()
		}
		fetches.EachRecord(func(r *kgo.Record) { batch = append(batch, r) })
		s.trackPolled(fetches)

		stopping := ctx.Err() != nil
		if len(batch) > 0 && (stopping || len(batch) >= s.cfg.BatchSize || time.Since(first) >= s.cfg.BatchWait) {
			err := s.flush(ctx, batch)
			if err != nil && ctx.Err() != nil {
				stopping = true
				fctx, fcancel := s.afterStop()
				err = s.flush(fctx, batch)
				fcancel()
			}
			if err != nil {
				// Nothing of this batch was committed: the group will
				// deliver it again, to this member or another.
				s.log.Warn("stopping with an unwritten batch; it will be delivered again", "records", len(batch), "err", err)
				return nil
			}
			s.trackWritten(batch)
			batch = batch[:0]
		}
		if len(batch) == 0 {
			s.cl.AllowRebalance()
		}
		if stopping && len(batch) == 0 {
			return nil
		}
	}
}

// afterStop is the context of work that must finish after Run's ctx has
// ended: within FlushTimeout and the shutdown deadline.
func (s *Sink) afterStop() (context.Context, context.CancelFunc) {
	parent := s.cfg.Stop
	if parent == nil {
		parent = context.Background()
	}
	return context.WithTimeout(parent, s.cfg.FlushTimeout)
}

// leaveTimeout bounds the leave request at the end of Run.
const leaveTimeout = 5 * time.Second

// close closes the client and, for a static member, leaves the group when
// leave is set. A static member does not leave when its client closes (so
// that a restart finds its partitions waiting); but a sink that stops
// cleanly may not come back under the same id (a scaled-down StatefulSet,
// a replaced Deployment pod), and its partitions would stall for the
// session timeout. Leaving costs a restarting sink one quick rebalance.
func (s *Sink) close(leave bool) {
	s.cl.CloseAllowingRebalance()
	if s.cfg.InstanceID == "" || !leave {
		return
	}
	cl, err := kgo.NewClient(s.opts...)
	if err != nil {
		s.log.Warn("could not leave the group; its partitions wait for the session timeout", "err", err)
		return
	}
	defer cl.Close()
	parent := s.cfg.Stop
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, leaveTimeout)
	defer cancel()
	resp, err := kadm.NewClient(cl).LeaveGroup(ctx, kadm.LeaveGroup(s.cfg.Group).InstanceIDs(s.cfg.InstanceID).Reason("postpipe sink stopped"))
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		s.log.Warn("could not leave the group; its partitions wait for the session timeout", "instance_id", s.cfg.InstanceID, "err", err)
		return
	}
	s.log.Info("left the group", "group", s.cfg.Group, "instance_id", s.cfg.InstanceID)
}
