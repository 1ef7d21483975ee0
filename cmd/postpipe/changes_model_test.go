package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/post"
)

// The changes of posts (docs/streams.md, "Changes") checked end to end
// against a model, at the HTTP level: changesDriver sends random PUTs,
// PATCHes (some the API must refuse) and DELETEs on a few posts, each
// with an Idempotency-Key, retrying a 503 or a lost answer with the same
// key until it is a 202, and sometimes sending an op again after its 202
// (a client that lost the answer). The ops on one document go one after
// another — the next only after the previous got its 202 — so the broker's
// order of a document's ops is the order the driver sent them in; the
// documents change concurrently. The model applies every op that got a 202
// once, in that order; at the end every document must read as the model
// says (GET: its members, or 404 once deleted), whatever the sinks went
// through meanwhile (stops, rewinds, SIGKILLs, a broker lost). A document
// that reads as one of its earlier states lost an op; one that reads as a
// state the model never had took its ops out of order (or one twice).
//
// The seed of the ops is printed on failure: POSTPIPE_TEST_SEED=<seed>
// replays the same ops (the faults and their timing differ).

// changeOp is one op a client sends on a post.
type changeOp struct {
	method string         // PUT, PATCH or DELETE
	body   map[string]any // PUT: the whole post; PATCH: the merge patch
	key    string         // its Idempotency-Key
	// refused: a patch the API must answer 422 (a required member
	// removed, a blank title, a member the schema does not have): no op.
	refused bool
}

func (o changeOp) String() string {
	if o.body == nil {
		return o.method
	}
	b, _ := json.Marshal(o.body)
	return o.method + " " + string(b)
}

// docModel is what one post must be, from the ops on it that got a 202.
type docModel struct {
	id  string
	doc map[string]any // nil: not stored (never written, or deleted)
	// history is every state the post was in, oldest first (nil: not
	// stored); the last is doc.
	history []map[string]any
	applied []string // the ops applied, for the failure report
	dead    int      // patches of a post not stored: dead-lettered, no change
}

func newDocModel(id string) *docModel {
	return &docModel{id: id, history: []map[string]any{nil}}
}

// apply applies o as the sink must: a put replaces (or creates), a merge
// patch merges into a stored post (null removes a member; our patches are
// flat) and changes nothing where none is stored, a delete removes.
func (m *docModel) apply(o changeOp) {
	switch o.method {
	case http.MethodPut:
		m.doc = maps.Clone(o.body)
	case http.MethodPatch:
		if m.doc == nil {
			m.dead++
			m.applied = append(m.applied, o.String()+" (nothing to patch: dead-lettered)")
			return
		}
		merged := maps.Clone(m.doc)
		for k, v := range o.body {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		m.doc = merged
	case http.MethodDelete:
		m.doc = nil
	}
	m.history = append(m.history, m.doc)
	m.applied = append(m.applied, o.String())
}

// lastOps is the report of the last ops applied.
func (m *docModel) lastOps() string {
	ops := m.applied
	if len(ops) > 20 {
		ops = append([]string{fmt.Sprintf("(%d earlier ops)", len(ops)-20)}, ops[len(ops)-20:]...)
	}
	return strings.Join(ops, "\n\t")
}

// verdict compares a stored state (nil: 404) with the model: "" when it
// is the model's, "lost" when it is an earlier state of the post (an
// accepted op missing), "reordered" when the model never had it.
func (m *docModel) verdict(got map[string]any) string {
	if sameDoc(got, m.doc) {
		return ""
	}
	for _, h := range m.history {
		if sameDoc(got, h) {
			return "lost"
		}
	}
	return "reordered"
}

func sameDoc(a, b map[string]any) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return reflect.DeepEqual(a, b)
}

// answerMembers are the members of a post's answer (GET, or Prefer: wait)
// that are not the client's document.
var answerMembers = []string{"id", "createdAt", "ingestedAt", "updatedAt"}

// storedDoc is the client's document in an answer's body.
func storedDoc(body []byte) (map[string]any, error) {
	var d map[string]any
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("%v: %.300s", err, body)
	}
	for _, k := range answerMembers {
		delete(d, k)
	}
	return d, nil
}

