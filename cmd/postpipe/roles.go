package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

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
// newSinkRole, newRunRole) assembles every part from the configuration,
// Run serves, Shutdown stops. The parts a role lacks are nil.
type role struct {
	cfg         config.Config
	log         *slog.Logger
	stopTracing func(context.Context)
	tp          trace.TracerProvider
	m           *metrics.Metrics
	st          *store.Store
	prod        *kgo.Client      // the API's producer
	pub         *kafka.Publisher // the API's publisher
	srv         *http.Server     // the API's server
	sampler     *stats.Sampler   // the API's dashboard figures
	sk          *sink.Sink
	admin       *admin.Mux
	// declared are the streams served besides posts (the streams file),
	// docs their collections by name.
	declared []*stream.Stream
	docs     map[string]*store.Docs

	// stopCtx is the sink's Stop: it ends when Shutdown's ctx does, so the
	// sink's last write and commit run within the one deadline.
	stopCtx context.Context
	endStop context.CancelCauseFunc

	mu                          sync.Mutex
	running                     bool          // Run has started the parts
	stopping                    bool          // Shutdown has begun; Run starts nothing after it
	quit                        chan struct{} // closed when Shutdown begins
	failed                      chan *part    // the first part that ended on its own
	reported                    *part         // the part whose error Run returned
	httpPart, sinkPart, bgParts *partGroup
	cancelSink, cancelBg        context.CancelFunc

	shutdownOnce sync.Once
	shutdownDone chan struct{}
	shutdownErr  error
}

// part is one goroutine a role started, and how it ended.
type part struct {
	name string
	err  error
}

// partGroup is the goroutines of one step of the stop.
type partGroup struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	parts []*part
}

// goPart runs fn in a goroutine of g; when fn fails, it reports itself on
// r.failed so that Run returns. A part that ends without an error (the
// admin listener when none is configured) stops nothing.
func (r *role) goPart(g *partGroup, name string, fn func() error) {
	p := &part{name: name}
	g.mu.Lock()
	g.parts = append(g.parts, p)
	g.mu.Unlock()
	g.wg.Go(func() {
		err := fn()
		g.mu.Lock()
		p.err = err
		g.mu.Unlock()
		if err == nil {
			return
		}
		select {
		case r.failed <- p:
		default:
		}
	})
}

// errs waits for the goroutines of g and returns their errors, except
// reported's (Run returned it already).
func (g *partGroup) errs(reported *part) error {
	if g == nil {
		return nil
	}
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	var errs []error
	for _, p := range g.parts {
		if p != reported && p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errors.Join(errs...)
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
// Each constructor closes what it opened when a later step fails.
func newRole(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) (*role, error) {
	r := &role{cfg: cfg, log: log, quit: make(chan struct{}), failed: make(chan *part, 1), shutdownDone: make(chan struct{})}
	r.stopCtx, r.endStop = context.WithCancelCause(context.Background())
	tp, stopTracing, err := startTracing(ctx, getenv, log)
	if err != nil {
		r.endStop(err)
		return nil, err
	}
	r.tp, r.stopTracing = tp, stopTracing
	if r.st, err = openStore(ctx, cfg); err != nil {
		r.abandon(ctx)
		return nil, err
	}
	r.m = metrics.New()
	r.m.BuildInfo(version())
	return r, nil
}

// abandon closes what a constructor opened when a later step failed,
// within one shutdown timeout.
func (r *role) abandon(ctx context.Context) {
	ctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), r.cfg.ShutdownTimeout, errShutdownTimeout)
	defer cancel()
	r.closeAll(ctx)
}

// closeAll closes, within ctx, what a role opened and never ran.
func (r *role) closeAll(ctx context.Context) {
	if r.sk != nil {
		// A sink that never ran: running it on an ended context closes its client.
		ended, end := context.WithCancel(ctx)
		end()
		_ = r.sk.Run(ended)
	}
	if r.prod != nil {
		r.prod.Close()
	}
	if r.st != nil {
		closeStore(ctx, r.st, r.log)
	}
	r.stopTracing(ctx)
	r.endStop(context.Canceled)
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
	declared, err := loadStreams(&cfg)
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
	r.declared = declared
	if err := checkKeyStreams(cfg, guard, declared); err != nil {
		r.abandon(ctx)
		return nil, api.Guard{}, nil, err
	}
	if r.docs, err = openDocs(ctx, r.st, declared); err != nil {
		r.abandon(ctx)
		return nil, api.Guard{}, nil, err
	}
	return r, guard, kopts, nil
}

