package bench

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

func live(title, content string, tags ...string) postState {
	return postState{Exists: true, Title: title, Content: content, Tags: tags}
}

func TestHistoryClassify(t *testing.T) {
	created := live("t0", "c0", "a")
	patched := live("t1", "c1", "a")
	tagged := live("t1", "c1", "b", "c")
	h := &history{}
	h.add(opCreate, created)
	h.add(opPatch, patched)
	h.add(opPatch, tagged)
	deleted := &history{}
	deleted.add(opCreate, created)
	deleted.add(opPatch, patched)
	deleted.add(opDelete, postState{})

	for _, c := range []struct {
		name   string
		h      *history
		stored postState
		want   string
	}{
		{"the last state", h, live("t1", "c1", "b", "c"), verdictOK},
		{"nothing: the create lost", h, postState{}, verdictLost},
		{"the state after the create: both patches lost", h, created, verdictLost},
		{"the state before the last patch", h, patched, verdictLost},
		{"tags in another order", h, live("t1", "c1", "c", "b"), verdictWrong},
		{"the first patch's title with the last patch's tags (the first patch lost, or replayed)", h, live("t0", "c0", "b", "c"), verdictWrong},
		{"a title of no op", h, live("tx", "c1", "b", "c"), verdictWrong},
		{"deleted, nothing stored", deleted, postState{}, verdictOK},
		{"deleted, the post before the delete stored: the delete lost", deleted, patched, verdictLost},
		{"deleted, the created post stored", deleted, created, verdictLost},
		{"deleted, some other post stored", deleted, live("t9", "c1", "a"), verdictWrong},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.h.classify(c.stored); got != c.want {
				t.Errorf("classify(%+v) = %s, want %s", c.stored, got, c.want)
			}
		})
	}
}

func TestPatchApply(t *testing.T) {
	s := live("t", "c", "a")
	if got := (patchOp{Title: "T", Content: "C"}).apply(s); !got.equal(live("T", "C", "a")) {
		t.Errorf("title and content: %+v", got)
	}
	if got := (patchOp{Tags: []string{"x", "y"}}).apply(s); !got.equal(live("t", "c", "x", "y")) {
		t.Errorf("tags: %+v", got)
	}
	if got := (patchOp{Title: "T"}).apply(postState{}); got.Exists {
		t.Errorf("a patch of nothing made %+v", got)
	}
}

func TestModelCompareCounts(t *testing.T) {
	m := newUpdateModel(newWords(50), "run", "update", 50)
	create := func(title string) updateOp {
		return updateOp{kind: opCreate, create: post.Input{Author: m.author, Title: title, Content: "c", Tags: []string{"a"}}}
	}
	m.accept(create("a"), "A") // stays: stored right
	m.accept(create("b"), "B")
	m.accept(updateOp{kind: opPatch, patch: patchOp{Title: "b2", Content: "c2"}}, "B") // stored before the patch: lost
	m.accept(create("c"), "C")
	m.accept(updateOp{kind: opDelete}, "C") // deleted, still stored: lost
	m.accept(create("d"), "D")
	m.accept(updateOp{kind: opDelete}, "D") // deleted, gone: right
	m.accept(create("e"), "E")              // stored wrong
	m.accept(create("f"), "F")
	m.unsettle("F") // not checked, whatever is stored
	m.unsettle("G") // a create answered 503 to the last
	stored := map[string]postState{
		"A": live("a", "c", "a"),
		"B": live("b", "c", "a"),
		"C": live("c", "c", "a"),
		"E": live("e", "c", "zz"),
		"F": live("junk", "junk"),
	}
	c := m.compare(stored)
	want := UpdateCheck{IDsChecked: 5, Live: 3, Deleted: 2, Matched: 2, Lost: 2, Wrong: 1, Unsettled: 2}
	got := UpdateCheck{IDsChecked: c.IDsChecked, Live: c.Live, Deleted: c.Deleted, Matched: c.Matched, Lost: c.Lost, Wrong: c.Wrong, Unsettled: c.Unsettled}
	if got.IDsChecked != want.IDsChecked || got.Live != want.Live || got.Deleted != want.Deleted || got.Matched != want.Matched ||
		got.Lost != want.Lost || got.Wrong != want.Wrong || got.Unsettled != want.Unsettled {
		t.Errorf("compare = %+v, want %+v", got, want)
	}
	if c.OpsAccepted[opCreate] != 6 || c.OpsAccepted[opPatch] != 1 || c.OpsAccepted[opDelete] != 2 {
		t.Errorf("ops accepted %v", c.OpsAccepted)
	}
	if c.Mismatches() != 3 || len(c.Examples) != 3 {
		t.Errorf("mismatches %d, examples %+v", c.Mismatches(), c.Examples)
	}
}