// randomChange is the n-th op on m's post: mostly valid ops that fit its
// state (a stored post is mostly patched; one not stored mostly created
// with a PUT), some patches the API refuses, and where nothing is stored
// now and then a patch (dead-lettered) or a delete.
func randomChange(rng *rand.Rand, m *docModel, n int, refusals bool) changeOp {
	mark := fmt.Sprintf("%s-%03d", m.id[len(m.id)-6:], n)
	o := changeOp{key: "model-" + m.id + "-" + strconv.Itoa(n)}
	tags := func() []any {
		out := make([]any, 1+rng.IntN(3))
		for i := range out {
			out[i] = fmt.Sprintf("t%d", rng.IntN(5))
		}
		return out
	}
	put := func() changeOp {
		o.method = http.MethodPut
		o.body = map[string]any{"author": "model", "title": "put " + mark, "content": "content of " + mark}
		if rng.IntN(2) == 0 {
			o.body["tags"] = tags()
		}
		return o
	}
	patch := func() changeOp {
		o.method = http.MethodPatch
		switch rng.IntN(6) {
		case 0:
			o.body = map[string]any{"title": "title " + mark}
		case 1:
			o.body = map[string]any{"content": "content " + mark}
		case 2:
			o.body = map[string]any{"tags": tags()}
		case 3:
			o.body = map[string]any{"tags": nil}
		default:
			o.body = map[string]any{"title": "title " + mark, "content": "content " + mark, "tags": tags()}
		}
		return o
	}
	del := func() changeOp {
		o.method = http.MethodDelete
		return o
	}
	if m.doc == nil {
		switch r := rng.IntN(10); {
		case r < 7:
			return put()
		case r < 9:
			return patch()
		default:
			return del()
		}
	}
	switch r := rng.IntN(20); {
	case r < 4:
		return put()
	case r < 15:
		return patch()
	case r < 16 && refusals:
		o.method, o.refused = http.MethodPatch, true
		o.body = []map[string]any{
			{"author": nil},
			{"title": "   "},
			{"bogus": "member"},
			{"tags": "not a list"},
		}[rng.IntN(4)]
		return o
	default:
		return del()
	}
}

// changesConfig sizes a changesDriver.
type changesConfig struct {
	ids      int           // posts changed concurrently
	opsPerID int           // ops on each (0: until the driver's context ends)
	pause    time.Duration // between two ops on a post
	// waitEvery: about one op in waitEvery is sent with Prefer: wait=10,
	// its answer checked against the model (0: none but the last).
	waitEvery int
	// retryFor bounds the retries of one op (503s, lost answers): past it
	// the op's fate is unknown, which fails the test.
	retryFor time.Duration
}

// changesDriver drives random ops on a few posts through the API at base
// and keeps their model.
type changesDriver struct {
	t    *testing.T
	base string
	cfg  changesConfig
	seed uint64
	hc   *http.Client // an op: answered within the produce timeout
	wait *http.Client // Prefer: wait, up to 30 s more

	docs []*docModel
	rngs []*rand.Rand

	mu       sync.Mutex
	sent     int64          // requests, retries and resends included
	accepted int64          // ops answered 202 (each applied once by the model)
	status   map[int]int64  // answers by status
	netErrs  int64          // requests with no answer
	resends  int64          // ops sent again after their 202
	refused  int64          // patches answered 422
	failures []string       // what broke the contract
	slowest  time.Duration  // the slowest answer (Prefer: wait left out)
	waited   map[string]int // Prefer: wait answers by status (202: not applied in time)
	// Prefer: wait answers that were not the model's post: an earlier
	// state of it (lost), or one it never had (reordered).
	waitLost, waitReordered int
}

// changesSeed is POSTPIPE_TEST_SEED, or a fresh seed; the test prints it
// when it fails.
func changesSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("POSTPIPE_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("POSTPIPE_TEST_SEED=%q: %v", s, err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the ops' seed was %d: replay with POSTPIPE_TEST_SEED=%d go test -run '^%s$' ./cmd/postpipe/", seed, seed, strings.Split(t.Name(), "/")[0])
		}
	})
	return seed
}