// newServing assembles the API, and the sink too when withSink.
func newServing(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger, withSink bool) (*role, error) {
	r, guard, kopts, err := newKafkaRole(ctx, cfg, getenv, log)
	if err != nil {
		return nil, err
	}
	cfg = r.cfg // as the streams file set it
	popts := append(slices.Clone(kopts), kgo.WithHooks(r.m.ProducerHooks()))
	if r.prod, err = newProducer(ctx, cfg, r.declared, popts, log); err != nil {
		r.abandon(ctx)
		return nil, err
	}
	m := r.m
	prod := r.prod
	r.pub = kafka.NewPublisher(prod, cfg.KafkaTopic, cfg.ProduceTimeout, kafka.Instruments{
		Observer: m.Produce(prod.BufferedProduceRecords, streamNames(r.declared)...), Tracer: tracing.Tracer(r.tp, "postpipe/kafka"),
	})
	pub := r.pub
	// The sink may run elsewhere: its side of the dashboard is read from the broker.
	r.sampler = stats.New(statsInterval, statsWindow, pub.Acknowledged,
		statsOffsets{kafka.NewOffsetReader(prod, cfg.KafkaGroup, offsetTopics(cfg, r.declared)...)}, log.With("component", "stats"))
	if withSink {
		if r.sk, err = r.newSink(kopts); err != nil {
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
	for _, st := range r.declared {
		handler.AddStream(api.Stream{Stream: st, Store: r.docs[st.Name], Publisher: pub})
	}
	handler.ObserveBodies(m.Bodies())
	handler.Handle("GET /metrics", m.Handler())
	handler.EnableDashboard(r.sampler)
	guard.Forbidden = m.Forbidden()
	r.srv = api.NewServer(cfg.HTTPAddr, api.Instrument(handler.Guarded(guard), api.Instruments{
		Requests: bothObservers{m.HTTP(), r.sampler.Requests()}, InFlight: m.InFlight(), Log: log, AccessLogSample: cfg.AccessLogSample, Tracer: tracing.Tracer(r.tp, "postpipe/api"),
	}), cfg.ProduceTimeout, log)

	adminChecks := checks
	if r.sk != nil {
		adminChecks = append(slices.Clip(checks), api.Check{Name: "sink", Ping: r.sk.Joined})
	}
	for _, c := range adminChecks {
		r.sampler.Check(stats.Check(c))
	}
	m.Readiness(readinessChecks(adminChecks))
	r.admin = adminMux(m, adminChecks, guard.Keys)
	return r, nil
}

// newSinkRole is 'postpipe sink': one consumer-group member, with the
// admin listener.
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
	if r.sk, err = r.newSink(kopts); err != nil {
		r.abandon(ctx)
		return nil, err
	}
	checks := []api.Check{{Name: "kafka", Ping: r.sk.Ping}, {Name: "mongodb", Ping: r.st.Ping}, {Name: "sink", Ping: r.sk.Joined}}
	r.m.Readiness(readinessChecks(checks))
	r.admin = adminMux(r.m, checks, guard.Keys)
	return r, nil
}

func (r *role) newSink(kopts []kgo.Opt) (*sink.Sink, error) {
	cfg := r.cfg
	routes := docRoutes(r.declared, r.docs)
	if typedPosts(r.declared) {
		routes = append([]sink.Route{sink.PostsRoute(cfg.KafkaTopic, cfg.KafkaDLQTopic, r.st)}, routes...)
	}
	sk, err := sink.New(sink.Config{
		Group:          cfg.KafkaGroup,
		SessionTimeout: cfg.KafkaSessionTimeout,
		InstanceID:     cfg.KafkaInstanceID,
		BatchSize:      cfg.SinkBatchSize,
		BatchWait:      cfg.SinkBatchWait,
		Writers:        cfg.SinkWriters,
		FlushTimeout:   cfg.ShutdownTimeout,
		Stop:           r.stopCtx,
		Observer:       r.m.Sink(streamNames(r.declared)...),
		Tracer:         tracing.Tracer(r.tp, "postpipe/sink"),
	}, routes, r.log.With("component", "sink"), kopts...)
	if err == nil {
		r.m.SinkLag(sk.EachLag)
	}
	return sk, err
}

// Run serves until ctx ends, Shutdown begins or a part fails (its error is
// returned). It stops nothing: Shutdown does, in order.
func (r *role) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.stopping || r.running {
		r.mu.Unlock()
		return nil
	}
	var ln net.Listener
	if r.srv != nil {
		var err error
		if ln, err = net.Listen("tcp", r.srv.Addr); err != nil {
			r.mu.Unlock()
			return fmt.Errorf("listen on %s: %w", r.srv.Addr, err)
		}
		ln = api.CheckFraming(api.LimitConnsPerClient(ln, r.cfg.MaxConnsPerClient))
	}
	r.running = true
	r.httpPart, r.sinkPart, r.bgParts = &partGroup{}, &partGroup{}, &partGroup{}
	// The sink and the admin listener outlive the HTTP server: the sink
	// stops only after the last request is answered and the producer
	// flushed, the admin listener last, so a slow stop can be profiled.
	sinkCtx, cancelSink := context.WithCancel(context.WithoutCancel(ctx))
	bgCtx, cancelBg := context.WithCancel(context.WithoutCancel(ctx))
	r.cancelSink, r.cancelBg = cancelSink, cancelBg
	if ln != nil {
		r.log.Info("HTTP API listening", "addr", ln.Addr().String(), "dashboard", "http://"+dialable(ln.Addr())+"/",
			"try", fmt.Sprintf(`curl -i -H 'Content-Type: application/json' -d '{"author":"ada","title":"Hello","content":"First post"}' http://%s/v1/posts`, dialable(ln.Addr())))
		r.goPart(r.httpPart, "http", func() error {
			if err := r.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve http: %w", err)
			}
			return nil
		})
	}
	if r.sk != nil {
		if r.srv == nil {
			r.log.Info("sink running", "topic", r.cfg.KafkaTopic, "group", r.cfg.KafkaGroup, "instance_id", r.cfg.KafkaInstanceID)
		}
		r.goPart(r.sinkPart, "sink", func() error { return r.sk.Run(sinkCtx) })
	}
	if r.sampler != nil {
		r.goPart(r.bgParts, "stats", func() error { return r.sampler.Run(bgCtx) })
	}
	r.goPart(r.bgParts, "admin", func() error { return serveAdmin(bgCtx, r.cfg.AdminAddr, r.admin, r.log) })
	r.mu.Unlock()

	select {
	case <-ctx.Done():
		return nil
	case <-r.quit:
		return nil
	case p := <-r.failed:
		r.mu.Lock()
		r.reported = p // Shutdown does not return it again
		r.mu.Unlock()
		return p.err
	}
}

