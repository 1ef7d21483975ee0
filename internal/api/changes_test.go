package api_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// changesStreams: notes (changes, id from /noteId), memos (changes, ids
// from the path) and logs (no changes).
const changesStreams = `streams:
  - name: notes
    id: /noteId
    changes: true
    list: [status]
    schema:
      type: object
      required: [noteId, title, status]
      additionalProperties: false
      properties:
        noteId: {type: string}
        title: {type: string, maxLength: 100}
        status: {type: string, enum: [draft, done]}
        pages: {type: integer}
  - name: memos
    changes: true
    schema: {type: object, required: [text], additionalProperties: false, properties: {text: {type: string}}}
  - name: logs
    schema: {type: object, required: [line], additionalProperties: false, properties: {line: {type: string}}}
`

func changesSet(t *testing.T, file string) *stream.Set {
	t.Helper()
	set, err := stream.Parse(filepath.Join(t.TempDir(), "streams.yaml"), []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// fakeChanges is a ChangePublisher: it numbers the ops it is given
// (partition 0, offsets from 1) and, with sink, applies each to docs at
// once as the sink would (a patch that fails, or of a document not stored,
// is dropped, as the sink dead-letters it).
type fakeChanges struct {
	docs    *fakeDocs
	sink    bool
	mu      sync.Mutex
	changes []doc.Change
	topics  []string
	offset  int64
	fail    error
}

func (f *fakeChanges) PublishChange(_ context.Context, st *stream.Stream, c doc.Change) (doc.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return doc.Version{}, f.fail
	}
	f.offset++
	v := doc.Version{Partition: 0, Offset: f.offset}
	f.changes = append(f.changes, c)
	f.topics = append(f.topics, st.Topic)
	if !f.sink {
		return v, nil
	}
	f.docs.mu.Lock()
	defer f.docs.mu.Unlock()
	cur, stored := f.docs.docs[c.ID]
	switch c.Op {
	case doc.OpCreate:
		if stored {
			return v, nil
		}
		fallthrough
	case doc.OpPut:
		d := c.Document()
		d.Version, d.IngestedAt = v, c.At
		f.docs.docs[c.ID] = d
	case doc.OpPatch:
		if !stored {
			return v, nil
		}
		d, err := doc.Apply(st, cur, c)
		if err != nil {
			return v, nil
		}
		d.Version, d.IngestedAt = v, c.At
		f.docs.docs[c.ID] = d
	case doc.OpDelete:
		delete(f.docs.docs, c.ID)
	}
	return v, nil
}

func (f *fakeChanges) got() []doc.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.changes)
}

// fakeApplied says every op is applied, or with block waits for the
// context's end; it counts the calls.
type fakeApplied struct {
	block bool
	mu    sync.Mutex
	calls int
	last  doc.Version
	topic string
}