func newChangesDriver(t *testing.T, base string, cfg changesConfig) *changesDriver {
	t.Helper()
	if cfg.retryFor == 0 {
		cfg.retryFor = time.Minute
	}
	tr := &http.Transport{MaxIdleConns: 2 * cfg.ids, MaxIdleConnsPerHost: 2 * cfg.ids, IdleConnTimeout: time.Minute}
	t.Cleanup(tr.CloseIdleConnections)
	d := &changesDriver{
		t: t, base: base, cfg: cfg, seed: changesSeed(t),
		hc:     &http.Client{Transport: tr, Timeout: 15 * time.Second},
		wait:   &http.Client{Transport: tr, Timeout: 60 * time.Second},
		status: map[int]int64{}, waited: map[string]int{},
	}
	for i := range cfg.ids {
		id := post.NewID(time.Now())
		if !post.ValidID(id) {
			t.Fatalf("post.NewID gave %q, not a valid post id", id)
		}
		d.docs = append(d.docs, newDocModel(id))
		d.rngs = append(d.rngs, rand.New(rand.NewPCG(d.seed, uint64(i))))
	}
	return d
}

// fail records a break of the contract: the post's model is unknown from
// there on, so its goroutine stops.
func (d *changesDriver) fail(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failures = append(d.failures, fmt.Sprintf(format, args...))
}

// send sends o on m's post once, with Prefer: wait=N when wait > 0.
func (d *changesDriver) send(m *docModel, o changeOp, wait time.Duration) (int, []byte, error) {
	var body io.Reader
	if o.body != nil {
		b, err := json.Marshal(o.body)
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(o.method, d.base+"/v1/posts/"+m.id, body)
	if err != nil {
		return 0, nil, err
	}
	switch o.method {
	case http.MethodPut:
		req.Header.Set("Content-Type", "application/json")
	case http.MethodPatch:
		req.Header.Set("Content-Type", "application/merge-patch+json")
	}
	req.Header.Set("Idempotency-Key", o.key)
	hc := d.hc
	if wait > 0 {
		req.Header.Set("Prefer", fmt.Sprintf("wait=%d", int(wait/time.Second)))
		hc = d.wait
	}
	began := time.Now()
	resp, err := hc.Do(req)
	took := time.Since(began)
	d.mu.Lock()
	d.sent++
	if err != nil {
		d.netErrs++
	} else {
		d.status[resp.StatusCode]++
		if wait == 0 {
			d.slowest = max(d.slowest, took)
		}
	}
	d.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	// A 503 is the publish's (the broker did not acknowledge in time): no
	// wait began, and the op is retried with its key like any other.
	if wait > 0 && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusServiceUnavailable &&
		resp.Header.Get("Preference-Applied") != "wait" {
		return resp.StatusCode, data, fmt.Errorf("answered %d to Prefer: wait without Preference-Applied: wait", resp.StatusCode)
	}
	return resp.StatusCode, data, nil
}

// do sends o until it is answered with something other than a 503 or no
// answer at all (the same Idempotency-Key each time: one op), within
// cfg.retryFor; 0 when that ran out, or the answer was not what the
// contract allows (recorded).
func (d *changesDriver) do(m *docModel, o changeOp, wait time.Duration) (int, []byte) {
	deadline := time.Now().Add(d.cfg.retryFor)
	var last string
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		status, body, err := d.send(m, o, wait)
		switch {
		case err != nil && status != 0:
			d.fail("%s: %s: %v", m.id, o, err)
			return 0, nil
		case err != nil:
			last = err.Error()
		case status == http.StatusServiceUnavailable:
			var problem struct{ ID string }
			if json.Unmarshal(body, &problem) != nil || problem.ID != m.id {
				d.fail("%s: %s: 503 without the post's id: %.300s", m.id, o, body)
				return 0, nil
			}
			last = "503"
		default:
			return status, body
		}
		if time.Now().After(deadline) {
			d.fail("%s: %s: no answer but %s for %s: whether it was applied is unknown", m.id, o, last, d.cfg.retryFor)
			return 0, nil
		}
		time.Sleep(pause) // a client's backoff before it retries, not a wait for a condition
	}
}

