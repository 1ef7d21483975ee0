package sink_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/stream"
	"github.com/postpipe/postpipe/internal/testkit"
)

const (
	changesTopic = "things"
	changesDLQ   = "things.dlq"
)

// thingsStream is a stream with changes: name required, n an integer, tag
// a string, nothing else.
func thingsStream(t testing.TB) *stream.Stream {
	t.Helper()
	set, err := stream.Parse("streams.yaml", []byte(`streams:
  - name: things
    changes: true
    schema:
      $schema: https://json-schema.org/draft/2020-12/schema
      type: object
      required: [name]
      additionalProperties: false
      properties:
        name: {type: string}
        n: {type: integer}
        tag: {type: string}
`))
	if err != nil {
		t.Fatal(err)
	}
	return set.Lookup("things")
}

// memStates is a ChangeWriter in memory, with store.Docs' conditions; when
// lose says so, a write is done but answered with an error (its answer
// lost), which the sink must take as "nothing known".
type memStates struct {
	mu   sync.Mutex
	m    map[string]doc.State
	lose func() bool
	// refuse, when set, says which new states the store refuses for good.
	refuse func(doc.State) bool
}

// refusals is the Rejections error memStates answers refused writes with.
type refusals map[int]error

func (r refusals) Error() string           { return fmt.Sprintf("%d states refused for good", len(r)) }
func (r refusals) Rejected() map[int]error { return r }

func (w *memStates) States(_ context.Context, ids []string) (map[string]doc.State, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]doc.State{}
	for _, id := range ids {
		if s, ok := w.m[id]; ok {
			s.OpIDs = slices.Clone(s.OpIDs)
			out[id] = s
		}
	}
	return out, nil
}

func (w *memStates) WriteStates(_ context.Context, writes []doc.StateWrite) ([]string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var stale []string
	var refused refusals
	for i, x := range writes {
		if w.refuse != nil && w.refuse(x.New) {
			if refused == nil {
				refused = refusals{}
			}
			refused[i] = errors.New("bad record: the store cannot keep " + x.ID)
			continue
		}
		cur, ok := w.m[x.ID]
		if (!x.Expect.Stored && ok) || (x.Expect.Stored && (!ok || cur.Version != x.Expect.Version)) {
			stale = append(stale, x.ID)
			continue
		}
		if x.New.Version == doc.None {
			return nil, errors.New("a write without a version")
		}
		n := x.New
		n.OpIDs = slices.Clone(n.OpIDs)
		w.m[x.ID] = n
	}
	if w.lose != nil && w.lose() {
		return nil, errors.New("the answer was lost")
	}
	if refused != nil {
		return stale, refused
	}
	return stale, nil
}

// modelOp is an op as the test sent it.
type modelOp struct {
	op    doc.Op
	id    string
	opID  string
	body  map[string]any // create, put: the document; patch: the patch
	retry bool           // a resend of an earlier op (same op id)
}

// model applies ops as docs/streams.md says they apply: in the broker's
// order per id, an op id applied once, a create of a live document and a
// patch that fails or finds nothing change nothing.
type model struct {
	live    map[string]map[string]any
	deleted map[string]bool
	applied map[string]map[string]bool // id → op ids applied
	dead    int
}

func newModel() *model {
	return &model{live: map[string]map[string]any{}, deleted: map[string]bool{}, applied: map[string]map[string]bool{}}
}