func (f *fakeApplied) WaitApplied(ctx context.Context, topic string, v doc.Version) error {
	f.mu.Lock()
	f.calls++
	f.last, f.topic = v, topic
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (f *fakeApplied) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type changesAPI struct {
	h                   http.Handler
	a                   *api.API
	notes, memos, logs  *fakeDocs
	notesC, memosC, lgC *fakeChanges
	applied             *fakeApplied
}

// newChangesAPI serves posts, notes, memos and logs with fakes; applied,
// when not nil, is every stream's Applied; sink makes the publishers
// apply ops at once.
func newChangesAPI(t *testing.T, applied *fakeApplied, sink bool) *changesAPI {
	t.Helper()
	set := changesSet(t, changesStreams)
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	s := &changesAPI{a: a, h: a, notes: newFakeDocs(), memos: newFakeDocs(), logs: newFakeDocs(), applied: applied}
	s.notesC = &fakeChanges{docs: s.notes, sink: sink}
	s.memosC = &fakeChanges{docs: s.memos, sink: sink}
	s.lgC = &fakeChanges{docs: s.logs, sink: sink}
	var ap api.Applied
	if applied != nil {
		ap = applied
	}
	a.AddStream(api.Stream{Stream: set.Lookup("notes"), Store: s.notes, Publisher: s.notes, Changes: s.notesC, Applied: ap})
	a.AddStream(api.Stream{Stream: set.Lookup("memos"), Store: s.memos, Publisher: s.memos, Changes: s.memosC, Applied: ap})
	a.AddStream(api.Stream{Stream: set.Lookup("logs"), Store: s.logs, Publisher: s.logs, Changes: s.lgC, Applied: ap})
	return s
}

const (
	testNote   = `{"noteId":"n-1","title":"Hello","status":"draft","pages":3}`
	mergePatch = "application/merge-patch+json"
)

func TestChangeRoutesPublish(t *testing.T) {
	for _, tt := range []struct {
		name, method, target, body string
		header                     []string
		op                         doc.Op
		id, wantBody               string
		pub                        func(*changesAPI) *fakeChanges
	}{
		{"put", http.MethodPut, "/v1/notes/n-1", ` {"noteId": "n-1", "title":"Hello","status":"draft"} `, nil,
			doc.OpPut, "n-1", `{"noteId":"n-1","title":"Hello","status":"draft"}`, func(s *changesAPI) *fakeChanges { return s.notesC }},
		{"put without an id field", http.MethodPut, "/v1/memos/m-7", `{"text":"hi"}`, nil,
			doc.OpPut, "m-7", `{"text":"hi"}`, func(s *changesAPI) *fakeChanges { return s.memosC }},
		{"patch", http.MethodPatch, "/v1/notes/n-1", `{"status":"done","pages":null}`, []string{"Content-Type", mergePatch},
			doc.OpPatch, "n-1", `{"status":"done","pages":null}`, func(s *changesAPI) *fakeChanges { return s.notesC }},
		{"patch, media type with a parameter", http.MethodPatch, "/v1/notes/n-1", `{"title":"T"}`, []string{"Content-Type", mergePatch + "; charset=utf-8"},
			doc.OpPatch, "n-1", `{"title":"T"}`, func(s *changesAPI) *fakeChanges { return s.notesC }},
		{"delete", http.MethodDelete, "/v1/notes/n-1", "", nil,
			doc.OpDelete, "n-1", "", func(s *changesAPI) *fakeChanges { return s.notesC }},
		{"delete without an id field", http.MethodDelete, "/v1/memos/m-7", "", nil,
			doc.OpDelete, "m-7", "", func(s *changesAPI) *fakeChanges { return s.memosC }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newChangesAPI(t, nil, false)
			rec := do(t, s.h, tt.method, tt.target, tt.body, tt.header...)
			got := decodeJSON[acceptedBody](t, rec, http.StatusAccepted)
			if got.ID != tt.id || got.Status != "accepted" || rec.Header().Get("Location") != tt.target {
				t.Errorf("202 = %+v, Location %q; want id %s and Location %s", got, rec.Header().Get("Location"), tt.id, tt.target)
			}
			pub := tt.pub(s)
			cs := pub.got()
			if len(cs) != 1 {
				t.Fatalf("published %d ops, want 1", len(cs))
			}
			c := cs[0]
			if c.Op != tt.op || c.ID != tt.id || string(c.Body) != tt.wantBody || c.OpID == "" || c.At.IsZero() {
				t.Errorf("published %+v (body %s); want op %v, id %s, body %s, an op id and a time", c, c.Body, tt.op, tt.id, tt.wantBody)
			}
			if (c.Fingerprint == "") != (tt.op == doc.OpDelete) {
				t.Errorf("fingerprint %q for a %v", c.Fingerprint, tt.op)
			}
			if pub.topics[0] != strings.Split(tt.target, "/")[2] {
				t.Errorf("published on topic %q", pub.topics[0])
			}
			if n := len(s.notes.published) + len(s.memos.published); n != 0 {
				t.Errorf("%d documents went through PublishDoc", n)
			}
		})
	}
}

func TestChangeOpIDs(t *testing.T) {
	s := newChangesAPI(t, nil, false)
	patch := []string{"Content-Type", mergePatch}
	send := func(method, body string, header ...string) {
		t.Helper()
		if rec := do(t, s.h, method, "/v1/notes/n-1", body, header...); rec.Code != http.StatusAccepted {
			t.Fatalf("%s: %d %s", method, rec.Code, rec.Body)
		}
	}
	send(http.MethodPatch, `{"title":"A"}`, append(patch, "Idempotency-Key", "k1")...)
	send(http.MethodPatch, `{ "title" : "A" }`, append(patch, "Idempotency-Key", "k1")...) // a retry
	send(http.MethodPatch, `{"title":"A"}`, patch...)
	send(http.MethodPatch, `{"title":"A"}`, patch...)
	send(http.MethodDelete, "", "Idempotency-Key", "k1") // the same key on another op
	send(http.MethodDelete, "", "Idempotency-Key", "k1")
	send(http.MethodPut, testNote, "Idempotency-Key", "k1")
	send(http.MethodPut, testNote, "Idempotency-Key", "k1")
	cs := s.notesC.got()
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.OpID
	}
	if ids[0] != ids[1] || ids[4] != ids[5] || ids[6] != ids[7] {
		t.Errorf("a keyed retry got another op id: %q", ids)
	}
	if ids[2] == ids[3] || ids[2] == ids[0] || ids[0] == ids[4] || ids[4] == ids[6] || ids[0] == ids[6] {
		t.Errorf("distinct ops share an op id: %q", ids)
	}
	for _, id := range ids {
		if len(id) > doc.MaxOpIDBytes {
			t.Errorf("op id %q is longer than a record takes", id)
		}
	}
	// Another patch under a used key: 409 with the id, nothing published.
	p := decodeLoose[problemBody](t, do(t, s.h, http.MethodPatch, "/v1/notes/n-1", `{"title":"B"}`, append(patch, "Idempotency-Key", "k1")...), http.StatusConflict)
	if p.ID != "n-1" || !strings.Contains(p.Detail, "patch") {
		t.Errorf("409 = %+v", p)
	}
	decodeLoose[problemBody](t, do(t, s.h, http.MethodPut, "/v1/notes/n-1", strings.Replace(testNote, "Hello", "Bye", 1), "Idempotency-Key", "k1"), http.StatusConflict)
	if n := len(s.notesC.got()); n != len(ids) {
		t.Errorf("conflicting ops were published: %d, want %d", n, len(ids))
	}
	// Another client's same key is its own op.
	keyed := func(name string) string {
		return post.ScopedKeyedID(name, "op\x00PATCH\x00n-1\x00k1")
	}
	if ids[0] != keyed("") {
		t.Errorf("op id %q, want the scoped keyed id of the op %q", ids[0], keyed(""))
	}
}

