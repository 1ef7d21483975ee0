package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// The routes of a declared stream (docs/streams.md): every stream but the
// built-in posts, whose typed routes are in create.go and read.go. They keep
// the posts' rules (202 only after acks=all, Idempotency-Key, the same
// bounds and the same problems); what differs is the document: checked by
// internal/doc against the stream's schema, carried as doc.Document.

// DocStore reads a stream's documents and writes them on the direct path.
// Insert returns post.ErrExists for an id already stored; Get returns
// post.ErrNotFound. List calls each with the documents q selects, newest
// first, until each returns false or q.Limit were given, holding no more of
// them at once than it must.
type DocStore interface {
	Insert(ctx context.Context, d doc.Document) (doc.Document, error)
	Get(ctx context.Context, id string) (doc.Document, error)
	List(ctx context.Context, q doc.Query, each func(doc.Document) bool) error
}

// DocPublisher hands a stream's documents to the broker, on the stream's
// topic (st.Topic). errs[i] must be nil exactly when the broker durably acknowledged
// docs[i]; PublishDoc(ctx, t, d) must mean PublishDocs(ctx, t, {d})[0].
type DocPublisher interface {
	PublishDocs(ctx context.Context, st *stream.Stream, docs []doc.Document) (errs []error)
	PublishDoc(ctx context.Context, st *stream.Stream, d doc.Document) error
}

// Stream is a declared stream as the API serves it.
type Stream struct {
	Stream    *stream.Stream
	Store     DocStore
	Publisher DocPublisher
	// Changes publishes the stream's ops (changes.go): required when
	// Stream.Changes, where every create goes through it too. Left nil, a
	// Publisher that is a ChangePublisher is taken. On a stream without
	// changes it publishes only the creates a client waits for (Prefer:
	// wait), whose version must be known.
	Changes ChangePublisher
	// Applied tells when the sink applied an op; nil: Prefer: wait is
	// never honoured.
	Applied Applied
}

// served is a stream the API serves, by name.
type served struct {
	Stream
	base string // "/v1/<name>"
	// ids is what an id of the stream may be; nil: doc.ValidID.
	ids func(string) bool
}

// validID reports whether id can name a document of sv.
func (sv *served) validID(id string) bool {
	if sv.ids != nil {
		return sv.ids(id)
	}
	return doc.ValidID(id)
}

// AddStream serves s under /v1/<name>. Call it before serving, once per
// name. posts is served by its typed routes (create.go, read.go) unless it
// is added here: a streams file that gives posts another schema makes those
// routes, the seed's included, serve it as any declared stream.
func (a *API) AddStream(s Stream) {
	name := s.Stream.Name
	if a.streams[name] != nil || (name == stream.Builtin && a.postsStream != nil) {
		panic("api: stream " + name + " added twice")
	}
	if s.Changes == nil {
		s.Changes, _ = s.Publisher.(ChangePublisher)
	}
	if s.Stream.Changes && s.Changes == nil {
		panic("api: stream " + name + " has changes but no ChangePublisher")
	}
	sv := &served{Stream: s, base: "/v1/" + name}
	if s.Stream.Changes {
		a.addChangeRoutes(sv)
	}
	if name == stream.Builtin {
		a.postsStream = sv
		return
	}
	if a.streams == nil {
		a.streams = map[string]*served{}
	}
	a.streams[name] = sv
	a.streamNames = append(a.streamNames, name)
	a.bodyLimits[sv.base] = &a.limits.MaxBodyBytes
	a.bodyLimits[sv.base+":direct"] = &a.limits.MaxBodyBytes
	a.bodyLimits[sv.base+":batch"] = &a.limits.MaxBatchBodyBytes
	a.mux.HandleFunc("POST "+sv.base, func(w http.ResponseWriter, r *http.Request) { a.createDoc(w, r, sv) })
	a.mux.HandleFunc("POST "+sv.base+":batch", func(w http.ResponseWriter, r *http.Request) { a.createDocBatch(w, r, sv) })
	a.mux.HandleFunc("POST "+sv.base+":direct", func(w http.ResponseWriter, r *http.Request) { a.createDocDirect(w, r, sv) })
	a.mux.HandleFunc("GET "+sv.base+"/{id}", func(w http.ResponseWriter, r *http.Request) { a.getDoc(w, r, sv) })
	a.mux.HandleFunc("GET "+sv.base, func(w http.ResponseWriter, r *http.Request) { a.listDocs(w, r, sv) })
}