func (m *model) apply(o modelOp) {
	if o.opID != "" && m.applied[o.id][o.opID] {
		return
	}
	_, live := m.live[o.id]
	switch o.op {
	case doc.OpCreate:
		if live {
			return
		}
		m.live[o.id], m.deleted[o.id] = maps.Clone(o.body), false
	case doc.OpPut:
		m.live[o.id], m.deleted[o.id] = maps.Clone(o.body), false
	case doc.OpPatch:
		if !live {
			m.dead++
			return
		}
		merged := maps.Clone(m.live[o.id])
		for k, v := range o.body {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		if !validThing(merged) {
			m.dead++
			return
		}
		m.live[o.id] = merged
	case doc.OpDelete:
		delete(m.live, o.id)
		m.deleted[o.id] = true
	}
	if o.opID != "" {
		if m.applied[o.id] == nil {
			m.applied[o.id] = map[string]bool{}
		}
		m.applied[o.id][o.opID] = true
	}
}

// validThing is thingsStream's schema, written out.
func validThing(d map[string]any) bool {
	if _, ok := d["name"].(string); !ok {
		return false
	}
	for k, v := range d {
		switch k {
		case "name", "tag":
			if _, ok := v.(string); !ok {
				return false
			}
		case "n":
			if _, ok := v.(float64); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// randomOps are n ops on a few ids: creates, puts, patches (some that
// must fail: a required member removed, a wrong type), deletes, and
// resends of recent ops with their op id, as a client's retry.
func randomOps(rng *rand.Rand, n int) []modelOp {
	ids := []string{"a", "b", "c", "d", "e"}
	var out []modelOp
	byID := map[string][]modelOp{} // each id's ops with an op id, newest last
	for i := 0; len(out) < n; i++ {
		id := ids[rng.IntN(len(ids))]
		if h := byID[id]; len(h) > 1 && rng.IntN(8) == 0 {
			// A resend of one of the id's recent ops, after others.
			prev := h[len(h)-2-rng.IntN(min(3, len(h)-1))]
			prev.retry = true
			out = append(out, prev)
			continue
		}
		o := modelOp{id: id, opID: "op-" + strconv.Itoa(i)}
		switch r := rng.IntN(20); {
		case r < 5:
			o.op, o.opID = doc.OpCreate, ""
			o.body = map[string]any{"name": "created " + strconv.Itoa(i), "n": float64(i)}
		case r < 9:
			o.op = doc.OpPut
			o.body = map[string]any{"name": "put " + strconv.Itoa(i), "tag": "t" + strconv.Itoa(i%3)}
		case r < 17:
			o.op = doc.OpPatch
			switch rng.IntN(6) {
			case 0:
				o.body = map[string]any{"name": nil} // fails: required
			case 1:
				o.body = map[string]any{"n": "seven"} // fails: a type
			case 2:
				o.body = map[string]any{"tag": nil}
			default:
				o.body = map[string]any{"n": float64(i), "tag": "p" + strconv.Itoa(i)}
			}
		default:
			o.op = doc.OpDelete
		}
		out = append(out, o)
		if o.opID != "" {
			byID[id] = append(byID[id], o)
		}
	}
	return out
}

// record is o's record, as the API produces it.
func (o modelOp) record(t testing.TB) *kgo.Record {
	t.Helper()
	c := doc.Change{Op: o.op, ID: o.id, OpID: o.opID, At: time.Now().UTC().Truncate(time.Millisecond)}
	if o.op != doc.OpDelete {
		b, err := json.Marshal(o.body)
		if err != nil {
			t.Fatal(err)
		}
		p, err := doc.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		c.Body, c.Fingerprint = p.Body, doc.Fingerprint(p.Tree)
	}
	r := &kgo.Record{Topic: changesTopic, Key: []byte(o.id), Value: doc.MarshalChange(c)}
	if o.op != doc.OpCreate {
		r.Headers = []kgo.RecordHeader{{Key: doc.HeaderOp, Value: []byte(o.op.String())}}
	}
	return r
}

// TestChangesMatchTheModel drives random creates, puts, patches, deletes
// and retries on a few ids through kfake and sinks that are stopped,
// restarted, run two at a time (a rebalance mid-stream), rewound (the
// group's offsets moved back: every op since is delivered again) and whose
// writes sometimes lose their answer; at the end what is stored must be
// the model's: every op applied once, in the broker's order. The seed is
// printed; POSTPIPE_TEST_SEED replays one.
func TestChangesMatchTheModel(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("POSTPIPE_TEST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		seed := seed + uint64(round)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runChangesModel(t, seed) })
	}
}

func runChangesModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	// The sinks' goroutines draw lost answers from their own source.
	loseRng := rand.New(rand.NewPCG(seed^1, seed))
	var loseMu sync.Mutex
	chance := func(n int) bool { loseMu.Lock(); defer loseMu.Unlock(); return loseRng.IntN(n) == 0 }

	st := thingsStream(t)
	st.Topic = changesTopic
	c := testkit.Kafka(t, kfake.SeedTopics(3, changesTopic), kfake.SeedTopics(1, changesDLQ))
	brokers := c.ListenAddrs()
	prod := newClient(t, brokers, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	adm := kadm.NewClient(newClient(t, brokers))
	w := &memStates{m: map[string]doc.State{}, lose: func() bool { return chance(8) }}
	group := "model-" + strconv.FormatUint(seed, 10)
	cfg := sinkConfig(group, 16)
	ops := &opsSeen{}
	cfg.Observer = ops
	start := func() func() error {
		_, stop := startRoutes(t, brokers, cfg, sink.ChangesRoute(st, w))
		return stop
	}

	sent := randomOps(rng, 400)
	want := newModel()
	for _, o := range sent {
		want.apply(o)
	}
	stops := []func() error{start()}
	for i := 0; i < len(sent); {
		n := min(len(sent)-i, 1+rng.IntN(20))
		recs := make([]*kgo.Record, n)
		for j := range recs {
			recs[j] = sent[i+j].record(t)
		}
		produce(t, prod, recs...)
		i += n
		time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
		switch rng.IntN(12) {
		case 0: // a second sink joins: a rebalance mid-stream
			if len(stops) < 2 {
				stops = append(stops, start())
			}
		case 1: // one stops
			if len(stops) > 1 {
				_ = stops[0]()
				stops = stops[1:]
			}
		case 2: // all stop; the group is rewound: everything since is delivered again
			for _, stop := range stops {
				_ = stop()
			}
			rewind(t, adm, group, rng)
			stops = []func() error{start()}
		}
	}
	ends := endOffsets(t, adm, changesTopic)
	testkit.Eventually(t, 60*time.Second, "the group to commit every record", func() bool {
		got := committedOn(t, adm, group, changesTopic)
		for p, e := range ends {
			if got[p] != e {
				return false
			}
		}
		return true
	})
	for _, stop := range stops {
		if err := stop(); err != nil {
			t.Errorf("sink: %v", err)
		}
	}
	// A zombie: a sink that still writes old ops after newer ones were
	// applied (one that lost its partitions mid-batch, or a copy of the
	// group's work started from the beginning), stopped part of the way.
	zombie := sinkConfig(group+"-zombie", 8)
	_, stopZombie := startRoutes(t, brokers, zombie, sink.ChangesRoute(st, w))
	half := int64(len(sent) / 6)
	testkit.Eventually(t, 60*time.Second, "the zombie to write part of the topic", func() bool {
		resp, err := adm.FetchOffsets(testCtx(t), group+"-zombie")
		if err != nil {
			return false // the group is not there yet
		}
		var n int64
		for _, o := range resp[changesTopic] {
			n += max(o.At, 0)
		}
		return n >= half
	})
	if err := stopZombie(); err != nil {
		t.Errorf("zombie sink: %v", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := slices.Sorted(maps.Keys(w.m))
	for id := range want.deleted {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for id := range want.live {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		s, stored := w.m[id]
		wantDoc, live := want.live[id]
		switch {
		case live && (!stored || s.Deleted):
			t.Errorf("seed %d: %s: stored %+v, want the document %v", seed, id, s, wantDoc)
		case live:
			var got map[string]any
			if err := json.Unmarshal(s.Doc.Body, &got); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if !reflect.DeepEqual(got, wantDoc) {
				t.Errorf("seed %d: %s: stored %v, want %v", seed, id, got, wantDoc)
			}
		case want.deleted[id] && !(stored && s.Deleted):
			t.Errorf("seed %d: %s: stored %+v, want a tombstone", seed, id, s)
		case !want.deleted[id] && stored:
			t.Errorf("seed %d: %s: stored %+v, want nothing", seed, id, s)
		}
	}
	// The op metrics saw the run: every op counted, the failing patches
	// among the dead letters.
	if n := ops.total(); n < len(sent) {
		t.Errorf("the observer counted %d ops, fewer than the %d sent", n, len(sent))
	}
	if d := ops.get("patch", "dead_lettered"); want.dead > 0 && d == 0 {
		t.Errorf("no patch counted dead-lettered; the model dead-letters %d", want.dead)
	}
	if t.Failed() {
		t.Logf("replay with POSTPIPE_TEST_SEED=%d", seed)
	}
}

// opsSeen is a sink Observer that counts ops by op and result.
type opsSeen struct {
	mu sync.Mutex
	n  map[[2]string]int
}

func (o *opsSeen) WriteAttempted(string, time.Duration, error) {}
func (o *opsSeen) BatchDone(string, int, int, int, int)        {}
func (o *opsSeen) OpsDone(_, op, result string, n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[[2]string]int{}
	}
	o.n[[2]string{op, result}] += n
}

func (o *opsSeen) get(op, result string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[[2]string{op, result}]
}

func (o *opsSeen) total() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, v := range o.n {
		n += v
	}
	return n
}

// rewind moves the group's committed offsets back on some partitions, as
// a sink that crashed before committing leaves them.
func rewind(t *testing.T, adm *kadm.Client, group string, rng *rand.Rand) {
	t.Helper()
	got := committedOn(t, adm, group, changesTopic)
	offsets := kadm.Offsets{}
	for p, at := range got {
		if at > 0 && rng.IntN(2) == 0 {
			offsets.Add(kadm.Offset{Topic: changesTopic, Partition: p, At: rng.Int64N(at), LeaderEpoch: -1})
		}
	}
	if len(offsets) == 0 {
		return
	}
	if _, err := adm.CommitOffsets(testCtx(t), group, offsets); err != nil {
		t.Fatalf("rewind: %v", err)
	}
}

// TestChangesRefusedStateIsDeadLettered: a state the store refuses for
// good (a patch that makes a body it cannot keep) leaves what is stored as
// it was; the op that made it goes to the dead-letter topic, the batch is
// committed, and the other ids of the batch are written.
func TestChangesRefusedStateIsDeadLettered(t *testing.T) {
	st := thingsStream(t)
	st.Topic = changesTopic
	c := testkit.Kafka(t, kfake.SeedTopics(1, changesTopic), kfake.SeedTopics(1, changesDLQ))
	brokers := c.ListenAddrs()
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	w := &memStates{m: map[string]doc.State{}, refuse: func(s doc.State) bool {
		return !s.Deleted && strings.Contains(string(s.Doc.Body), "poison")
	}}
	ops := []modelOp{
		{op: doc.OpCreate, id: "a", body: map[string]any{"name": "fine"}},
		{op: doc.OpPatch, id: "a", opID: "p1", body: map[string]any{"tag": "poison"}},
		{op: doc.OpCreate, id: "b", body: map[string]any{"name": "other"}},
	}
	recs := make([]*kgo.Record, len(ops))
	for i, o := range ops {
		recs[i] = o.record(t)
	}
	produce(t, cl, recs...)
	_, stop := startRoutes(t, brokers, sinkConfig("refused", 16), sink.ChangesRoute(st, w))
	testkit.Eventually(t, 30*time.Second, "the batch to be committed", func() bool {
		resp, err := adm.FetchOffsets(testCtx(t), "refused")
		if err != nil {
			return false // the group is not there yet
		}
		o, _ := resp.Lookup(changesTopic, 0)
		return o.At == int64(len(ops))
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	dead := readAll(t, brokers, adm, changesDLQ, 2)
	if len(dead) == 2 && (string(dead[0].Key) != "a" || string(dead[1].Key) != "a" || !strings.Contains(headerValue(dead[0], post.DLQHeaderError), "cannot keep")) {
		t.Errorf("dead letters %q/%q (%s), want a's create and patch with the store's reason", dead[0].Key, dead[1].Key, headerValue(dead[0], post.DLQHeaderError))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.m["a"]; ok {
		t.Errorf("a is stored (%s): its state was refused", w.m["a"].Doc.Body)
	}
	if b, ok := w.m["b"]; !ok || !strings.Contains(string(b.Doc.Body), "other") {
		t.Errorf("b = %+v, want it written beside the refusal", b)
	}
}

func headerValue(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
