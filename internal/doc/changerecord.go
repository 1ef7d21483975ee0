package doc

import (
	"fmt"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// The record of a put, patch or delete carries the op in a header
// (HeaderOp) and in its value:
//
//	{"op":"put","id":"…","opId":"…","at":"…","fp":"…","doc":{…}}
//
// doc is the document (put) or the merge patch (patch); a delete has
// neither fp nor doc. A create is Marshal's record, without the header.

// MarshalChange encodes c as a record value; a create is Marshal's record.
func MarshalChange(c Change) []byte {
	if c.Op == OpCreate {
		return Marshal(c.Document())
	}
	b := make([]byte, 0, EncodedChangeLen(c))
	b = append(b, `{"op":"`...)
	b = append(b, c.Op.String()...)
	b = append(b, `","id":`...)
	b = post.AppendQuoted(b, c.ID)
	b = append(b, `,"opId":`...)
	b = post.AppendQuoted(b, c.OpID)
	b = append(b, `,"at":"`...)
	b = c.At.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if c.Op != OpDelete {
		b = append(b, `,"fp":`...)
		b = post.AppendQuoted(b, c.Fingerprint)
		b = append(b, `,"doc":`...)
		b = append(b, c.Body...)
	}
	return append(b, '}')
}

// EncodedChangeLen is len(MarshalChange(c)), counted.
func EncodedChangeLen(c Change) int {
	if c.Op == OpCreate {
		return EncodedLen(c.Document())
	}
	var tb [64]byte
	n := len(`{"op":"","id":,"opId":,"at":""}`) + len(c.Op.String()) + quotedLen(c.ID) + quotedLen(c.OpID) +
		len(c.At.UTC().AppendFormat(tb[:0], time.RFC3339Nano))
	if c.Op != OpDelete {
		n += len(`,"fp":,"doc":`) + quotedLen(c.Fingerprint) + len(c.Body)
	}
	return n
}

// MaxOpIDBytes bounds an op id.
const MaxOpIDBytes = 64

// UnmarshalChange reads the record of a change of stream st: op is its
// HeaderOp ("" for a create, read by Unmarshal), key its Kafka key (nil:
// not checked). As Unmarshal, it trusts nothing: the members and their
// types, the id by st's rule and equal to the key, a put's document by
// what the API checks, fp the fingerprint of doc, and the header's op the
// value's. A patch's content is checked where it is applied (Apply). Every
// failure wraps post.ErrBadRecord.
func UnmarshalChange(st *stream.Stream, op string, key, value []byte) (Change, error) {
	if op == "" {
		d, err := Unmarshal(st, key, value)
		if err != nil {
			return Change{}, err
		}
		return Change{Op: OpCreate, ID: d.ID, At: d.CreatedAt, Body: d.Body, Fingerprint: d.Fingerprint}, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s change record: "+format, append([]any{post.ErrBadRecord, st.Name}, args...)...)
	}
	o, ok := ParseOp(op)
	if !ok || o == OpCreate {
		return Change{}, bad("header %s is %s; want put, patch or delete", HeaderOp, quote(post.Truncate(op, 32)))
	}
	s := scanner{data: value, maxDepth: MaxDepth + 1, out: make([]byte, 0, len(value)), wantTops: true}
	rec, err := s.document()
	if err != nil {
		return Change{}, bad("not a record in JSON: %v", err)
	}
	want := []string{"op", "id", "opId", "at"}
	if o != OpDelete {
		want = append(want, "fp", "doc")
	}
	for _, m := range s.tops {
		if !contains(want, m.name) {
			return Change{}, bad("unexpected member %s in a %s (it has %v)", quote(post.Truncate(m.name, 64)), o, want)
		}
	}
	c := Change{Op: o}
	for _, name := range want {
		v, ok := rec.Tree[name]
		if !ok {
			return Change{}, bad("no %s", name)
		}
		if name == "doc" {
			if _, ok := v.(map[string]any); !ok {
				return Change{}, bad("doc must be an object")
			}
			for _, m := range s.tops {
				if m.name == "doc" {
					c.Body = s.out[m.start:m.end:m.end]
				}
			}
			continue
		}
		str, ok := v.(string)
		if !ok {
			return Change{}, bad("%s must be a string", name)
		}
		switch name {
		case "op":
			if str != op {
				return Change{}, bad("op %s is not the header's %s", quote(post.Truncate(str, 32)), op)
			}
		case "id":
			c.ID = str
		case "opId":
			if len(str) > MaxOpIDBytes {
				return Change{}, bad("opId is longer than %d bytes", MaxOpIDBytes)
			}
			c.OpID = str
		case "fp":
			c.Fingerprint = str
		case "at":
			t, err := time.Parse(time.RFC3339Nano, str)
			if err != nil || t.IsZero() {
				return Change{}, bad("at %s is not an RFC 3339 time", quote(post.Truncate(str, 64)))
			}
			c.At = t.UTC()
		}
	}
	switch {
	case !ValidID(c.ID):
		return Change{}, bad("id %s is not an id", quote(post.Truncate(c.ID, 64)))
	case key != nil && string(key) != c.ID:
		return Change{}, bad("key %s is not the id %s", quote(post.Truncate(string(key), 64)), quote(c.ID))
	}
	if o == OpDelete {
		return c, nil
	}
	tree := rec.Tree["doc"].(map[string]any)
	if !validFingerprint(c.Fingerprint) || c.Fingerprint != Fingerprint(tree) {
		return Change{}, bad("fp %s is not the doc's fingerprint", quote(post.Truncate(c.Fingerprint, 64)))
	}
	if o == OpPut {
		id, err := check(st, tree)
		if err != nil {
			return Change{}, bad("the doc is not one the API accepts: %v", err)
		}
		if st.ID != "" && id != c.ID {
			return Change{}, bad("id %s is not the doc's %s, %s", quote(post.Truncate(c.ID, 64)), st.ID, quote(id))
		}
	}
	if n := EncodedChangeLen(c); n > post.MaxEncodedBytes {
		return Change{}, bad("%v", &TooLargeError{N: n, Max: post.MaxEncodedBytes})
	}
	return c, nil
}
