package config

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Logging is how the process logs.
type Logging struct {
	LogLevel  string
	LogFormat string
}

func defaultLogging() Logging { return Logging{LogLevel: "info", LogFormat: "text"} }

func (s *Logging) register(fs *flagSet) {
	fs.StringVar(&s.LogLevel, "log-level", s.LogLevel, "debug, info, warn or error")
	fs.StringVar(&s.LogFormat, "log-format", s.LogFormat, "text or json")
}

func (s Logging) validate(bad badFunc) {
	if _, err := ParseLevel(s.LogLevel); err != nil {
		bad("POSTPIPE_LOG_LEVEL", "%v", err)
	}
	if s.LogFormat != "text" && s.LogFormat != "json" {
		bad("POSTPIPE_LOG_FORMAT", "must be text or json, got %q", s.LogFormat)
	}
}

func (s Logging) attrs() []slog.Attr {
	return []slog.Attr{slog.String("log_level", s.LogLevel), slog.String("log_format", s.LogFormat)}
}

// ParseLevel turns debug, info, warn or error into a slog level.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}

// Service is what every long-running role has: the admin listener and the
// one deadline a stop must meet.
type Service struct {
	// AdminAddr, when set, serves pprof, the metrics and the probes on a
	// listener of its own, away from the public port (which then serves no
	// metrics).
	AdminAddr string
	// ShutdownTimeout bounds a whole stop: every step shares it.
	ShutdownTimeout time.Duration
}

func defaultService() Service { return Service{ShutdownTimeout: 8 * time.Second} }

func (s *Service) register(fs *flagSet) {
	fs.StringVar(&s.AdminAddr, "admin-addr", s.AdminAddr, "address of the admin listener (pprof, metrics, probes); a port alone (:6060) listens on loopback, 0.0.0.0:6060 on every interface; with API keys on, all but the probes and /metrics need a key; when set, /metrics is served here and not on the API port; empty: off")
	fs.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", s.ShutdownTimeout, "how long a stop may take in total: draining requests, flushing the producer and the sink's last batch, closing the clients")
}

func (s Service) validate(bad badFunc) {
	if s.AdminAddr != "" {
		checkAddr(bad, "POSTPIPE_ADMIN_ADDR", s.AdminAddr)
	}
	if s.ShutdownTimeout < time.Second || s.ShutdownTimeout > 10*time.Minute {
		bad("POSTPIPE_SHUTDOWN_TIMEOUT", "must be between 1s and 10m, got %s", s.ShutdownTimeout)
	}
}

func (s Service) attrs() []slog.Attr {
	return []slog.Attr{slog.String("admin_addr", s.AdminAddr), slog.Duration("shutdown_timeout", s.ShutdownTimeout)}
}

// HTTP is the API's listener and the limits of its requests.
type HTTP struct {
	HTTPAddr     string
	MaxBodyBytes int64
	// MaxBatchBodyBytes bounds POST /v1/posts:batch, which carries up to
	// MaxBatchPosts posts in one body.
	MaxBatchBodyBytes int64
	// MaxInFlight bounds the requests served at once; beyond it the API
	// answers 503 with Retry-After at once (0: no bound).
	MaxInFlight int
	// MaxConnsPerClient bounds the connections one client address holds
	// open at once; one more is answered 503 and closed (0: no bound).
	MaxConnsPerClient int
	// BodyBudgetBytes bounds the request body bytes the API holds at once,
	// over all connections (0: no bound): a body is reserved before it is
	// read, and one that does not fit within a second is answered 503
	// with Retry-After, unread.
	BodyBudgetBytes int64
	// BodyBudgetPerClientBytes bounds one client's part of it (its API
	// key, else its address); 0: BodyShare derives it.
	BodyBudgetPerClientBytes int64
	// AccessLogSample is the fraction of requests logged when answered
	// (0..1); 0, the default, keeps the request path free of logging.
	AccessLogSample float64
	// BenchEndpoints enables POST /v1/bench/noop and /v1/bench/fire-and-forget, the ceilings the bench
	// command measures the write paths against. Off in production.
	BenchEndpoints bool
}

func defaultHTTP() HTTP {
	return HTTP{
		// Loopback: 'make run' has no API keys, so its write API, /metrics
		// and the dashboard's form stay on this machine unless told
		// otherwise. The image, compose.yaml and the chart say :8080.
		HTTPAddr:          "127.0.0.1:8080",
		MaxBodyBytes:      1 << 20,
		MaxBatchBodyBytes: 16 << 20,
		MaxInFlight:       1024,
		// Half of MaxInFlight, so one address can never hold every request
		// slot; five times the 100 virtual users (a connection each) of the
		// heaviest bench profile, seed, on one loopback address (see
		// docs/limits.md).
		MaxConnsPerClient: 512,
		// Sixteen of the largest batch bodies at the default limit: room
		// for many clients' batches at once, and a bound a 1 GiB
		// container survives with the decoded posts beside it (see
		// docs/limits.md, "Request bodies").
		BodyBudgetBytes: 256 << 20,
	}
}

// BodyShare is the part of the body budget one client may hold:
// BodyBudgetPerClientBytes when set, else a quarter of the budget (at
// least the largest batch body, which must always fit), so that at least
// four clients hold their share at once and no single one can starve the
// rest.
func (s HTTP) BodyShare() int64 {
	if s.BodyBudgetPerClientBytes > 0 {
		return s.BodyBudgetPerClientBytes
	}
	return min(max(s.BodyBudgetBytes/4, s.MaxBatchBodyBytes), s.BodyBudgetBytes)
}

