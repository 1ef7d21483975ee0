package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/post"
)

// The update scenario (docs/streams.md, "Changes"): each virtual user
// creates posts and changes its own — 50 % POST /v1/posts, 40 % PATCH of
// one of its recent posts (a JSON Merge Patch setting title and content,
// or tags), 10 % DELETE of one, which then leaves its recent posts. One
// user sends one request at a time, so the ops on one id reach the broker
// in the user's order, and the broker's order per id is the model's. Every
// op carries an Idempotency-Key and is retried with it after a 503 or a
// lost answer (updateTries in all), so it is applied once. The model keeps,
// per id, the states the accepted ops lead through; after the scenario the
// check compares what the store holds of every id with the last of them.
//
// A share of the ops (updateWaitShare) asks Prefer: wait=5: their answer
// comes once the sink applied the op (201, 200, 204) or, when 5 s ran out,
// as the usual 202. Their latencies are kept apart (PreferWait), and an
// applied answer's document must be the model's state after the op.

// The kinds of op of the update scenario, as its results name them.
const (
	opCreate = "create"
	opPatch  = "patch"
	opDelete = "delete"
	// opWaited is every op sent with Prefer: wait, whatever its kind: the
	// scenario's ops table shows their latencies apart.
	opWaited = "prefer wait"
)

// The update scenario's mix and bounds.
const (
	updateCreateShare = 0.5 // of the ops; with none of its own to change, a user creates
	updatePatchShare  = 0.4 // the rest delete
	updateTagsShare   = 0.5 // of the patches: tags; the others set title and content
	updateWaitShare   = 0.2 // of the ops send Prefer: wait
	updateWait        = 5 * time.Second
	// updateWaitMargin is how much later than updateWait a waited answer
	// may come and not count as late: the server's poll (20 ms), its read
	// of the store and the client's own scheduling.
	updateWaitMargin = time.Second
	updateRecent     = 8 // the ids a user keeps to change
	updateTries      = 3 // sends of one op, retries after a 503 or no answer included
)

