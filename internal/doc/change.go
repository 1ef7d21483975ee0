package doc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// A stream with changes (stream.Stream.Changes) takes four ops on a
// document: create (POST), put (PUT), patch (PATCH, a JSON Merge Patch,
// RFC 7396) and delete (DELETE). Every op is a record keyed by the
// document's id, so all ops on one document are in one partition, in the
// order the broker accepted them; the sink applies them in that order, and
// only when newer than the version the stored document carries
// (docs/streams.md, "Changes").

// Op is what a change does to a document.
type Op uint8

// The ops, in the order their names are listed by OpNames.
const (
	OpCreate Op = iota + 1 // store the document unless its id is stored
	OpPut                  // replace the document, or create it
	OpPatch                // merge a JSON Merge Patch into the stored document
	OpDelete               // remove the document, leaving a tombstone
)

// OpNames are the ops' names, the op label of metrics and the "op" of a
// record: create, put, patch, delete.
var OpNames = []string{"create", "put", "patch", "delete"}

func (o Op) String() string {
	if o >= OpCreate && o <= OpDelete {
		return OpNames[o-1]
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// ParseOp is the op named s.
func ParseOp(s string) (Op, bool) {
	for i, n := range OpNames {
		if n == s {
			return Op(i + 1), true
		}
	}
	return 0, false
}

// HeaderOp is the record header that names a change's op (put, patch or
// delete). A record without it is a create, in Marshal's format: a stream
// that turns changes on keeps reading the records it already has.
const HeaderOp = "postpipe-op"

// Version is where an op sits in its topic: its record's partition and
// offset. A stored document of a stream with changes carries the version of
// the last op applied to it.
type Version struct {
	Partition int32
	Offset    int64
}

// None is the version of a document no op of the pipeline wrote (one
// written on the direct path, or before the stream had changes): every op
// is newer.
var None = Version{Partition: -1, Offset: -1}

// After reports whether an op at v comes after the one at u in the order
// the broker accepted them, so that applying it is not a replay. The ops on
// one id share a partition, where the offset orders them. An op in another
// partition than the stored version's is taken as newer: that happens only
// once the topic's partition count changed (keys then hash elsewhere), and
// is the limit docs/streams.md states.
func (v Version) After(u Version) bool {
	if u == None || v.Partition != u.Partition {
		return true
	}
	return v.Offset > u.Offset
}

// ETag is v as an HTTP entity tag: "v<partition>.<offset>".
func (v Version) ETag() string {
	if v == None {
		return `"v-"`
	}
	return `"v` + strconv.Itoa(int(v.Partition)) + "." + strconv.FormatInt(v.Offset, 10) + `"`
}

func (v Version) String() string {
	return strconv.Itoa(int(v.Partition)) + "@" + strconv.FormatInt(v.Offset, 10)
}

// Change is one accepted op on a document of a stream with changes.
type Change struct {
	Op Op
	// ID is the document's id, the record's key.
	ID string
	// OpID names the op: a retry of it (the same Idempotency-Key) carries
	// the same OpID, and the sink applies an OpID to a document once.
	OpID string
	// At is when the API accepted the op, in milliseconds: the createdAt
	// of a document it creates.
	At time.Time
	// Body is the document (create, put), the merge patch (patch), or
	// nil (delete); compact, as Parse gives it.
	Body []byte
	// Fingerprint is Body's (see Fingerprint); "" for a delete.
	Fingerprint string
}

// Document is the document a create or put makes: c's body under its id,
// created at c.At.
func (c Change) Document() Document {
	return Document{ID: c.ID, Body: c.Body, CreatedAt: c.At, Fingerprint: c.Fingerprint}
}

// MaxOpIDs bounds the op ids a stored document remembers (the newest ones):
// a retry of an op is recognised while fewer than this many other ops on its
// document came after it.
const MaxOpIDs = 16

// AcceptPut turns a parsed body into a put of the document id, as the API
// accepts it at now: the document must pass the stream's rules (see
// Accept), and a stream that takes its id from the document must name id
// there.
func AcceptPut(st *stream.Stream, p Parsed, id string, now time.Time) (Change, error) {
	got, err := check(st, p.Tree)
	if err != nil {
		return Change{}, err
	}
	if st.ID != "" && got != id {
		var fs fieldErrors
		fs.add(st.ID, "must be the id in the URL ("+strconv.Quote(post.Truncate(id, 64))+"): a document's id does not change")
		return Change{}, fs.err()
	}
	c := Change{Op: OpPut, ID: id, At: now.UTC().Truncate(time.Millisecond), Body: p.Body, Fingerprint: Fingerprint(p.Tree)}
	if n := EncodedChangeLen(c); n > post.MaxEncodedBytes {
		return Change{}, &TooLargeError{N: n, Max: post.MaxEncodedBytes}
	}
	return c, nil
}

// AcceptPatch turns a parsed JSON Merge Patch into a patch of the document
// id: no reserved top-level member; null (which removes) on no member the
// schema requires, nor on the id field; the id field, if set, the id; and
// what the patch sets valid by the stream's schema without its "required"
// (stream.Stream.PatchValidator). What the merged document becomes is
// checked again where the patch is applied (Apply): the one way an
// accepted op can fail.
func AcceptPatch(st *stream.Stream, p Parsed, id string, now time.Time) (Change, error) {
	var fs fieldErrors
	for _, name := range Reserved {
		if name == "id" && st.ID == "/id" {
			continue
		}
		if _, ok := p.Tree[name]; ok && fs.room() {
			fs.add("/"+name, msgReserved)
		}
	}
	var path []string
	var nulls func(m map[string]any)
	nulls = func(m map[string]any) {
		for name, v := range m {
			path = append(path, name)
			switch v := v.(type) {
			case nil:
				ptr := pointerOf(path)
				switch {
				case ptr == st.ID:
					if fs.room() {
						fs.add(ptr, "cannot be removed: the document's id is taken from it")
					}
				case st.Required(path) && fs.room():
					fs.add(ptr, "is required by the schema: a patch cannot remove it")
				}
			case map[string]any:
				nulls(v)
			}
			path = path[:len(path)-1]
		}
	}
	nulls(p.Tree)
	if st.ID != "" {
		if v, found := lookup(p.Tree, st.ID); found && v != nil && v != any(id) {
			if s, ok := v.(string); !ok || s != id {
				if fs.room() {
					fs.add(st.ID, "must be the id in the URL ("+strconv.Quote(post.Truncate(id, 64))+") or left out: a document's id does not change")
				}
			}
		}
	}
	if st.PatchValidator != nil {
		vs, more := st.PatchValidator.Validate(withoutNulls(p.Tree))
		for _, v := range vs {
			if fs.room() {
				fs.add(v.Pointer, v.Message)
			}
		}
		fs.more += more
	}
	if err := fs.err(); err != nil {
		return Change{}, err
	}
	c := Change{Op: OpPatch, ID: id, At: now.UTC().Truncate(time.Millisecond), Body: p.Body, Fingerprint: Fingerprint(p.Tree)}
	if n := EncodedChangeLen(c); n > post.MaxEncodedBytes {
		return Change{}, &TooLargeError{N: n, Max: post.MaxEncodedBytes}
	}
	return c, nil
}

// Delete is the delete of the document id, accepted at now.
func Delete(id string, now time.Time) Change {
	return Change{Op: OpDelete, ID: id, At: now.UTC().Truncate(time.Millisecond)}
}

// withoutNulls is the tree with its null members taken out, at any depth of
// objects (a merge patch's nulls remove; they are not values).
func withoutNulls(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			continue
		case map[string]any:
			out[k] = withoutNulls(v)
		default:
			out[k] = v
		}
	}
	return out
}