// drive sends the ops, each post's in its own goroutine, until each has
// had cfg.opsPerID of them or ctx ends; it returns when every post's last
// op was answered.
func (d *changesDriver) drive(ctx context.Context) {
	var wg sync.WaitGroup
	for i, m := range d.docs {
		rng := d.rngs[i]
		wg.Go(func() {
			for n := 0; ctx.Err() == nil && (d.cfg.opsPerID == 0 || n < d.cfg.opsPerID); n++ {
				o := randomChange(rng, m, n, true)
				var wait time.Duration
				if d.cfg.waitEvery > 0 && rng.IntN(d.cfg.waitEvery) == 0 && !o.refused { // a refused op is answered at once
					wait = 10 * time.Second
				}
				if !d.step(m, o, rng.IntN(10) == 0, wait, false) {
					return
				}
				time.Sleep(d.cfg.pause) // the load's pace
			}
		})
	}
	wg.Wait()
}

// step sends one op — with Prefer: wait=N when wait says so — and applies
// it to the model, and when resend says so sends it once more after its
// 202; false when the contract broke. A waited op's answer must be the op
// applied (checkWaited); a 202 — not applied in time — fails the test when
// mustApply says so, and is counted otherwise.
func (d *changesDriver) step(m *docModel, o changeOp, resend bool, wait time.Duration, mustApply bool) bool {
	status, body := d.do(m, o, wait)
	switch {
	case status == 0:
		return false
	case o.refused && status == http.StatusUnprocessableEntity:
		d.mu.Lock()
		d.refused++
		d.mu.Unlock()
		return true
	case o.refused:
		d.fail("%s: %s: answered %d, want 422: %.300s", m.id, o, status, body)
		return false
	case status == http.StatusAccepted:
		var answer struct{ ID, Status string }
		if err := json.Unmarshal(body, &answer); err != nil || answer.ID != m.id || answer.Status != "accepted" {
			d.fail("%s: %s: 202 with %.300s", m.id, o, body)
			return false
		}
		m.apply(o)
		d.mu.Lock()
		d.accepted++
		if wait > 0 {
			d.waited["202 (not applied in time)"]++
		}
		d.mu.Unlock()
		if wait > 0 && mustApply {
			d.fail("%s: %s with Prefer: wait=%d: 202, not applied in time", m.id, o, int(wait/time.Second))
			return false
		}
	case wait > 0:
		m.apply(o)
		d.mu.Lock()
		d.accepted++
		d.waited[strconv.Itoa(status)]++
		d.mu.Unlock()
		if !d.checkWaited(m, o, status, body) {
			return false
		}
	default:
		d.fail("%s: %s: answered %d: %.300s", m.id, o, status, body)
		return false
	}
	if !resend {
		return true
	}
	// The client lost the answer and sends the op again: the same op.
	d.mu.Lock()
	d.resends++
	d.mu.Unlock()
	if status, body := d.do(m, o, 0); status != http.StatusAccepted {
		if status != 0 {
			d.fail("%s: %s sent again with its key: answered %d: %.300s", m.id, o, status, body)
		}
		return false
	}
	return true
}

// checkWaited checks the answer to o, sent with Prefer: wait and applied
// (the model applied it too): a put or patch 200 with the model's post —
// the next op on it is not sent yet, so the store holds exactly that — a
// patch of a post not stored 404, a delete 204. A post not as its model
// counts as lost or reordered, as check counts them.
func (d *changesDriver) checkWaited(m *docModel, o changeOp, status int, body []byte) bool {
	want := http.StatusOK
	switch {
	case o.method == http.MethodDelete:
		want = http.StatusNoContent
	case m.doc == nil: // a patch of a post not stored
		want = http.StatusNotFound
	}
	if status != want {
		d.fail("%s: %s with Prefer: wait: %d, want %d: %.300s", m.id, o, status, want, body)
		return false
	}
	if want != http.StatusOK {
		return true
	}
	got, err := storedDoc(body)
	if err != nil {
		d.fail("%s: %s with Prefer: wait: %v", m.id, o, err)
		return false
	}
	switch m.verdict(got) {
	case "":
		return true
	case "lost":
		d.mu.Lock()
		d.waitLost++
		d.mu.Unlock()
	default:
		d.mu.Lock()
		d.waitReordered++
		d.mu.Unlock()
	}
	d.fail("%s: %s with Prefer: wait answered %v, the model holds %v after %d ops:\n\t%s", m.id, o, got, m.doc, len(m.applied), m.lastOps())
	return false
}

