package doc

import (
	"bytes"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// The Kafka record value of a document wraps its Body:
//
//	{"id":"…","createdAt":"…","fp":"…","doc":{…}}
//
// The Body goes in as it is, so the record costs one copy and no
// re-encoding; the API's additions stay beside it rather than among the
// client's members. The sink trusts nothing on the topic (anyone with
// access can write to it): Unmarshal reads a record by the rules the API
// reads a body by, and checks it again as the API checks it.

// Marshal encodes d as a record value. The times are RFC 3339 in UTC.
func Marshal(d Document) []byte {
	b := make([]byte, 0, EncodedLen(d))
	b = append(b, `{"id":`...)
	b = post.AppendQuoted(b, d.ID)
	b = append(b, `,"createdAt":"`...)
	b = d.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","fp":`...)
	b = post.AppendQuoted(b, d.Fingerprint)
	b = append(b, `,"doc":`...)
	b = append(b, d.Body...)
	return append(b, '}')
}

// EncodedLen returns len(Marshal(d)) without encoding, so the API can
// refuse a document that could not fit a record before it goes anywhere.
func EncodedLen(d Document) int {
	var tb [64]byte
	return len(`{"id":,"createdAt":"","fp":,"doc":}`) + quotedLen(d.ID) +
		len(d.CreatedAt.UTC().AppendFormat(tb[:0], time.RFC3339Nano)) +
		quotedLen(d.Fingerprint) + len(d.Body)
}

// quotedLen is len(post.AppendQuoted(nil, s)), counted.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20:
				n += len(`\u0000`)
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			n += len(`\ufffd`)
		} else {
			n += size
		}
		i += size
	}
	return n
}

// recordMembers are the record's members, in Marshal's order.
var recordMembers = []string{"id", "createdAt", "fp", "doc"}

// Unmarshal reads a record value of stream st, with its Kafka key (nil:
// not checked). The record must be what Marshal writes (whitespace and
// member order aside): the four members, of their types, and nothing else;
// its doc must pass what the API checks (Parse's rules, the reserved names,
// st's schema and id rule, the size), its id be the one the doc names (or,
// for a generated id, ValidID) and the key, its fp the doc's Fingerprint,
// and its createdAt a time. Every failure wraps post.ErrBadRecord and says
// why: the sink dead-letters it. IngestedAt is zero.
func Unmarshal(st *stream.Stream, key, value []byte) (Document, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s record: "+format, append([]any{post.ErrBadRecord, st.Name}, args...)...)
	}
	// One level more than a body: the doc is a member of the record.
	s := scanner{data: value, maxDepth: MaxDepth + 1, out: make([]byte, 0, len(value)), wantTops: true}
	rec, err := s.document()
	if err != nil {
		return Document{}, bad("not a record in JSON: %v", err)
	}
	for _, m := range s.tops {
		if !contains(recordMembers, m.name) {
			return Document{}, bad("unexpected member %s (a record has id, createdAt, fp and doc)", quote(post.Truncate(m.name, 64)))
		}
	}
	var d Document
	var body []byte
	for _, name := range recordMembers {
		v, ok := rec.Tree[name]
		if !ok {
			return Document{}, bad("no %s", name)
		}
		if name == "doc" {
			if _, ok := v.(map[string]any); !ok {
				return Document{}, bad("doc must be an object")
			}
			for _, m := range s.tops {
				if m.name == "doc" {
					body = s.out[m.start:m.end:m.end]
				}
			}
			continue
		}
		str, ok := v.(string)
		if !ok {
			return Document{}, bad("%s must be a string", name)
		}
		switch name {
		case "id":
			d.ID = str
		case "fp":
			d.Fingerprint = str
		case "createdAt":
			t, err := time.Parse(time.RFC3339Nano, str)
			if err != nil {
				return Document{}, bad("createdAt %s is not an RFC 3339 time", quote(post.Truncate(str, 64)))
			}
			if t.IsZero() {
				return Document{}, bad("createdAt is the zero time")
			}
			d.CreatedAt = t.UTC()
		}
	}
	tree := rec.Tree["doc"].(map[string]any)
	id, err := check(st, tree)
	if err != nil {
		return Document{}, bad("the doc is not one the API accepts: %v", err)
	}
	switch {
	case st.ID != "" && d.ID != id:
		return Document{}, bad("id %s is not the doc's %s, %s", quote(post.Truncate(d.ID, 64)), st.ID, quote(id))
	case st.ID == "" && !ValidID(d.ID):
		return Document{}, bad("id %s is not an id", quote(post.Truncate(d.ID, 64)))
	case key != nil && string(key) != d.ID:
		return Document{}, bad("key %s is not the id %s", quote(post.Truncate(string(key), 64)), quote(d.ID))
	case !validFingerprint(d.Fingerprint):
		return Document{}, bad("fp %s is not a fingerprint (32 lowercase hex digits)", quote(post.Truncate(d.Fingerprint, 64)))
	case d.Fingerprint != Fingerprint(tree):
		return Document{}, bad("fp %s is not the doc's fingerprint", d.Fingerprint)
	}
	d.Body = body
	if n := EncodedLen(d); n > post.MaxEncodedBytes {
		return Document{}, bad("%v", &TooLargeError{N: n, Max: post.MaxEncodedBytes})
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// AppendAnswer appends to b the answer to a GET of d in stream st: the
// document's own members with the id first and the times last,
//
//	{"id":"…",<Body's members>,"createdAt":"…","ingestedAt":"…"}
//
// so a client reads one flat object, as a post is answered. A stream whose
// id is /id has id among Body's members already, where the client put it;
// ingestedAt is left out while zero (the document is still in flight).
// Body is spliced as it is: the store gives back one it re-encoded.
func AppendAnswer(b []byte, st *stream.Stream, d Document) []byte {
	inner := bytes.TrimSpace(d.Body)
	if len(inner) >= 2 {
		inner = bytes.TrimSpace(inner[1 : len(inner)-1])
	}
	b = append(b, '{')
	sep := false
	if st.ID != "/id" {
		b = append(b, `"id":`...)
		b = post.AppendQuoted(b, d.ID)
		sep = true
	}
	if len(inner) > 0 {
		if sep {
			b = append(b, ',')
		}
		b = append(b, inner...)
		sep = true
	}
	if sep {
		b = append(b, ',')
	}
	b = append(b, `"createdAt":"`...)
	b = d.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if !d.IngestedAt.IsZero() {
		b = append(b, `,"ingestedAt":"`...)
		b = d.IngestedAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}
