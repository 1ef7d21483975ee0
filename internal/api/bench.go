package api

import (
	"net/http"
	"sync/atomic"

	"github.com/postpipe/postpipe/internal/post"
)

// The bench endpoints (Limits.BenchEndpoints) price the parts of
// POST /v1/posts against each other in one run: noop is everything but the
// broker, fire-and-forget adds producing the record without waiting for
// the acknowledgement, and /v1/posts itself waits for acks=all.
func (a *API) benchRoutes() {
	a.mux.HandleFunc("POST /v1/bench/noop", a.benchNoop)
	if nw, ok := a.pub.(noWaitPublisher); ok {
		ff := &fireAndForget{a: a, pub: nw}
		a.mux.HandleFunc("POST /v1/bench/fire-and-forget", ff.post)
		a.mux.HandleFunc("GET /v1/bench/fire-and-forget", ff.counts)
	}
}

// benchNoop does everything POST /v1/posts does except the I/O: read,
// decode, validate, assign an id, answer 202. Its throughput is the ceiling
// of the HTTP server and the request handling, against which the real write
// paths are measured.
func (a *API) benchNoop(w http.ResponseWriter, r *http.Request) {
	p, err := a.readPost(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAccepted(w, p)
}

// noWaitPublisher produces a post without waiting for the broker; done
// hears the outcome later. *kafka.Publisher implements it, on the same
// client Publish uses.
type noWaitPublisher interface {
	PublishNoWait(p post.Post, done func(error))
}

// fireAndForget serves POST /v1/bench/fire-and-forget: the record
// /v1/posts would produce, handed to the same producer, answered 202
// before the broker acknowledged it — what a service without the promise
// does. Outcomes are only counted; GET /v1/bench/fire-and-forget reports
// them so the bench can say how many of its "accepted" posts the broker
// refused.
type fireAndForget struct {
	a                     *API
	pub                   noWaitPublisher
	sent, acked, failures atomic.Int64
}

func (f *fireAndForget) post(w http.ResponseWriter, r *http.Request) {
	p, err := f.a.readPost(w, r)
	if err != nil {
		f.a.fail(w, r, err)
		return
	}
	f.sent.Add(1)
	f.pub.PublishNoWait(p, f.done)
	writeAccepted(w, p)
}

func (f *fireAndForget) done(err error) {
	if err != nil {
		f.failures.Add(1)
		return
	}
	f.acked.Add(1)
}

// FireAndForgetCounts is the answer of GET /v1/bench/fire-and-forget:
// posts sent since the process started, and how many of them the broker
// acknowledged or refused so far (the rest are in flight).
type FireAndForgetCounts struct {
	Sent         int64 `json:"sent"`
	Acknowledged int64 `json:"acknowledged"`
	Failed       int64 `json:"failed"`
}

func (f *fireAndForget) counts(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, FireAndForgetCounts{Sent: f.sent.Load(), Acknowledged: f.acked.Load(), Failed: f.failures.Load()})
}
