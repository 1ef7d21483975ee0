package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// The routes of a stream with changes (stream.Stream.Changes, docs/streams.md
// "Changes"): PUT, PATCH and DELETE of /v1/<name>/{id}. Each op is checked
// here, handed to the broker as a record keyed by the document's id
// (ChangePublisher) and answered 202 once the broker acknowledged it, as a
// create is; the sink applies the ops of a document in the order the broker
// took them. A client that would rather wait for the sink says so with
// Prefer: wait=N (RFC 7240), on these routes and on a single create:
// honoured where the stream has an Applied, the answer is then what the
// store holds once the op was applied (or the 202, if that took longer).

// ChangePublisher hands an op of a stream with changes to the broker: the
// record keyed by c.ID (doc.MarshalChange), on st.Topic; it returns the
// acknowledged record's version (partition, offset) only once the broker
// durably acknowledged it. A create (doc.OpCreate) is the create record
// (doc.Marshal's), which is also how the API publishes the single create
// of a stream without changes that a client waits for (Prefer: wait), to
// learn its version.
type ChangePublisher interface {
	PublishChange(ctx context.Context, st *stream.Stream, c doc.Change) (doc.Version, error)
}

// Applied tells when the sink has applied the op at v on topic (the sink
// group's committed offset passed it). WaitApplied returns nil once it
// has, or ctx's error when ctx ends first.
type Applied interface {
	WaitApplied(ctx context.Context, topic string, v doc.Version) error
}

// MaxPreferWait bounds Prefer: wait; a longer wait is not honoured.
const MaxPreferWait = 30 * time.Second

// mergePatchType is the media type of a JSON Merge Patch (RFC 7396), the
// one PATCH takes.
const mergePatchType = "application/merge-patch+json"

// PostVersionPublisher publishes a post on the typed path and returns its
// record's version once the broker acknowledged it, as PublishChange does
// for a document: what Prefer: wait on POST /v1/posts waits on.
type PostVersionPublisher interface {
	PublishPost(ctx context.Context, p post.Post) (doc.Version, error)
}

// AddPostsChanges gives posts on its typed path (no streams file, or one
// that declares posts with the built-in schema) its changes: PUT, PATCH
// and DELETE /v1/posts/{id} as for any stream with changes, GET
// /v1/posts/{id} read through s.Store (the posts collection in its own
// layout) with the document's ETag, and Prefer: wait on POST /v1/posts
// when the API's Publisher is a PostVersionPublisher. s.Stream is posts'
// stream with Changes. Call it before serving, once, and not with a posts
// stream added by AddStream.
func (a *API) AddPostsChanges(s Stream) {
	if a.postsStream != nil || a.postsChanges != nil || s.Stream.Name != stream.Builtin || !s.Stream.Changes {
		panic("api: AddPostsChanges takes the typed posts stream with changes, once")
	}
	if s.Changes == nil {
		s.Changes, _ = s.Publisher.(ChangePublisher)
	}
	if s.Changes == nil {
		panic("api: posts has changes but no ChangePublisher")
	}
	// Its ids are posts': the typed path's routes and answers know no other.
	sv := &served{Stream: s, base: "/v1/" + stream.Builtin, ids: post.ValidID}
	a.postsChanges = sv
	a.addChangeRoutes(sv)
}

// createPostWaiting is POST /v1/posts with Prefer: wait honoured: the post
// published with its version, then answered as applied (201 with the
// stored post) or, when the sink did not apply it in time, 202 as usual.
// false when the wait cannot be honoured here: the caller answers as
// always.
func (a *API) createPostWaiting(w http.ResponseWriter, r *http.Request) bool {
	sv := a.postsChanges
	if sv == nil || len(r.Header["Prefer"]) == 0 {
		return false
	}
	vp, ok := a.pub.(PostVersionPublisher)
	if !ok {
		return false
	}
	wait, ok := sv.preferWait(r)
	if !ok {
		return false
	}
	p, err := a.readPost(w, r)
	if err != nil {
		a.fail(w, r, err)
		return true
	}
	v, err := vp.PublishPost(r.Context(), p)
	if err != nil {
		a.fail(w, r, &unavailableError{dependency: "kafka", err: err, postID: p.ID})
		return true
	}
	if a.awaitApplied(r, sv, wait, v) {
		a.answerApplied(w, r, sv, doc.Change{Op: doc.OpCreate, ID: p.ID, At: p.CreatedAt, Fingerprint: p.Fingerprint}, v)
		return true
	}
	writeAccepted(w, p)
	return true
}

// addChangeRoutes serves PUT, PATCH and DELETE of sv's documents.
func (a *API) addChangeRoutes(sv *served) {
	a.bodyLimits[sv.base+"/{id}"] = &a.limits.MaxBodyBytes
	for method, op := range map[string]doc.Op{http.MethodPut: doc.OpPut, http.MethodPatch: doc.OpPatch, http.MethodDelete: doc.OpDelete} {
		a.mux.HandleFunc(method+" "+sv.base+"/{id}", func(w http.ResponseWriter, r *http.Request) { a.changeDoc(w, r, sv, op) })
	}
}

