package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/postpipe/postpipe/internal/post"
)

// A stream's document is stored as its own BSON document, member for
// member, so that MongoDB can index and filter its fields; and it is read
// back as the JSON it was written as. Both directions keep the members in
// order (bson.D and bson.Raw, never a map) and keep every value exact: an
// integer stays an integer (int32 or int64), a fraction a double.

// storedFields are the top-level members the store adds beside the body's
// own; a body may not carry them (see doc.Reserved) and reading leaves them
// out of the body. _v, _vp and _ops are the version and op ids of a
// document of a stream with changes, _deleted a tombstone's date (see
// Docs.WriteStates).
var storedFields = []string{"_id", "createdAt", "ingestedAt", "_fp", "_v", "_vp", "_ops", "_deleted"}

// maxNesting bounds the nesting of objects and arrays in a body, the body
// itself being the first level. MongoDB refuses a document nested more
// than 100 levels, so nothing deeper
// could be stored anyway; doc.MaxDepth is well within it, so it only stops
// a body that slipped past the checks from recursing without end.
const maxNesting = 100

// fieldError is a value, at a JSON Pointer into the body, that the store
// cannot convert.
type fieldError struct {
	pointer string
	msg     string
}

func (e *fieldError) Error() string {
	if e.pointer == "" {
		return "the body: " + e.msg
	}
	return "field " + strconv.Quote(e.pointer) + ": " + e.msg
}

// under puts e inside the member or element named name. The pointer is
// built on the way out, only for the value in error, so a body that
// converts pays nothing for it.
func (e *fieldError) under(name string) *fieldError {
	name = strings.ReplaceAll(strings.ReplaceAll(name, "~", "~0"), "/", "~1")
	e.pointer = "/" + name + e.pointer
	return e
}

// toBSON is the body (one JSON object) as a BSON document.
func toBSON(body []byte) (bson.D, error) {
	return appendBody(bson.D{}, body) // never nil: the driver writes a nil D as null
}

// appendBody appends the members of body to dst: the stored document
// starts with its _id, and decoding straight after it saves a copy.
func appendBody(dst bson.D, body []byte) (bson.D, error) {
	// encoding/json would turn invalid bytes into U+FFFD silently: a
	// stored document that differs from the accepted one.
	if !utf8.Valid(body) {
		return nil, &fieldError{msg: "not valid UTF-8"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // the literal, to tell an integer from a fraction
	tok, err := dec.Token()
	if err != nil {
		return nil, &fieldError{msg: "not JSON: " + err.Error()}
	}
	if tok != json.Delim('{') {
		return nil, &fieldError{msg: "not a JSON object"}
	}
	dst, err = decodeObject(dec, dst, 1)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &fieldError{msg: "more than one JSON value"}
	}
	return dst, nil
}

// decodeObject appends the members of the object whose '{' dec has just
// read to dst, checking their names as the store needs them: depth 1 is
// the body itself, whose members sit beside the store's own.
func decodeObject(dec *json.Decoder, dst bson.D, depth int) (bson.D, error) {
	start := len(dst)
	var seen map[string]bool // only for a large object; a small one is scanned
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &fieldError{msg: "not JSON: " + err.Error()}
		}
		name := tok.(string) // the decoder allows nothing else as a member name
		if msg := badName(name, depth == 1); msg != "" {
			return nil, (&fieldError{msg: msg}).under(name)
		}
		// A repeated name would be stored twice, and MongoDB's reads
		// of such a document are undefined.
		dup := false
		if seen != nil {
			dup = seen[name]
			seen[name] = true
		} else {
			for _, e := range dst[start:] {
				if e.Key == name {
					dup = true
					break
				}
			}
			if len(dst)-start >= 16 {
				seen = make(map[string]bool, 2*(len(dst)-start))
				for _, e := range dst[start:] {
					seen[e.Key] = true
				}
				seen[name] = true
			}
		}
		if dup {
			return nil, (&fieldError{msg: "the member appears more than once"}).under(name)
		}
		v, err := decodeValue(dec, depth)
		if err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, fe.under(name)
			}
			return nil, err
		}
		dst = append(dst, bson.E{Key: name, Value: v})
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, &fieldError{msg: "not JSON: " + err.Error()}
	}
	return dst, nil
}

// badName says what is wrong with a member name for the store, or "".
// MongoDB reads '.' as a path and '$' as an operator, and a BSON name ends
// at its first NUL.
func badName(name string, top bool) string {
	switch {
	case name == "":
		return "an empty member name"
	case strings.HasPrefix(name, "$"):
		return "a member name may not start with '$'"
	case strings.ContainsAny(name, ".\x00"):
		return "a member name may not contain '.' or U+0000"
	case top && slices.Contains(storedFields, name):
		return "the store keeps this member itself"
	}
	return ""
}

