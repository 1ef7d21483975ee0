package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/admin"
	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/metrics"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/stats"
	"github.com/postpipe/postpipe/internal/store"
	"github.com/postpipe/postpipe/internal/stream"
	"github.com/postpipe/postpipe/internal/tracing"
)

// role is one running process: the API ('postpipe api'), the sink
// ('postpipe sink') or both ('postpipe run'). A constructor (newAPIRole,
// newSinkRole, newRunRole) assembles it from the configuration as an
// ordered list of parts, Run runs them, Shutdown stops them in reverse.
type role struct {
	cfg   config.Config
	log   *slog.Logger
	tp    trace.TracerProvider
	m     *metrics.Metrics
	st    *store.Store
	parts *parts
	// declared are the streams served besides posts (the streams file),
	// docs their collections by name.
	declared []*stream.Stream
	docs     map[string]*store.Docs
	// posts is the typed path's stream (nil when posts is declared with
	// another schema), postsChanges its collection as its changes write
	// it (nil without changes).
	posts        *stream.Stream
	postsChanges *store.Docs

	// The parts' lifecycle is in parts; these are nil in a role that lacks
	// them. srv and sk stay for the constructors' checks and the tests
	// (which wait for them to serve and check they stopped). admin is
	// built last, its checks naming the other parts, while its part is
	// added early so that it stops late: the part reads it when it runs.
	srv   *http.Server // the API's server
	sk    *sink.Sink
	admin *admin.Mux
}

// The dashboard's figures: one sample a second, the last five minutes kept.
const (
	statsInterval = time.Second
	statsWindow   = 5 * time.Minute
)

// runRole is every serving command after setup: build the role, serve
// until ctx ends or a part fails, then stop within the one shutdown
// deadline, which starts then.
func runRole(ctx context.Context, build func() (*role, error), timeout time.Duration) error {
	r, err := build()
	if err != nil {
		return err
	}
	runErr := r.Run(ctx)
	sctx, cancel := context.WithTimeoutCause(context.Background(), timeout, errShutdownTimeout)
	defer cancel()
	return errors.Join(runErr, r.Shutdown(sctx))
}

// newRole starts tracing and opens the store: the parts every role has.
// Each constructor adds a part as soon as it opens what the part closes,
// and abandons the role when a later step fails.
func newRole(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*role, error) {
	r := &role{cfg: cfg, log: log, parts: newParts()}
	// The serving roles' last line: added first, it comes once every other
	// part has stopped.
	r.parts.add(part{name: "stopped", stop: func(context.Context) error {
		if r.srv != nil && r.parts.ran() {
			r.log.Info("postpipe stopped")
		}
		return nil
	}})
	tp, stopTracing, err := startTracing(ctx, getenv, log)
	if err != nil {
		r.abandon(ctx)
		return nil, err
	}
	r.tp = tp
	// Tracing stops last but for that line, so the stop's own spans are
	// exported.
	r.parts.add(part{name: "tracing", stop: func(ctx context.Context) error {
		stopTracing(ctx)
		return nil
	}})
	if r.st, err = openStore(ctx, cfg); err != nil {
		r.abandon(ctx)
		return nil, err
	}
	st := r.st
	r.parts.add(part{name: "store", stop: func(ctx context.Context) error {
		closeStore(ctx, st, log)
		return nil
	}})
	r.m = metrics.New()
	r.m.BuildInfo(version(), revision())
	return r, nil
}

// abandon stops the parts a constructor added before a later step failed,
// within one shutdown timeout: none of them ran, each closes what it holds.
func (r *role) abandon(ctx context.Context) {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout, errShutdownTimeout)
	defer cancel()
	_ = r.parts.stopAll(ctx)
}

// newAPIRole is 'postpipe api': the HTTP API alone.
func newAPIRole(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*role, error) {
	return newServing(ctx, cfg, getenv, log, false)
}

// newRunRole is 'postpipe run': the API and the sink in one process.
func newRunRole(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*role, error) {
	return newServing(ctx, cfg, getenv, log, true)
}