func (s *HTTP) register(fs *flagSet) {
	fs.StringVar(&s.HTTPAddr, "http-addr", s.HTTPAddr, "address the HTTP API listens on")
	fs.Int64Var(&s.MaxBodyBytes, "max-body-bytes", s.MaxBodyBytes, "largest request body accepted for one post (413 above)")
	fs.Int64Var(&s.MaxBatchBodyBytes, "max-batch-body-bytes", s.MaxBatchBodyBytes, "largest request body accepted by POST /v1/posts:batch")
	fs.IntVar(&s.MaxInFlight, "max-in-flight", s.MaxInFlight, "most requests served at once; beyond it 503 with Retry-After at once (0: no bound)")
	fs.IntVar(&s.MaxConnsPerClient, "max-conns-per-client", s.MaxConnsPerClient, "most connections one client address may hold open; one more is answered 503 and closed (0: no bound)")
	fs.Int64Var(&s.BodyBudgetBytes, "body-budget-bytes", s.BodyBudgetBytes, "most request body bytes held at once over all connections, reserved before a body is read; a body that does not fit within 1s is answered 503 with Retry-After (0: no bound)")
	fs.Int64Var(&s.BodyBudgetPerClientBytes, "body-budget-per-client-bytes", s.BodyBudgetPerClientBytes, "most of the body budget one client (API key, else address) may hold; 0: a quarter of the budget, at least the batch body limit")
	fs.Float64Var(&s.AccessLogSample, "access-log-sample", s.AccessLogSample, "fraction of requests (0..1) logged with method, route, status, duration and request_id; 0: none")
	fs.BoolVar(&s.BenchEndpoints, "bench-endpoints", s.BenchEndpoints, "enable POST /v1/bench/noop (decode and validate only) and /v1/bench/fire-and-forget (produce without waiting for the ack) for 'postpipe bench'")
}

func (s HTTP) validate(bad badFunc) {
	checkAddr(bad, "POSTPIPE_HTTP_ADDR", s.HTTPAddr)
	if s.MaxBodyBytes < 1024 {
		bad("POSTPIPE_MAX_BODY_BYTES", "must be at least 1024, got %d", s.MaxBodyBytes)
	}
	if s.MaxBatchBodyBytes < s.MaxBodyBytes {
		bad("POSTPIPE_MAX_BATCH_BODY_BYTES", "must be at least POSTPIPE_MAX_BODY_BYTES (%d), got %d", s.MaxBodyBytes, s.MaxBatchBodyBytes)
	}
	if s.MaxInFlight < 0 {
		bad("POSTPIPE_MAX_IN_FLIGHT", "must be 0 (no bound) or positive, got %d", s.MaxInFlight)
	}
	if s.MaxConnsPerClient < 0 {
		bad("POSTPIPE_MAX_CONNS_PER_CLIENT", "must be 0 (no bound) or positive, got %d", s.MaxConnsPerClient)
	}
	// A body the limits allow must fit an empty budget and share, or it
	// could only ever be answered 503.
	switch {
	case s.BodyBudgetBytes < 0:
		bad("POSTPIPE_BODY_BUDGET_BYTES", "must be 0 (no bound) or positive, got %d", s.BodyBudgetBytes)
	case s.BodyBudgetBytes > 0 && s.BodyBudgetBytes < s.MaxBatchBodyBytes:
		bad("POSTPIPE_BODY_BUDGET_BYTES", "must be 0 (no bound) or at least POSTPIPE_MAX_BATCH_BODY_BYTES (%d), got %d", s.MaxBatchBodyBytes, s.BodyBudgetBytes)
	}
	switch {
	case s.BodyBudgetPerClientBytes < 0:
		bad("POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES", "must be 0 (derived) or positive, got %d", s.BodyBudgetPerClientBytes)
	case s.BodyBudgetPerClientBytes > 0 && s.BodyBudgetBytes == 0:
		bad("POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES", "needs POSTPIPE_BODY_BUDGET_BYTES, which is 0 (no bound)")
	case s.BodyBudgetPerClientBytes > 0 && (s.BodyBudgetPerClientBytes < s.MaxBatchBodyBytes || s.BodyBudgetPerClientBytes > s.BodyBudgetBytes):
		bad("POSTPIPE_BODY_BUDGET_PER_CLIENT_BYTES", "must be between POSTPIPE_MAX_BATCH_BODY_BYTES (%d) and POSTPIPE_BODY_BUDGET_BYTES (%d), got %d",
			s.MaxBatchBodyBytes, s.BodyBudgetBytes, s.BodyBudgetPerClientBytes)
	}
	if !(s.AccessLogSample >= 0 && s.AccessLogSample <= 1) { // NaN fails too
		bad("POSTPIPE_ACCESS_LOG_SAMPLE", "must be between 0 and 1, got %v", s.AccessLogSample)
	}
}

func (s HTTP) attrs() []slog.Attr {
	return []slog.Attr{
		slog.String("http_addr", s.HTTPAddr),
		slog.Int64("max_body_bytes", s.MaxBodyBytes),
		slog.Int64("max_batch_body_bytes", s.MaxBatchBodyBytes),
		slog.Int("max_in_flight", s.MaxInFlight),
		slog.Int("max_conns_per_client", s.MaxConnsPerClient),
		slog.Int64("body_budget_bytes", s.BodyBudgetBytes),
		slog.Int64("body_budget_per_client_bytes", s.BodyShare()),
		slog.Float64("access_log_sample", s.AccessLogSample),
		slog.Bool("bench_endpoints", s.BenchEndpoints),
	}
}

func checkAddr(bad badFunc, env, v string) {
	if _, _, err := net.SplitHostPort(v); err != nil {
		bad(env, "%q is not host:port", v)
	}
}

func checkNotEmpty(bad badFunc, env, v string) {
	if strings.TrimSpace(v) == "" {
		bad(env, "must not be empty")
	}
}