// finish sends one last valid op on each post with Prefer: wait=30 and
// checks the answer is the op applied (read your write, checkWaited). A
// 202 — the sink did not apply it within the 30 s — fails the test when
// mustApply says so, and is counted otherwise.
func (d *changesDriver) finish(mustApply bool) {
	var wg sync.WaitGroup
	for i, m := range d.docs {
		rng := d.rngs[i]
		wg.Go(func() {
			o := randomChange(rng, m, len(m.applied), false)
			o.key = "model-final-" + m.id
			d.step(m, o, false, 30*time.Second, mustApply)
		})
	}
	wg.Wait()
}

// changesOutcome is what check found: posts whose stored state is an
// earlier one of theirs (lost) or one they never had (reordered).
type changesOutcome struct {
	lost, reordered int
	unread          int           // GET did not answer 200 or 404
	took            time.Duration // until every post read as its model
}

// read is m's post as GET answers it: nil on a 404.
func (d *changesDriver) read(m *docModel) (map[string]any, error) {
	resp, err := d.hc.Get(d.base + "/v1/posts/" + m.id)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("GET: %d %.300s", resp.StatusCode, body)
	}
	return storedDoc(body)
}

// check fails the test on every break of the contract the driver met, then
// reads every post until each is as its model says, within the given time
// (a guard: the sink drains meanwhile), and reports each that is not.
func (d *changesDriver) check(within time.Duration) changesOutcome {
	t := d.t
	t.Helper()
	d.mu.Lock()
	for i, f := range d.failures {
		if i == 10 {
			t.Errorf("... and %d more", len(d.failures)-10)
			break
		}
		t.Errorf("answer outside the contract: %s", f)
	}
	d.mu.Unlock()
	began := time.Now()
	deadline := began.Add(within)
	var out changesOutcome
	for {
		out = changesOutcome{}
		var wrong []string
		for _, m := range d.docs {
			got, err := d.read(m)
			if err != nil {
				wrong = append(wrong, fmt.Sprintf("%s: %v", m.id, err))
				out.unread++
				continue
			}
			switch v := m.verdict(got); v {
			case "":
			case "lost":
				out.lost++
				wrong = append(wrong, fmt.Sprintf("%s reads %v, an earlier state (an accepted op lost); the model holds %v after %d ops:\n\t%s",
					m.id, got, m.doc, len(m.applied), m.lastOps()))
			default:
				out.reordered++
				wrong = append(wrong, fmt.Sprintf("%s reads %v, a state the model never had (ops out of order, or one twice); the model holds %v after %d ops:\n\t%s",
					m.id, got, m.doc, len(m.applied), m.lastOps()))
			}
		}
		if len(wrong) == 0 {
			out.lost += d.waitLost
			out.reordered += d.waitReordered
			out.took = time.Since(began)
			return out
		}
		if time.Now().After(deadline) {
			out.lost += d.waitLost
			out.reordered += d.waitReordered
			for i, w := range wrong {
				if i == 5 {
					t.Errorf("... and %d more posts not as their model", len(wrong)-5)
					break
				}
				t.Errorf("after %s: %s", within, w)
			}
			return out
		}
		time.Sleep(100 * time.Millisecond) // polling, as testkit.Eventually does
	}
}