// newKafkaRole checks the API keys and the Kafka client options, which
// need no connection, before newRole starts anything, and returns them with
// the role.
func newKafkaRole(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*role, api.Guard, []kgo.Opt, error) {
	declared, posts, err := loadStreams(&cfg)
	if err != nil {
		return nil, api.Guard{}, nil, err
	}
	guard, err := newGuard(cfg, log)
	if err != nil {
		return nil, api.Guard{}, nil, err
	}
	kopts, err := kafka.Opts(kafkaSecurity(cfg), cfg.KafkaBrokers, quieter(log, slog.LevelWarn))
	if err != nil {
		return nil, api.Guard{}, nil, err
	}
	r, err := newRole(ctx, cfg, getenv, log)
	if err != nil {
		return nil, api.Guard{}, nil, err
	}
	r.declared, r.posts = declared, posts
	if err := checkKeyStreams(cfg, guard, declared); err != nil {
		r.abandon(ctx)
		return nil, api.Guard{}, nil, err
	}
	if r.docs, err = openDocs(ctx, cfg, r.st, declared, log); err != nil {
		r.abandon(ctx)
		return nil, api.Guard{}, nil, err
	}
	if r.postsChanges, err = openPostsChanges(ctx, cfg, r.st, posts, log); err != nil {
		r.abandon(ctx)
		return nil, api.Guard{}, nil, err
	}
	// The admin listener outlives the parts added after it, so that a slow
	// stop can be profiled. Its routes are the constructor's last step
	// (they check the other parts): the run reads r.admin when it starts.
	r.parts.add(part{name: "admin", run: func(ctx context.Context) error {
		return serveAdmin(ctx, r.cfg.AdminAddr, r.admin, r.log)
	}})
	return r, guard, kopts, nil
}

// newServing assembles the API, and the sink too when withSink. Its parts
// stop in this order: the HTTP server (the last request answered, the
// producer flushed), the applied watcher (Prefer: wait), the sink (it writes and commits what it holds), the
// producer, the dashboard's sampler, the admin listener, the store,
// tracing.
func newServing(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger, withSink bool) (*role, error) {
	r, guard, kopts, err := newKafkaRole(ctx, cfg, getenv, log)
	if err != nil {
		return nil, err
	}
	cfg = r.cfg // as the streams file set it
	m := r.m
	popts := append(slices.Clone(kopts), kgo.WithHooks(m.ProducerHooks()))
	prod, err := newProducer(ctx, cfg, r.declared, r.posts, popts, log)
	if err != nil {
		r.abandon(ctx)
		return nil, err
	}
	pub := kafka.NewPublisher(prod, cfg.KafkaTopic, cfg.ProduceTimeout, kafka.Instruments{
		Observer: m.Produce(prod.BufferedProduceRecords, streamNames(r.declared)...), Tracer: tracing.Tracer(r.tp, "postpipe/kafka"),
	})
	// The sink may run elsewhere: its side of the dashboard is read from the broker.
	sampler := stats.New(statsInterval, statsWindow, pub.Acknowledged,
		statsOffsets{kafka.NewOffsetReader(prod, cfg.KafkaGroup, offsetTopics(cfg, r.declared)...)}, log.With("component", "stats"))
	// The sampler is added before the producer (nothing between them can
	// fail): it stops after the producer closes, next to the admin listener.
	r.parts.add(part{name: "stats", run: sampler.Run})
	// The group's lag by stream as the sampler last read it, for the alerts.
	m.Group(groupReading(sampler))
	// The producer closes after the sink has stopped, the HTTP server
	// having flushed it first.
	r.parts.add(part{name: "producer", stop: func(context.Context) error {
		prod.Close()
		return nil
	}})
	if withSink {
		if err := r.addSink(kopts, false); err != nil {
			r.abandon(ctx)
			return nil, err
		}
	}

	// The kafka check fails while the broker answers pings but refuses
	// writes (a full disk): every post would be answered 503.
	kafkaReady := func(ctx context.Context) error {
		if err := pub.CheckProduce(ctx); err != nil {
			return err
		}
		return prod.Ping(ctx)
	}
	checks := []api.Check{{Name: "kafka", Ping: kafkaReady}, {Name: "mongodb", Ping: r.st.Ping}}
	handler := api.New(api.Limits{
		MaxBodyBytes:        cfg.MaxBodyBytes,
		MaxBatchBodyBytes:   cfg.MaxBatchBodyBytes,
		MaxBatchPosts:       config.MaxBatchPosts,
		BenchEndpoints:      cfg.BenchEndpoints,
		MaxInFlight:         cfg.MaxInFlight,
		BodyBudgetBytes:     cfg.BodyBudgetBytes,
		BodyBudgetPerClient: cfg.BodyShare(),
		ReadTimeout:         cfg.ReadTimeout,
		MaxReadsInFlight:    cfg.ReadsInFlight(),
	}, pub, r.st, checks, log)
	// Prefer: wait is answered from the sink group's committed offsets,
	// one poller for every waiting request.
	applied := kafka.NewAppliedWatcher(kadm.NewClient(prod), cfg.KafkaGroup, 0)
	r.parts.add(part{name: "applied watcher", run: applied.Run, stop: applied.Shutdown})
	for _, st := range r.declared {
		handler.AddStream(api.Stream{Stream: st, Store: r.docs[st.Name], Publisher: pub, Applied: applied})
	}
	if r.postsChanges != nil {
		handler.AddPostsChanges(api.Stream{Stream: r.posts, Store: r.postsChanges, Publisher: pub, Applied: applied})
	}
	handler.ObserveBodies(m.Bodies())
	// With an admin listener the metrics are served there only: the
	// public port does not tell every client the process's internals.
	if cfg.AdminAddr == "" {
		handler.Handle("GET /metrics", m.Handler())
	}
	handler.EnableDashboard(sampler)
	guard.Forbidden = m.Forbidden()

	// The port is taken here, the last step that can fail: a port in use
	// fails the start with nothing running.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		r.abandon(ctx)
		return nil, fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	r.srv = api.NewServer(cfg.HTTPAddr, api.Instrument(handler.Guarded(guard), api.Instruments{
		Requests: bothObservers{m.HTTP(), sampler.Requests()}, InFlight: m.InFlight(), Log: log, AccessLogSample: cfg.AccessLogSample, Tracer: tracing.Tracer(r.tp, "postpipe/api"),
	}), cfg.ProduceTimeout, log)
	r.parts.add(r.httpPart(api.CheckFraming(api.LimitConnsPerClient(ln, cfg.MaxConnsPerClient)), pub))

	adminChecks := checks
	if r.sk != nil {
		adminChecks = append(slices.Clip(checks), api.Check{Name: "sink", Ping: r.sk.Joined})
	}
	for _, c := range adminChecks {
		sampler.Check(stats.Check(c))
	}
	m.Readiness(readinessChecks(adminChecks))
	r.admin = adminMux(m, adminChecks, guard.Keys)
	return r, nil
}

