package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scenario is one endpoint under load: what it is sent and what answer
// counts as success.
type scenario struct {
	name string
	path string
	want int // the status of success
	// batch: the body is an array of posts, answered per item.
	batch bool
	// verify: the posts go through Kafka, so the run checks afterwards
	// that they landed (in the store, or on the topic when the sink is
	// stopped).
	verify bool
	// unpromised: a 202 that promises nothing (fire-and-forget): its posts
	// are checked — the check also waits for the sink to store them before
	// the next scenario — but one lost is a finding, not a broken promise.
	unpromised bool
	// reads is the share of requests that read (GET by id, list by author)
	// instead of writing: 1 for read, 0.9 for mixed, 0 for the rest.
	reads float64
	// stream is the declared stream the scenario writes to (orders), whose
	// documents the bench makes (orders.go) and looks for in the stream's
	// topic or collection; "" for the built-in posts.
	stream string
	// update: creates, patches and deletes of the scenario's own posts,
	// checked against a model of every id's ops (update.go).
	update bool
	about  string
}

// owner is the stored field that marks a scenario's documents as the
// run's and the scenario's: a post's author, an order's customer.
func (sc scenario) owner() string {
	if sc.stream == ordersStream {
		return "customer"
	}
	return "author"
}

// scenarios are the ones known, in the order they run by default.
var scenarios = []scenario{
	{name: "noop", path: "/v1/bench/noop", want: http.StatusAccepted,
		about: "decode, validate, 202; no I/O: the ceiling of the HTTP server and request handling"},
	{name: "fire-and-forget", path: "/v1/bench/fire-and-forget", want: http.StatusAccepted, verify: true, unpromised: true,
		about: "the record /v1/posts produces, through the same producer, 202 before the broker acknowledged it: the price of the promise is kafka ÷ this"},
	{name: "kafka", path: "/v1/posts", want: http.StatusAccepted, verify: true,
		about: "one post per request, 202 once the broker acknowledged it"},
	{name: "orders", path: "/v1/orders", want: http.StatusAccepted, verify: true, stream: ordersStream,
		about: "one ~600-byte order per request (examples/schemas/orders.json, id from /orderId) through a declared stream's generic path, 202 once the broker acknowledged it: its CPU per document beside kafka's per post"},
	{name: "direct", path: "/v1/posts:direct", want: http.StatusCreated,
		about: "one post per request written straight to the store, 201"},
	{name: "batch", path: "/v1/posts:batch", want: http.StatusMultiStatus, batch: true, verify: true,
		about: "an array of posts per request, produced together, 207 with one result per post"},
	{name: "update", path: "/v1/posts", want: http.StatusAccepted, verify: true, update: true,
		about: "each user creates posts (50 %), patches its own (40 %: title and content, or tags; JSON Merge Patch) and deletes them (10 %), every op with an Idempotency-Key, 20 % with Prefer: wait=5; afterwards every id's stored state is compared with a model of its accepted ops"},
	{name: "read", path: "/v1/posts/{id}", want: http.StatusOK, reads: 1,
		about: "GET /v1/posts/{id} of posts this run stored (80 %) and pages of GET /v1/posts?author= (20 %), from the store"},
	{name: "mixed", path: "/v1/posts", want: http.StatusAccepted, verify: true, reads: 0.9,
		about: "90 % reads as in read, 10 % POST /v1/posts: a blog's traffic"},
}

// ScenarioNames lists the scenarios in their default order.
func ScenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// ScenarioStream is the declared stream scenario name writes to ("orders"
// for orders), or "" for one of posts or an unknown name.
func ScenarioStream(name string) string {
	for _, s := range scenarios {
		if s.name == name {
			return s.stream
		}
	}
	return ""
}

func lookupScenarios(names []string) ([]scenario, error) {
	var out []scenario
	seen := map[string]bool{}
	for _, n := range names {
		i := -1
		for j, s := range scenarios {
			if s.name == n {
				i = j
			}
		}
		switch {
		case i < 0:
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", n, strings.Join(ScenarioNames(), ", "))
		case seen[n]:
			return nil, fmt.Errorf("scenario %q given twice", n)
		}
		seen[n] = true
		out = append(out, scenarios[i])
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario given")
	}
	return out, nil
}

// maxAnswerBytes bounds what is read of an answer: a batch answer of 500
// items is well under it.
const maxAnswerBytes = 4 << 20

// sender sends a scenario's requests and records their outcomes.
type sender struct {
	sc        scenario
	conns     *loadConns
	path      string // of the writes, the target's base path included
	posts     *posts
	orders    *orders // the orders scenario's, instead of posts
	batchSize int
	rec       *recorder
	pool      *readPool    // what reads ask for
	update    *updateModel // the update scenario's
	warm      bool         // sending the warm-up: not measured
}

