package doc

import (
	"strconv"
	"strings"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// Accept turns a parsed body into a document of st, as the API accepts it
// at now: a *post.ValidationError lists a reserved top-level member, the
// schema's violations and an id that is not ValidID (all of them, within
// post's bounds); a *TooLargeError is a document whose record would not fit
// Kafka. The id is the string at st.ID, or newID's when st.ID is "" (called
// only for a document accepted so far).
func Accept(st *stream.Stream, p Parsed, now time.Time, newID func() string) (Document, error) {
	id, err := check(st, p.Tree)
	if err != nil {
		return Document{}, err
	}
	if st.ID == "" {
		id = newID()
	}
	d := Document{
		ID:          id,
		Body:        p.Body,
		CreatedAt:   now.UTC().Truncate(time.Millisecond),
		Fingerprint: Fingerprint(p.Tree),
	}
	if n := EncodedLen(d); n > post.MaxEncodedBytes {
		return Document{}, &TooLargeError{N: n, Max: post.MaxEncodedBytes}
	}
	return d, nil
}

// check applies the rules of st beyond Parse's to a document's tree: no
// reserved top-level member, the schema, and an id field (when st.ID names
// one) that is ValidID, which it returns. The API and the sink both check
// by it, so the sink stores nothing the API would refuse.
func check(st *stream.Stream, tree map[string]any) (id string, err error) {
	var fs fieldErrors
	for _, name := range Reserved {
		if name == "id" && st.ID == "/id" {
			continue
		}
		if _, ok := tree[name]; ok && fs.room() {
			fs.add("/"+name, msgReserved)
		}
	}
	vs, more := st.Validator.Validate(tree)
	for _, v := range vs {
		if fs.room() {
			fs.add(v.Pointer, v.Message)
		}
	}
	fs.more += more
	if st.ID != "" {
		v, found := lookup(tree, st.ID)
		s, isString := v.(string)
		switch {
		case isString && ValidID(s):
			id = s
		case isString:
			if fs.room() {
				fs.add(st.ID, msgBadID)
			}
		case len(fs.list) > 0:
			// The schema has said it: the stream check makes it require
			// a string there.
		case !found:
			// Not a Stream of Load's, whose schema would have said it.
			fs.add(st.ID, "is required: the document's id is taken from it")
		default:
			fs.add(st.ID, "must be a string: the document's id is taken from it")
		}
	}
	if err := fs.err(); err != nil {
		return "", err
	}
	return id, nil
}

// msgBadID is the rule of ValidID, for the field an id is taken from.
var msgBadID = "must be an id: 1 to " + strconv.Itoa(MaxIDBytes) + " bytes of letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @, not . or .. (it names the document in a URL as it is)"

// ValidID reports whether s can be a document's id: 1 to MaxIDBytes bytes,
// each a character RFC 3986 allows in a URL path segment without
// percent-encoding (ALPHA, DIGIT, "-._~", "!$&'()*+,;=", ":@"), and not "."
// or "..", which a path would resolve away. The id is the last segment of
// the document's URL, /v1/<stream>/<id>, and a Kafka key and an _id: one
// that reads the same in all three, with no escaping to get wrong. UUIDs
// pass.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDBytes || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !pchar[s[i]] {
			return false
		}
	}
	return true
}

var pchar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@" {
		t[c] = true
	}
	return t
}()

// lookup finds the value at the JSON Pointer ptr in tree.
func lookup(tree map[string]any, ptr string) (any, bool) {
	if ptr == "" {
		return tree, true
	}
	if ptr[0] != '/' {
		return nil, false
	}
	var cur any = tree
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || tok != strconv.Itoa(i) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