// postState is what the store should hold of one post: nothing (Exists
// false: never created, or deleted), or a post with these fields — the
// ones the ops change.
type postState struct {
	Exists  bool     `json:"exists"`
	Title   string   `json:"title,omitempty"`
	Content string   `json:"content,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

func (s postState) equal(o postState) bool {
	if !s.Exists || !o.Exists {
		return s.Exists == o.Exists
	}
	return s.Title == o.Title && s.Content == o.Content && slices.Equal(s.Tags, o.Tags)
}

// patchOp is one merge patch the scenario sends: title and content, or tags.
type patchOp struct {
	Title   string   `json:"title,omitempty"`
	Content string   `json:"content,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// apply is the state after the merge patch p: what it sets replaces, the
// rest stays (RFC 7396 with no null and no nested object).
func (p patchOp) apply(s postState) postState {
	if !s.Exists {
		return s // a patch of nothing is dead-lettered: nothing changes
	}
	if p.Title != "" {
		s.Title = p.Title
	}
	if p.Content != "" {
		s.Content = p.Content
	}
	if p.Tags != nil {
		s.Tags = p.Tags
	}
	return s
}

// history is one id's accepted ops, in the order the broker took them,
// and the state after each: states[i] follows ops[i]; before the first
// (a create) nothing was stored.
type history struct {
	ops    []string
	states []postState
	// unsettled: an op on it was neither accepted nor refused (503 or no
	// answer after every try): it may or may not be applied, so the id is
	// not checked.
	unsettled bool
}

func (h *history) add(op string, s postState) {
	h.ops = append(h.ops, op)
	h.states = append(h.states, s)
}

// final is the state the store must hold once the sink applied every op.
func (h *history) final() postState {
	if len(h.states) == 0 {
		return postState{}
	}
	return h.states[len(h.states)-1]
}

// The verdicts of the check on one id.
const (
	verdictOK    = "ok"
	verdictLost  = "lost"  // an earlier state of the id: an op (or the document) missing
	verdictWrong = "wrong" // a state no prefix of the id's ops leads to
)

// classify compares what the store holds of the id with its history: the
// final state is ok; any earlier one — nothing, before the create, among
// them — is lost, the ops after it missing (or undone: the stored state
// alone cannot tell an op that never applied from an earlier op applied
// again after it, see docs/benchmark.md); anything else is wrong.
func (h *history) classify(stored postState) string {
	if stored.equal(h.final()) {
		return verdictOK
	}
	if !stored.Exists {
		return verdictLost // nothing: the state before the create
	}
	for _, s := range h.states[:len(h.states)-1] {
		if stored.equal(s) {
			return verdictLost
		}
	}
	return verdictWrong
}

// updateModel is the update scenario's model — every id its users created,
// with its history — and what its Prefer: wait requests measured. Each id
// is changed by the one user that created it; the lock guards the maps.
type updateModel struct {
	author   string
	prefix   string // of the titles and tags the scenario writes
	keys     string // of its Idempotency-Keys
	words    *words
	content  int
	seq      atomic.Int64
	tagSeq   atomic.Int64
	mu       sync.Mutex
	ids      map[string]*history
	accepted map[string]int64 // ops accepted, by kind, warm-up included

	// Prefer: wait, over the measured windows only.
	waitLat      *latencies
	waitStatus   map[string]int64
	waitLate     int64
	waitMismatch int64 // an applied answer whose document is not the model's state
	mismatchEx   []UpdateMismatch
}

func newUpdateModel(w *words, runID, scenario string, contentBytes int) *updateModel {
	return &updateModel{
		author: authorFor(runID, scenario), prefix: "bench " + runID + " " + scenario + " ", keys: runID + "-" + scenario + "-",
		words: w, content: contentBytes,
		ids: map[string]*history{}, accepted: map[string]int64{},
		waitLat: newLatencies(), waitStatus: map[string]int64{},
	}
}

// updateVU is what one user of the update scenario keeps: the ids it
// created and may still change, newest last.
type updateVU struct {
	recent []string
}

// updateOp is one op a user is about to send.
type updateOp struct {
	kind   string
	id     string // of a patch or delete
	create post.Input
	patch  patchOp
	wait   bool
}

// pick chooses the next op of a user.
func (m *updateModel) pick(u *updateVU) updateOp {
	op := updateOp{wait: rand.Float64() < updateWaitShare}
	r := rand.Float64()
	switch {
	case r < updateCreateShare || len(u.recent) == 0:
		op.kind = opCreate
		n := m.seq.Add(1)
		op.create = post.Input{
			Author:  m.author,
			Title:   m.prefix + "#" + strconv.FormatInt(n, 10),
			Content: m.words.cut(m.content),
			Tags:    m.tags(),
		}
	case r < updateCreateShare+updatePatchShare:
		op.kind = opPatch
		op.id = u.recent[rand.IntN(len(u.recent))]
		if rand.Float64() < updateTagsShare {
			op.patch.Tags = m.tags()
		} else {
			op.patch.Title = m.prefix + "patch #" + strconv.FormatInt(m.seq.Add(1), 10)
			op.patch.Content = m.words.cut(m.content)
		}
	default:
		op.kind = opDelete
		op.id = u.recent[rand.IntN(len(u.recent))]
	}
	return op
}

// tags are one to three tags no other op of the run writes.
func (m *updateModel) tags() []string {
	n := 1 + rand.IntN(3)
	out := make([]string, n)
	for i := range out {
		out[i] = "t" + strconv.FormatInt(m.tagSeq.Add(1), 36)
	}
	return out
}

// accept records an accepted op on id, and returns the state it leads to.
func (m *updateModel) accept(op updateOp, id string) postState {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.accepted[op.kind]++
	h := m.ids[id]
	if h == nil {
		h = &history{}
		m.ids[id] = h
	}
	var s postState
	switch op.kind {
	case opCreate:
		s = postState{Exists: true, Title: op.create.Title, Content: op.create.Content, Tags: op.create.Tags}
	case opPatch:
		s = op.patch.apply(h.final())
	case opDelete:
		s = postState{}
	}
	h.add(op.kind, s)
	return s
}

// unsettle marks id as one whose last op may or may not be applied.
func (m *updateModel) unsettle(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.ids[id]
	if h == nil {
		h = &history{}
		m.ids[id] = h
	}
	h.unsettled = true
}

// waited records one Prefer: wait answer of a measured window: its status,
// how long the request that got it took, and whether the document it
// answered (an applied create, put or patch) is the model's state.
func (m *updateModel) waited(status int, took time.Duration, id string, mismatch *postState, want postState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waitLat.record(took)
	m.waitStatus[strconv.Itoa(status)]++
	if took > updateWait+updateWaitMargin {
		m.waitLate++
	}
	if mismatch != nil {
		m.waitMismatch++
		if len(m.mismatchEx) < maxMismatchExamples {
			m.mismatchEx = append(m.mismatchEx, UpdateMismatch{ID: id, Verdict: "wait answer", Want: want, Stored: *mismatch})
		}
	}
}

// fireUpdate sends one op of the update scenario and records it.
func (s *sender) fireUpdate(ctx context.Context, v *vu, intended time.Time) {
	m := s.update
	if v.upd == nil {
		v.upd = &updateVU{}
	}
	u := v.upd
	op := m.pick(u)
	method, path, ctype := http.MethodPost, s.path, jsonType
	switch op.kind {
	case opCreate:
		v.body = appendPost(v.body[:0], op.create)
	case opPatch:
		method, ctype = http.MethodPatch, "application/merge-patch+json"
		v.body, _ = json.Marshal(op.patch) // strings and a list of strings always encode
	case opDelete:
		method, v.body = http.MethodDelete, nil
	}
	if op.id != "" {
		path = s.path + "/" + op.id
	}
	hdr := append(v.hdr[:0], "Idempotency-Key: "...)
	hdr = append(hdr, m.keys...)
	hdr = strconv.AppendInt(hdr, m.seq.Add(1), 10)
	hdr = append(hdr, "\r\n"...)
	if op.wait {
		hdr = append(hdr, "Prefer: wait="...)
		hdr = strconv.AppendInt(hdr, int64(updateWait/time.Second), 10)
		hdr = append(hdr, "\r\n"...)
	}
	v.hdr = hdr

	var (
		status int
		answer []byte
		err    error
		sent   time.Time
	)
	for try := 0; try < updateTries; try++ {
		sent = time.Now()
		status, answer, err = v.conn.exchangeWith(ctx, method, path, ctype, hdr, v.body)
		if ctx.Err() != nil {
			break
		}
		if err == nil && status != http.StatusServiceUnavailable {
			break
		}
	}
	took := time.Since(sent) // of the request that got the answer
	o := outcome{latency: time.Since(intended), op: op.kind}
	if op.wait {
		o.op = opWaited
	}
	if err != nil || status == http.StatusServiceUnavailable {
		if op.id != "" {
			m.unsettle(op.id) // may be applied: never changed or checked again
			u.forget(op.id)
		}
		if err != nil && ctx.Err() != nil {
			return // the run was stopped: not a measurement
		}
		if err != nil {
			o.failure = transportFailure(err)
		} else {
			o.failure = strconv.Itoa(status)
		}
		s.rec.record(o)
		return
	}

	id := op.id
	var stored *postState // the document an applied answer holds
	switch {
	case status == http.StatusAccepted:
	case op.wait && op.kind == opCreate && status == http.StatusCreated,
		op.wait && op.kind == opPatch && status == http.StatusOK:
		var p post.Post
		if json.Unmarshal(answer, &p) != nil || p.ID == "" || op.id != "" && p.ID != op.id {
			o.failure = "bad-answer"
			break
		}
		id = p.ID
		stored = &postState{Exists: true, Title: p.Title, Content: p.Content, Tags: p.Tags}
	case op.wait && op.kind == opDelete && status == http.StatusNoContent:
	default:
		// Refused (4xx), or an accepted op the sink dead-lettered (404,
		// 422 with Prefer: wait): nothing the model changes with.
		o.failure = strconv.Itoa(status)
	}
	if o.failure == "" && id == "" {
		if a, ok := acceptedID(answer); ok {
			id = a
		} else {
			o.failure = "bad-answer"
		}
	}
	if o.failure != "" {
		s.rec.record(o)
		return
	}
	want := m.accept(op, id)
	o.posts = 1
	s.rec.record(o)
	switch op.kind {
	case opCreate:
		u.recent = append(u.recent, id)
		if len(u.recent) > updateRecent {
			u.recent = u.recent[1:]
		}
	case opDelete:
		u.forget(id)
	}
	if op.wait && !s.warm {
		var mismatch *postState
		if stored != nil && !stored.equal(want) {
			mismatch = stored
		}
		m.waited(status, took, id, mismatch, want)
	}
}

// forget drops id from the user's recent ids.
func (u *updateVU) forget(id string) {
	u.recent = slices.DeleteFunc(u.recent, func(r string) bool { return r == id })
}

// maxMismatchExamples bounds the mismatches the results show.
const maxMismatchExamples = 10

// UpdateMismatch is one id whose stored state is not the model's.
type UpdateMismatch struct {
	ID      string    `json:"id"`
	Verdict string    `json:"verdict"` // lost, wrong; "wait answer" for an applied answer's document
	Ops     []string  `json:"ops,omitempty"`
	Want    postState `json:"want"`
	Stored  postState `json:"stored"`
}

// UpdateCheck is what the update scenario's model check found, and what
// its Prefer: wait requests measured.
type UpdateCheck struct {
	// OpsAccepted are the ops answered 202 (or, waited for, 201, 200,
	// 204), by kind, warm-up included: the model's.
	OpsAccepted map[string]int64 `json:"ops_accepted"`
	IDsChecked  int64            `json:"ids_checked"`
	Live        int64            `json:"live"`    // of those, the model's final state a post
	Deleted     int64            `json:"deleted"` // …and nothing (deleted: GET answers 404)
	Matched     int64            `json:"matched"`
	// Lost: the store holds an earlier state of the id — nothing before
	// its create, or the post before its last ops. Wrong: a state no
	// prefix of its ops leads to.
	Lost  int64 `json:"lost"`
	Wrong int64 `json:"wrong"`
	// WaitMismatched: applied answers (201, 200) of Prefer: wait whose
	// document was not the model's state after the op.
	WaitMismatched int64 `json:"wait_mismatched"`
	// Unsettled ids are not checked: one of their ops got a 503 or no
	// answer on every try, so it may or may not be applied.
	Unsettled int64 `json:"unsettled"`
	// Settled: every checked id matched within the drain timeout.
	Settled  bool             `json:"settled"`
	CheckS   float64          `json:"check_s"`
	Examples []UpdateMismatch `json:"examples,omitempty"`
	Wait     PreferWait       `json:"prefer_wait"`
}

// Mismatches is what fails the run: ids lost or wrong, and applied answers
// that were not the model's.
func (c *UpdateCheck) Mismatches() int64 { return c.Lost + c.Wrong + c.WaitMismatched }

// PreferWait is what the update scenario's Prefer: wait=N requests measured
// in its measured windows: latency of the request that got the answer (a
// retry's after a 503), and how they were answered.
type PreferWait struct {
	WaitS    float64          `json:"wait_s"`
	Share    float64          `json:"share"` // of the scenario's ops
	Requests int64            `json:"requests"`
	P50      float64          `json:"p50_ms"`
	P99      float64          `json:"p99_ms"`
	Max      float64          `json:"max_ms"`
	ByStatus map[string]int64 `json:"by_status"`
	// Applied: answered once the sink applied the op (201, 200, 204);
	// RanOut: 202, the wait ran out first.
	Applied int64 `json:"applied"`
	RanOut  int64 `json:"ran_out"`
	// Late: answered later than WaitS + LateMarginS (must be none).
	Late        int64   `json:"late"`
	LateMarginS float64 `json:"late_margin_s"`
	// The sink's batch wait (POSTPIPE_SINK_BATCH_WAIT, as the bench's
	// environment says, else the default) and p50 over it: the issue wants
	// it within 3 on an idle machine.
	SinkBatchWaitMS   float64 `json:"sink_batch_wait_ms"`
	SinkBatchWaitFrom string  `json:"sink_batch_wait_from"`
	P50OverBatchWait  float64 `json:"p50_over_batch_wait"`
}

// preferWait sums the waited requests up.
func (m *updateModel) preferWait(batchWait time.Duration, from string) PreferWait {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := PreferWait{
		WaitS: updateWait.Seconds(), Share: updateWaitShare, Requests: m.waitLat.h.TotalCount(),
		P50: m.waitLat.ms(50), P99: m.waitLat.ms(99), Max: m.waitLat.maxMS(),
		ByStatus: maps.Clone(m.waitStatus), Late: m.waitLate, LateMarginS: updateWaitMargin.Seconds(),
		SinkBatchWaitMS: round3(float64(batchWait) / float64(time.Millisecond)), SinkBatchWaitFrom: from,
	}
	for st, n := range m.waitStatus {
		switch st {
		case "200", "201", "204":
			w.Applied += n
		case "202":
			w.RanOut += n
		}
	}
	if w.SinkBatchWaitMS > 0 && w.Requests > 0 {
		w.P50OverBatchWait = round3(w.P50 / w.SinkBatchWaitMS)
	}
	return w
}

// compare checks every settled id of the model against stored (the live
// posts the store holds, by id; an id absent holds nothing).
func (m *updateModel) compare(stored map[string]postState) UpdateCheck {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := UpdateCheck{OpsAccepted: maps.Clone(m.accepted), WaitMismatched: m.waitMismatch}
	c.Examples = append(c.Examples, m.mismatchEx...)
	ids := make([]string, 0, len(m.ids))
	for id := range m.ids {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		h := m.ids[id]
		if h.unsettled || len(h.states) == 0 {
			c.Unsettled++
			continue
		}
		c.IDsChecked++
		want := h.final()
		if want.Exists {
			c.Live++
		} else {
			c.Deleted++
		}
		got := stored[id]
		switch h.classify(got) {
		case verdictOK:
			c.Matched++
			continue
		case verdictLost:
			c.Lost++
			if len(c.Examples) < maxMismatchExamples {
				c.Examples = append(c.Examples, UpdateMismatch{ID: id, Verdict: verdictLost, Ops: h.ops, Want: want, Stored: got})
			}
		default:
			c.Wrong++
			if len(c.Examples) < maxMismatchExamples {
				c.Examples = append(c.Examples, UpdateMismatch{ID: id, Verdict: verdictWrong, Ops: h.ops, Want: want, Stored: got})
			}
		}
	}
	return c
}

// sinkBatchWait is the sink's batch wait the run compares the Prefer: wait
// latency with: cfg's, else POSTPIPE_SINK_BATCH_WAIT from the bench's
// environment (deploy/bench.sh starts the sink with the same), else the
// sink's default; and where it came from.
func sinkBatchWait(cfg Config, getenv func(string) string) (time.Duration, string) {
	if cfg.SinkBatchWait > 0 {
		return cfg.SinkBatchWait, "the bench's configuration"
	}
	if v := getenv("POSTPIPE_SINK_BATCH_WAIT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d, "POSTPIPE_SINK_BATCH_WAIT=" + v + " (the bench's environment)"
		}
	}
	return config.Default().SinkBatchWait, "the sink's default (POSTPIPE_SINK_BATCH_WAIT unset in the bench's environment)"
}

// storedUpdatePost is the part of a stored post the update check reads.
type storedUpdatePost struct {
	ID      string   `bson:"_id"`
	Title   string   `bson:"title"`
	Content string   `bson:"content"`
	Tags    []string `bson:"tags"`
}

// livePostsOf reads every live post of author: a tombstone (a deleted
// post) keeps no author, and is left out as GET leaves it out (404).
func (v *verifier) livePostsOf(ctx context.Context, author string) (map[string]postState, error) {
	filter := bson.D{{Key: "author", Value: author}, {Key: "_deleted", Value: bson.D{{Key: "$exists", Value: false}}}}
	proj := bson.D{{Key: "title", Value: 1}, {Key: "content", Value: 1}, {Key: "tags", Value: 1}}
	cur, err := v.coll.Find(ctx, filter, options.Find().SetProjection(proj))
	if err != nil {
		return nil, fmt.Errorf("find the posts of %s: %w", author, err)
	}
	var docs []storedUpdatePost
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read the posts of %s: %w", author, err)
	}
	out := make(map[string]postState, len(docs))
	for _, d := range docs {
		out[d.ID] = postState{Exists: true, Title: d.Title, Content: d.Content, Tags: d.Tags}
	}
	return out, nil
}