// decodeValue reads the next value of dec, inside depth levels of nesting.
func decodeValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, &fieldError{msg: "not JSON: " + err.Error()}
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxNesting {
			return nil, &fieldError{msg: "nested more than " + strconv.Itoa(maxNesting) + " levels"}
		}
		if t == '{' {
			// Never nil: the driver writes a nil slice as null.
			return decodeObject(dec, bson.D{}, depth+1)
		}
		a := bson.A{}
		for i := 0; dec.More(); i++ {
			v, err := decodeValue(dec, depth+1)
			if err != nil {
				var fe *fieldError
				if errors.As(err, &fe) {
					return nil, fe.under(strconv.Itoa(i))
				}
				return nil, err
			}
			a = append(a, v)
		}
		if _, err := dec.Token(); err != nil { // the closing ']'
			return nil, &fieldError{msg: "not JSON: " + err.Error()}
		}
		return a, nil
	case json.Number:
		return number(string(t))
	case string, bool, nil:
		return t, nil
	}
	return nil, &fieldError{msg: "an unexpected JSON token"}
}

// number is a JSON number literal as the BSON number that holds it
// exactly: an integer literal is an integer, int32 when it fits (what
// MongoDB's shell and most drivers write) and int64 when not; anything
// else is a double.
func number(lit string) (any, error) {
	if !strings.ContainsAny(lit, ".eE") {
		n, err := strconv.ParseInt(lit, 10, 64)
		if err != nil {
			return nil, &fieldError{msg: "the integer " + lit + " does not fit 64 bits"}
		}
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return int32(n), nil
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, &fieldError{msg: "the number " + lit + " is not a finite double"}
	}
	return f, nil
}

// fromBSON is the JSON of a stored document's body: raw less the members
// the store adds (and also's), compact, in the stored order.
func fromBSON(raw bson.Raw, also ...string) ([]byte, error) {
	return appendJSONObject(make([]byte, 0, len(raw)), raw, true, also...)
}

// appendJSONObject appends the JSON of the BSON document raw to b; top
// leaves out the store's own members.
func appendJSONObject(b []byte, raw bson.Raw, top bool, also ...string) ([]byte, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, &fieldError{msg: "malformed BSON: " + err.Error()}
	}
	b = append(b, '{')
	first := true
	for _, e := range elems {
		name := e.Key()
		if top && (slices.Contains(storedFields, name) || slices.Contains(also, name)) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = post.AppendQuoted(b, name)
		b = append(b, ':')
		if b, err = appendJSONValue(b, e.Value()); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, fe.under(name)
			}
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// appendJSONValue appends the JSON of v to b. Only the types toBSON makes
// have a JSON form: a document some other writer stored with another type
// (a date, an ObjectID, a decimal) is refused rather than shown as
// something it is not.
func appendJSONValue(b []byte, v bson.RawValue) ([]byte, error) {
	switch v.Type {
	case bson.TypeString:
		if s, ok := v.StringValueOK(); ok {
			return post.AppendQuoted(b, s), nil
		}
	case bson.TypeInt32:
		if n, ok := v.Int32OK(); ok {
			return strconv.AppendInt(b, int64(n), 10), nil
		}
	case bson.TypeInt64:
		if n, ok := v.Int64OK(); ok {
			return strconv.AppendInt(b, n, 10), nil
		}
	case bson.TypeDouble:
		if f, ok := v.DoubleOK(); ok {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return nil, &fieldError{msg: "the double " + strconv.FormatFloat(f, 'g', -1, 64) + " has no JSON form"}
			}
			return appendDouble(b, f), nil
		}
	case bson.TypeBoolean:
		if t, ok := v.BooleanOK(); ok {
			return strconv.AppendBool(b, t), nil
		}
	case bson.TypeNull:
		return append(b, "null"...), nil
	case bson.TypeEmbeddedDocument:
		if d, ok := v.DocumentOK(); ok {
			return appendJSONObject(b, d, false)
		}
	case bson.TypeArray:
		a, ok := v.ArrayOK()
		if !ok {
			break
		}
		vals, err := a.Values()
		if err != nil {
			return nil, &fieldError{msg: "malformed BSON: " + err.Error()}
		}
		b = append(b, '[')
		for i, e := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendJSONValue(b, e); err != nil {
				var fe *fieldError
				if errors.As(err, &fe) {
					return nil, fe.under(strconv.Itoa(i))
				}
				return nil, err
			}
		}
		return append(b, ']'), nil
	default:
		return nil, &fieldError{msg: "BSON type " + v.Type.String() + " has no JSON form in a stream's document"}
	}
	return nil, &fieldError{msg: "malformed BSON " + v.Type.String()}
}

// appendDouble appends f in the shortest form that reads back as the same
// double, and as a double: JavaScript's layout (plain digits from 1e-6 to
// below 1e21, an exponent outside), with ".0" after an integral value so
// that toBSON reads it back as a fraction, not an integer.
func appendDouble(b []byte, f float64) []byte {
	start := len(b)
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		b = strconv.AppendFloat(b, f, 'e', -1, 64)
		// Go writes the exponent as e+21 or e-07; JSON allows both, but
		// e21 and e-7 are shorter and what a client would write.
		e := bytes.IndexByte(b[start:], 'e') + start
		exp := e + 1
		if b[exp] == '-' {
			exp++
		}
		digits := exp
		if b[digits] == '+' {
			digits++
		}
		for digits < len(b)-1 && b[digits] == '0' {
			digits++
		}
		return append(b[:exp], b[digits:]...)
	}
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[start:], '.') < 0 {
		b = append(b, ".0"...)
	}
	return b
}