// changeDoc reads, checks and publishes one op, answering 202 once the
// broker acknowledged it, or, when the client waits for the sink and it
// applied the op in time, what the store holds.
func (a *API) changeDoc(w http.ResponseWriter, r *http.Request, sv *served, op doc.Op) {
	c, err := a.readChange(w, r, sv, op)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	wait, waiting := sv.preferWait(r)
	v, err := sv.Changes.PublishChange(r.Context(), sv.Stream.Stream, c)
	if err != nil {
		a.fail(w, r, &unavailableError{dependency: "kafka", err: err, postID: c.ID, op: op})
		return
	}
	if waiting && a.awaitApplied(r, sv, wait, v) {
		a.answerApplied(w, r, sv, c, v)
		return
	}
	w.Header().Set("Location", sv.base+"/"+c.ID)
	writeJSON(w, http.StatusAccepted, accepted{ID: c.ID, Status: "accepted"})
}

// readChange reads and checks one op on the document the path names and
// gives it its OpID: with an Idempotency-Key one derived from the
// request's identity, the op and the key, so a retry is recognised as the
// same op, claimed in the window with the op's fingerprint (another op
// under the same key is a conflict); without, a fresh one.
func (a *API) readChange(w http.ResponseWriter, r *http.Request, sv *served, op doc.Op) (doc.Change, error) {
	st := sv.Stream.Stream
	id := r.PathValue("id")
	if !sv.validID(id) {
		return doc.Change{}, notStored(sv)
	}
	key, err := idempotencyKey(r)
	if err != nil {
		return doc.Change{}, err
	}
	now := a.now()
	var c doc.Change
	if op == doc.OpDelete {
		c = doc.Delete(id, now)
	} else {
		if err := checkChangeType(w, r, op); err != nil {
			return doc.Change{}, err
		}
		body, err := readBody(w, r, a.limits.MaxBodyBytes)
		if err != nil {
			return doc.Change{}, err
		}
		what := "the body"
		if op == doc.OpPatch {
			what = "a merge patch"
		}
		if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
			return doc.Change{}, badRequest(http.StatusBadRequest, "malformed JSON: the body is empty")
		}
		parsed, err := doc.Parse(body)
		if err != nil {
			return doc.Change{}, classifyDecodeError(err, what)
		}
		if op == doc.OpPut {
			c, err = doc.AcceptPut(st, parsed, id, now)
		} else {
			c, err = doc.AcceptPatch(st, parsed, id, now)
		}
		if err != nil {
			return doc.Change{}, classifyDocError(err)
		}
	}
	if key == "" {
		c.OpID = post.NewID(now)
		return c, nil
	}
	// A NUL cannot occur in a key (printable ASCII only), nor in a method
	// or an id: these never meet the ids of creates, nor each other.
	c.OpID = post.ScopedKeyedID(KeyName(r.Context()), "op\x00"+r.Method+"\x00"+id+"\x00"+key)
	fp := c.Fingerprint
	if op == doc.OpDelete {
		fp = "delete"
	}
	if !a.keys.claim(clientOf(r), sv.windowID("op\x00"+c.OpID), fp, now) {
		return doc.Change{}, &keyConflictError{id: id, detail: fmt.Sprintf(
			"the Idempotency-Key was already used for a different %s of this document (id %s); send the same body to retry, or a new key for a new %s", op, id, op)}
	}
	return c, nil
}

// checkChangeType refuses a PATCH that is not a JSON Merge Patch, and a
// PUT that is one (a client that meant to patch would otherwise replace
// the document); the rest of the media type rules are readBody's.
func checkChangeType(w http.ResponseWriter, r *http.Request, op doc.Op) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ""
	}
	switch {
	case op == doc.OpPatch && mt != mergePatchType:
		w.Header().Set("Accept-Patch", mergePatchType)
		if ct == "" {
			return badRequest(http.StatusUnsupportedMediaType, "PATCH needs a Content-Type: send a JSON Merge Patch (RFC 7396) as "+mergePatchType)
		}
		return badRequest(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q is not supported for PATCH; send a JSON Merge Patch (RFC 7396) as %s", post.Truncate(ct, 128), mergePatchType))
	case op == doc.OpPut && mt == mergePatchType:
		return badRequest(http.StatusUnsupportedMediaType, "PUT takes the whole document as application/json; send a JSON Merge Patch with PATCH")
	}
	return nil
}

// preferWait is how long the client asks to wait for the sink to apply its
// op (Prefer: wait=N), and whether that is honoured: only on a stream with
// an Applied, and for a create only when its version can be known (a
// ChangePublisher). A preference that is not understood is ignored.
func (sv *served) preferWait(r *http.Request) (time.Duration, bool) {
	if sv.Applied == nil || sv.Changes == nil {
		return 0, false
	}
	values := r.Header.Values("Prefer")
	if len(values) == 0 {
		return 0, false
	}
	return parsePreferWait(values)
}