// updateStall is how long the check goes on reading while the number of
// mismatches does not fall: the sink is done, or stuck.
const updateStall = 20 * time.Second

// checkUpdates waits, up to the drain timeout, for the store to hold the
// model's final state of every id, reading the scenario's live posts again
// and again, and returns what the last reading found.
func (r *runner) checkUpdates(ctx context.Context, st *scenarioRun) (*UpdateCheck, error) {
	m := st.sender.update
	start := time.Now()
	deadline := start.Add(r.cfg.DrainTimeout)
	best, fell := int64(-1), start
	var c UpdateCheck
	for {
		read := time.Now()
		// A store that stops answering fails the check instead of holding
		// the run: each reading ends with the drain timeout, or a minute
		// after it starts when that is later.
		rctx, cancel := context.WithDeadline(ctx, later(deadline, read.Add(time.Minute)))
		stored, err := st.ver.livePostsOf(rctx, m.author)
		cancel()
		if err != nil {
			return nil, err
		}
		c = m.compare(stored)
		left := c.Lost + c.Wrong
		if best < 0 || left < best {
			best, fell = left, time.Now()
		}
		if left == 0 || !time.Now().Before(deadline) || time.Since(fell) > updateStall {
			c.Settled = left == 0
			break
		}
		fmt.Fprintf(r.progress, "%s: waiting for the sink: %d of %d ids not yet in their last state (%.0fs)\n",
			st.sc.name, left, c.IDsChecked, time.Since(start).Seconds())
		if err := sleep(ctx, max(st.ver.poll, time.Since(read))); err != nil {
			return nil, err
		}
	}
	c.CheckS = round3(time.Since(start).Seconds())
	bw, from := sinkBatchWait(r.cfg, os.Getenv)
	c.Wait = m.preferWait(bw, from)
	return &c, nil
}

