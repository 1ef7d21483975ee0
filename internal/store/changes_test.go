package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// changesCreated is the createdAt of the documents these tests write.
var changesCreated = time.Date(2025, 5, 6, 7, 8, 9, 321_000_000, time.UTC)

// liveState is a document's state: body under id at version v, with ops.
func liveState(id, body string, v doc.Version, ops ...string) doc.State {
	return doc.State{
		Stored: true,
		Doc: doc.Document{ID: id, Body: []byte(body), CreatedAt: changesCreated,
			Fingerprint: fingerprint(id + body), Version: v},
		Version: v,
		OpIDs:   ops,
	}
}

// tombState is a tombstone's state at version v, deleted at at.
func tombState(v doc.Version, at time.Time, ops ...string) doc.State {
	return doc.State{Stored: true, Deleted: true, Version: v, OpIDs: ops, DeletedAt: at}
}

func ver(p int32, o int64) doc.Version { return doc.Version{Partition: p, Offset: o} }

// assertState compares every field of a state; a live document's
// IngestedAt must be ingestTime.
func assertState(t *testing.T, id string, got, want doc.State) {
	t.Helper()
	if got.Stored != want.Stored || got.Deleted != want.Deleted || got.Version != want.Version ||
		!slices.Equal(got.OpIDs, want.OpIDs) || !got.DeletedAt.Equal(want.DeletedAt) {
		t.Errorf("state of %s = {stored %v deleted %v version %v ops %q deletedAt %v}, want {%v %v %v %q %v}", id,
			got.Stored, got.Deleted, got.Version, got.OpIDs, got.DeletedAt,
			want.Stored, want.Deleted, want.Version, want.OpIDs, want.DeletedAt)
	}
	if want.Stored && !want.Deleted {
		wd := want.Doc
		wd.IngestedAt = ingestTime
		assertSameDoc(t, got.Doc, wd)
		if got.Doc.Version != want.Version {
			t.Errorf("state of %s: Doc.Version %v, want %v", id, got.Doc.Version, want.Version)
		}
	} else if got.Doc.ID != "" || got.Doc.Body != nil {
		t.Errorf("state of %s: a document %s %s, want none", id, got.Doc.ID, got.Doc.Body)
	}
}

// storedKeys are the top-level names of what is stored under id, in order.
func storedKeys(t *testing.T, d *Docs, id string) []string {
	t.Helper()
	raw, err := d.coll.FindOne(testCtx(t), bson.D{{Key: "_id", Value: id}}).Raw()
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	elems, err := raw.Elements()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range elems {
		k := e.Key()
		switch k {
		case "_v", "_vp", "_deleted", "createdAt":
			k += ":" + e.Value().Type.String()
		}
		out = append(out, k)
	}
	return out
}