// parsePreferWait reads the wait preference of Prefer header values (RFC
// 7240): preferences separated by commas, each a token, optionally "="
// and a token or quoted string, then parameters after ";". Names are
// case-insensitive; the first wait is the one considered (RFC 7240,
// section 2). Its value must be a whole number of seconds, at most
// MaxPreferWait; anything else is ignored (false).
func parsePreferWait(values []string) (time.Duration, bool) {
	for _, v := range values {
		for _, pref := range splitOutsideQuotes(v, ',') {
			pref, _, _ = strings.Cut(pref, ";") // the preference's parameters, none of which matter here
			name, val, hasVal := strings.Cut(pref, "=")
			if !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			if !hasVal {
				return 0, false
			}
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if val == "" || len(val) > 9 || strings.TrimLeft(val, "0123456789") != "" {
				return 0, false
			}
			n, err := strconv.Atoi(val)
			if err != nil || time.Duration(n)*time.Second > MaxPreferWait {
				return 0, false
			}
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted
// string.
func splitOutsideQuotes(s string, sep byte) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// awaitApplied waits up to wait for the sink to apply the op at v; false
// when it did not in time (or could not be told).
func (a *API) awaitApplied(r *http.Request, sv *served, wait time.Duration, v doc.Version) bool {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	err := sv.Applied.WaitApplied(ctx, sv.Stream.Stream.Topic, v)
	if err != nil && ctx.Err() == nil {
		a.log.WarnContext(r.Context(), "could not wait for the sink", "stream", sv.Stream.Stream.Name, "version", v.String(), "err", err)
	}
	return err == nil
}

// answerApplied answers an op the sink applied: a delete 204; any other
// op the document the store now holds, with its ETag (a create 201 with
// its Location, a put or patch 200), or the problem that kept the op from
// being applied.
func (a *API) answerApplied(w http.ResponseWriter, r *http.Request, sv *served, c doc.Change, v doc.Version) {
	h := w.Header()
	h.Set("Preference-Applied", "wait")
	if c.Op == doc.OpDelete {
		// A delete cannot fail where it is applied: whatever the store
		// holds now came after it.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var d doc.Document
	err := a.read(r, func(ctx context.Context) (err error) {
		d, err = sv.Store.Get(ctx, c.ID)
		return err
	})
	if errors.Is(err, post.ErrNotFound) {
		detail := "the op was applied but no document is stored: a later delete removed it"
		if c.Op == doc.OpPatch {
			detail = "the op was applied but no document is stored: a patch of a document that is not stored goes to the dead-letter topic"
		}
		err = badRequest(http.StatusNotFound, detail)
	}
	if err == nil {
		err = checkApplied(sv, c, v, d)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	h.Set("ETag", etagOf(sv, d))
	if c.Op == doc.OpCreate {
		h.Set("Location", sv.base+"/"+c.ID)
		writeDoc(w, http.StatusCreated, sv, d)
		return
	}
	writeDoc(w, http.StatusOK, sv, d)
}

// checkApplied tells whether the stored document d reflects the op c at v
// the sink applied: on a stream with changes, a document of v or a later
// version does. One of an earlier version may still: the op may be the
// retry of one applied before (its OpID seen, so not applied again) or,
// for a create, the same document stored before. What is left is an op
// the sink dead-lettered: a patch whose merged document failed the
// stream's checks, a create of an id that holds another document.
func checkApplied(sv *served, c doc.Change, v doc.Version, d doc.Document) error {
	st := sv.Stream.Stream
	if st.Changes && d.Version != doc.None && (d.Version == v || d.Version.After(v)) {
		return nil
	}
	switch c.Op {
	case doc.OpCreate:
		if d.Fingerprint == "" || d.Fingerprint == c.Fingerprint {
			return nil
		}
		return &keyConflictError{id: c.ID, detail: "the document was not stored: another document with this id was stored before (" + docConflict(sv) + "); it went to the dead-letter topic"}
	case doc.OpPatch:
		// A patch already in the document changes nothing (a merge patch
		// applied twice gives what it gave once).
		if merged, err := doc.Apply(st, d, c); err == nil && merged.Fingerprint == d.Fingerprint {
			return nil
		}
		return badRequest(http.StatusUnprocessableEntity, "the patch was not applied: the merged document failed the stream's checks; it went to the dead-letter topic")
	}
	return nil // a put is applied unless a retry: either way its document was stored
}

// etagOf is the entity tag of a stored document: on a stream with
// changes its version; on one without, where a document never changes, a
// tag of its fingerprint, or without one of its id and createdAt.
func etagOf(sv *served, d doc.Document) string {
	if sv.Stream.Stream.Changes {
		return d.Version.ETag()
	}
	if d.Fingerprint != "" {
		return `"f` + d.Fingerprint + `"`
	}
	h := sha256.Sum256([]byte(d.ID + "\x00" + d.CreatedAt.UTC().Format(time.RFC3339Nano)))
	return `"c` + hex.EncodeToString(h[:16]) + `"`
}

// noneMatch reports whether an If-None-Match header (a list of entity
// tags, or "*") names etag, by the weak comparison RFC 9110 prescribes for
// it (W/ ignored).
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, tag := range splitOutsideQuotes(v, ',') {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
	}
	return false
}