func TestChangeRefusals(t *testing.T) {
	tooLong := `{"text":"` + strings.Repeat("x", int(testLimits.MaxBodyBytes)) + `"}`
	for _, tt := range []struct {
		name, method, target, body string
		header                     []string
		status                     int
		field, detail              string
	}{
		{"put: id differs from the path", http.MethodPut, "/v1/notes/n-2", testNote, nil, 422, "/noteId", ""},
		{"put: required member missing", http.MethodPut, "/v1/notes/n-1", `{"noteId":"n-1","status":"draft"}`, nil, 422, "", "title"},
		{"put: a merge patch", http.MethodPut, "/v1/notes/n-1", testNote, []string{"Content-Type", mergePatch}, 415, "", "PATCH"},
		{"put: not an object", http.MethodPut, "/v1/notes/n-1", `[1]`, nil, 400, "", ""},
		{"put: empty", http.MethodPut, "/v1/notes/n-1", ``, nil, 400, "", ""},
		{"put: too large", http.MethodPut, "/v1/memos/m-1", tooLong, nil, 413, "", ""},
		{"put: an id no document can have", http.MethodPut, "/v1/notes/" + strings.Repeat("a", 129), testNote, nil, 404, "", ""},
		{"patch: application/json", http.MethodPatch, "/v1/notes/n-1", `{"title":"A"}`, []string{"Content-Type", "application/json"}, 415, "", mergePatch},
		{"patch: no content type", http.MethodPatch, "/v1/notes/n-1", `{"title":"A"}`, []string{"Content-Type", ""}, 415, "", mergePatch},
		{"patch: removes a required member", http.MethodPatch, "/v1/notes/n-1", `{"title":null}`, []string{"Content-Type", mergePatch}, 422, "/title", ""},
		{"patch: removes the id", http.MethodPatch, "/v1/notes/n-1", `{"noteId":null}`, []string{"Content-Type", mergePatch}, 422, "/noteId", ""},
		{"patch: a wrong type", http.MethodPatch, "/v1/notes/n-1", `{"pages":"many"}`, []string{"Content-Type", mergePatch}, 422, "/pages", ""},
		{"patch: an unknown member", http.MethodPatch, "/v1/notes/n-1", `{"colour":"red"}`, []string{"Content-Type", mergePatch}, 422, "/colour", ""},
		{"patch: a reserved member", http.MethodPatch, "/v1/notes/n-1", `{"createdAt":"x"}`, []string{"Content-Type", mergePatch}, 422, "/createdAt", ""},
		{"patch: not an object", http.MethodPatch, "/v1/notes/n-1", `"done"`, []string{"Content-Type", mergePatch}, 400, "", "object"},
		{"patch: malformed", http.MethodPatch, "/v1/notes/n-1", `{"title":`, []string{"Content-Type", mergePatch}, 400, "", ""},
		{"delete: a blank key", http.MethodDelete, "/v1/notes/n-1", "", []string{"Idempotency-Key", " "}, 400, "", "blank"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newChangesAPI(t, nil, false)
			rec := do(t, s.h, tt.method, tt.target, tt.body, tt.header...)
			p := problemOf(t, rec, tt.status)
			if tt.field != "" && !slices.Contains(fieldNames(p.Errors), tt.field) {
				t.Errorf("errors %+v do not name %s", p.Errors, tt.field)
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", p.Detail, tt.detail)
			}
			if tt.status == 415 && tt.method == http.MethodPatch && rec.Header().Get("Accept-Patch") != mergePatch {
				t.Errorf("415 to a PATCH without Accept-Patch: %q", rec.Header().Get("Accept-Patch"))
			}
			if n := len(s.notesC.got()) + len(s.memosC.got()); n != 0 {
				t.Errorf("%d refused ops were published", n)
			}
		})
	}
}

func TestChangeRoutesOnlyWithChanges(t *testing.T) {
	s := newChangesAPI(t, nil, false)
	for _, method := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		for _, target := range []string{"/v1/logs/l-1", "/v1/posts/0190a1b2-0000-7000-8000-000000000000"} {
			rec := do(t, s.h, method, target, `{"line":"x"}`, "Content-Type", mergePatch)
			problemOf(t, rec, http.StatusMethodNotAllowed)
			if allow := rec.Header().Get("Allow"); strings.Contains(allow, method) || !strings.Contains(allow, "GET") {
				t.Errorf("%s %s: Allow %q", method, target, allow)
			}
		}
	}
	if n := len(s.lgC.got()); n != 0 {
		t.Errorf("published %d ops to logs", n)
	}
	// A stream with changes but no way to publish them cannot be served.
	set := changesSet(t, changesStreams)
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	func() {
		defer func() {
			if recover() == nil {
				t.Error("AddStream of a stream with changes without a ChangePublisher did not panic")
			}
		}()
		docs := newFakeDocs()
		// The interface alone: fakeDocs' own PublishChange hidden.
		a.AddStream(api.Stream{Stream: set.Lookup("notes"), Store: docs, Publisher: struct{ api.DocPublisher }{docs}})
	}()
}

