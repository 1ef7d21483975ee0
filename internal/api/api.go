// Package api is postpipe's HTTP interface: it decodes and validates posts,
// hands them to the broker (or, on the direct path, the store) and turns
// every outcome into a JSON answer or an RFC 9457 problem.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// Publisher hands posts to the broker. errs[i] must be nil exactly when the
// broker durably acknowledged posts[i]: a 202 is only sent on nil.
type Publisher interface {
	Publish(ctx context.Context, posts []post.Post) (errs []error)
}

// onePublisher is a Publisher with a cheaper call for the most frequent
// case, one post (kafka.Publisher has it). PublishOne(ctx, p) must mean
// Publish(ctx, []post.Post{p})[0].
type onePublisher interface {
	PublishOne(ctx context.Context, p post.Post) error
}

// Store reads posts and writes them on the direct path. Insert returns
// post.ErrExists for an id already stored; Get returns post.ErrNotFound.
// List calls each with the posts q selects, in order, until each returns
// false or q.Limit posts were given; it holds no more of them at once than
// it must, so a caller that stops early has not paid for the rest.
type Store interface {
	Insert(ctx context.Context, p post.Post) (post.Post, error)
	Get(ctx context.Context, id string) (post.Post, error)
	List(ctx context.Context, q post.Query, each func(post.Post) bool) error
}

// Check is a readiness probe of one dependency.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// Limits bound what one request may carry.
type Limits struct {
	MaxBodyBytes      int64
	MaxBatchBodyBytes int64
	MaxBatchPosts     int
	// BenchEndpoints adds POST /v1/bench/noop and, when the publisher can
	// produce without waiting, POST /v1/bench/fire-and-forget (see bench.go).
	BenchEndpoints bool
	// MaxInFlight bounds the requests served at once (0: no bound). One
	// more is answered 503 at once: queueing it would only hold its memory
	// and its client longer while a dependency is slow or down.
	MaxInFlight int
	// BodyReadTimeout bounds the time a client may take to send a body
	// (408 beyond it); 0 means DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// BodyBudgetBytes bounds the body bytes all requests hold at once, from
	// before a body is read until its handler returns (0: no bound). A body
	// that does not fit waits up to BodyBudgetWait for room, then is
	// answered 503 with Retry-After, unread.
	BodyBudgetBytes int64
	// BodyBudgetPerClient bounds the part of the budget one client
	// (clientOf: its API key, else its address) holds; each body's first
	// 32 KiB are not counted against it (see unsharedBytes). 0 means all
	// of BodyBudgetBytes. Both are raised to the largest body limit if
	// below it.
	BodyBudgetPerClient int64
	// BodyBudgetWait is how long a body waits for room; 0 means
	// DefaultBodyBudgetWait.
	BodyBudgetWait time.Duration
	// ReadTimeout bounds each store read of the GET routes (503 beyond it);
	// 0 means DefaultReadTimeout. See readlimit.go.
	ReadTimeout time.Duration
	// MaxReadsInFlight bounds the store reads running at once, apart from
	// MaxInFlight (0: no bound of their own); one more waits a moment for
	// its turn, then is answered 503. See readlimit.go.
	MaxReadsInFlight int
}

// DefaultBodyReadTimeout is well under the server's ReadTimeout, and
// ample for the largest batch body on a slow link.
const DefaultBodyReadTimeout = 10 * time.Second

// API serves the routes. Build it with New.
type API struct {
	limits Limits
	pub    Publisher
	one    onePublisher // pub, when it has PublishOne
	store  Store
	checks []Check
	log    *slog.Logger
	now    func() time.Time
	mux    *routeMux
	slots  chan struct{} // one per request in flight; nil: no bound
	keys   *keyCache
	budget *bodyBudget // nil: bodies are not budgeted
	// quietProbes: /readyz shows reason codes, not errors (keys are on).
	quietProbes bool
	reads       chan struct{} // one per store read in flight; nil: no bound
	// streams are the declared streams served besides posts (streams.go),
	// by name; streamNames in the order they were added.
	streams     map[string]*served
	streamNames []string
	// postsStream, when set, serves posts' routes as a declared stream's
	// (a streams file gave posts another schema).
	postsStream *served
	// postsChanges is posts with changes on its typed path
	// (AddPostsChanges): its ops, its GET with an ETag, and Prefer: wait
	// on its creates.
	postsChanges *served
	// bodyLimits maps the path of each POST route that reads a body to its
	// limit (a pointer into limits); a stream's PUT and PATCH are under
	// "/v1/<name>/{id}" (see bodyLimit).
	bodyLimits map[string]*int64
	spec       specOf // the OpenAPI description with the streams' routes
}