// TestDocsStates: absent ids are left out; a document written without a
// version reads doc.None; a versioned document and a tombstone read back as
// written, stored in the shapes the store documents.
func TestDocsStates(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	plain := doc.Document{ID: "plain", Body: []byte(`{"a":1}`), CreatedAt: changesCreated, Fingerprint: fingerprint("plain")}
	if _, _, err := d.WriteBatch(ctx, []doc.Document{plain}); err != nil {
		t.Fatal(err)
	}
	deletedAt := time.Date(2025, 7, 1, 2, 3, 4, 5_000_000, time.UTC)
	live := liveState("live", `{"z":"last","a":[1,{"b":null}]}`, ver(3, 1<<40), "op-1", "op-2")
	gone := tombState(ver(1, 7), deletedAt, "op-3")
	stale, err := d.WriteStates(ctx, []doc.StateWrite{
		{ID: "live", New: live},
		{ID: "gone", New: gone},
	})
	if err != nil || len(stale) != 0 {
		t.Fatalf("WriteStates = %q, %v", stale, err)
	}

	got, err := d.States(ctx, []string{"plain", "live", "gone", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Errorf("States gave %d states, want 3 (absent left out): %v", len(got), got)
	}
	if _, ok := got["absent"]; ok {
		t.Error("an absent id has a state")
	}
	wantPlain := doc.State{Stored: true, Doc: plain, Version: doc.None}
	wantPlain.Doc.Version = doc.None
	assertState(t, "plain", got["plain"], wantPlain)
	assertState(t, "live", got["live"], live)
	assertState(t, "gone", got["gone"], gone)

	if keys, want := storedKeys(t, d, "live"), []string{"_id", "z", "a", "createdAt:UTC datetime", "ingestedAt", "_fp", "_v:64-bit integer", "_vp:32-bit integer", "_ops"}; !slices.Equal(keys, want) {
		t.Errorf("a document is stored as %q, want %q", keys, want)
	}
	if keys, want := storedKeys(t, d, "gone"), []string{"_id", "_deleted:UTC datetime", "_v:64-bit integer", "_vp:32-bit integer", "_ops"}; !slices.Equal(keys, want) {
		t.Errorf("a tombstone is stored as %q, want %q", keys, want)
	}
	if got, err := d.States(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("States(nil) = %v, %v; want an empty map", got, err)
	}
}

// TestDocsWriteStates: each write lands only while its Expect is what is
// stored; otherwise its id is stale and what is stored stays.
func TestDocsWriteStates(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", []string{"k"})
	ctx := testCtx(t)
	at := time.Date(2025, 8, 9, 10, 11, 12, 13_000_000, time.UTC)

	// write writes and fails on an error or on any stale id.
	write := func(t *testing.T, ws ...doc.StateWrite) {
		t.Helper()
		if stale, err := d.WriteStates(ctx, ws); err != nil || len(stale) != 0 {
			t.Fatalf("setup WriteStates = %q, %v", stale, err)
		}
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T, id string) // what is stored before
		writes func(id string) []doc.StateWrite
		stale  bool
		want   func(id string) doc.State // stored after
	}{
		{
			name: "insert new",
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")}}
			},
			want: func(id string) doc.State { return liveState(id, `{"k":1}`, ver(0, 1), "o1") },
		},
		{
			name: "replace at the expected version",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1), "o1"), New: liveState(id, `{"k":2,"x":"y"}`, ver(0, 2), "o1", "o2")}}
			},
			want: func(id string) doc.State { return liveState(id, `{"k":2,"x":"y"}`, ver(0, 2), "o1", "o2") },
		},
		{
			name: "stale: the version moved on",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
				write(t, doc.StateWrite{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: liveState(id, `{"k":3}`, ver(0, 3), "o1", "o3")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1), "o1"), New: liveState(id, `{"k":2}`, ver(0, 2), "o1", "o2")}}
			},
			stale: true,
			want:  func(id string) doc.State { return liveState(id, `{"k":3}`, ver(0, 3), "o1", "o3") },
		},
		{
			name: "stale: same offset, another partition",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(1, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: liveState(id, `{"k":2}`, ver(0, 2), "o2")}}
			},
			stale: true,
			want:  func(id string) doc.State { return liveState(id, `{"k":1}`, ver(1, 1), "o1") },
		},
		{
			name: "stale: insert over a stored document",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, New: liveState(id, `{"k":2}`, ver(0, 2), "o2")}}
			},
			stale: true,
			want:  func(id string) doc.State { return liveState(id, `{"k":1}`, ver(0, 1), "o1") },
		},
		{
			name: "stale: a repeated insert",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")}}
			},
			stale: true,
			want:  func(id string) doc.State { return liveState(id, `{"k":1}`, ver(0, 1), "o1") },
		},
		{
			name: "a repeated replace is applied, not stale",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
				write(t, doc.StateWrite{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: liveState(id, `{"k":2}`, ver(0, 2), "o1", "o2")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: liveState(id, `{"k":2}`, ver(0, 2), "o1", "o2")}}
			},
			want: func(id string) doc.State { return liveState(id, `{"k":2}`, ver(0, 2), "o1", "o2") },
		},
		{
			name: "replace a document written without a version",
			setup: func(t *testing.T, id string) {
				if _, err := d.Insert(ctx, doc.Document{ID: id, Body: []byte(`{"k":0}`), CreatedAt: changesCreated}); err != nil {
					t.Fatal(err)
				}
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: doc.State{Stored: true, Version: doc.None}, New: liveState(id, `{"k":5}`, ver(2, 9), "o9")}}
			},
			want: func(id string) doc.State { return liveState(id, `{"k":5}`, ver(2, 9), "o9") },
		},
		{
			name: "stale: no version expected, one stored",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: doc.State{Stored: true, Version: doc.None}, New: liveState(id, `{"k":5}`, ver(0, 9), "o9")}}
			},
			stale: true,
			want:  func(id string) doc.State { return liveState(id, `{"k":1}`, ver(0, 1), "o1") },
		},
		{
			name: "delete",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: tombState(ver(0, 4), at, "o1", "o4")}}
			},
			want: func(id string) doc.State { return tombState(ver(0, 4), at, "o1", "o4") },
		},
		{
			name: "delete without a date is deleted now",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: tombState(ver(0, 4), time.Time{}, "o4")}}
			},
			want: func(id string) doc.State { return tombState(ver(0, 4), ingestTime, "o4") },
		},
		{
			name: "re-create over a tombstone",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), "o1")})
				write(t, doc.StateWrite{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: tombState(ver(0, 4), at, "o1", "o4")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: tombState(ver(0, 4), at, "o1", "o4"), New: liveState(id, `{"k":6}`, ver(0, 6), "o1", "o4", "o6")}}
			},
			want: func(id string) doc.State { return liveState(id, `{"k":6}`, ver(0, 6), "o1", "o4", "o6") },
		},
		{
			name: "stale: delete of a moved document",
			setup: func(t *testing.T, id string) {
				write(t, doc.StateWrite{ID: id, New: liveState(id, `{"k":1}`, ver(0, 2), "o2")})
			},
			writes: func(id string) []doc.StateWrite {
				return []doc.StateWrite{{ID: id, Expect: liveState(id, `{"k":1}`, ver(0, 1)), New: tombState(ver(0, 4), at, "o4")}}
			},
			stale: true,
			want:  func(id string) doc.State { return liveState(id, `{"k":1}`, ver(0, 2), "o2") },
		},
		{
			name: "only the newest op ids are kept",
			writes: func(id string) []doc.StateWrite {
				var ops []string
				for i := range doc.MaxOpIDs + 4 {
					ops = append(ops, fmt.Sprintf("o%02d", i))
				}
				return []doc.StateWrite{{ID: id, New: liveState(id, `{"k":1}`, ver(0, 1), ops...)}}
			},
			want: func(id string) doc.State {
				var ops []string
				for i := 4; i < doc.MaxOpIDs+4; i++ {
					ops = append(ops, fmt.Sprintf("o%02d", i))
				}
				return liveState(id, `{"k":1}`, ver(0, 1), ops...)
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("w%02d", i)
			if tt.setup != nil {
				tt.setup(t, id)
			}
			stale, err := d.WriteStates(ctx, tt.writes(id))
			if err != nil {
				t.Fatalf("WriteStates: %v", err)
			}
			var want []string
			if tt.stale {
				want = []string{id}
			}
			if !slices.Equal(stale, want) {
				t.Errorf("stale = %q, want %q", stale, want)
			}
			states, err := d.States(ctx, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			assertState(t, id, states[id], tt.want(id))
		})
	}
}