func TestChangePublishFailure(t *testing.T) {
	s := newChangesAPI(t, &fakeApplied{}, false)
	s.notesC.fail = errors.New("no ack")
	for _, tt := range []struct {
		method, body string
		header       []string
	}{
		{http.MethodPut, testNote, nil},
		{http.MethodPatch, `{"title":"A"}`, []string{"Content-Type", mergePatch}},
		{http.MethodDelete, "", nil},
	} {
		rec := do(t, s.h, tt.method, "/v1/notes/n-1", tt.body, append(tt.header, "Prefer", "wait=5")...)
		p := problemOf(t, rec, http.StatusServiceUnavailable)
		assertRetryAfter(t, rec)
		if p.ID != "n-1" || !strings.Contains(p.Detail, "Idempotency-Key") {
			t.Errorf("%s: 503 = %+v, want the id and the advice", tt.method, p)
		}
	}
	// A create of a stream with changes goes through the same publisher.
	p := problemOf(t, do(t, s.h, http.MethodPost, "/v1/notes", testNote), http.StatusServiceUnavailable)
	if p.ID != "n-1" {
		t.Errorf("create: 503 = %+v", p)
	}
	if s.applied.count() != 0 {
		t.Errorf("waited %d times for ops never published", s.applied.count())
	}
}

func TestCreatesOfStreamsWithChanges(t *testing.T) {
	s := newChangesAPI(t, nil, false)
	if rec := do(t, s.h, http.MethodPost, "/v1/notes", testNote); rec.Code != http.StatusAccepted || rec.Header().Get("Location") != "/v1/notes/n-1" {
		t.Fatalf("create: %d %s, Location %q", rec.Code, rec.Body, rec.Header().Get("Location"))
	}
	cs := s.notesC.got()
	if len(cs) != 1 || cs[0].Op != doc.OpCreate || cs[0].ID != "n-1" || string(cs[0].Body) != testNote || cs[0].Fingerprint == "" || cs[0].At.IsZero() {
		t.Fatalf("create published %+v", cs)
	}
	if len(s.notes.published) != 0 {
		t.Errorf("the create also went through PublishDoc")
	}
	memo := decodeJSON[acceptedBody](t, do(t, s.h, http.MethodPost, "/v1/memos", `{"text":"a"}`), http.StatusAccepted)
	if cs := s.memosC.got(); len(cs) != 1 || cs[0].ID != memo.ID || !post.ValidID(memo.ID) {
		t.Errorf("memo create: %+v, answered %+v", cs, memo)
	}
	// A batch keeps PublishDocs; a stream without changes PublishDoc.
	items := decodeLoose[[]struct{ Status int }](t, do(t, s.h, http.MethodPost, "/v1/notes:batch", `[`+testNote+`]`), http.StatusMultiStatus)
	if len(items) != 1 || items[0].Status != 202 || len(s.notes.published) != 1 {
		t.Errorf("batch: %+v, PublishDocs got %d", items, len(s.notes.published))
	}
	if rec := do(t, s.h, http.MethodPost, "/v1/logs", `{"line":"x"}`); rec.Code != http.StatusAccepted {
		t.Fatalf("logs: %d %s", rec.Code, rec.Body)
	}
	if len(s.logs.published) != 1 || len(s.lgC.got()) != 0 {
		t.Errorf("a create of a stream without changes: PublishDoc %d, PublishChange %d; want 1, 0", len(s.logs.published), len(s.lgC.got()))
	}
}

func TestPreferWaitHonoured(t *testing.T) {
	for _, tt := range []struct {
		name, method, target, body string
		header                     []string
		status                     int
		want                       []string // in the body
		version                    int64    // ETag "v0.<version>"
	}{
		{"create", http.MethodPost, "/v1/notes", testNote, nil, 201, []string{`"id":"n-1"`, `"title":"Hello"`, `"ingestedAt"`}, 1},
		{"put", http.MethodPut, "/v1/notes/n-1", strings.Replace(testNote, "Hello", "Bye", 1), nil, 200, []string{`"title":"Bye"`}, 2},
		{"patch", http.MethodPatch, "/v1/notes/n-1", `{"status":"done","pages":null}`, []string{"Content-Type", mergePatch}, 200,
			[]string{`"status":"done"`, `"title":"Hello"`}, 2},
		{"delete", http.MethodDelete, "/v1/notes/n-1", "", nil, 204, nil, 0},
		{"create without changes", http.MethodPost, "/v1/logs", `{"line":"x"}`, nil, 201, []string{`"line":"x"`}, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			applied := &fakeApplied{}
			s := newChangesAPI(t, applied, true)
			if tt.method != http.MethodPost {
				if rec := do(t, s.h, http.MethodPost, "/v1/notes", testNote); rec.Code != http.StatusAccepted {
					t.Fatalf("create first: %d %s", rec.Code, rec.Body)
				}
			}
			rec := do(t, s.h, tt.method, tt.target, tt.body, append(tt.header, "Prefer", "respond-async, Wait=5")...)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("Preference-Applied"); got != "wait" {
				t.Errorf("Preference-Applied = %q, want wait", got)
			}
			if applied.count() != 1 {
				t.Errorf("WaitApplied called %d times, want 1", applied.count())
			}
			body := rec.Body.String()
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body %s lacks %s", body, w)
				}
			}
			switch {
			case tt.status == 204:
				if body != "" {
					t.Errorf("204 with a body %q", body)
				}
			case tt.version > 0:
				if etag := rec.Header().Get("ETag"); etag != (doc.Version{Offset: tt.version}).ETag() {
					t.Errorf("ETag %q, want the op's version %d", etag, tt.version)
				}
				if applied.last != (doc.Version{Offset: tt.version}) || applied.topic != "notes" {
					t.Errorf("waited for %v on %q", applied.last, applied.topic)
				}
			default:
				if etag := rec.Header().Get("ETag"); !strings.HasPrefix(etag, `"f`) {
					t.Errorf("ETag %q, want the fingerprint's", etag)
				}
			}
			if tt.status == 201 && rec.Header().Get("Location") == "" {
				t.Error("201 without Location")
			}
		})
	}
}