func pointerOf(path []string) string {
	var b strings.Builder
	for _, p := range path {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// ErrNotStored is why a patch is dead-lettered when its document is not
// stored (never created, or deleted before it): a patch needs a document
// to apply to. The API cannot know (the document may be in flight), so it
// accepts the patch; the sink reports it.
var ErrNotStored = errors.New("no document to patch")

// Apply applies the patch c to the stored document cur (RFC 7396) and
// checks the result as the API checks a document: a result that fails
// wraps post.ErrBadRecord and says why, and nothing is written.
func Apply(st *stream.Stream, cur Document, c Change) (Document, error) {
	merged, err := MergePatch(cur.Body, c.Body)
	if err != nil {
		return Document{}, fmt.Errorf("%w: patch of %s: %v", post.ErrBadRecord, c.ID, err)
	}
	p, err := Parse(merged)
	if err != nil {
		return Document{}, fmt.Errorf("%w: patch of %s: the merged document: %v", post.ErrBadRecord, c.ID, err)
	}
	id, err := check(st, p.Tree)
	if err != nil {
		return Document{}, fmt.Errorf("%w: patch of %s: the merged document is not one the stream accepts: %v", post.ErrBadRecord, c.ID, err)
	}
	if st.ID != "" && id != c.ID {
		return Document{}, fmt.Errorf("%w: patch of %s: the merged document names id %q", post.ErrBadRecord, c.ID, id)
	}
	out := Document{ID: c.ID, Body: p.Body, CreatedAt: cur.CreatedAt, Fingerprint: Fingerprint(p.Tree)}
	if n := EncodedLen(out); n > post.MaxEncodedBytes {
		return Document{}, fmt.Errorf("%w: patch of %s: %v", post.ErrBadRecord, c.ID, &TooLargeError{N: n, Max: post.MaxEncodedBytes})
	}
	return out, nil
}

// State is what the store holds under one id of a stream with changes.
type State struct {
	// Stored says something is stored under the id: a document, or a
	// tombstone when Deleted.
	Stored, Deleted bool
	// Doc is the stored document (with its Version), when Stored and not
	// Deleted.
	Doc Document
	// Version is the last op applied under the id (None: a document no op
	// wrote); for a tombstone, the delete's.
	Version Version
	// OpIDs are the ids of the newest ops applied, oldest first, at most
	// MaxOpIDs: an op whose id is among them is a retry, not applied
	// again.
	OpIDs []string
	// DeletedAt is when the tombstone was written (it is cleaned up a
	// while after; see docs/streams.md).
	DeletedAt time.Time
}

// StateWrite is one conditional write of a state: New replaces what is
// stored under its id only while that is still Expect (nothing stored, or
// a state of Expect.Version).
type StateWrite struct {
	ID          string
	Expect, New State
}
