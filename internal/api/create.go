package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

type accepted struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// accept reads, validates and publishes one post, returning it only once the
// broker acknowledged it.
func (a *API) accept(w http.ResponseWriter, r *http.Request) (post.Post, error) {
	p, err := a.readPost(w, r)
	if err != nil {
		return post.Post{}, err
	}
	if err := a.publish(r, p); err != nil {
		return post.Post{}, &unavailableError{dependency: "kafka", err: err, postID: p.ID}
	}
	return p, nil
}

func (a *API) publish(r *http.Request, p post.Post) error {
	if a.one != nil {
		return a.one.PublishOne(r.Context(), p)
	}
	return a.pub.Publish(r.Context(), []post.Post{p})[0]
}

func (a *API) createPost(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		a.createDoc(w, r, sv)
		return
	}
	if a.createPostWaiting(w, r) {
		return
	}
	p, err := a.accept(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeAccepted(w, p)
}

// writeAccepted answers 202 for a post the broker acknowledged. It is
// every accepted post's answer, so it is written by hand: the headers go
// into the map under their canonical names (Header.Set canonicalises each
// key) and the body, the JSON writeJSON would give, is appended to one
// buffer. A post id needs no escaping (post.ValidID: hex digits and '-');
// anything else goes through writeJSON.
func writeAccepted(w http.ResponseWriter, p post.Post) {
	if !post.ValidID(p.ID) {
		w.Header().Set("Location", "/v1/posts/"+p.ID)
		writeJSON(w, http.StatusAccepted, accepted{ID: p.ID, Status: "accepted"})
		return
	}
	const prefix, suffix = `{"id":"`, `","status":"accepted"}` + "\n"
	var buf [len(prefix) + 36 + len(suffix)]byte
	body := append(append(append(buf[:0], prefix...), p.ID...), suffix...)
	h := w.Header()
	h["Location"] = []string{"/v1/posts/" + p.ID}
	h["Content-Type"] = jsonContentType
	h["X-Content-Type-Options"] = nosniff
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(body)
}

// readPost decodes and validates the body and gives the post its id: the one
// derived from the request's identity and Idempotency-Key when there is a
// key, a fresh one otherwise.
func (a *API) readPost(w http.ResponseWriter, r *http.Request) (post.Post, error) {
	key, err := idempotencyKey(r)
	if err != nil {
		return post.Post{}, err
	}
	body, err := readBody(w, r, a.limits.MaxBodyBytes)
	if err != nil {
		return post.Post{}, err
	}
	in, err := decodeInput(body)
	if err != nil {
		return post.Post{}, err
	}
	if err := in.Validate(); err != nil {
		return post.Post{}, err
	}
	now := a.now()
	if key == "" {
		p := post.New(post.NewID(now), in, now)
		return p, checkEncodedSize(p)
	}
	return a.keyedPost(clientOf(r), post.ScopedKeyedID(KeyName(r.Context()), key), in, now)
}

// keyedPost makes the post for a keyed request and claims its id, on
// owner's share of the window (clientOf), for the input's fingerprint: a
// different input already sent under the id is a conflict.
func (a *API) keyedPost(owner, id string, in post.Input, now time.Time) (post.Post, error) {
	p := post.New(id, in, now)
	p.Fingerprint = in.Fingerprint()
	if err := checkEncodedSize(p); err != nil {
		return post.Post{}, err
	}
	if !a.keys.claim(owner, id, p.Fingerprint, now) {
		return post.Post{}, &keyConflictError{id: id}
	}
	return p, nil
}

// checkEncodedSize refuses a post whose record would be larger than a Kafka
// record may be. The character limits alone do not ensure it: 262,144
// characters of content may take four bytes each, and '"', '\\' and
// U+2028 take more once encoded.
func checkEncodedSize(p post.Post) error {
	if encodedBound(p) <= post.MaxEncodedBytes {
		return nil // the usual post: no need to count exactly
	}
	if n := post.EncodedLen(p); n > post.MaxEncodedBytes {
		return &requestError{status: http.StatusRequestEntityTooLarge,
			detail: fmt.Sprintf("the post takes %d bytes encoded (JSON with its id and times); the limit is %d bytes: shorten the content", n, post.MaxEncodedBytes),
			fields: []post.FieldError{{Field: "content", Message: fmt.Sprintf("the encoded post must be at most %d bytes", post.MaxEncodedBytes)}}}
	}
	return nil
}

// encodedBound is at least post.EncodedLen(p), from the strings' lengths
// alone: a byte encodes to at most six ("\u00XX", "\ufffd"; a three-byte
// U+2028 to six), and 256 covers the names, quotes, commas and both times.
func encodedBound(p post.Post) int {
	n := len(p.ID) + len(p.Author) + len(p.Title) + len(p.Subtitle) + len(p.Content) + len(p.Fingerprint)
	for _, t := range p.Tags {
		n += len(t) + 1
	}
	return 256 + 6*n
}