func TestPreferWaitNotHonoured(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		applied := &fakeApplied{block: true}
		s := newChangesAPI(t, applied, false)
		start := time.Now()
		rec := do(t, s.h, http.MethodPut, "/v1/notes/n-1", testNote, "Prefer", "wait=1")
		took := time.Since(start)
		decodeJSON[acceptedBody](t, rec, http.StatusAccepted)
		if rec.Header().Get("Preference-Applied") != "" || applied.count() != 1 {
			t.Errorf("Preference-Applied %q after %d waits", rec.Header().Get("Preference-Applied"), applied.count())
		}
		if took < time.Second || took > 10*time.Second {
			t.Errorf("answered after %v, want about the 1 s asked for", took)
		}
	})
	for _, prefer := range [][]string{
		{"wait=abc"}, {"wait=31"}, {"wait"}, {"wait=-1"}, {"wait=1.5"}, {"wait=+1"}, {"wait=99999999999999999999"},
		{"return=minimal"}, {"wait=31, wait=5"}, {"waiting=5"}, {"wait=\"31\""},
	} {
		t.Run(strings.Join(prefer, "|"), func(t *testing.T) {
			applied := &fakeApplied{block: true}
			s := newChangesAPI(t, applied, true)
			req := httptest.NewRequest(http.MethodPut, "/v1/notes/n-1", strings.NewReader(testNote))
			for _, v := range prefer {
				req.Header.Add("Prefer", v)
			}
			start := time.Now()
			rec := serve(s.h, req)
			decodeJSON[acceptedBody](t, rec, http.StatusAccepted)
			if applied.count() != 0 || rec.Header().Get("Preference-Applied") != "" || time.Since(start) > 500*time.Millisecond {
				t.Errorf("Prefer %q was honoured: %d waits, Preference-Applied %q", prefer, applied.count(), rec.Header().Get("Preference-Applied"))
			}
		})
	}
	// Without an Applied nothing is waited for.
	s := newChangesAPI(t, nil, true)
	rec := do(t, s.h, http.MethodPost, "/v1/notes", testNote, "Prefer", "wait=5")
	decodeJSON[acceptedBody](t, rec, http.StatusAccepted)
	if rec.Header().Get("Preference-Applied") != "" {
		t.Error("Preference-Applied without an Applied")
	}
}

func TestPreferWaitParsing(t *testing.T) {
	for _, prefer := range [][]string{
		{"wait=1"}, {"WAIT=1"}, {"wait = 1"}, {"wait=\"1\""}, {"respond-async", "wait=1"}, {"return=minimal; x=\"a,b\", wait=1;p"}, {"wait=0030"},
	} {
		applied := &fakeApplied{}
		s := newChangesAPI(t, applied, true)
		req := httptest.NewRequest(http.MethodPost, "/v1/notes", strings.NewReader(testNote))
		for _, v := range prefer {
			req.Header.Add("Prefer", v)
		}
		if rec := serve(s.h, req); rec.Code != http.StatusCreated || applied.count() != 1 {
			t.Errorf("Prefer %q: %d after %d waits, want 201 after 1", prefer, rec.Code, applied.count())
		}
	}
}