// httpPart serves the API on ln. Its stop stops accepting, finishes the
// in-flight requests (closes them when the deadline comes first), then
// flushes the producer, so that every post answered 202 is in Kafka
// before the sink and the producer stop. A server that never served only
// gives its port back.
func (r *role) httpPart(ln net.Listener, pub *kafka.Publisher) part {
	srv := r.srv
	var began atomic.Bool // whichever of run and stop comes first
	return part{
		name: "http",
		run: func(context.Context) error {
			if !began.CompareAndSwap(false, true) {
				return nil // stopped before it served
			}
			r.log.Info("HTTP API listening", "addr", ln.Addr().String(), "dashboard", "http://"+dialable(ln.Addr())+"/",
				"try", fmt.Sprintf(`curl -i -H 'Content-Type: application/json' -d '{"author":"ada","title":"Hello","content":"First post"}' http://%s/v1/posts`, dialable(ln.Addr())))
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve http: %w", err)
			}
			return nil
		},
		stop: func(ctx context.Context) error {
			if began.CompareAndSwap(false, true) {
				_ = ln.Close()
				return nil
			}
			r.log.Info("shutting down: no new requests, finishing in-flight ones")
			if err := srv.Shutdown(ctx); err != nil {
				r.log.Warn("in-flight requests did not finish in time; closing them", "err", err)
				_ = srv.Close()
			}
			if err := pub.Flush(ctx); err != nil {
				r.log.Warn("producer not fully flushed at shutdown; unacknowledged posts were answered 503", "err", err)
			}
			return nil
		},
	}
}

// newSinkRole is 'postpipe sink': one consumer-group member, with the
// admin listener. Its parts stop in this order: the sink, the admin
// listener, the store, tracing.
func newSinkRole(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*role, error) {
	// The sink serves no API, but its admin routes need the keys.
	r, guard, kopts, err := newKafkaRole(ctx, cfg, getenv, log)
	if err != nil {
		return nil, err
	}
	cfg = r.cfg // as the streams file set it
	kc, err := kgo.NewClient(kopts...)
	if err != nil {
		r.abandon(ctx)
		return nil, fmt.Errorf("create kafka client: %w", err)
	}
	err = ensureTopics(ctx, cfg, r.declared, kc, log)
	kc.Close()
	if err != nil {
		r.abandon(ctx)
		return nil, err
	}
	if err := r.addSink(kopts, true); err != nil {
		r.abandon(ctx)
		return nil, err
	}
	checks := []api.Check{{Name: "kafka", Ping: r.sk.Ping}, {Name: "mongodb", Ping: r.st.Ping}, {Name: "sink", Ping: r.sk.Joined}}
	r.m.Readiness(readinessChecks(checks))
	r.admin = adminMux(r.m, checks, guard.Keys)
	return r, nil
}