// TestDocsWriteStatesMixed: one bulk write of writes that land and writes
// that are stale names exactly the stale ones, in the order given, and
// applies the others.
func TestDocsWriteStatesMixed(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	var setup []doc.StateWrite
	for _, id := range []string{"a", "b", "c", "d"} {
		setup = append(setup, doc.StateWrite{ID: id, New: liveState(id, `{"n":1}`, ver(0, 10))})
	}
	if stale, err := d.WriteStates(ctx, setup); err != nil || len(stale) != 0 {
		t.Fatalf("setup: %q, %v", stale, err)
	}
	writes := []doc.StateWrite{
		{ID: "d", Expect: liveState("d", `{"n":1}`, ver(0, 9)), New: liveState("d", `{"n":2}`, ver(0, 20))},  // stale
		{ID: "a", Expect: liveState("a", `{"n":1}`, ver(0, 10)), New: liveState("a", `{"n":2}`, ver(0, 21))}, // lands
		{ID: "new", New: liveState("new", `{"n":2}`, ver(0, 22))},                                            // lands
		{ID: "b", New: liveState("b", `{"n":2}`, ver(0, 23))},                                                // stale: stored
		{ID: "c", Expect: liveState("c", `{"n":1}`, ver(0, 10)), New: tombState(ver(0, 24), changesCreated)}, // lands
	}
	stale, err := d.WriteStates(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d", "b"}; !slices.Equal(stale, want) {
		t.Errorf("stale = %q, want %q", stale, want)
	}
	states, err := d.States(ctx, []string{"a", "b", "c", "d", "new"})
	if err != nil {
		t.Fatal(err)
	}
	assertState(t, "a", states["a"], liveState("a", `{"n":2}`, ver(0, 21)))
	assertState(t, "b", states["b"], liveState("b", `{"n":1}`, ver(0, 10)))
	assertState(t, "c", states["c"], tombState(ver(0, 24), changesCreated))
	assertState(t, "d", states["d"], liveState("d", `{"n":1}`, ver(0, 10)))
	assertState(t, "new", states["new"], liveState("new", `{"n":2}`, ver(0, 22)))

	// All of it again, as a caller retrying after an error would: the
	// applied replaces and the delete read as applied, the insert as stale.
	stale, err = d.WriteStates(ctx, writes)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d", "new", "b"}; !slices.Equal(stale, want) {
		t.Errorf("stale on a repeat = %q, want %q", stale, want)
	}
	if stale, err := d.WriteStates(ctx, nil); err != nil || stale != nil {
		t.Errorf("WriteStates(nil) = %q, %v", stale, err)
	}
}