// Shutdown stops the role in order, all within ctx, the one shutdown
// deadline: stop accepting and finish in-flight requests, flush the
// producer, let the sink write and commit what it holds and leave its
// group, close the producer, the admin listener and the store, export the
// last spans. It waits for every goroutine Run started. It is safe to call
// more than once, concurrently too: the later calls wait for the first and
// return its result.
func (r *role) Shutdown(ctx context.Context) error {
	r.shutdownOnce.Do(func() {
		defer close(r.shutdownDone)
		r.shutdownErr = r.shutdown(ctx)
	})
	// Done first: the call that ran the stop may also find its ctx expired
	// (a stop that used its whole deadline), and select picks at random
	// among ready cases; its result is the stop's, not the deadline's.
	select {
	case <-r.shutdownDone:
		return r.shutdownErr
	default:
	}
	select {
	case <-r.shutdownDone:
		return r.shutdownErr
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (r *role) shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.stopping = true
	close(r.quit)
	running, reported := r.running, r.reported
	r.mu.Unlock()
	if !running {
		r.closeAll(ctx)
		return nil
	}
	// The sink's last write and commit end with ctx.
	defer context.AfterFunc(ctx, func() { r.endStop(context.Cause(ctx)) })()
	defer r.endStop(context.Canceled)

	var errs []error
	if r.srv != nil {
		r.log.Info("shutting down: no new requests, finishing in-flight ones")
		if err := r.srv.Shutdown(ctx); err != nil {
			r.log.Warn("in-flight requests did not finish in time; closing them", "err", err)
			_ = r.srv.Close()
		}
		errs = append(errs, r.httpPart.errs(reported))
		if err := r.pub.Flush(ctx); err != nil {
			r.log.Warn("producer not fully flushed at shutdown; unacknowledged posts were answered 503", "err", err)
		}
	}
	r.cancelSink()
	errs = append(errs, r.sinkPart.errs(reported))
	if r.sk != nil && r.srv == nil {
		s := r.sk.Stats()
		r.log.Info("sink stopped", "batches", s.Batches, "inserted", s.Inserted, "duplicates", s.Duplicates, "dead_lettered", s.DeadLettered)
	}
	if r.prod != nil {
		r.prod.Close()
	}
	r.cancelBg()
	errs = append(errs, r.bgParts.errs(reported))
	closeStore(ctx, r.st, r.log)
	r.stopTracing(ctx)
	if r.srv != nil {
		r.log.Info("postpipe stopped")
	}
	return errors.Join(errs...)
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