// addSink creates the sink and adds its part; alone is 'postpipe sink',
// which logs the sink's start and, when it stops, its figures.
func (r *role) addSink(kopts []kgo.Opt, alone bool) error {
	cfg := r.cfg
	routes := docRoutes(r.declared, r.docs)
	switch {
	case r.postsChanges != nil:
		routes = append([]sink.Route{sink.PostsChangesRoute(r.posts, cfg.KafkaTopic, cfg.KafkaDLQTopic, r.postsChanges)}, routes...)
	case typedPosts(r.declared):
		routes = append([]sink.Route{sink.PostsRoute(cfg.KafkaTopic, cfg.KafkaDLQTopic, r.st)}, routes...)
	}
	sk, err := sink.New(sink.Config{
		Group:          cfg.KafkaGroup,
		SessionTimeout: cfg.KafkaSessionTimeout,
		InstanceID:     cfg.KafkaInstanceID,
		BatchSize:      cfg.SinkBatchSize,
		BatchWait:      cfg.SinkBatchWait,
		Writers:        cfg.SinkWriters,
		FetchMinBytes:  int32(cfg.SinkFetchMinBytes), // at most 64 MiB (config.Sink)
		FetchMaxWait:   cfg.SinkFetchMaxWait,
		FlushTimeout:   cfg.ShutdownTimeout,
		// The sink's last write and commit, after its run's ctx has
		// ended, end with the stop's deadline.
		Stop:     r.parts.deadline(),
		Observer: r.m.Sink(streamNames(r.declared)...),
		Tracer:   tracing.Tracer(r.tp, "postpipe/sink"),
	}, routes, r.log.With("component", "sink"), kopts...)
	if err != nil {
		return err
	}
	r.m.SinkLag(sk.EachLag)
	r.sk = sk
	// The sink's Run is what closes its client: a sink stopped before it
	// ran is run on an ended context, which only closes it.
	var began atomic.Bool // whichever of run and stop comes first
	r.parts.add(part{
		name: "sink",
		run: func(ctx context.Context) error {
			if !began.CompareAndSwap(false, true) {
				return nil
			}
			if alone {
				r.log.Info("sink running", "topic", cfg.KafkaTopic, "group", cfg.KafkaGroup, "instance_id", cfg.KafkaInstanceID)
			}
			err := sk.Run(ctx)
			if alone {
				s := sk.Stats()
				r.log.Info("sink stopped", "batches", s.Batches, "inserted", s.Inserted, "duplicates", s.Duplicates, "dead_lettered", s.DeadLettered)
			}
			return err
		},
		stop: func(ctx context.Context) error {
			if began.CompareAndSwap(false, true) {
				ended, end := context.WithCancel(ctx)
				end()
				_ = sk.Run(ended)
			}
			return nil
		},
	})
	return nil
}

// Run runs the parts until ctx ends, Shutdown begins or a part fails (its
// error is returned). It stops nothing: Shutdown does, in order. A role
// runs once, and not after Shutdown has begun.
func (r *role) Run(ctx context.Context) error {
	if !r.parts.runAll(ctx) {
		return nil
	}
	return r.parts.wait(ctx)
}

// Shutdown stops the role's parts in reverse order, all within ctx, the
// one shutdown deadline: stop accepting and finish in-flight requests,
// flush the producer, let the sink write and commit what it holds and
// leave its group, close the producer, stop the sampler and the admin
// listener, close the store, export the last spans. It waits for every
// goroutine Run started. It is safe to call more than once, concurrently
// too: the later calls wait for the first and return its result.
func (r *role) Shutdown(ctx context.Context) error {
	return r.parts.stopAll(ctx)
}

// statsOffsets gives the dashboard's sampler the group's progress as read
// from the broker, in the sampler's own types.
type statsOffsets struct{ r *kafka.OffsetReader }

func (s statsOffsets) ReadOffsets(ctx context.Context) (stats.Offsets, error) {
	p, err := s.r.ReadOffsets(ctx)
	if err != nil {
		return stats.Offsets{}, err
	}
	out := stats.Offsets{DLQRecords: p.DLQRecords, Partitions: make([]stats.Partition, len(p.Partitions))}
	for i, pp := range p.Partitions {
		out.Partitions[i] = stats.Partition{Stream: pp.Stream, Partition: pp.Partition, Committed: pp.Committed, End: pp.End, Lag: pp.Lag}
	}
	return out, nil
}

// groupReading gives the metrics the sampler's last reading of the group's
// offsets: the group's lag is exported from the broker's side, so that it
// shows with no sink running.
func groupReading(s *stats.Sampler) func() metrics.GroupReading {
	return func() metrics.GroupReading {
		snap := s.Snapshot()
		out := metrics.GroupReading{At: snap.ReadAt, Partitions: make([]metrics.GroupPartition, len(snap.Lag.Partitions))}
		for i, p := range snap.Lag.Partitions {
			out.Partitions[i] = metrics.GroupPartition{Stream: p.Stream, Committed: p.Committed, End: p.End}
		}
		return out
	}
}
