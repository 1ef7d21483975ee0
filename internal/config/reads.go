package config

import (
	"log/slog"
	"runtime"
	"time"
)

// Reads bounds the API's reads of the store (GET /v1/posts and
// GET /v1/posts/{id}), so a flood of them cannot hold the store, its
// connection pool or the process's CPU away from the writes (see "Reads
// under load" in docs/limits.md).
type Reads struct {
	// ReadTimeout bounds each store read. It is a deadline on the read's
	// context, so the driver sends it as maxTimeMS and the store stops the
	// query itself instead of finishing it for nobody.
	ReadTimeout time.Duration
	// MaxReadsInFlight bounds the store reads running at once; one more
	// waits a moment for its turn and is then answered 503 with
	// Retry-After. 0, the default, is DefaultReadsInFlight against a store
	// of its own and half the CPUs against the development store
	// (DevStoreReads).
	MaxReadsInFlight int
}

func defaultReads() Reads {
	return Reads{
		// A read served by an index takes milliseconds; 5 s is far beyond
		// any healthy one and short enough that a read abandoned by its
		// client (or its proxy, often at 30-60 s) stops long before.
		ReadTimeout: 5 * time.Second,
	}
}

func (s *Reads) register(fs *flagSet) {
	fs.DurationVar(&s.ReadTimeout, "read-timeout", s.ReadTimeout, "longest one store read of GET /v1/posts or /v1/posts/{id} may take; sent to the store as maxTimeMS, so it stops the query; beyond it 503 with Retry-After")
	fs.IntVar(&s.MaxReadsInFlight, "max-reads-in-flight", s.MaxReadsInFlight, "most store reads (GET /v1/posts, /v1/posts/{id}) running at once; one more waits up to 100ms for its turn, then 503 with Retry-After; 0: 50 with POSTPIPE_MONGODB_URI set, else (the development store, on the same cores) half the CPUs the process may use (GOMAXPROCS/2, at least 1)")
}

func (s Reads) validate(bad badFunc) {
	if s.ReadTimeout < 100*time.Millisecond || s.ReadTimeout > 5*time.Minute {
		bad("POSTPIPE_READ_TIMEOUT", "must be between 100ms and 5m, got %s", s.ReadTimeout)
	}
	if s.MaxReadsInFlight < 0 || s.MaxReadsInFlight > 10000 {
		bad("POSTPIPE_MAX_READS_IN_FLIGHT", "must be between 0 (the default) and 10000, got %d", s.MaxReadsInFlight)
	}
}

func (s Reads) attrs() []slog.Attr {
	return []slog.Attr{
		slog.Duration("read_timeout", s.ReadTimeout),
		slog.Int("max_reads_in_flight", s.ReadsInFlight()),
	}
}

// DefaultReadsInFlight bounds the store reads running at once against a
// store of its own (POSTPIPE_MONGODB_URI set): half the MongoDB driver's
// default connection pool (100), so a read flood leaves the direct path's
// writes connections of their own, and far more than a process needs for
// reads an index serves (about a millisecond each: thousands a second).
const DefaultReadsInFlight = 50

// ReadsInFlight is the bound on store reads running at once:
// MaxReadsInFlight, or when 0 DefaultReadsInFlight. DevStoreReads changes
// that default where the store is the development one.
func (s Reads) ReadsInFlight() int {
	if s.MaxReadsInFlight > 0 {
		return s.MaxReadsInFlight
	}
	return DefaultReadsInFlight
}

// DevStoreReads makes the default bound (MaxReadsInFlight 0) the one for
// the development store, which runs on the same cores as the API and the
// broker (in process for 'run', 'postpipe stack' beside it otherwise):
// half the CPUs the process may use (GOMAXPROCS), at least 1. There a
// read's cost is CPU taken from the writes, and reads beyond the cores
// that run them only queue inside the store. Measured on two cores with
// FerretDB (TestReadFloodSparesWrites), another client's POST p99 under a
// 64-client read flood was 15 ms at 1 read in flight against 8 ms idle;
// 36-113 ms at 2, and 186, 383 and 639 ms at 4, 8 and 32.
func (s *Reads) DevStoreReads() {
	if s.MaxReadsInFlight == 0 {
		s.MaxReadsInFlight = max(1, runtime.GOMAXPROCS(0)/2)
	}
}
