package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/postpipe/postpipe/internal/admin"
	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/kafka"
	"github.com/postpipe/postpipe/internal/metrics"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/stats"
	"github.com/postpipe/postpipe/internal/store"
	"github.com/postpipe/postpipe/internal/tracing"
)

// runAll is 'postpipe run': API and sink in one process, on the embedded
// broker and store where none is configured.
func runAll(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("run", args, getenv)
	if err != nil {
		return err
	}
	cfg, stopEmbedded, err := embedded(cfg, log)
	if err != nil {
		return err
	}
	defer stopEmbedded()
	dl := newDeadline(cfg.ShutdownTimeout)
	defer dl.release()
	dl.beginOn(ctx)
	tp, stopTracing, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer func() { stopTracing(dl.stopping()) }()
	return serve(ctx, cfg, log, tp, dl, true)
}

// runAPI is 'postpipe api': the HTTP API alone.
func runAPI(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("api", args, getenv)
	if err != nil {
		return err
	}
	dl := newDeadline(cfg.ShutdownTimeout)
	defer dl.release()
	dl.beginOn(ctx)
	tp, stopTracing, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer func() { stopTracing(dl.stopping()) }()
	return serve(ctx, localStack(cfg, log), log, tp, dl, false)
}

// The dashboard's figures: one sample a second, the last five minutes kept.
const (
	statsInterval = time.Second
	statsWindow   = 5 * time.Minute
)

