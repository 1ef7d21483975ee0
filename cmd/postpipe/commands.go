package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/admin"
	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/metrics"
	"github.com/postpipe/postpipe/internal/tracing"
)

// runAll is 'postpipe run': API and sink in one process, on the embedded
// broker and store where none is configured.
func runAll(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("run", args, getenv)
	if err != nil {
		return err
	}
	// A bad streams file stops the start before the embedded broker and
	// store take their seconds (the role loads it again, as api and sink do).
	if _, _, err := loadStreams(&cfg); err != nil {
		return err
	}
	cfg, stopEmbedded, err := embedded(cfg, log)
	if err != nil {
		return err
	}
	defer stopEmbedded()
	return runRole(ctx, func() (*role, error) { return newRunRole(ctx, cfg, getenv, log) }, cfg.ShutdownTimeout)
}

// runAPI is 'postpipe api': the HTTP API alone.
func runAPI(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("api", args, getenv)
	if err != nil {
		return err
	}
	cfg = localStack(cfg, log)
	return runRole(ctx, func() (*role, error) { return newAPIRole(ctx, cfg, getenv, log) }, cfg.ShutdownTimeout)
}

// runSink is 'postpipe sink': one consumer-group member.
func runSink(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("sink", args, getenv)
	if err != nil {
		return err
	}
	cfg = localStack(cfg, log)
	return runRole(ctx, func() (*role, error) { return newSinkRole(ctx, cfg, getenv, log) }, cfg.ShutdownTimeout)
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

// adminMux is the admin listener's routes: pprof, the metrics and the
// probes, so a process without the API ('postpipe sink') has them too.
// With keys on, everything but the probes and the metrics needs one.
func adminMux(m *metrics.Metrics, checks []api.Check, keys api.KeyChecker) *admin.Mux {
	mux := admin.New(admin.Options{Keys: keys, Open: adminOpen, Cmdline: config.RedactArgs(os.Args)})
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("GET /healthz", http.HandlerFunc(api.Healthz))
	mux.Handle("GET /readyz", api.Readyz(checks))
	return mux
}

// adminOpen are the admin paths served without a key: orchestrators
// probe, and Prometheus scrapes, without credentials. The metrics are
// counts and durations, no posts and no keys; who may reach the listener
// at all is the network's to decide (docs/security.md).
var adminOpen = []string{"/healthz", "/readyz", "/metrics"}

// readinessChecks are the /readyz checks for postpipe_readiness_check_up.
func readinessChecks(checks []api.Check) map[string]func(context.Context) error {
	out := make(map[string]func(context.Context) error, len(checks))
	for _, c := range checks {
		out[c.Name] = c.Ping
	}
	return out
}