// batchItem is one post's outcome in a batch answer.
type batchItem struct {
	ID     string            `json:"id,omitempty"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Errors []post.FieldError `json:"errors,omitempty"`
	// MoreErrors counts the problems found beyond Errors: those past
	// post.MaxFieldErrors, or all of them in an item cut by boundBatch.
	MoreErrors int `json:"moreErrors,omitempty"`
}

// createBatch accepts up to MaxBatchPosts posts, produces the valid ones
// together and answers 207 with one result per item, in order, so a client
// retries exactly the items that did not get a 202.
func (a *API) createBatch(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		a.createDocBatch(w, r, sv)
		return
	}
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
	items, itemErrs, err := decodeBatch(body, a.limits.MaxBatchPosts)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(items) == 0 {
		a.fail(w, r, badRequest(http.StatusUnprocessableEntity, "the batch is empty"))
		return
	}

	now := a.now()
	identity, owner := KeyName(r.Context()), ""
	if key != "" {
		owner = clientOf(r)
	}
	results := make([]batchItem, len(items))
	posts := make([]post.Post, 0, len(items))
	slots := make([]int, 0, len(items)) // posts[j] answers results[slots[j]]
	for i, in := range items {
		err := itemErrs[i]
		if err == nil {
			err = in.Validate()
		}
		if err != nil {
			results[i] = itemFailure(err)
			continue
		}
		var p post.Post
		if key == "" {
			p = post.New(post.NewID(now), in, now)
			err = checkEncodedSize(p)
		} else {
			// A NUL cannot occur in a key (printable ASCII only), so
			// these ids never meet the ids of single posts.
			p, err = a.keyedPost(owner, post.ScopedKeyedID(identity, key+"\x00"+strconv.Itoa(i)), in, now)
		}
		if err != nil {
			results[i] = itemFailure(err)
			continue
		}
		posts = append(posts, p)
		slots = append(slots, i)
	}
	if len(posts) > 0 {
		for j, err := range a.pub.Publish(r.Context(), posts) {
			i := slots[j]
			if err != nil {
				results[i] = batchItem{ID: posts[j].ID, Status: http.StatusServiceUnavailable,
					Detail: "kafka did not acknowledge this post in time; it may still be stored once under this id; retry it (with the same Idempotency-Key to be safe)"}
				continue
			}
			results[i] = batchItem{ID: posts[j].ID, Status: http.StatusAccepted}
		}
	}
	boundBatch(results)
	writeJSON(w, http.StatusMultiStatus, results)
}

func itemFailure(err error) batchItem {
	var (
		reqErr *requestError
		valErr *post.ValidationError
		keyErr *keyConflictError
	)
	var it batchItem
	switch {
	case errors.As(err, &keyErr):
		it = batchItem{ID: keyErr.id, Status: http.StatusConflict, Detail: keyErr.Error()}
	case errors.As(err, &valErr):
		it = batchItem{Status: http.StatusUnprocessableEntity, Detail: valErr.Error(), Errors: valErr.Fields, MoreErrors: valErr.More}
	case errors.As(err, &reqErr):
		it = batchItem{Status: reqErr.status, Detail: reqErr.detail, Errors: reqErr.fields, MoreErrors: reqErr.more}
	default:
		it = batchItem{Status: http.StatusBadRequest, Detail: err.Error()}
	}
	it.Detail, it.Errors, it.MoreErrors = boundErrors(it.Detail, it.Errors, it.MoreErrors)
	return it
}

// Bounds on a batch answer. Each item's errors are bounded, but 500 items
// of twenty long errors each would still make several megabytes (and, with
// '<' escaped to six bytes, tens of them).
const (
	// maxBatchAnswerBytes is what a batch answer may take, as long as
	// every item can have smallItemBytes (500 items take 256 KiB).
	maxBatchAnswerBytes = 1 << 20
	// smallItemBytes is the most an item takes that is never cut: an id,
	// a status and a short detail (a 202, 409 or 503, or a cut item).
	smallItemBytes = 512
)

// detailLeftOut replaces the detail of an item cut by boundBatch.
const detailLeftOut = "the post was refused; its details were left out because the answer reached its size limit: send it alone to see them"

// boundBatch keeps a batch answer within maxBatchAnswerBytes, room kept
// for every item to take smallItemBytes. Items are kept whole, in order,
// while they fit with that room left for the ones after them; from the
// first that does not fit, every item larger than smallItemBytes keeps its
// id and status (clients retry by them) and loses its detail and errors
// for detailLeftOut, with MoreErrors counting all its problems. Cutting
// from the first that does not fit on, rather than skipping to smaller
// ones, leaves the client a rule: items before the first cut one are
// whole.
func boundBatch(items []batchItem) {
	used := len("[]\n")
	cut := false
	for i := range items {
		it := &items[i]
		n := itemLen(it) + len(",")
		if n <= smallItemBytes+1 {
			used += n
			continue
		}
		if !cut && used+n+(len(items)-1-i)*(smallItemBytes+1) <= maxBatchAnswerBytes {
			used += n
			continue
		}
		cut = true
		*it = batchItem{ID: it.ID, Status: it.Status, Detail: detailLeftOut, MoreErrors: len(it.Errors) + it.MoreErrors}
		used += itemLen(it) + len(",")
	}
}

// itemLen is at least the length of it encoded: a bound from the strings'
// lengths (a byte takes at most six encoded, as in "\u003c") where that is
// within smallItemBytes, so the usual item is not encoded twice; the exact
// length otherwise.
func itemLen(it *batchItem) int {
	n := len(`{"id":"","status":000,"detail":"","errors":[],"moreErrors":}`) + 20 + 6*(len(it.ID)+len(it.Detail))
	for _, f := range it.Errors {
		n += len(`{"field":"","message":""},`) + 6*(len(f.Field)+len(f.Message))
	}
	if n <= smallItemBytes {
		return n
	}
	b, err := json.Marshal(it)
	if err != nil { // cannot happen: an item is strings and ints
		return n
	}
	return len(b)
}

// createDirect writes the post straight to the store: the baseline path
// without Kafka, answering 201 with the stored document. A repeated
// Idempotency-Key with the same body returns the document stored the first
// time; with another body it is a conflict.
func (a *API) createDirect(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		a.createDocDirect(w, r, sv)
		return
	}
	stored, err := a.insert(w, r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/posts/"+stored.ID)
	writeJSON(w, http.StatusCreated, stored)
}

func (a *API) insert(w http.ResponseWriter, r *http.Request) (post.Post, error) {
	p, err := a.readPost(w, r)
	if err != nil {
		return post.Post{}, err
	}
	stored, err := a.store.Insert(r.Context(), p)
	replayed := errors.Is(err, post.ErrExists)
	if replayed {
		stored, err = a.store.Get(r.Context(), p.ID)
		if errors.Is(err, post.ErrNotFound) {
			return post.Post{}, errDeletedID
		}
	}
	if err != nil {
		return post.Post{}, &unavailableError{dependency: "mongodb", err: err}
	}
	// A post stored before fingerprints were kept has none: it is
	// replayed, as it always was.
	if replayed && stored.Fingerprint != "" && stored.Fingerprint != p.Fingerprint {
		// The store knows better than this instance's window: remember
		// what is stored, so a retry of the stored post is replayed.
		a.keys.set(p.ID, stored.Fingerprint, a.now())
		return post.Post{}, &keyConflictError{id: p.ID}
	}
	if replayed { // only once the stored document is really what we answer
		w.Header().Set("Idempotent-Replayed", "true")
	}
	return stored, nil
}

// The routes of the project postpipe grew from, kept so its clients and
// load scripts work unchanged.

type legacyAnswer struct {
	Message string `json:"message"`
}

func (a *API) legacyWithKafka(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		if _, _, err := a.acceptDoc(w, r, sv, false); err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, legacyAnswer{Message: "post created"})
		return
	}
	if _, err := a.accept(w, r); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, legacyAnswer{Message: "post created"})
}

func (a *API) legacyWithoutKafka(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		if _, _, err := a.insertDoc(w, r, sv); err != nil {
			a.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, legacyAnswer{Message: "post created"})
		return
	}
	if _, err := a.insert(w, r); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, legacyAnswer{Message: "post created"})
}

// idempotencyKey returns the Idempotency-Key header, checked for shape.
// A header that is there but blank is refused, not read as no key: the
// client meant to make its post safe to retry, and a post without a key
// would be stored again on each retry. (net/textproto trims values, so a
// blank header arrives as "".)
func idempotencyKey(r *http.Request) (string, error) {
	values := r.Header.Values("Idempotency-Key")
	if len(values) == 0 {
		return "", nil
	}
	key := values[0]
	if strings.TrimSpace(key) == "" {
		return "", badRequest(http.StatusBadRequest, "Idempotency-Key is blank; send a non-blank key, or no Idempotency-Key header for a post that need not be safe to retry")
	}
	if len(key) > 255 {
		return "", badRequest(http.StatusBadRequest, "Idempotency-Key must be at most 255 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", badRequest(http.StatusBadRequest, "Idempotency-Key must be printable ASCII")
		}
	}
	return key, nil
}