// serve runs the API, and the sink too when withSink, until ctx ends, then
// shuts down in order: stop accepting, finish in-flight requests, flush the
// producer, flush and commit the sink's batch, close the clients; all of it
// within the one shutdown deadline dl.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, tp trace.TracerProvider, dl *deadline, withSink bool) error {
	guard, err := newGuard(cfg, log)
	if err != nil {
		return err
	}
	kopts, err := kafkaOpts(cfg, log)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { closeStore(dl.stopping(), st, log) }()
	prod, err := newProducer(ctx, cfg, kopts, log)
	if err != nil {
		return err
	}
	defer prod.Close()
	m := metrics.New()
	m.BuildInfo(version())
	pub := kafka.NewPublisher(prod, cfg.KafkaTopic, cfg.ProduceTimeout, kafka.Instruments{
		Observer: m.Produce(prod.BufferedProduceRecords), Tracer: tracing.Tracer(tp, "postpipe/kafka"),
	})
	// The sink may run elsewhere: its side of the dashboard is read from the broker.
	sampler := stats.New(statsInterval, statsWindow, pub.Acknowledged,
		kafka.NewOffsetReader(prod, cfg.KafkaTopic, cfg.KafkaDLQTopic, cfg.KafkaGroup), log.With("component", "stats"))

	var sk *sink.Sink
	if withSink {
		if sk, err = newSink(cfg, st, m, tp, dl, log, kopts); err != nil {
			return err
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
	checks := []api.Check{{Name: "kafka", Ping: kafkaReady}, {Name: "mongodb", Ping: st.Ping}}
	handler := api.New(api.Limits{
		MaxBodyBytes:      cfg.MaxBodyBytes,
		MaxBatchBodyBytes: cfg.MaxBatchBodyBytes,
		MaxBatchPosts:     config.MaxBatchPosts,
		BenchEndpoints:    cfg.BenchEndpoints,
		MaxInFlight:       cfg.MaxInFlight,
	}, pub, st, checks, log)
	handler.Handle("GET /metrics", m.Handler())
	handler.EnableDashboard(sampler)
	srv := api.NewServer(cfg.HTTPAddr, api.Instrument(handler.Guarded(guard), api.Instruments{
		Requests: bothObservers{m.HTTP(), sampler.Requests()}, InFlight: m.InFlight(), Log: log, AccessLogSample: cfg.AccessLogSample, Tracer: tracing.Tracer(tp, "postpipe/api"),
	}), cfg.ProduceTimeout, log)

	// The sink outlives the HTTP server: it stops only after the last
	// request is answered and the producer flushed.
	sinkCtx, stopSink := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSink()
	g, gctx := errgroup.WithContext(ctx)
	dl.beginOn(gctx) // a failed part stops the rest
	g.Go(func() error {
		defer stopSink()
		err := serveHTTP(gctx, srv, cfg.MaxConnsPerClient, dl.stopping, log)
		if ferr := pub.Flush(dl.stopping()); ferr != nil {
			log.Warn("producer not fully flushed at shutdown; unacknowledged posts were answered 503", "err", ferr)
		}
		return err
	})
	adminChecks := checks
	if sk != nil {
		g.Go(func() error { return sk.Run(sinkCtx) })
		adminChecks = append(slices.Clip(checks), api.Check{Name: "sink", Ping: sk.Joined})
	}
	for _, c := range adminChecks {
		sampler.Check(stats.Check(c))
	}
	m.Readiness(readinessChecks(adminChecks))
	g.Go(func() error { return sampler.Run(gctx) })
	// The admin listener lives as long as anything else runs, so a slow
	// shutdown can still be profiled.
	g.Go(func() error { return serveAdmin(sinkCtx, cfg.AdminAddr, adminMux(m, adminChecks, guard.Keys), log) })
	err = g.Wait()
	log.Info("postpipe stopped")
	return err
}

// bothObservers tells two observers how each request was answered: the
// metrics and the dashboard's sampler.
type bothObservers [2]api.RequestObserver

func (b bothObservers) Served(route string, status int, d time.Duration) {
	b[0].Served(route, status, d)
	b[1].Served(route, status, d)
}

// startTracing sets up tracing when the OTEL_* variables ask for it; tp is
// nil when they do not. stop exports what is left within its ctx.
func startTracing(ctx context.Context, getenv func(string) string, log *slog.Logger) (tp trace.TracerProvider, stop func(context.Context), err error) {
	tp, shutdown, err := tracing.Setup(ctx, getenv, version())
	if err != nil {
		return nil, nil, err
	}
	if tp != nil {
		log.Info("tracing on: exporting spans over OTLP/HTTP (OTEL_* variables)")
	}
	return tp, func(ctx context.Context) {
		if err := shutdown(ctx); err != nil {
			log.Warn("exporting the last spans failed", "err", err)
		}
	}, nil
}

// serveHTTP serves until ctx ends, then stops accepting and lets in-flight
// requests finish within the context stopping returns. One client address
// holds at most connsPerClient connections (0: no bound).
func serveHTTP(ctx context.Context, srv *http.Server, connsPerClient int, stopping func() context.Context, log *slog.Logger) error {
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", srv.Addr, err)
	}
	ln = api.LimitConnsPerClient(ln, connsPerClient)
	log.Info("HTTP API listening", "addr", ln.Addr().String(), "dashboard", "http://"+dialable(ln.Addr())+"/",
		"try", fmt.Sprintf(`curl -i -H 'Content-Type: application/json' -d '{"author":"ada","title":"Hello","content":"First post"}' http://%s/v1/posts`, dialable(ln.Addr())))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new requests, finishing in-flight ones")
	if err := srv.Shutdown(stopping()); err != nil {
		log.Warn("in-flight requests did not finish in time; closing them", "err", err)
		_ = srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// serveAdmin serves the admin routes on addr until ctx ends; an empty addr
// means no admin listener, one without a host means loopback.
func serveAdmin(ctx context.Context, addr string, mux *admin.Mux, log *slog.Logger) error {
	if addr == "" {
		return nil
	}
	listen, exposed, err := admin.ListenAddr(addr)
	if err != nil {
		return err
	}
	if exposed && !mux.Guarded() {
		log.Warn("the admin listener is reachable from other machines and API keys are off: pprof, the metrics and the command line are open to anyone who reaches it (set POSTPIPE_API_KEYS_FILE, or a loopback POSTPIPE_ADMIN_ADDR such as :6060)", "addr", addr)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on admin address %s: %w", addr, err)
	}
	// No write timeout: a CPU profile or trace streams for as long as asked.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	log.Info("admin listening", "addr", ln.Addr().String(), "pprof", "http://"+dialable(ln.Addr())+"/debug/pprof/")
	stopped := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stopped()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve admin: %w", err)
	}
	return nil
}

func dialable(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// runSink is 'postpipe sink': one consumer-group member.
func runSink(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("sink", args, getenv)
	if err != nil {
		return err
	}
	cfg = localStack(cfg, log)
	guard, err := newGuard(cfg, log) // the sink serves no API, but its admin routes need the keys
	if err != nil {
		return err
	}
	dl := newDeadline(cfg.ShutdownTimeout)
	defer dl.release()
	dl.beginOn(ctx)
	tp, stopTracing, err := startTracing(ctx, getenv, log)
	if err != nil {
		return err
	}
	defer func() { stopTracing(dl.stopping()) }()
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { closeStore(dl.stopping(), st, log) }()

	kopts, err := kafkaOpts(cfg, log)
	if err != nil {
		return err
	}
	kc, err := kgo.NewClient(kopts...)
	if err != nil {
		return fmt.Errorf("create kafka client: %w", err)
	}
	err = ensureTopics(ctx, cfg, kc, log)
	kc.Close()
	if err != nil {
		return err
	}

	m := metrics.New()
	m.BuildInfo(version())
	sk, err := newSink(cfg, st, m, tp, dl, log, kopts)
	if err != nil {
		return err
	}
	log.Info("sink running", "topic", cfg.KafkaTopic, "group", cfg.KafkaGroup, "instance_id", cfg.KafkaInstanceID)
	g, gctx := errgroup.WithContext(ctx)
	dl.beginOn(gctx)
	runCtx, stop := context.WithCancel(gctx)
	g.Go(func() error {
		defer stop()
		return sk.Run(gctx)
	})
	checks := []api.Check{{Name: "kafka", Ping: sk.Ping}, {Name: "mongodb", Ping: st.Ping}, {Name: "sink", Ping: sk.Joined}}
	m.Readiness(readinessChecks(checks))
	g.Go(func() error { return serveAdmin(runCtx, cfg.AdminAddr, adminMux(m, checks, guard.Keys), log) })
	err = g.Wait()
	s := sk.Stats()
	log.Info("sink stopped", "batches", s.Batches, "inserted", s.Inserted, "duplicates", s.Duplicates, "dead_lettered", s.DeadLettered)
	return err
}

// adminMux is the admin listener's routes: pprof, the metrics and the
// probes, so a process without the API ('postpipe sink') has them too.
// With keys on, everything but the probes needs one.
func adminMux(m *metrics.Metrics, checks []api.Check, keys api.KeyChecker) *admin.Mux {
	mux := admin.New(admin.Options{Keys: keys, Open: adminProbes, Cmdline: config.RedactArgs(os.Args)})
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", http.HandlerFunc(api.Healthz))
	mux.Handle("GET /readyz", api.Readyz(checks))
	return mux
}

// adminProbes are the admin paths served without a key: orchestrators
// probe without credentials.
var adminProbes = []string{"/healthz", "/readyz"}

// readinessChecks are the /readyz checks for postpipe_readiness_check_up.
func readinessChecks(checks []api.Check) map[string]func(context.Context) error {
	out := make(map[string]func(context.Context) error, len(checks))
	for _, c := range checks {
		out[c.Name] = c.Ping
	}
	return out
}

func newSink(cfg config.Config, st *store.Store, m *metrics.Metrics, tp trace.TracerProvider, dl *deadline, log *slog.Logger, kopts []kgo.Opt) (*sink.Sink, error) {
	sk, err := sink.New(sink.Config{
		Topic:          cfg.KafkaTopic,
		DLQTopic:       cfg.KafkaDLQTopic,
		Group:          cfg.KafkaGroup,
		SessionTimeout: cfg.KafkaSessionTimeout,
		InstanceID:     cfg.KafkaInstanceID,
		BatchSize:      cfg.SinkBatchSize,
		BatchWait:      cfg.SinkBatchWait,
		Writers:        cfg.SinkWriters,
		FlushTimeout:   cfg.ShutdownTimeout,
		Stop:           dl.context(),
		Observer:       m.Sink(),
		Tracer:         tracing.Tracer(tp, "postpipe/sink"),
	}, st, log.With("component", "sink"), kopts...)
	if err == nil {
		m.SinkLag(sk.EachLag)
	}
	return sk, err
}