func (d *changesDriver) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	dead := 0
	for _, m := range d.docs {
		dead += m.dead
	}
	return fmt.Sprintf("%d posts: %d requests, %d ops accepted (%d sent again after their 202, %d patches of a post not stored), %d refused (422), answers %v, %d without an answer, slowest %s; Prefer: wait answers %v",
		len(d.docs), d.sent, d.accepted, d.resends, dead, d.refused, d.status, d.netErrs, d.slowest.Round(time.Millisecond), d.waited)
}

// TestChangesModelInProcess runs the model on the embedded stack, an api
// and two sinks in-process, while the sinks are stopped and started and
// the group's offsets are rewound (so ops are delivered again, after
// newer ones were applied), then checks Prefer: wait and the stored posts.
func TestChangesModelInProcess(t *testing.T) {
	env := with(stackEnv(t), "POSTPIPE_KAFKA_GROUP", "changes-model", "POSTPIPE_LOG_LEVEL", "error")
	apiAddr := freeAddr(t)
	base := "http://" + apiAddr
	start(t, "api", with(env, "POSTPIPE_HTTP_ADDR", apiAddr))
	sinks := []*proc{start(t, "sink", env), start(t, "sink", env)}
	waitReady(t, base)
	adm := groupAdmin(t, env)

	d := newChangesDriver(t, base, changesConfig{ids: 6, pause: 20 * time.Millisecond, waitEvery: 10, retryFor: 30 * time.Second})
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		d.drive(ctx)
	}()
	// The faults, at random moments while the ops go on: a sink stopped
	// and another started (a rebalance), or every sink stopped, the
	// group rewound, and two started again (everything since the rewound
	// offsets delivered again).
	rng := rand.New(rand.NewPCG(d.seed, 1<<32))
	restarts, rewinds := 0, 0
	var rewound int64
	stopSink := func(p *proc) {
		if err := p.stop(); err != nil {
			t.Errorf("stop a sink: %v", err)
		}
	}
	for done := false; !done; {
		select {
		case <-driven:
			done = true
			continue
		case <-time.After(time.Duration(300+rng.IntN(700)) * time.Millisecond):
		}
		if rng.IntN(3) == 0 {
			for _, p := range sinks {
				stopSink(p)
			}
			rewound += rewindGroup(t, adm, env, rng)
			rewinds++
			sinks = []*proc{start(t, "sink", env), start(t, "sink", env)}
			continue
		}
		v := rng.IntN(len(sinks))
		stopSink(sinks[v])
		sinks[v] = start(t, "sink", env)
		restarts++
	}
	t.Logf("ops sent in %s while a sink was restarted %d times and the group rewound %d times (%d records delivered again)",
		time.Since(began).Round(time.Millisecond), restarts, rewinds, rewound)
	if rewinds+restarts == 0 {
		t.Error("no fault happened while the ops went on")
	}
	d.finish(true)
	out := d.check(time.Minute)
	t.Logf("%s; every post as its model %s after the last op", d, out.took.Round(time.Millisecond))
	if d.accepted < int64(len(d.docs)*20) {
		t.Errorf("only %d ops accepted", d.accepted)
	}
}

// groupAdmin is an admin client of env's broker, closed when the test ends.
func groupAdmin(t *testing.T, env map[string]string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(env["POSTPIPE_KAFKA_BROKERS"], ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// rewindGroup moves the sink group's committed offsets of posts' topic
// back on some partitions, as a sink that crashed before committing
// leaves them; the group must have no member. It returns how many records
// will be delivered again.
func rewindGroup(t *testing.T, adm *kadm.Client, env map[string]string, rng *rand.Rand) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	group, topic := env["POSTPIPE_KAFKA_GROUP"], env["POSTPIPE_KAFKA_TOPIC"]
	offs, err := adm.FetchOffsets(ctx, group)
	if err == nil {
		err = offs.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) { // nothing committed yet
		return 0
	}
	if err != nil {
		t.Errorf("the group's offsets: %v", err)
		return 0
	}
	back := kadm.Offsets{}
	var n int64
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.At > 0 && rng.IntN(2) == 0 {
			at := rng.Int64N(o.At)
			back.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: at, LeaderEpoch: -1})
			n += o.At - at
		}
	})
	if len(back) == 0 {
		return 0
	}
	committed, err := adm.CommitOffsets(ctx, group, back)
	if err == nil {
		err = committed.Error()
	}
	if err != nil {
		t.Errorf("rewind the group: %v", err)
		return 0
	}
	return n
}