// updateCheckCols are the columns of the update check's table.
var updateCheckCols = []string{"scenario", "creates", "patches", "deletes", "ids checked", "live", "deleted", "matched", "lost", "wrong", "waited answers not the model's", "unsettled", "check s"}

// updateRows are the update check's table rows, one per scenario with one.
func updateRows(res *Results) [][]string {
	var rows [][]string
	for _, s := range res.Scenarios {
		c := s.Update
		if c == nil {
			continue
		}
		rows = append(rows, []string{s.Name, fmt.Sprint(c.OpsAccepted[opCreate]), fmt.Sprint(c.OpsAccepted[opPatch]), fmt.Sprint(c.OpsAccepted[opDelete]),
			fmt.Sprint(c.IDsChecked), fmt.Sprint(c.Live), fmt.Sprint(c.Deleted), fmt.Sprint(c.Matched), fmt.Sprint(c.Lost), fmt.Sprint(c.Wrong),
			fmt.Sprint(c.WaitMismatched), fmt.Sprint(c.Unsettled), num(c.CheckS)})
	}
	return rows
}

// updateOpCols and updateOpRows are the update scenario's ops by kind, in
// its measured window: those sent with Prefer: wait apart.
var updateOpCols = []string{"scenario", "op", "requests", "req/s", "errors", "p50 ms", "p99 ms", "max ms"}