func TestPreferWaitOpNotApplied(t *testing.T) {
	applied := &fakeApplied{}
	s := newChangesAPI(t, applied, false)
	patch := []string{"Content-Type", mergePatch, "Prefer", "wait=5"}
	// The stored document is older than the patch, which would change it:
	// the sink dead-lettered the patch.
	stored := doc.Document{ID: "n-1", Body: []byte(testNote), CreatedAt: ingestedAt, IngestedAt: ingestedAt,
		Fingerprint: fingerprintOf(t, testNote), Version: doc.Version{Partition: 0, Offset: 0}}
	s.notes.docs["n-1"] = stored
	p := problemOf(t, do(t, s.h, http.MethodPatch, "/v1/notes/n-1", `{"status":"done"}`, patch...), http.StatusUnprocessableEntity)
	if !strings.Contains(p.Detail, "dead-letter") {
		t.Errorf("422 = %+v", p)
	}
	// A retry of a patch already in the document: applied before.
	if rec := do(t, s.h, http.MethodPatch, "/v1/notes/n-1", `{"status":"draft"}`, patch...); rec.Code != http.StatusOK {
		t.Errorf("a patch the document holds already: %d %s", rec.Code, rec.Body)
	}
	// A create of an id that holds another document: the sink refused it.
	p = decodeLoose[problemBody](t, do(t, s.h, http.MethodPost, "/v1/notes", strings.Replace(testNote, "Hello", "Other", 1), "Prefer", "wait=5"), http.StatusConflict)
	if p.ID != "n-1" {
		t.Errorf("409 = %+v", p)
	}
	// A create of a document stored before (by another instance, say):
	// the create holds.
	n2 := strings.Replace(testNote, "n-1", "n-2", 1)
	s.notes.docs["n-2"] = doc.Document{ID: "n-2", Body: []byte(n2), CreatedAt: ingestedAt, Fingerprint: fingerprintOf(t, n2), Version: doc.None}
	if rec := do(t, s.h, http.MethodPost, "/v1/notes", n2, "Prefer", "wait=5"); rec.Code != http.StatusCreated {
		t.Errorf("a create of the document stored: %d %s", rec.Code, rec.Body)
	}
	// A document of the op's version or later holds the op.
	stored.Version = doc.Version{Partition: 0, Offset: 100}
	s.notes.docs["n-1"] = stored
	if rec := do(t, s.h, http.MethodPatch, "/v1/notes/n-1", `{"status":"done"}`, patch...); rec.Code != http.StatusOK || rec.Header().Get("ETag") != `"v0.100"` {
		t.Errorf("a document of a later version: %d %s, ETag %q", rec.Code, rec.Body, rec.Header().Get("ETag"))
	}
	// A patch of a document not stored.
	p = problemOf(t, do(t, s.h, http.MethodPatch, "/v1/notes/n-9", `{"status":"done"}`, patch...), http.StatusNotFound)
	if !strings.Contains(p.Detail, "applied") {
		t.Errorf("404 = %+v", p)
	}
	// The store failing: 503.
	errStore := &failingGet{fakeDocs: newFakeDocs()}
	set := changesSet(t, changesStreams)
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	a.AddStream(api.Stream{Stream: set.Lookup("notes"), Store: errStore, Publisher: s.notes, Changes: &fakeChanges{}, Applied: applied})
	rec := do(t, a, http.MethodPut, "/v1/notes/n-1", testNote, "Prefer", "wait=5")
	problemOf(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Preference-Applied") != "wait" {
		t.Errorf("a 503 after the wait without Preference-Applied")
	}
}

type failingGet struct{ *fakeDocs }

func (f *failingGet) Get(context.Context, string) (doc.Document, error) {
	return doc.Document{}, errDown
}