// fakeChanges is a server of posts with changes, in memory: ops applied at
// once, Idempotency-Key honoured (an op sent again with its key is not
// applied again), Prefer: wait answered as applied. Its faults are what
// the model check must see.
type fakeChanges struct {
	mu     sync.Mutex
	posts  map[string]postState
	keys   map[string]string // Idempotency-Key → id
	n      atomic.Int64
	ops    map[string]int64 // applied, by method
	waited atomic.Int64

	unavailableEvery int64 // every n-th request: applied, then answered 503 (0: never)
	unavailable      bool  // every request answered 503
	dropPatchEvery   int64 // every n-th patch: answered 202, not applied
	tagsCorrupt      bool  // a tags patch stores one tag more
	staleWaitAnswer  bool  // a waited patch answers the document before the patch
}

func newFakeChanges() *fakeChanges {
	return &fakeChanges{posts: map[string]postState{}, keys: map[string]string{}, ops: map[string]int64{}}
}

func (f *fakeChanges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.n.Add(1)
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		http.Error(w, "no key", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	waiting := r.Header.Get("Prefer") == "wait=5"
	if waiting {
		f.waited.Add(1)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := strings.TrimPrefix(r.URL.Path, "/v1/posts/")
	_, seen := f.keys[key]
	var before postState
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/posts":
		var in post.Input
		if json.Unmarshal(body, &in) != nil || in.Validate() != nil {
			http.Error(w, "bad post", http.StatusBadRequest)
			return
		}
		if seen {
			id = f.keys[key]
		} else {
			id = "p" + strconv.FormatInt(n, 10)
			f.posts[id] = live(in.Title, in.Content, in.Tags...)
			f.ops["POST"]++
		}
	case r.Method == http.MethodPatch:
		if r.Header.Get("Content-Type") != "application/merge-patch+json" {
			http.Error(w, "not a merge patch", http.StatusUnsupportedMediaType)
			return
		}
		var p patchOp
		if json.Unmarshal(body, &p) != nil {
			http.Error(w, "bad patch", http.StatusBadRequest)
			return
		}
		before = f.posts[id]
		if !seen {
			f.ops["PATCH"]++
			drop := f.dropPatchEvery > 0 && f.ops["PATCH"]%f.dropPatchEvery == 0
			if !drop {
				s := p.apply(f.posts[id])
				if f.tagsCorrupt && p.Tags != nil {
					s.Tags = append(slices.Clone(s.Tags), "extra")
				}
				f.posts[id] = s
			}
		}
	case r.Method == http.MethodDelete:
		if !seen {
			delete(f.posts, id)
			f.ops["DELETE"]++
		}
	default:
		http.Error(w, "no route", http.StatusNotFound)
		return
	}
	f.keys[key] = id
	if f.unavailable || !seen && f.unavailableEvery > 0 && n%f.unavailableEvery == 0 {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
		return
	}
	if !waiting {
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "status": "accepted"})
		return
	}
	s := f.posts[id]
	if f.staleWaitAnswer && r.Method == http.MethodPatch {
		s = before
	}
	switch r.Method {
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
		w.WriteHeader(http.StatusCreated)
	default:
		w.WriteHeader(http.StatusOK)
	}
	_ = json.NewEncoder(w).Encode(post.Post{ID: id, Author: "a", Title: s.Title, Content: s.Content, Tags: s.Tags, CreatedAt: time.Now()})
}