// New wires the routes.
func New(limits Limits, pub Publisher, store Store, checks []Check, log *slog.Logger) *API {
	a := &API{limits: limits, pub: pub, store: store, checks: checks, log: log, now: time.Now, mux: newRouteMux(),
		keys: newKeyCache(keyCacheSize)}
	a.one, _ = pub.(onePublisher)
	a.bodyLimits = map[string]*int64{
		"/v1/posts:batch":                &a.limits.MaxBatchBodyBytes,
		"/v1/posts":                      &a.limits.MaxBodyBytes,
		"/v1/posts:direct":               &a.limits.MaxBodyBytes,
		"/api/create-post-with-kafka":    &a.limits.MaxBodyBytes,
		"/api/create-post-without-kafka": &a.limits.MaxBodyBytes,
	}
	if limits.BenchEndpoints {
		// The bench endpoints read their bodies as /v1/posts does (read
		// ahead under the body budget and its deadline): fire-and-forget
		// without it cost ~2 µs of CPU per post less than /v1/posts for a
		// reason other than the wait it is there to price.
		a.bodyLimits["/v1/bench/noop"] = &a.limits.MaxBodyBytes
		a.bodyLimits["/v1/bench/fire-and-forget"] = &a.limits.MaxBodyBytes
	}
	a.mux.HandleFunc("POST /v1/posts", a.createPost)
	a.mux.HandleFunc("POST /v1/posts:batch", a.createBatch)
	a.mux.HandleFunc("POST /v1/posts:direct", a.createDirect)
	a.mux.HandleFunc("GET /v1/posts/{id}", a.getPost)
	a.mux.HandleFunc("GET /v1/posts", a.listPosts)
	a.mux.HandleFunc("POST /api/create-post-with-kafka", a.legacyWithKafka)
	a.mux.HandleFunc("POST /api/create-post-without-kafka", a.legacyWithoutKafka)
	a.mux.HandleFunc("GET /healthz", a.healthz)
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.HandleFunc("GET /openapi.yaml", a.serveSpec)
	if limits.BenchEndpoints {
		a.benchRoutes()
	}
	a.mux.HandleFunc("/", a.notFound)
	if limits.MaxInFlight > 0 {
		a.slots = make(chan struct{}, limits.MaxInFlight)
	}
	if limits.BodyBudgetBytes > 0 {
		share := limits.BodyBudgetPerClient
		if share <= 0 {
			share = limits.BodyBudgetBytes
		}
		// A body a route allows must fit when nothing else is held, or it
		// could only ever be refused (config checks this too).
		largest := max(limits.MaxBodyBytes, limits.MaxBatchBodyBytes)
		total := max(limits.BodyBudgetBytes, largest)
		share = min(max(share, largest), total)
		wait := limits.BodyBudgetWait
		if wait <= 0 {
			wait = DefaultBodyBudgetWait
		}
		a.budget = newBodyBudget(total, share, wait)
	}
	if limits.MaxReadsInFlight > 0 {
		a.reads = make(chan struct{}, limits.MaxReadsInFlight)
	}
	return a
}

// ObserveBodies reports the body budget's bytes held and refusals to o.
// Call it before serving; without a budget it does nothing.
func (a *API) ObserveBodies(o BodyObserver) {
	if a.budget != nil {
		a.budget.obs = o
	}
}

// Handle adds a route served by h (such as GET /metrics). Call it before
// serving.
func (a *API) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, h) }

// ServeHTTP serves a request, or answers 503 when MaxInFlight requests are
// already being served. Probes are never refused: an overloaded API is
// alive, and /readyz says why it is not ready.
//
// The slot is taken only once the body is in: it bounds the work waiting on
// Kafka or the store, and a client trickling its body in a byte at a time
// must not hold one. The body read has its own bounds: BodyReadTimeout in
// time, the body budget in memory. The budget's reservation is released
// only when the handler returns (or panics): until then the body's bytes
// are referenced, by the decoded posts among others.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.refuseFraming(w, r) {
		return
	}
	if max := a.bodyLimit(r); max > 0 {
		timeout := a.limits.BodyReadTimeout
		if timeout <= 0 {
			timeout = DefaultBodyReadTimeout
		}
		res := reservation{b: a.budget, req: r, max: max}
		defer res.release()
		if err := readAhead(w, r, max, timeout, &res); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	if a.slots != nil && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
		default:
			a.fail(w, r, errOverloaded)
			return
		}
	}
	a.mux.ServeHTTP(w, r)
}

// bodyLimit is the body limit of the route r is for (a POST route by its
// path, a PUT or PATCH of a stream's document by "/v1/<name>/{id}"), 0 for
// a request whose body no route reads.
func (a *API) bodyLimit(r *http.Request) int64 {
	if r.Body == nil || r.Body == http.NoBody {
		return 0
	}
	path := r.URL.Path
	switch r.Method {
	case http.MethodPost:
	case http.MethodPut, http.MethodPatch:
		escaped := r.URL.EscapedPath()
		i := strings.LastIndexByte(escaped, '/')
		if i < 0 {
			return 0
		}
		path = escaped[:i] + "/{id}"
	default:
		return 0
	}
	if limit := a.bodyLimits[path]; limit != nil {
		return *limit
	}
	return 0
}

// NewServer returns an HTTP server with every timeout set, so a slow or
// stalled client cannot hold a connection or goroutine forever. The write
// timeout leaves room for the produce timeout and the longest Prefer: wait.
func NewServer(addr string, h http.Handler, produceTimeout time.Duration, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      produceTimeout + MaxPreferWait + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests with both Content-Length and Transfer-Encoding are
		// refused (framing.go): the gate must see every request, so the
		// server's own "OPTIONS *" answer, which skips the handler, is off.
		Handler:                      framingGate{h},
		ConnContext:                  framingContext,
		DisableGeneralOptionsHandler: true,
	}
}