// TestDocsWriteStatesRefuses: writes that cannot be meant are errors, and
// a body the store cannot convert wraps post.ErrBadRecord naming its id;
// nothing is written.
func TestDocsWriteStatesRefuses(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	good := doc.StateWrite{ID: "good", New: liveState("good", `{"a":1}`, ver(0, 1))}
	tests := []struct {
		name    string
		w       doc.StateWrite
		bad     bool   // wraps post.ErrBadRecord
		mention string // in the error
	}{
		{"no version", doc.StateWrite{ID: "x", New: liveState("x", `{"a":1}`, doc.None)}, false, "no version"},
		{"not stored", doc.StateWrite{ID: "x", New: doc.State{Version: ver(0, 1)}}, false, "not stored"},
		{"no id", doc.StateWrite{New: liveState("", `{"a":1}`, ver(0, 1))}, false, "no id"},
		{"another id", doc.StateWrite{ID: "x", New: liveState("y", `{"a":1}`, ver(0, 1))}, false, `"y"`},
		{"twice", good, false, "twice"},
		{"not JSON", doc.StateWrite{ID: "x", New: liveState("x", `{"a":`, ver(0, 1))}, true, `"x"`},
		{"a store member", doc.StateWrite{ID: "x", New: liveState("x", `{"_v":1}`, ver(0, 1))}, true, `"/_v"`},
		{"a dollar name", doc.StateWrite{ID: "x", New: liveState("x", `{"$set":1}`, ver(0, 1))}, true, `"x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := good
			if tt.bad {
				// Refused alone: the good write beside it is written.
				ok = doc.StateWrite{ID: "good-" + tt.name, New: liveState("good-"+tt.name, `{"a":1}`, ver(0, 1))}
			}
			stale, err := d.WriteStates(ctx, []doc.StateWrite{ok, tt.w})
			if err == nil || stale != nil {
				t.Fatalf("WriteStates = %q, %v; want an error", stale, err)
			}
			if errors.Is(err, post.ErrBadRecord) != tt.bad {
				t.Errorf("error %v: wraps post.ErrBadRecord %v, want %v", err, !tt.bad, tt.bad)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %v does not mention %s", err, tt.mention)
			}
			var rej *RejectedError
			if tt.bad && (!errors.As(err, &rej) || len(rej.Documents) != 1 || rej.Documents[0].Index != 1 || rej.Documents[0].ID != tt.w.ID) {
				t.Errorf("error %v: want a RejectedError of write 1, %s", err, tt.w.ID)
			}
			states, serr := d.States(ctx, []string{ok.ID, "x"})
			if _, stored := states[ok.ID]; serr != nil || stored != tt.bad || len(states) > 1 {
				t.Errorf("after the refusal: states %v (%v); want %s stored %v and nothing under x", states, serr, ok.ID, tt.bad)
			}
		})
	}
	if n, err := d.coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"good", "x", "y", ""}}}}}); err != nil || n != 0 {
		t.Errorf("%d documents stored (%v) by the refused calls, want none", n, err)
	}

	// A body the server refuses for good (FerretDB 1.x: an array directly
	// in an array), inserted or replacing: a bad record named by its id.
	if stale, err := d.WriteStates(ctx, []doc.StateWrite{good}); err != nil || len(stale) != 0 {
		t.Fatalf("WriteStates = %q, %v", stale, err)
	}
	for _, w := range []doc.StateWrite{
		{ID: "nested", New: liveState("nested", `{"a":[[1]]}`, ver(0, 2))},
		{ID: "good", Expect: good.New, New: liveState("good", `{"a":[[1]]}`, ver(0, 2))},
	} {
		_, err := d.WriteStates(ctx, []doc.StateWrite{w})
		if !errors.Is(err, post.ErrBadRecord) || !strings.Contains(err.Error(), strconv.Quote(w.ID)) {
			t.Errorf("WriteStates of %s refused by the server: %v, want post.ErrBadRecord naming it", w.ID, err)
		}
	}
	states, err := d.States(ctx, []string{"good", "nested"})
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 {
		t.Errorf("states %v, want good's alone", states)
	}
	assertState(t, "good", states["good"], good.New)
}

// TestDocsTombstonesAreHidden: a deleted document is not found by Get,
// Fingerprints nor List, overall, by a list field, or after a cursor.
func TestDocsTombstonesAreHidden(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "events", []string{"kind"})
	ctx := testCtx(t)
	var ws []doc.StateWrite
	for i := range 6 {
		id := fmt.Sprintf("e%d", i)
		st := liveState(id, `{"kind":"click"}`, ver(0, int64(i)))
		st.Doc.CreatedAt = changesCreated.Add(time.Duration(i) * time.Second)
		ws = append(ws, doc.StateWrite{ID: id, New: st})
	}
	if stale, err := d.WriteStates(ctx, ws); err != nil || len(stale) != 0 {
		t.Fatalf("WriteStates = %q, %v", stale, err)
	}
	var dels []doc.StateWrite
	for _, i := range []int{1, 4, 5} { // the newest among them
		dels = append(dels, doc.StateWrite{ID: ws[i].ID, Expect: ws[i].New, New: tombState(ver(0, int64(10+i)), time.Time{})})
	}
	if stale, err := d.WriteStates(ctx, dels); err != nil || len(stale) != 0 {
		t.Fatalf("WriteStates of deletes = %q, %v", stale, err)
	}

	if _, err := d.Get(ctx, "e4"); !errors.Is(err, post.ErrNotFound) {
		t.Errorf("Get of a tombstone: %v, want post.ErrNotFound", err)
	}
	if got, err := d.Get(ctx, "e3"); err != nil || got.ID != "e3" {
		t.Errorf("Get of a document: %v, %v", got.ID, err)
	}
	fps, err := d.Fingerprints(ctx, []string{"e0", "e1", "e4"})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"e0": ws[0].New.Doc.Fingerprint}; !mapsEqual(fps, want) {
		t.Errorf("Fingerprints = %v, want %v", fps, want)
	}
	after := &doc.Position{CreatedAt: ws[3].New.Doc.CreatedAt, ID: "e3"}
	for _, tt := range []struct {
		name string
		q    doc.Query
		want []string
	}{
		{"newest", doc.Query{Limit: 10}, []string{"e3", "e2", "e0"}},
		{"newest, one page", doc.Query{Limit: 2}, []string{"e3", "e2"}},
		{"by kind", doc.Query{Field: "kind", Value: "click", Limit: 10}, []string{"e3", "e2", "e0"}},
		{"after a cursor", doc.Query{Limit: 10, After: after}, []string{"e2", "e0"}},
		{"by kind after a cursor", doc.Query{Field: "kind", Value: "click", Limit: 10, After: after}, []string{"e2", "e0"}},
	} {
		got, err := collectDocs(ctx, d, tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if ids := docIDs(got); !slices.Equal(ids, tt.want) {
			t.Errorf("List %s = %q, want %q", tt.name, ids, tt.want)
		}
	}
}

// TestDocsVersionRoundTrip: Get and List read a document's version (and
// body, times, fingerprint) as WriteStates wrote it, and doc.None for one
// written by WriteBatch.
func TestDocsVersionRoundTrip(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "things", nil)
	ctx := testCtx(t)
	body := `{"title":"Zoë","n":9007199254740993,"f":1.5,"nested":{"a":[true,null,"x"]},"empty":{}}`
	st := liveState("v", body, ver(math.MaxInt32, math.MaxInt64), "op")
	if stale, err := d.WriteStates(ctx, []doc.StateWrite{{ID: "v", New: st}}); err != nil || len(stale) != 0 {
		t.Fatalf("WriteStates = %q, %v", stale, err)
	}
	plain := doc.Document{ID: "p", Body: []byte(`{"a":1}`), CreatedAt: changesCreated.Add(-time.Second)}
	if _, _, err := d.WriteBatch(ctx, []doc.Document{plain}); err != nil {
		t.Fatal(err)
	}
	want := st.Doc
	want.IngestedAt = ingestTime
	got, err := d.Get(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	assertSameDoc(t, got, want)
	if got.Version != st.Version {
		t.Errorf("Get: Version %v, want %v", got.Version, st.Version)
	}
	if got, err := d.Get(ctx, "p"); err != nil || got.Version != doc.None {
		t.Errorf("Get of a document without a version: Version %v (%v), want %v", got.Version, err, doc.None)
	}
	list, err := collectDocs(ctx, d, doc.Query{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List gave %q, want v, p", docIDs(list))
	}
	assertSameDoc(t, list[0], want)
	if list[0].Version != st.Version || list[1].Version != doc.None {
		t.Errorf("List: versions %v, %v; want %v, %v", list[0].Version, list[1].Version, st.Version, doc.None)
	}
}

// TestDocsTombstoneTTL: with WithTombstoneTTL, EnsureIndexes adds a TTL
// index on _deleted of the TTL in seconds, or (a server without TTL
// indexes, such as FerretDB 1.x) says so with ErrTTLUnsupported once every
// other index is in place.
func TestDocsTombstoneTTL(t *testing.T) {
	m := testkit.Store(t)
	d := openDocs(t, m.URI(), "events", []string{"kind"})
	ctx := testCtx(t)
	if d.WithTombstoneTTL(90*time.Minute) != d {
		t.Fatal("WithTombstoneTTL does not return its Docs")
	}
	err := d.EnsureIndexes(ctx)
	specs, lerr := d.coll.Indexes().ListSpecifications(ctx)
	if lerr != nil {
		t.Fatal(lerr)
	}
	have := map[string]*int32{}
	for _, sp := range specs {
		have[sp.Name] = sp.ExpireAfterSeconds
	}
	for _, name := range []string{"_id_", "createdAt_id", "kind_createdAt_id"} {
		if _, ok := have[name]; !ok {
			t.Errorf("index %s missing: %v", name, have)
		}
	}
	switch {
	case errors.Is(err, ErrTTLUnsupported):
		t.Logf("the server refuses TTL indexes: %v", err)
		if _, ok := have[tombstoneIndex]; ok {
			t.Errorf("index %s made though refused", tombstoneIndex)
		}
	case err != nil:
		t.Fatalf("EnsureIndexes: %v", err)
	default:
		if s, ok := have[tombstoneIndex]; !ok || s == nil || *s != 5400 {
			t.Errorf("index %s: expireAfterSeconds %v (present %v), want 5400", tombstoneIndex, s, ok)
		}
		// Another TTL later: the index's is changed.
		if err := d.WithTombstoneTTL(time.Hour).EnsureIndexes(ctx); err != nil {
			t.Fatal(err)
		}
		specs, _ := d.coll.Indexes().ListSpecifications(ctx)
		for _, sp := range specs {
			if sp.Name == tombstoneIndex && (sp.ExpireAfterSeconds == nil || *sp.ExpireAfterSeconds != 3600) {
				t.Errorf("index %s after a new TTL: expireAfterSeconds %v, want 3600", tombstoneIndex, sp.ExpireAfterSeconds)
			}
		}
	}
}

func TestTTLSeconds(t *testing.T) {
	for _, tt := range []struct {
		ttl  time.Duration
		want int32
	}{
		{time.Millisecond, 1},
		{1500 * time.Millisecond, 1},
		{90 * time.Minute, 5400},
		{7 * 24 * time.Hour, 604800},
		{math.MaxInt64, math.MaxInt32},
	} {
		if got := ttlSeconds(tt.ttl); got != tt.want {
			t.Errorf("ttlSeconds(%v) = %d, want %d", tt.ttl, got, tt.want)
		}
	}
}

// TestPostsDocsSharesTheTypedLayout: a post written by the typed path reads
// through PostsDocs with its fingerprint (fp, not _fp) and no stray member;
// a put and a tombstone written through PostsDocs read back through the
// typed Get and List (the tombstone as not found, and not listed).
func TestPostsDocsSharesTheTypedLayout(t *testing.T) {
	ctx := testCtx(t)
	s, err := Open(ctx, testkit.Store(t).URI(), "postpipe_test", "posts_layout")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	p := post.New("p1", post.Input{Author: "ann", Title: "t", Content: "c", Tags: []string{"x"}}, at)
	p.Fingerprint = fingerprint("p1")
	if _, _, err := s.WriteBatch(ctx, []post.Post{p}); err != nil {
		t.Fatal(err)
	}
	d := s.PostsDocs()
	states, err := d.States(ctx, []string{"p1"})
	if err != nil {
		t.Fatal(err)
	}
	got := states["p1"]
	if want := `{"author":"ann","title":"t","content":"c","tags":["x"]}`; string(got.Doc.Body) != want || got.Doc.Fingerprint != p.Fingerprint || got.Version != doc.None {
		t.Fatalf("through PostsDocs: body %s fp %q version %v, want %s, %q, none", got.Doc.Body, got.Doc.Fingerprint, got.Version, want, p.Fingerprint)
	}

	put := got
	put.Doc.Body = []byte(`{"author":"bob","title":"t2","content":"c2"}`)
	put.Version, put.Doc.Version = ver(0, 7), ver(0, 7)
	if stale, err := d.WriteStates(ctx, []doc.StateWrite{{ID: "p1", Expect: got, New: put}}); err != nil || len(stale) > 0 {
		t.Fatalf("WriteStates: stale %v, %v", stale, err)
	}
	back, err := s.Get(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if back.Author != "bob" || back.Title != "t2" || len(back.Tags) != 0 || back.Fingerprint != p.Fingerprint || !back.CreatedAt.Equal(at) {
		t.Errorf("typed Get after a put: %+v", back)
	}
	if keys := storedKeys(t, d, "p1"); slices.Contains(keys, "_fp") {
		t.Errorf("stored keys %v: the posts' fingerprint is fp", keys)
	}

	tomb := tombState(ver(0, 9), at)
	if stale, err := d.WriteStates(ctx, []doc.StateWrite{{ID: "p1", Expect: put, New: tomb}}); err != nil || len(stale) > 0 {
		t.Fatalf("WriteStates: stale %v, %v", stale, err)
	}
	if _, err := s.Get(ctx, "p1"); !errors.Is(err, post.ErrNotFound) {
		t.Errorf("typed Get of a deleted post: %v, want not found", err)
	}
	var listed []string
	if err := s.List(ctx, post.Query{Limit: 10}, func(p post.Post) bool { listed = append(listed, p.ID); return true }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 0 {
		t.Errorf("typed List after the delete: %v", listed)
	}
}

// TestDocsWriteStatesManyReplaces: a batch of conditional replaces larger
// than a bulk write's share (maxReplacesPerBulk) is written whole. One bulk
// write of 100 such replaces hangs FerretDB 1.x (its connection pool
// exhausted) until the context ends.
func TestDocsWriteStatesManyReplaces(t *testing.T) {
	d := openDocs(t, testkit.Store(t).URI(), "many", nil)
	ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Second)
	defer cancel()
	const n = 100
	inserts := make([]doc.StateWrite, n)
	for i := range inserts {
		id := "m" + strconv.Itoa(i)
		inserts[i] = doc.StateWrite{ID: id, New: liveState(id, `{"a":1}`, ver(0, 1))}
	}
	if stale, err := d.WriteStates(ctx, inserts); err != nil || len(stale) > 0 {
		t.Fatalf("insert %d: stale %v, %v", n, stale, err)
	}
	replaces := make([]doc.StateWrite, n)
	for i, w := range inserts {
		replaces[i] = doc.StateWrite{ID: w.ID, Expect: w.New, New: liveState(w.ID, `{"a":2}`, ver(0, 2))}
	}
	// One of them moved meanwhile: it alone is stale.
	moved := doc.StateWrite{ID: "m7", Expect: inserts[7].New, New: liveState("m7", `{"a":9}`, ver(0, 3))}
	if stale, err := d.WriteStates(ctx, []doc.StateWrite{moved}); err != nil || len(stale) > 0 {
		t.Fatalf("move m7: stale %v, %v", stale, err)
	}
	stale, err := d.WriteStates(ctx, replaces)
	if err != nil || len(stale) != 1 || stale[0] != "m7" {
		t.Fatalf("replace %d: stale %v, %v; want only m7 stale", n, stale, err)
	}
	states, err := d.States(ctx, []string{"m0", "m99", "m7"})
	if err != nil || states["m0"].Version != ver(0, 2) || states["m99"].Version != ver(0, 2) || states["m7"].Version != ver(0, 3) {
		t.Errorf("versions after: %v %v %v (%v)", states["m0"].Version, states["m99"].Version, states["m7"].Version, err)
	}
}