func fingerprintOf(t *testing.T, body string) string {
	t.Helper()
	p, err := doc.Parse([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc.Fingerprint(p.Tree)
}

func TestETagAndIfNoneMatch(t *testing.T) {
	s := newChangesAPI(t, nil, true)
	for _, create := range [][2]string{{"/v1/notes", testNote}, {"/v1/logs", `{"line":"x"}`}} {
		if rec := do(t, s.h, http.MethodPost, create[0], create[1]); rec.Code != http.StatusAccepted {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
	}
	var logID string
	for id := range s.logs.docs {
		logID = id
	}
	// A document of a stream without fingerprint (stored before them).
	s.logs.docs["old"] = doc.Document{ID: "old", Body: []byte(`{"line":"y"}`), CreatedAt: ingestedAt}

	for _, tt := range []struct {
		target, wantTag string
	}{
		{"/v1/notes/n-1", `"v0.1"`},
		{"/v1/logs/" + logID, `"f` + fingerprintOf(t, `{"line":"x"}`) + `"`},
		{"/v1/logs/old", ""},
	} {
		rec := do(t, s.h, http.MethodGet, tt.target, "")
		etag := rec.Header().Get("ETag")
		if rec.Code != http.StatusOK || etag == "" || (tt.wantTag != "" && etag != tt.wantTag) || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
			t.Fatalf("GET %s: %d, ETag %q, want %q", tt.target, rec.Code, etag, tt.wantTag)
		}
		if again := do(t, s.h, http.MethodGet, tt.target, "").Header().Get("ETag"); again != etag {
			t.Errorf("GET %s: ETag %q then %q", tt.target, etag, again)
		}
		for inm, want := range map[string]int{
			etag:                    http.StatusNotModified,
			"W/" + etag:             http.StatusNotModified,
			`"x", ` + etag:          http.StatusNotModified,
			"*":                     http.StatusNotModified,
			`"x"`:                   http.StatusOK,
			`"v0.2", "f0"`:          http.StatusOK,
			strings.Trim(etag, `"`): http.StatusOK,
		} {
			rec := do(t, s.h, http.MethodGet, tt.target, "", "If-None-Match", inm)
			if rec.Code != want {
				t.Errorf("GET %s, If-None-Match %s: %d, want %d", tt.target, inm, rec.Code, want)
			}
			if rec.Header().Get("ETag") != etag {
				t.Errorf("GET %s, If-None-Match %s: ETag %q", tt.target, inm, rec.Header().Get("ETag"))
			}
			if want == http.StatusNotModified && rec.Body.Len() != 0 {
				t.Errorf("304 with a body: %s", rec.Body)
			}
		}
	}
	// A patch applied: the tag changes.
	if rec := do(t, s.h, http.MethodPatch, "/v1/notes/n-1", `{"title":"B"}`, "Content-Type", mergePatch); rec.Code != http.StatusAccepted {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, s.h, http.MethodGet, "/v1/notes/n-1", "", "If-None-Match", `"v0.1"`); rec.Code != http.StatusOK || rec.Header().Get("ETag") != `"v0.2"` {
		t.Errorf("after a patch: %d, ETag %q", rec.Code, rec.Header().Get("ETag"))
	}
}

// TestSpecDescribesChanges: the description of a stream with changes has
// its PUT, PATCH and DELETE, Prefer: wait, ETag and 304, every route
// served is described, and every $ref in it resolves.
func TestSpecDescribesChanges(t *testing.T) {
	for _, withPosts := range []bool{false, true} {
		s := newChangesAPI(t, &fakeApplied{}, false)
		a := s.a
		if withPosts {
			set := changesSet(t, "streams:\n  - name: posts\n    changes: true\n    schema: {type: object, required: [headline], additionalProperties: false, properties: {headline: {type: string}}}\n")
			a = api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
			posts := newFakeDocs()
			a.AddStream(api.Stream{Stream: set.Lookup("posts"), Store: posts, Publisher: posts, Changes: &fakeChanges{docs: posts}, Applied: &fakeApplied{}})
		}
		rec := do(t, a, http.MethodGet, "/openapi.yaml", "")
		if rec.Code != http.StatusOK {
			t.Fatalf("GET /openapi.yaml: %d %s", rec.Code, rec.Body)
		}
		var spec map[string]any
		if err := yaml.Unmarshal(rec.Body.Bytes(), &spec); err != nil {
			t.Fatal(err)
		}
		paths := spec["paths"].(map[string]any)
		for _, route := range a.Routes() {
			method, path, _ := strings.Cut(route, " ")
			if path == "/metrics" || strings.HasPrefix(path, "/ui") || path == "/" {
				continue
			}
			ops, _ := paths[path].(map[string]any)
			if _, ok := ops[strings.ToLower(method)]; !ok {
				t.Errorf("route %s is served but not described", route)
			}
		}
		checkRefs(t, spec, spec)

		name, patchSchema := "notes", "StreamNotesPatch"
		if withPosts {
			name, patchSchema = "posts", "PostPatch"
		}
		item := paths["/v1/"+name+"/{id}"].(map[string]any)
		patch := item["patch"].(map[string]any)
		content := patch["requestBody"].(map[string]any)["content"].(map[string]any)
		if _, ok := content[mergePatch]; !ok || len(content) != 1 {
			t.Errorf("PATCH takes %v, want only %s", content, mergePatch)
		}
		schemas := spec["components"].(map[string]any)["schemas"].(map[string]any)
		ps, _ := schemas[patchSchema].(map[string]any)
		if ps == nil || ps["required"] != nil || ps["properties"] == nil {
			t.Errorf("%s = %v, want the stream's schema without required", patchSchema, ps)
		}
		for method, statuses := range map[string][]string{"put": {"200", "202", "422"}, "patch": {"200", "202", "415", "422"}, "delete": {"202", "204"}, "get": {"200", "304"}} {
			op := item[method].(map[string]any)
			responses := op["responses"].(map[string]any)
			for _, st := range statuses {
				if responses[st] == nil {
					t.Errorf("%s %s: no %s answer", method, name, st)
				}
			}
			var params []string
			for _, p := range op["parameters"].([]any) {
				if n, ok := p.(map[string]any)["name"].(string); ok {
					params = append(params, n)
				}
			}
			want := "Prefer"
			if method == "get" {
				want = "If-None-Match"
			}
			if !slices.Contains(params, want) {
				t.Errorf("%s %s: parameters %v lack %s", method, name, params, want)
			}
		}
		get200 := item["get"].(map[string]any)["responses"].(map[string]any)["200"].(map[string]any)
		if headers, _ := get200["headers"].(map[string]any); headers["ETag"] == nil {
			t.Errorf("GET's 200 has no ETag header: %v", get200)
		}
		create := paths["/v1/"+name].(map[string]any)["post"].(map[string]any)
		if create["responses"].(map[string]any)["201"] == nil {
			t.Errorf("the create has no 201 for Prefer: wait")
		}
		if !withPosts {
			// A stream without changes has no such operations.
			logs := paths["/v1/logs/{id}"].(map[string]any)
			if logs["put"] != nil || logs["patch"] != nil || logs["delete"] != nil || logs["get"] == nil {
				t.Errorf("/v1/logs/{id} has %v", slices.Collect(maps.Keys(logs)))
			}
		}
	}
}

// checkRefs fails on a local $ref under v that names nothing in root.
func checkRefs(t *testing.T, root, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" && strings.HasPrefix(s, "#/") {
				var cur any = root
				for _, part := range strings.Split(strings.TrimPrefix(s, "#/"), "/") {
					m, _ := cur.(map[string]any)
					cur = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
				}
				if cur == nil {
					t.Errorf("$ref %s resolves to nothing", s)
				}
				continue
			}
			checkRefs(t, root, x)
		}
	case []any:
		for _, x := range v {
			checkRefs(t, root, x)
		}
	}
}

// versionedPublisher is the typed posts' publisher that also tells each
// post's version (PublishPost), storing it at once in docs as the sink
// would, in the posts' layout.
type versionedPublisher struct {
	fakePublisher
	docs   *fakeDocs
	offset int64
}