func updateOpRows(res *Results) [][]string {
	var rows [][]string
	for _, s := range res.Scenarios {
		if s.Update == nil {
			continue
		}
		for _, name := range []string{opCreate, opPatch, opDelete, opWaited} {
			if o, ok := s.Ops[name]; ok {
				rows = append(rows, []string{s.Name, name, fmt.Sprint(o.Requests), num(o.RPS), fmt.Sprint(o.Errors), ms(o.P50), ms(o.P99), ms(o.Max)})
			}
		}
	}
	return rows
}

// updateNotes say what the update check's counts mean and what the
// Prefer: wait requests measured.
func updateNotes(res *Results) []string {
	var notes []string
	for _, s := range res.Scenarios {
		c := s.Update
		if c == nil {
			continue
		}
		w := c.Wait
		notes = append(notes, fmt.Sprintf("%s, Prefer: wait=%g on %.0f %% of the ops (measured window): %d requests, p50 %s ms, p99 %s ms, max %s ms; %d answered once applied (201, 200, 204), %d ran out (202); %d answered later than %g s + %g s. p50 ÷ the sink's batch wait (%s ms, %s) = %.2f — the issue wants it within 3 on an idle machine.",
			s.Name, w.WaitS, 100*w.Share, w.Requests, ms(w.P50), ms(w.P99), ms(w.Max), w.Applied, w.RanOut, w.Late, w.WaitS, w.LateMarginS, num(w.SinkBatchWaitMS), w.SinkBatchWaitFrom, w.P50OverBatchWait))
		if !c.Settled && c.Mismatches() > 0 {
			notes = append(notes, fmt.Sprintf("%s: the store did not reach the model's states within --drain-timeout (or they stopped changing for %s); first mismatches in results.json (update.examples).", s.Name, updateStall))
		}
	}
	if len(notes) > 0 {
		notes = append(notes, "Ops accepted: answered 202 (or, waited for, 201, 200, 204), warm-up included. Every id the users created is compared with the last state its accepted ops lead to: a deleted one must hold nothing (GET answers 404), a live one the title, content and tags of the model. Lost: the store holds an earlier state of the id (nothing, before its create; or the post before its last ops). Wrong: a state no prefix of its ops leads to. Waited answers not the model's: a 201 or 200 whose document was not the state after the op. Unsettled: an op got a 503 or no answer on every try, so the id is not checked. A merge patch applied twice in a row leaves what it left once, so ops applied twice are not counted; one applied again after later ones shows as lost or wrong (docs/benchmark.md).")
	}
	return notes
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