// runUpdate sends the update scenario's load to f for d with vus users,
// and compares the model with what f holds.
func runUpdate(t *testing.T, f *fakeChanges, vus int, d time.Duration) (UpdateCheck, ScenarioResult) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	sc, err := lookupScenarios([]string{"update"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec := newRecorder(start)
	s := &sender{sc: sc[0], conns: testConns(t, srv.URL, 10*time.Second), path: "/v1/posts", rec: rec,
		update: newUpdateModel(newWords(100), "run", "update", 100)}
	var running atomic.Int64
	runClosed(t.Context(), []Stage{{0, vus}, {d, vus}}, start, s.shoot, &running)
	f.mu.Lock()
	stored := maps.Clone(f.posts)
	f.mu.Unlock()
	c := s.update.compare(stored)
	c.Wait = s.update.preferWait(50*time.Millisecond, "test")
	return c, rec.result("update", time.Since(start))
}

func TestUpdateMatchesAFaithfulServer(t *testing.T) {
	f := newFakeChanges()
	f.unavailableEvery = 7 // applied, answered 503: the retry with its key must not apply it again
	c, res := runUpdate(t, f, 4, 400*time.Millisecond)
	if c.Mismatches() != 0 || c.Unsettled != 0 {
		t.Fatalf("a faithful server: %+v", c)
	}
	for _, k := range []string{opCreate, opPatch, opDelete} {
		if c.OpsAccepted[k] == 0 {
			t.Errorf("no %s accepted: %v", k, c.OpsAccepted)
		}
	}
	if c.IDsChecked == 0 || c.Live == 0 || c.Deleted == 0 || c.Matched != c.IDsChecked {
		t.Errorf("ids: %+v", c)
	}
	f.mu.Lock()
	applied := f.ops["POST"] + f.ops["PATCH"] + f.ops["DELETE"]
	f.mu.Unlock()
	var accepted int64
	for _, n := range c.OpsAccepted {
		accepted += n
	}
	if applied != accepted {
		t.Errorf("the server applied %d ops, the model accepted %d: a retry was applied twice, or an op lost", applied, accepted)
	}
	if res.Errors != 0 {
		t.Errorf("errors %v", res.ErrorsByStatus)
	}
	if _, ok := res.Ops[opWaited]; !ok || f.waited.Load() == 0 {
		t.Errorf("no op sent with Prefer: wait: %v", res.Ops)
	}
	w := c.Wait
	if w.Requests == 0 || w.Applied != w.Requests || w.Late != 0 || w.RanOut != 0 || w.P50 <= 0 || w.P50OverBatchWait != round3(w.P50/50) {
		t.Errorf("prefer wait %+v", w)
	}
}

func TestUpdateFindsLostPatches(t *testing.T) {
	f := newFakeChanges()
	f.dropPatchEvery = 5
	c, _ := runUpdate(t, f, 4, 400*time.Millisecond)
	if c.Lost == 0 || c.Mismatches() == 0 {
		t.Fatalf("every fifth patch dropped, none found lost: %+v", c)
	}
	if c.Lost+c.Wrong > c.OpsAccepted[opPatch]/5+1 {
		t.Errorf("%d lost and %d wrong, more than the %d patches dropped", c.Lost, c.Wrong, c.OpsAccepted[opPatch]/5)
	}
}

func TestUpdateFindsWrongStates(t *testing.T) {
	f := newFakeChanges()
	f.tagsCorrupt = true
	c, _ := runUpdate(t, f, 4, 300*time.Millisecond)
	if c.Wrong == 0 {
		t.Fatalf("tags corrupted, none found wrong: %+v", c)
	}
}

func TestUpdateFindsStaleWaitAnswers(t *testing.T) {
	f := newFakeChanges()
	f.staleWaitAnswer = true
	c, _ := runUpdate(t, f, 4, 400*time.Millisecond)
	if c.WaitMismatched == 0 || c.Lost+c.Wrong != 0 {
		t.Fatalf("waited patches answered with the document before them: %+v", c)
	}
}

func TestUpdateUnsettlesWhatStays503(t *testing.T) {
	f := newFakeChanges()
	f.unavailable = true // no op is known applied or not
	c, res := runUpdate(t, f, 2, 200*time.Millisecond)
	if c.IDsChecked != 0 || c.Mismatches() != 0 {
		t.Fatalf("nothing was accepted, yet %+v", c)
	}
	if res.ErrorsByStatus["503"] == 0 {
		t.Errorf("errors %v", res.ErrorsByStatus)
	}
}

func TestSinkBatchWait(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if d, _ := sinkBatchWait(Config{SinkBatchWait: time.Second}, env(map[string]string{"POSTPIPE_SINK_BATCH_WAIT": "10ms"})); d != time.Second {
		t.Errorf("configured: %s", d)
	}
	if d, from := sinkBatchWait(Config{}, env(map[string]string{"POSTPIPE_SINK_BATCH_WAIT": "10ms"})); d != 10*time.Millisecond || !strings.Contains(from, "POSTPIPE_SINK_BATCH_WAIT=10ms") {
		t.Errorf("from the environment: %s (%s)", d, from)
	}
	if d, _ := sinkBatchWait(Config{}, env(nil)); d != 50*time.Millisecond {
		t.Errorf("default: %s", d)
	}
}

// TestUpdateReport: the update check's counts and the Prefer: wait figures
// reach results.json, report.md and report.html, a mismatch marked.
func TestUpdateReport(t *testing.T) {
	res := sampleResults(t, true)
	res.Scenarios = append(res.Scenarios, ScenarioResult{Name: "update", Path: "/v1/posts", Requests: 50, ErrorsByStatus: map[string]int64{}, Series: []Point{},
		Ops: map[string]OpResult{opCreate: {Requests: 20, P50: 3}, opWaited: {Requests: 10, P50: 120}},
		Update: &UpdateCheck{OpsAccepted: map[string]int64{opCreate: 25, opPatch: 20, opDelete: 5}, IDsChecked: 25, Live: 20, Deleted: 5, Matched: 24, Lost: 1,
			Wait: PreferWait{WaitS: 5, Share: 0.2, Requests: 10, P50: 120, P99: 300, Max: 400, ByStatus: map[string]int64{"201": 4, "200": 4, "204": 1, "202": 1},
				Applied: 9, RanOut: 1, LateMarginS: 1, SinkBatchWaitMS: 50, SinkBatchWaitFrom: "the sink's default", P50OverBatchWait: 2.4}}})
	if err := write(res); err != nil {
		t.Fatal(err)
	}
	m := readResultsJSON(t, res.Dir)
	up := requireKeys(t, "update scenario", m["scenarios"].([]any)[2], "update")["update"]
	u := requireKeys(t, "update", up, "ops_accepted", "ids_checked", "lost", "wrong", "wait_mismatched", "unsettled", "prefer_wait")
	requireKeys(t, "prefer_wait", u["prefer_wait"], "p50_ms", "p99_ms", "max_ms", "late", "applied", "ran_out", "sink_batch_wait_ms", "p50_over_batch_wait")
	md := Markdown(res)
	for _, want := range []string{"Update check", "| update | 25 | 20 | 5 | 25 | 20 | 5 | 24 | 1 | 0 | 0 | 0 |", "| update | prefer wait | 10 |", "p50 120 ms", "= 2.40"} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	page, err := os.ReadFile(filepath.Join(res.Dir, htmlFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<h2>Update check</h2>") || !strings.Contains(string(page), `<td class="bad">1</td>`) {
		t.Errorf("report.html lacks the update check, or its lost id unmarked")
	}
}