// StreamNames lists the streams served: posts first, then the declared
// ones in the order they were added.
func (a *API) StreamNames() []string {
	return append([]string{stream.Builtin}, a.streamNames...)
}

// windowID is a document's entry in the Idempotency-Key window: ids of
// different streams may be equal ("1" in orders and in invoices), the
// window's entries may not.
func (sv *served) windowID(id string) string { return sv.Stream.Stream.Name + "\x00" + id }

// readDoc reads, checks and identifies one document: its id from the
// document (a stream with an id field), from the Idempotency-Key, or new.
// Every document whose id is not new is claimed in the window with its
// fingerprint, so the same id with another document is a 409 here when
// this instance saw the first one.
func (a *API) readDoc(w http.ResponseWriter, r *http.Request, sv *served) (doc.Document, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return doc.Document{}, err
	}
	body, err := readBody(w, r, a.limits.MaxBodyBytes)
	if err != nil {
		return doc.Document{}, err
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return doc.Document{}, badRequest(http.StatusBadRequest, "malformed JSON: the body is empty")
	}
	parsed, err := doc.Parse(body)
	if err != nil {
		return doc.Document{}, classifyDecodeError(err, "the body")
	}
	now := a.now()
	d, err := doc.Accept(sv.Stream.Stream, parsed, now, a.newDocID(r, key, now))
	if err != nil {
		return doc.Document{}, classifyDocError(err)
	}
	return d, a.claimDoc(clientOf(r), sv, d, key, now)
}

// newDocID is the id of a document of a stream without an id field: the
// one derived from the request's identity and Idempotency-Key when there is
// a key, a fresh one otherwise.
func (a *API) newDocID(r *http.Request, key string, now time.Time) func() string {
	return func() string {
		if key == "" {
			return post.NewID(now)
		}
		return post.ScopedKeyedID(KeyName(r.Context()), key)
	}
}

// claimDoc claims d's id in the window unless the id is new: a document
// with its id in a field, or one sent with an Idempotency-Key.
func (a *API) claimDoc(owner string, sv *served, d doc.Document, key string, now time.Time) error {
	if sv.Stream.Stream.ID == "" && key == "" {
		return nil
	}
	if !a.keys.claim(owner, sv.windowID(d.ID), d.Fingerprint, now) {
		return &keyConflictError{id: d.ID, what: docConflict(sv)}
	}
	return nil
}

// docConflict says how a stream's ids come about, for a conflict's detail.
func docConflict(sv *served) string {
	if sv.Stream.Stream.ID != "" {
		return "a different document with this id (its " + sv.Stream.Stream.ID + ") was sent before"
	}
	return ""
}

// classifyDocError turns what doc.Accept refuses into the client error.
func classifyDocError(err error) error {
	var tooLarge *doc.TooLargeError
	if errors.As(err, &tooLarge) {
		return &requestError{status: http.StatusRequestEntityTooLarge,
			detail: tooLarge.Error() + ": shorten the document"}
	}
	return classifyDecodeError(err, "the body")
}

func (a *API) createDoc(w http.ResponseWriter, r *http.Request, sv *served) {
	wait, waiting := sv.preferWait(r)
	d, v, err := a.acceptDoc(w, r, sv, waiting)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if waiting && a.awaitApplied(r, sv, wait, v) {
		a.answerApplied(w, r, sv, createOf(d), v)
		return
	}
	w.Header().Set("Location", sv.base+"/"+d.ID)
	writeJSON(w, http.StatusAccepted, accepted{ID: d.ID, Status: "accepted"})
}

// acceptDoc reads, checks and publishes one document, returning it only
// once the broker acknowledged it. A create of a stream with changes, or
// one whose version the caller needs (versioned), goes through the
// ChangePublisher and comes back with its version; any other create's
// version is the zero Version.
func (a *API) acceptDoc(w http.ResponseWriter, r *http.Request, sv *served, versioned bool) (doc.Document, doc.Version, error) {
	d, err := a.readDoc(w, r, sv)
	if err != nil {
		return doc.Document{}, doc.Version{}, err
	}
	var v doc.Version
	if sv.Stream.Stream.Changes || versioned {
		v, err = sv.Changes.PublishChange(r.Context(), sv.Stream.Stream, createOf(d))
	} else {
		err = sv.Publisher.PublishDoc(r.Context(), sv.Stream.Stream, d)
	}
	if err != nil {
		return doc.Document{}, doc.Version{}, &unavailableError{dependency: "kafka", err: err, postID: d.ID}
	}
	return d, v, nil
}