// TestChangesSurviveSinkKills is the model on real Kafka and the
// standalone store, with the binary: an api and two sinks, each sink
// SIGKILLed and restarted while the ops go on.
func TestChangesSurviveSinkKills(t *testing.T) {
	env, ok := realEnv(t, "POSTPIPE_TEST_KAFKA_BROKERS")
	if !ok {
		skipOutside(t, "kafka", "needs real Kafka and the standalone store: run 'make test-kafka' (sets POSTPIPE_TEST_KAFKA_BROKERS and POSTPIPE_TEST_MONGODB_URI)")
	}
	base, sinks := pipeline(t, env, 2)
	connectMongo(t, env) // drops the test's database at the end
	d := newChangesDriver(t, base, changesConfig{ids: 8, waitEvery: 20})
	ctx, stop := context.WithCancel(context.Background())
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		d.drive(ctx)
	}()
	rng := rand.New(rand.NewPCG(d.seed, 1<<32))
	for round, victim := range []int{0, 1, 0} {
		time.Sleep(time.Duration(2000+rng.IntN(2000)) * time.Millisecond) // ops accepted before the kill
		sinks[victim].kill(t)
		t.Logf("round %d: SIGKILLed sink-%d mid-stream", round+1, victim+1)
		time.Sleep(time.Second) // the partitions go unconsumed a moment
		sinks[victim] = startBinary(t, fmt.Sprintf("sink-%d-restart-%d", victim+1, round+1), "sink", with(env, "POSTPIPE_LOG_LEVEL", "info"))
	}
	time.Sleep(3 * time.Second) // ops after the last restart
	stop()
	<-driven
	d.finish(false)
	out := d.check(2 * time.Minute)
	t.Logf("%s; every post as its model %s after the last op", d, out.took.Round(time.Millisecond))
	if d.accepted < 100 {
		t.Errorf("only %d ops accepted", d.accepted)
	}
}

// TestChangesSurviveABrokerKill is the model on the 3-node cluster while
// broker 2 is SIGKILLed and started again.
func TestChangesSurviveABrokerKill(t *testing.T) {
	env, ok := realEnv(t, "POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS")
	nodeCmd := os.Getenv("POSTPIPE_TEST_KAFKA_NODE_CMD")
	if !ok || nodeCmd == "" {
		skipOutside(t, "kafka-cluster", "needs the 3-node Kafka cluster: run 'make test-kafka' (sets POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS, POSTPIPE_TEST_KAFKA_NODE_CMD and POSTPIPE_TEST_MONGODB_URI)")
	}
	node := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(nodeCmd, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", nodeCmd, args, err, out)
		}
	}
	base, _ := pipeline(t, env, 2)
	connectMongo(t, env) // drops the test's database at the end
	// The API answers 503 while the partitions' leaders move: an op is
	// retried (same key) for as long as the broker may take.
	d := newChangesDriver(t, base, changesConfig{ids: 8, waitEvery: 20, retryFor: 90 * time.Second})
	ctx, stop := context.WithCancel(context.Background())
	driven := make(chan struct{})
	go func() {
		defer close(driven)
		d.drive(ctx)
	}()
	time.Sleep(4 * time.Second) // ops accepted before the kill
	node("node-kill", "2")
	t.Log("SIGKILLed broker 2")
	time.Sleep(12 * time.Second) // ops while it is down
	node("node-start", "2")
	t.Log("broker 2 started again")
	time.Sleep(4 * time.Second) // ops after it is back
	stop()
	<-driven
	d.finish(false)
	out := d.check(3 * time.Minute)
	t.Logf("%s; every post as its model %s after the last op", d, out.took.Round(time.Millisecond))
	if d.accepted < 100 {
		t.Errorf("only %d ops accepted", d.accepted)
	}
}