func (p *versionedPublisher) PublishPost(ctx context.Context, pst post.Post) (doc.Version, error) {
	if errs := p.Publish(ctx, []post.Post{pst}); errs[0] != nil {
		return doc.None, errs[0]
	}
	p.mu.Lock()
	p.offset++
	v := doc.Version{Partition: 2, Offset: p.offset}
	p.mu.Unlock()
	p.docs.mu.Lock()
	defer p.docs.mu.Unlock()
	p.docs.docs[pst.ID] = doc.Document{ID: pst.ID, Body: []byte(`{"author":"` + pst.Author + `","title":"` + pst.Title + `","content":"` + pst.Content + `"}`),
		CreatedAt: pst.CreatedAt, IngestedAt: pst.CreatedAt, Fingerprint: pst.Fingerprint, Version: v}
	return v, nil
}

// TestPostsChangesOnTheTypedPath: with AddPostsChanges, posts keeps its
// typed create, and takes PUT, PATCH and DELETE, answers GET with the
// version's ETag (304 on If-None-Match), honours Prefer: wait on POST
// (201 with the stored post), and describes the ops in /openapi.yaml.
func TestPostsChangesOnTheTypedPath(t *testing.T) {
	set, err := stream.Load("")
	if err != nil {
		t.Fatal(err)
	}
	posts := set.Lookup(stream.Builtin)
	if !posts.Changes {
		t.Fatal("the built-in posts stream has no changes")
	}
	stored := newFakeDocs()
	pub := &versionedPublisher{docs: stored}
	changes := &fakeChanges{docs: stored, sink: true}
	a := api.New(testLimits, pub, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	a.AddPostsChanges(api.Stream{Stream: posts, Store: stored, Publisher: stored, Changes: changes, Applied: &fakeApplied{}})

	rec := do(t, a, http.MethodPost, "/v1/posts", `{"author":"ann","title":"t","content":"c"}`, "Prefer", "wait=5")
	if rec.Code != http.StatusCreated || rec.Header().Get("Preference-Applied") != "wait" || !strings.Contains(rec.Body.String(), `"author":"ann"`) {
		t.Fatalf("POST with Prefer: wait = %d %q %s, want 201 with the stored post", rec.Code, rec.Header().Get("Preference-Applied"), rec.Body)
	}
	if len(pub.published()) != 1 {
		t.Fatalf("%d posts on the typed path, want 1", len(pub.published()))
	}
	id := decodeLoose[struct{ ID string }](t, rec, http.StatusCreated).ID
	if rec := do(t, a, http.MethodPost, "/v1/posts", `{"author":"bob","title":"t","content":"c"}`); rec.Code != http.StatusAccepted {
		t.Errorf("POST without Prefer = %d, want 202", rec.Code)
	}

	rec = do(t, a, http.MethodPatch, "/v1/posts/"+id, `{"title":"new"}`, "Content-Type", mergePatch)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("PATCH = %d %s", rec.Code, rec.Body)
	}
	rec = do(t, a, http.MethodGet, "/v1/posts/"+id, "")
	etag := rec.Header().Get("ETag")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"title":"new"`) || etag != (doc.Version{Partition: 0, Offset: 1}).ETag() {
		t.Fatalf("GET after the patch = %d, ETag %q, %s", rec.Code, etag, rec.Body)
	}
	if rec := do(t, a, http.MethodGet, "/v1/posts/"+id, "", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Errorf("GET with If-None-Match = %d, want 304", rec.Code)
	}
	if rec := do(t, a, http.MethodPatch, "/v1/posts/"+id, `{"author":null}`, "Content-Type", mergePatch); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("PATCH removing the required author = %d, want 422", rec.Code)
	}
	if rec := do(t, a, http.MethodDelete, "/v1/posts/"+id, ""); rec.Code != http.StatusAccepted {
		t.Fatalf("DELETE = %d", rec.Code)
	}
	if rec := do(t, a, http.MethodGet, "/v1/posts/"+id, ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET after the delete = %d, want 404", rec.Code)
	}

	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(do(t, a, http.MethodGet, "/openapi.yaml", "").Body.Bytes(), &spec); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"put", "patch", "delete", "get"} {
		if spec.Paths["/v1/posts/{id}"][m] == nil {
			t.Errorf("/openapi.yaml does not describe %s /v1/posts/{id}", m)
		}
	}
}

// tombstones is a DocStore whose every id is a deleted document: Insert
// finds the id taken, Get finds nothing, as the store answers over a
// tombstone.
type tombstones struct{ fakeDocs }

func (*tombstones) Insert(context.Context, doc.Document) (doc.Document, error) {
	return doc.Document{}, post.ErrExists
}

func (*tombstones) Get(context.Context, string) (doc.Document, error) {
	return doc.Document{}, post.ErrNotFound
}

// TestDirectCreateOfADeletedID: the direct path over a tombstone answers
// 409 saying the document was deleted, not a 503 that asks for a retry
// which would fail forever.
func TestDirectCreateOfADeletedID(t *testing.T) {
	set := changesSet(t, changesStreams)
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	gone := &tombstones{fakeDocs: *newFakeDocs()}
	a.AddStream(api.Stream{Stream: set.Lookup("notes"), Store: gone, Publisher: newFakeDocs(), Changes: &fakeChanges{docs: newFakeDocs()}})
	rec := do(t, a, http.MethodPost, "/v1/notes:direct", testNote)
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), "deleted") {
		t.Errorf("direct create over a tombstone = %d %s, want 409 saying it was deleted", rec.Code, rec.Body)
	}
}