// createOf is the create of the accepted document d.
func createOf(d doc.Document) doc.Change {
	return doc.Change{Op: doc.OpCreate, ID: d.ID, At: d.CreatedAt, Body: d.Body, Fingerprint: d.Fingerprint}
}

// createDocBatch is createBatch for a declared stream: up to MaxBatchPosts
// documents, the valid ones produced together, 207 with one result per
// item in order.
func (a *API) createDocBatch(w http.ResponseWriter, r *http.Request, sv *served) {
	key, err := idempotencyKey(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	body, err := readBody(w, r, a.limits.MaxBatchBodyBytes)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		a.fail(w, r, badRequest(http.StatusBadRequest, "malformed JSON: the body is empty"))
		return
	}
	items, itemErrs, err := doc.ParseBatch(body, a.limits.MaxBatchPosts)
	if err != nil {
		a.fail(w, r, classifyDecodeError(err, "the body"))
		return
	}
	if len(items) == 0 {
		a.fail(w, r, badRequest(http.StatusUnprocessableEntity, "the batch is empty"))
		return
	}
	now := a.now()
	identity, owner := KeyName(r.Context()), clientOf(r)
	results := make([]batchItem, len(items))
	docs := make([]doc.Document, 0, len(items))
	slots := make([]int, 0, len(items)) // docs[j] answers results[slots[j]]
	for i, parsed := range items {
		if err := itemErrs[i]; err != nil {
			results[i] = itemFailure(classifyDecodeError(err, "a document"))
			continue
		}
		newID := func() string { return post.NewID(now) }
		if key != "" {
			// A NUL cannot occur in a key (printable ASCII only), so these
			// ids never meet the ids of single documents.
			itemKey := key + "\x00" + strconv.Itoa(i)
			newID = func() string { return post.ScopedKeyedID(identity, itemKey) }
		}
		d, err := doc.Accept(sv.Stream.Stream, parsed, now, newID)
		if err == nil {
			err = a.claimDoc(owner, sv, d, key, now)
		} else {
			err = classifyDocError(err)
		}
		if err != nil {
			results[i] = itemFailure(err)
			continue
		}
		docs = append(docs, d)
		slots = append(slots, i)
	}
	if len(docs) > 0 {
		for j, err := range sv.Publisher.PublishDocs(r.Context(), sv.Stream.Stream, docs) {
			i := slots[j]
			if err != nil {
				results[i] = batchItem{ID: docs[j].ID, Status: http.StatusServiceUnavailable,
					Detail: "kafka did not acknowledge this document in time; it may still be stored once under this id; retry it (with the same Idempotency-Key, or the same id, to be safe)"}
				continue
			}
			results[i] = batchItem{ID: docs[j].ID, Status: http.StatusAccepted}
		}
	}
	boundBatch(results)
	writeJSON(w, http.StatusMultiStatus, results)
}

// createDocDirect writes the document straight to the store (201 with the
// stored document). A repeat of an id with the same document returns what
// was stored the first time; with another document it is a conflict.
func (a *API) createDocDirect(w http.ResponseWriter, r *http.Request, sv *served) {
	stored, replayed, err := a.insertDoc(w, r, sv)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	w.Header().Set("Location", sv.base+"/"+stored.ID)
	writeDoc(w, http.StatusCreated, sv, stored)
}

// insertDoc reads, checks and stores one document on the direct path; a
// repeat of a stored id with the same document is replayed (the stored one
// returned), with another a conflict.
func (a *API) insertDoc(w http.ResponseWriter, r *http.Request, sv *served) (stored doc.Document, replayed bool, err error) {
	d, err := a.readDoc(w, r, sv)
	if err != nil {
		return doc.Document{}, false, err
	}
	stored, err = sv.Store.Insert(r.Context(), d)
	replayed = errors.Is(err, post.ErrExists)
	if replayed {
		stored, err = sv.Store.Get(r.Context(), d.ID)
		if errors.Is(err, post.ErrNotFound) {
			return doc.Document{}, false, errDeletedID
		}
	}
	if err != nil {
		return doc.Document{}, false, &unavailableError{dependency: "mongodb", err: err}
	}
	if replayed && stored.Fingerprint != d.Fingerprint {
		a.keys.set(sv.windowID(d.ID), stored.Fingerprint, a.now())
		return doc.Document{}, false, &keyConflictError{id: d.ID, what: docConflict(sv)}
	}
	return stored, replayed, nil
}

