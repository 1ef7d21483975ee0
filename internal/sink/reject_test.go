package sink_test

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/sink"
	"github.com/postpipe/postpipe/internal/testkit"
)

// TestRefusedDocumentsGoToDLQAndTheBatchCommits: a stream whose store
// refuses some documents of a batch for good stores the others, sends the
// refused records to its DLQ topic with the store's reason and commits the
// batch, so a restarted sink gets nothing again; the other stream of the
// batch is stored as if nothing happened.
func TestRefusedDocumentsGoToDLQAndTheBatchCommits(t *testing.T) {
	brokers := newRoutesCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const group = "routes-refused"
	const n = 12
	const why = "nested arrays are not supported"

	postIDs, postRecs := newPosts(t, n)
	noteIDs, noteRecs := newNotes(t, "r", n)
	refused := []string{"r-3", "r-8"}
	records := produce(t, cl, interleave(postRecs, noteRecs)...)
	sent := map[string]*kgo.Record{} // the refused notes' records, as produced
	for _, r := range records {
		if slices.Contains(refused, string(r.Key)) {
			sent[string(r.Key)] = r
		}
	}

	pw, nw := newFakeWriter(), newWriter(noteID)
	nw.setRefused(why, refused...)
	obs := &countingObserver{}
	// One batch of every record, both streams': written when full.
	cfg := sinkConfig(group, 2*n)
	cfg.BatchWait, cfg.Observer = time.Minute, obs
	s, stop := startTwoRoutes(t, brokers, cfg, pw, nw)
	testkit.Eventually(t, 30*time.Second, "every record stored or dead-lettered", func() bool {
		st := s.Stats()
		return st.Inserted+st.Duplicates+st.DeadLettered == 2*n
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Each stream's documents stored once, the refused ones not at all,
	// and refused once: a refusal is not retried.
	posts, notesStored := pw.written(), nw.written()
	for _, id := range postIDs {
		if posts[id] != 1 {
			t.Errorf("post %s written %d times, want once", id, posts[id])
		}
	}
	for _, id := range noteIDs {
		want := 1
		if slices.Contains(refused, id) {
			want = 0
		}
		if notesStored[id] != want {
			t.Errorf("note %s stored %d times, want %d", id, notesStored[id], want)
		}
	}
	if got, want := nw.refusals(), map[string]int{"r-3": 1, "r-8": 1}; !maps.Equal(got, want) {
		t.Errorf("refusals by id = %v, want %v: one write each", got, want)
	}

	// The refused records on the notes' DLQ topic with the store's reason
	// and the headers of any dead letter; none on the posts'.
	readAll(t, brokers, adm, blogDLQ, 0)
	dead := readAll(t, brokers, adm, notesDLQ, len(refused))
	seen := map[string]bool{}
	for _, d := range dead {
		id := string(d.Key)
		o, ok := sent[id]
		if !ok || seen[id] {
			t.Errorf("%s holds %q (key %q), want each refused note once", notesDLQ, d.Value, d.Key)
			continue
		}
		seen[id] = true
		if string(d.Value) != string(o.Value) {
			t.Errorf("dead letter of %s holds %q, want the record %q", id, d.Value, o.Value)
		}
		if r := header(d, post.DLQHeaderError); !strings.Contains(r, why) || !strings.Contains(r, id) {
			t.Errorf("dead letter of %s: reason %q, want the store's (%q, naming the document)", id, r, why)
		}
		want := map[string]string{
			post.DLQHeaderSourceTopic:     notesTopic,
			post.DLQHeaderSourcePartition: strconv.Itoa(int(o.Partition)),
			post.DLQHeaderSourceOffset:    strconv.FormatInt(o.Offset, 10),
		}
		for k, v := range want {
			if got := header(d, k); got != v {
				t.Errorf("dead letter of %s: header %s = %q, want %q", id, k, got, v)
			}
		}
		for _, k := range []string{post.DLQHeaderSourceTimestamp, post.DLQHeaderFailedAt} {
			if _, err := time.Parse(time.RFC3339Nano, header(d, k)); err != nil {
				t.Errorf("dead letter of %s: header %s: %v", id, k, err)
			}
		}
	}

	// Committed, and counted as dead letters: by the sink, per stream,
	// and by the observer, which saw no failed write.
	checkAllCommittedOn(t, adm, group, blogTopic, 3)
	checkAllCommittedOn(t, adm, group, notesTopic, 2)
	want := map[string]sink.Stats{
		"posts": {Batches: 1, Inserted: n},
		notes:   {Batches: 1, Inserted: n - int64(len(refused)), DeadLettered: int64(len(refused))},
	}
	if got := s.StreamStats(); !maps.Equal(got, want) {
		t.Errorf("StreamStats() = %+v, want %+v", got, want)
	}
	obs.mu.Lock()
	if !maps.Equal(obs.byStream, want) || obs.failures != 0 || obs.records != 2*n {
		t.Errorf("observer saw %+v of %d records and %d failed writes; want %+v of %d and none failed", obs.byStream, obs.records, obs.failures, want, 2*n)
	}
	obs.mu.Unlock()

	// A sink started again in the group gets only what comes after: a
	// record on every partition of both topics, each after anything not
	// committed there.
	prod := newClient(t, brokers, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var markers []*kgo.Record
	var postMarkers, noteMarkers []string
	for p := range int32(3) {
		m := newPost(t, 100+int(p))
		r := blogRecord(t, m)
		r.Partition = p
		markers, postMarkers = append(markers, r), append(postMarkers, m.ID)
	}
	for p := range int32(2) {
		nt := note{ID: fmt.Sprintf("after-%d", p), Text: "after the restart"}
		r := noteRecord(t, nt)
		r.Partition = p
		markers, noteMarkers = append(markers, r), append(noteMarkers, nt.ID)
	}
	pw2, nw2 := newFakeWriter(), newWriter(noteID)
	cfg.Observer = nil
	cfg.BatchSize, cfg.BatchWait = 100, 20*time.Millisecond
	s2, stop2 := startTwoRoutes(t, brokers, cfg, pw2, nw2)
	produce(t, prod, markers...)
	testkit.Eventually(t, 30*time.Second, "the records after the restart stored", func() bool {
		return pw2.hasAll(postMarkers) && nw2.hasAll(noteMarkers)
	})
	if err := stop2(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := slices.Sorted(maps.Keys(pw2.written())); !slices.Equal(got, slices.Sorted(slices.Values(postMarkers))) {
		t.Errorf("the restarted sink wrote posts %v, want only those produced after the restart %v", got, postMarkers)
	}
	if got := slices.Sorted(maps.Keys(nw2.written())); !slices.Equal(got, noteMarkers) {
		t.Errorf("the restarted sink wrote notes %v, want only those produced after the restart %v", got, noteMarkers)
	}
	if st := s2.Stats(); st.DeadLettered != 0 || st.Inserted != 5 {
		t.Errorf("the restarted sink's Stats() = %+v, want the 5 new records inserted and nothing dead-lettered", st)
	}
	if end := endOffsets(t, adm, notesDLQ); end[0] != int64(len(refused)) {
		t.Errorf("%s end offset %d after the restart, want %d", notesDLQ, end[0], len(refused))
	}
}

// TestRepeatsOfARefusedDocumentGoToDLQ: the records that repeat a refused
// document in its batch (a redelivery, a retried request) go to the DLQ
// with it, and so does one reusing its key with another body, which was
// never written; the other records of the batch are stored.
func TestRepeatsOfARefusedDocumentGoToDLQ(t *testing.T) {
	brokers := newRoutesCluster(t)
	cl := newClient(t, brokers)
	adm := kadm.NewClient(cl)
	const why = "document failed validation"

	bad := note{ID: "k-bad", Text: "refused", FP: "aaaa"}
	variant := note{ID: "k-bad", Text: "another body", FP: "bbbb"}
	good := note{ID: "k-good", Text: "fine", FP: "cccc"}
	recs := []*kgo.Record{
		noteRecord(t, bad), noteRecord(t, good), noteRecord(t, bad),
		noteRecord(t, variant), noteRecord(t, good),
	}
	produce(t, cl, recs...)

	nw := newWriter(noteID)
	nw.setRefused(why, bad.ID)
	cfg := sinkConfig("routes-refused-repeats", len(recs))
	cfg.BatchWait = time.Minute
	s, stop := startRoutes(t, brokers, cfg, notesRoute(nw))
	testkit.Eventually(t, 30*time.Second, "the five records counted", func() bool {
		st := s.Stats()
		return st.Inserted+st.Duplicates+st.DeadLettered == int64(len(recs))
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := s.Stats(); st != (sink.Stats{Batches: 1, Inserted: 1, Duplicates: 1, DeadLettered: 3}) {
		t.Errorf("Stats() = %+v, want 1 inserted, 1 duplicate, 3 dead-lettered in 1 batch", st)
	}
	if got := nw.written(); !maps.Equal(got, map[string]int{good.ID: 1}) {
		t.Errorf("stored %v, want only %s, once", got, good.ID)
	}
	if got := nw.refusals()[bad.ID]; got != 1 {
		t.Errorf("%s refused %d times, want once: written once per batch", bad.ID, got)
	}
	var same, other int
	for _, d := range readAll(t, brokers, adm, notesDLQ, 3) {
		r := header(d, post.DLQHeaderError)
		switch string(d.Value) {
		case string(noteRecord(t, bad).Value):
			same++
			if !strings.Contains(r, why) {
				t.Errorf("a record of the refused note dead-lettered because %q, want the store's reason %q", r, why)
			}
		case string(noteRecord(t, variant).Value):
			other++
			if !strings.Contains(r, "not written") || !strings.Contains(r, why) {
				t.Errorf("the note reusing the refused one's key dead-lettered because %q, want why it was not written and the refusal", r)
			}
		default:
			t.Errorf("dead letter %q, want only the refused note's records", d.Value)
		}
	}
	if same != 2 || other != 1 {
		t.Errorf("dead letters: %d of the refused note, %d of its variant; want 2 and 1", same, other)
	}
	checkAllCommittedOn(t, adm, "routes-refused-repeats", notesTopic, 2)
}