// vu is what one goroutine sending a scenario's load owns: its connection
// and the buffers its requests are made in, reused from one to the next.
type vu struct {
	conn    *loadConn
	body    []byte
	markers []string
	path    []byte
	hdr     []byte    // more header lines (update)
	upd     *updateVU // the update scenario's ids of this user
}

// shoot is the scenario's shooter: each goroutine gets a connection of its
// own from the scenario's, and gives it back when it leaves.
func (s *sender) shoot() (shot, func()) {
	v := &vu{conn: s.conns.get()}
	return func(ctx context.Context, intended time.Time) { s.fire(ctx, v, intended) },
		func() { s.conns.put(v.conn) }
}

// fire sends one request of the scenario due at intended.
func (s *sender) fire(ctx context.Context, v *vu, intended time.Time) {
	if s.update != nil {
		s.fireUpdate(ctx, v, intended)
		return
	}
	if s.sc.reads > 0 && (s.sc.reads >= 1 || rand.Float64() < s.sc.reads) {
		s.read(ctx, v, intended)
		return
	}
	v.body, v.markers = s.body(v.body[:0], v.markers[:0])
	status, answer, err := v.conn.exchange(ctx, http.MethodPost, s.path, v.body)
	latency := time.Since(intended)
	if err != nil {
		if ctx.Err() != nil {
			return // the run was stopped: not a measurement
		}
		s.rec.record(outcome{latency: latency, failure: transportFailure(err)})
		return
	}
	o := s.sc.judge(status, answer, v.markers)
	o.latency = latency
	if s.sc.reads > 0 {
		o.op = opWrite
	}
	s.rec.record(o)
}

// body appends one request's posts to b, and their markers in order to
// markers.
func (s *sender) body(b []byte, markers []string) ([]byte, []string) {
	if s.orders != nil {
		b, id := s.orders.append(b)
		return b, append(markers, id)
	}
	if !s.sc.batch {
		in := s.posts.next()
		return appendPost(b, in), append(markers, in.Title)
	}
	b = append(b, '[')
	for i := range s.batchSize {
		if i > 0 {
			b = append(b, ',')
		}
		in := s.posts.next()
		b = appendPost(b, in)
		markers = append(markers, in.Title)
	}
	return append(b, ']'), markers
}

// judge turns an answer into an outcome; markers are the posts sent, in
// order.
func (sc scenario) judge(status int, answer []byte, markers []string) outcome {
	if status != sc.want {
		o := outcome{failure: strconv.Itoa(status)}
		if status == http.StatusServiceUnavailable && sc.verify && !sc.batch {
			// The problem names the id the post may still land under.
			var p struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(answer, &p) == nil && p.ID != "" {
				o.maybe = []sentPost{{ID: p.ID, Marker: markers[0]}}
			}
		}
		return o
	}
	if sc.batch {
		var items []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(answer, &items); err != nil || len(items) != len(markers) {
			return outcome{failure: "bad-answer"}
		}
		o := outcome{}
		for i, it := range items {
			if it.Status != http.StatusAccepted || it.ID == "" {
				if o.failed == nil {
					o.failed = map[string]int{}
				}
				o.failed[strconv.Itoa(it.Status)]++
				if it.Status == http.StatusServiceUnavailable && it.ID != "" {
					o.maybe = append(o.maybe, sentPost{ID: it.ID, Marker: markers[i]})
				}
				continue
			}
			o.posts++
			o.accepted = append(o.accepted, sentPost{ID: it.ID, Marker: markers[i]})
		}
		if o.failed != nil {
			o.failure = "207-partial"
		}
		return o
	}
	if !sc.verify {
		return outcome{posts: 1}
	}
	id, ok := acceptedID(answer)
	if !ok {
		var a struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(answer, &a); err != nil || a.ID == "" {
			return outcome{failure: "bad-answer"}
		}
		id = a.ID
	}
	o := outcome{posts: 1, accepted: []sentPost{{ID: id, Marker: markers[0]}}}
	if sc.stream != "" && id != markers[0] {
		// A declared stream's document carries its id (an order its
		// orderId): a 202 under another is a wrong answer — and still a
		// promise, checked under the id it named.
		o.failure = "wrong-id"
	}
	return o
}

// acceptedID reads the id of a 202 answer written as the API writes it,
// {"id":"…","status":"accepted"}, without decoding JSON; ok is false for any
// other shape, which judge then decodes.
func acceptedID(answer []byte) (id string, ok bool) {
	const prefix, suffix = `{"id":"`, `","status":"accepted"}`
	a := bytes.TrimRight(answer, " \t\r\n")
	if len(a) <= len(prefix)+len(suffix) || !bytes.HasPrefix(a, []byte(prefix)) || !bytes.HasSuffix(a, []byte(suffix)) {
		return "", false
	}
	raw := a[len(prefix) : len(a)-len(suffix)]
	for _, c := range raw {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false // escaped, or not one string: decode it properly
		}
	}
	return string(raw), true
}

// transportFailure names a request that got no answer.
func transportFailure(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection"
}