// errDeletedID answers a direct create of an id whose document was deleted
// (its tombstone holds the id): the direct path writes a new document only,
// and a create with the same Idempotency-Key cannot be replayed any more.
var errDeletedID = &requestError{status: http.StatusConflict,
	detail: "a document with this id was deleted: the direct path does not create it again (PUT it through the pipeline to re-create it)"}

// writeDoc answers a stored document: its body with id, createdAt and
// ingestedAt.
func writeDoc(w http.ResponseWriter, status int, sv *served, d doc.Document) {
	b := doc.AppendAnswer(make([]byte, 0, len(d.Body)+128), sv.Stream.Stream, d)
	b = append(b, '\n')
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (a *API) getDoc(w http.ResponseWriter, r *http.Request, sv *served) {
	id := r.PathValue("id")
	if !sv.validID(id) {
		a.fail(w, r, notStored(sv))
		return
	}
	var d doc.Document
	err := a.read(r, func(ctx context.Context) (err error) {
		d, err = sv.Store.Get(ctx, id)
		return err
	})
	if errors.Is(err, post.ErrNotFound) {
		err = notStored(sv)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	etag := etagOf(sv, d)
	w.Header().Set("ETag", etag)
	if inm := r.Header.Values("If-None-Match"); len(inm) > 0 && noneMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeDoc(w, http.StatusOK, sv, d)
}

func notStored(sv *served) error {
	return badRequest(http.StatusNotFound, "no "+sv.Stream.Stream.Name+" document with this id is stored (yet): an accepted document appears once the sink has written it")
}

// listDocs is listPosts for a declared stream: newest first, filtered by
// equality on at most one of the stream's list fields, in pages cut by
// count and by size, continued by an opaque cursor. The page is
// {"<stream>": [...], "nextCursor": "..."}, the shape /v1/posts has.
func (a *API) listDocs(w http.ResponseWriter, r *http.Request, sv *served) {
	st := sv.Stream.Stream
	q := r.URL.Query()
	query := doc.Query{Limit: defaultListLimit}
	for name, values := range q {
		switch {
		case name == "limit":
			n, err := strconv.Atoi(values[0])
			if err != nil || n < 1 || n > maxListLimit || len(values) > 1 {
				a.fail(w, r, badRequest(http.StatusBadRequest, "limit must be one whole number from 1 to 100"))
				return
			}
			query.Limit = n
		case name == "cursor":
			pos, err := decodeCursor(values[0], doc.ValidID)
			if err != nil || len(values) > 1 {
				a.fail(w, r, badRequest(http.StatusBadRequest, "cursor is not one this API gave out"))
				return
			}
			query.After = &pos
		case slices.Contains(st.List, name):
			if query.Field != "" || len(values) > 1 {
				a.fail(w, r, badRequest(http.StatusBadRequest, "filter by one field at a time, with one value"))
				return
			}
			v, err := doc.ParseValue(st, name, values[0])
			if err != nil {
				a.fail(w, r, badRequest(http.StatusBadRequest, fmt.Sprintf("%s: %v", name, err)))
				return
			}
			query.Field, query.Value = name, v
		default:
			a.fail(w, r, badRequest(http.StatusBadRequest, unknownParam(st, name)))
			return
		}
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		return
	}
	want := query.Limit
	query.Limit++ // one more tells whether another page exists

	var (
		buf  bytes.Buffer
		n    int
		last doc.Document
		more bool
		item []byte
	)
	buf.WriteString(`{"`)
	buf.WriteString(st.Name)
	buf.WriteString(`":[`)
	each := func(d doc.Document) bool {
		if n == want {
			more = true
			return false
		}
		item = doc.AppendAnswer(item[:0], st, d)
		if n > 0 && buf.Len()+1+len(item) > maxPageBytes {
			more = true
			return false
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(item)
		n, last = n+1, d
		return true
	}
	err := a.read(r, func(ctx context.Context) error {
		return sv.Store.List(ctx, query, each)
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	buf.WriteByte(']')
	if more {
		buf.WriteString(`,"nextCursor":`)
		c, _ := json.Marshal(encodeCursor(doc.Position{CreatedAt: last.CreatedAt, ID: last.ID}))
		buf.Write(c)
	}
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// unknownParam says which query parameters a stream's listing takes.
func unknownParam(st *stream.Stream, name string) string {
	known := append([]string{"limit", "cursor"}, st.List...)
	return fmt.Sprintf("unknown query parameter %q; %s listings take %s", name, st.Name, strings.Join(known, ", "))
}
