package config

import (
	"log/slog"
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
	// MaxReadsInFlight bounds the store reads running at once; one more is
	// answered 503 with Retry-After at once.
	MaxReadsInFlight int
}

func defaultReads() Reads {
	return Reads{
		// A read served by an index takes milliseconds; 5 s is far beyond
		// any healthy one and short enough that a read abandoned by its
		// client (or its proxy, often at 30-60 s) stops long before.
		ReadTimeout: 5 * time.Second,
		// A fraction of the driver's pool of 100 connections, so reads
		// can never take every connection the direct writes and the sink
		// need; and, by Little's law, 32 reads of 2 ms each are 16,000
		// reads/s, more than one process serves: the bound only bites when
		// the store is slow (see docs/limits.md).
		MaxReadsInFlight: 32,
	}
}

func (s *Reads) register(fs *flagSet) {
	fs.DurationVar(&s.ReadTimeout, "read-timeout", s.ReadTimeout, "longest one store read of GET /v1/posts or /v1/posts/{id} may take; sent to the store as maxTimeMS, so it stops the query; beyond it 503 with Retry-After")
	fs.IntVar(&s.MaxReadsInFlight, "max-reads-in-flight", s.MaxReadsInFlight, "most store reads (GET /v1/posts, /v1/posts/{id}) running at once; one more is answered 503 with Retry-After at once")
}

func (s Reads) validate(bad badFunc) {
	if s.ReadTimeout < 100*time.Millisecond || s.ReadTimeout > 5*time.Minute {
		bad("POSTPIPE_READ_TIMEOUT", "must be between 100ms and 5m, got %s", s.ReadTimeout)
	}
	if s.MaxReadsInFlight < 1 || s.MaxReadsInFlight > 10000 {
		bad("POSTPIPE_MAX_READS_IN_FLIGHT", "must be between 1 and 10000, got %d", s.MaxReadsInFlight)
	}
}

func (s Reads) attrs() []slog.Attr {
	return []slog.Attr{
		slog.Duration("read_timeout", s.ReadTimeout),
		slog.Int("max_reads_in_flight", s.MaxReadsInFlight),
	}
}
