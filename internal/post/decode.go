package post

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Posts are decoded by hand, for this one small schema, because
// encoding/json cannot refuse what postpipe refuses: it turns invalid UTF-8
// and lone surrogates into U+FFFD, matches field names case-insensitively and
// lets a repeated field overwrite the first. The decoder refuses all of these
// (see docs/api-input.md) and, not needing reflection, is faster on the
// request path too.

// SyntaxError is data that is not JSON.
type SyntaxError struct {
	Offset int  // byte offset of the problem
	EOF    bool // the data ended too early
	Msg    string
}

func (e *SyntaxError) Error() string {
	if e.EOF {
		return "malformed JSON: the data ends too early"
	}
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// NotObjectError is a JSON value where a post object was expected.
type NotObjectError struct {
	Kind string // "array", "string", "number", "bool" or "null"
	What string // what it should have been ("document"); "" is "post"
}

func (e *NotObjectError) Error() string {
	what := e.What
	if what == "" {
		what = "post"
	}
	return "a " + what + " must be a JSON object, not " + e.Kind
}

// TooManyError is a batch of more posts than allowed.
type TooManyError struct{ N, Max int }

func (e *TooManyError) Error() string {
	return fmt.Sprintf("the batch has %d posts; the limit is %d", e.N, e.Max)
}

// ErrNotArray is a batch body that is JSON but not an array.
var ErrNotArray = errors.New("the body must be a JSON array of posts")

// Messages of the field errors decoding finds. MsgUnknownField is exported
// so the API can phrase it its own way.
const (
	MsgUnknownField = "is not a field of a post (field names are case-sensitive)"
	msgDuplicate    = "appears more than once"
	msgInvalidUTF8  = "must be valid UTF-8"
	msgSurrogate    = "must not contain a lone UTF-16 surrogate escape"
)

// maxDepth bounds nesting, as encoding/json does, so a hostile body cannot
// run the decoder's stack deep.
const maxDepth = 10000

// DecodeInput decodes data, which must be one JSON object and nothing else,
// into an Input. It returns a *SyntaxError or *NotObjectError for data that
// is not a post object, and a *ValidationError listing field problems
// (unknown or repeated fields, wrong types, strings that are not valid
// Unicode). Validate still has to run on the result.
func DecodeInput(data []byte) (Input, error) {
	s := scanner{data: data}
	s.skipWS()
	if s.pos == len(data) {
		return Input{}, &SyntaxError{EOF: true}
	}
	in, fields, err := s.input()
	if err != nil {
		return Input{}, err
	}
	s.skipWS()
	if s.pos != len(data) {
		return Input{}, &SyntaxError{Offset: s.pos, Msg: "unexpected data after the post object"}
	}
	if err := fields.err(); err != nil {
		return Input{}, err
	}
	return in, nil
}

// DecodeBatch decodes data, a JSON array of posts, in one pass. items[i] is
// valid only where itemErrs[i] is nil: an item that is JSON but not a
// well-formed post fails alone (*NotObjectError or *ValidationError), while
// data that is not JSON fails the whole batch (*SyntaxError). More than max
// items is a *TooManyError.
func DecodeBatch(data []byte, max int) (items []Input, itemErrs []error, err error) {
	s := scanner{data: data}
	s.skipWS()
	if s.pos == len(data) {
		return nil, nil, &SyntaxError{EOF: true}
	}
	if data[s.pos] != '[' {
		if err := s.skipValue(0); err != nil {
			return nil, nil, err
		}
		return nil, nil, ErrNotArray
	}
	s.pos++
	n := 0
	for first := true; ; first = false {
		s.skipWS()
		if s.pos == len(data) {
			return nil, nil, &SyntaxError{EOF: true}
		}
		if data[s.pos] == ']' && first {
			s.pos++
			break
		}
		if !first {
			switch data[s.pos] {
			case ',':
				s.pos++
			case ']':
				s.pos++
				goto done
			default:
				return nil, nil, s.syntax("expected ',' or ']' after a post")
			}
		}
		n++
		if n > max { // count the rest for the answer without keeping them
			if err := s.skipValue(1); err != nil {
				return nil, nil, err
			}
			continue
		}
		in, fields, err := s.input()
		var nobj *NotObjectError
		switch {
		case err == nil && fields.any():
			err = fields.err()
		case err == nil:
		case asNotObject(err, &nobj):
		default:
			return nil, nil, err
		}
		if err != nil {
			in = Input{}
		}
		items = append(items, in)
		itemErrs = append(itemErrs, err)
	}
done:
	s.skipWS()
	if s.pos != len(data) {
		return nil, nil, &SyntaxError{Offset: s.pos, Msg: "unexpected data after the array"}
	}
	if n > max {
		return nil, nil, &TooManyError{N: n, Max: max}
	}
	return items, itemErrs, nil
}

func asNotObject(err error, target **NotObjectError) bool {
	e, ok := err.(*NotObjectError)
	if ok {
		*target = e
	}
	return ok
}

// The fields of a record, as bits of a seen-set; an Input has the first
// five.
const (
	fAuthor = 1 << iota
	fTitle
	fSubtitle
	fContent
	fTags
	fID
	fCreatedAt
	fIngestedAt
	fFingerprint
)

// fieldBit returns the bit of a field name; 0 for a name that is not a
// field. Names match exactly: encoding/json would also take "AUTHOR".
func fieldBit(name []byte, record bool) int {
	switch string(name) {
	case "author":
		return fAuthor
	case "title":
		return fTitle
	case "subtitle":
		return fSubtitle
	case "content":
		return fContent
	case "tags":
		return fTags
	}
	if !record {
		return 0
	}
	switch string(name) {
	case "id":
		return fID
	case "createdAt":
		return fCreatedAt
	case "ingestedAt":
		return fIngestedAt
	case "fp":
		return fFingerprint
	}
	return 0
}

// fieldNames are the names of the bits, for field errors.
var fieldNames = map[int]string{
	fAuthor: "author", fTitle: "title", fSubtitle: "subtitle", fContent: "content", fTags: "tags",
	fID: "id", fCreatedAt: "createdAt", fIngestedAt: "ingestedAt", fFingerprint: "fp",
}

// input decodes a post object at s.pos; a value of another kind is skipped
// and reported as a *NotObjectError. Field problems are collected, within
// their bounds, and decoding goes on to the end of the object.
func (s *scanner) input() (in Input, fields fieldErrors, err error) {
	if err := s.beginObject(); err != nil {
		return Input{}, fields, err
	}
	seen := 0
	for first := true; ; first = false {
		name, bad, done, err := s.nextField(first)
		if err != nil || done {
			return in, fields, err
		}
		bit := 0
		if !bad {
			bit = fieldBit(name, false)
		}
		if !s.known(name, bad, bit, &seen, &fields) {
			if err := s.skipValue(1); err != nil {
				return in, fields, err
			}
			continue
		}
		if err := s.inputValue(&in, &fields, bit); err != nil {
			return in, fields, err
		}
	}
}

// known reports whether the field named name (bit 0: not a field) is one
// to decode: it is a field and the first of its name. Otherwise it adds
// the field error and the caller skips the value.
func (s *scanner) known(name []byte, bad bool, bit int, seen *int, fields *fieldErrors) bool {
	switch {
	case bit == 0:
		if !fields.room() {
			return false
		}
		// The name is the client's, of any length: only what the error
		// can show of it is copied (a rune more, so the cut is marked).
		name = name[:min(len(name), MaxFieldErrorText+utf8.UTFMax)]
		n := string(name)
		if bad {
			n = fmt.Sprintf("%q", n)
		}
		fields.add(n, MsgUnknownField)
		return false
	case *seen&bit != 0:
		fields.add(fieldNames[bit], msgDuplicate)
		return false
	}
	*seen |= bit
	return true
}

// inputValue decodes the value of an Input field into in.
func (s *scanner) inputValue(in *Input, fields *fieldErrors, bit int) error {
	if bit == fTags {
		tags, err := s.tags(fields)
		in.Tags = tags
		return err
	}
	v, err := s.stringField(fieldNames[bit], fields)
	switch bit {
	case fAuthor:
		in.Author = v
	case fTitle:
		in.Title = v
	case fSubtitle:
		in.Subtitle = v
	case fContent:
		in.Content = v
	}
	return err
}

// beginObject reads the '{' of an object at s.pos. A value of another kind
// is skipped and reported as a *NotObjectError.
func (s *scanner) beginObject() error {
	s.skipWS()
	if s.pos == len(s.data) {
		return &SyntaxError{EOF: true}
	}
	if s.data[s.pos] != '{' {
		kind := s.kind()
		if err := s.skipValue(1); err != nil {
			return err
		}
		return &NotObjectError{Kind: kind}
	}
	s.pos++
	return nil
}

// nextField reads the next member's name and colon, leaving s.pos at its
// value, which the caller must read; done reports the end of the object.
// name is valid only until the next read; bad means it is not valid Unicode.
func (s *scanner) nextField(first bool) (name []byte, bad, done bool, err error) {
	s.skipWS()
	if s.pos == len(s.data) {
		return nil, false, false, &SyntaxError{EOF: true}
	}
	if c := s.data[s.pos]; c == '}' && first {
		s.pos++
		return nil, false, true, nil
	} else if !first {
		switch c {
		case ',':
			s.pos++
			s.skipWS()
		case '}':
			s.pos++
			return nil, false, true, nil
		default:
			return nil, false, false, s.syntax("expected ',' or '}' after a field")
		}
		if s.pos == len(s.data) {
			return nil, false, false, &SyntaxError{EOF: true}
		}
	}
	if s.data[s.pos] != '"' {
		return nil, false, false, s.syntax("expected a field name in double quotes")
	}
	name, why, err := s.readRaw()
	if err != nil {
		return nil, false, false, err
	}
	s.skipWS()
	if s.pos == len(s.data) {
		return nil, false, false, &SyntaxError{EOF: true}
	}
	if s.data[s.pos] != ':' {
		return nil, false, false, s.syntax("expected ':' after a field name")
	}
	s.pos++
	s.skipWS()
	return name, why != "", false, nil
}

// stringField reads a string (or null, read as "") for field name; another
// kind or a refused string adds a field error.
func (s *scanner) stringField(name string, fields *fieldErrors) (string, error) {
	if s.pos == len(s.data) {
		return "", &SyntaxError{EOF: true}
	}
	switch s.data[s.pos] {
	case '"':
		v, bad, err := s.readString()
		if bad != "" {
			fields.add(name, bad)
		}
		return v, err
	case 'n':
		return "", s.literal("null")
	}
	if fields.room() {
		fields.add(name, "must be a string, not "+s.kind())
	}
	return "", s.skipValue(1)
}

// tags reads an array of strings (or null). Once the post has a field
// error its tags are not kept: the post is refused and they would only
// take memory.
func (s *scanner) tags(fields *fieldErrors) ([]string, error) {
	if s.pos == len(s.data) {
		return nil, &SyntaxError{EOF: true}
	}
	switch s.data[s.pos] {
	case 'n':
		return nil, s.literal("null")
	case '[':
	default:
		if fields.room() {
			fields.add("tags", "must be an array of strings, not "+s.kind())
		}
		return nil, s.skipValue(1)
	}
	s.pos++
	tags := make([]string, 0, 4)
	for i := 0; ; i++ {
		s.skipWS()
		if s.pos == len(s.data) {
			return nil, &SyntaxError{EOF: true}
		}
		if s.data[s.pos] == ']' && i == 0 {
			s.pos++
			return tags, nil
		}
		if i > 0 {
			switch s.data[s.pos] {
			case ',':
				s.pos++
				s.skipWS()
			case ']':
				s.pos++
				return tags, nil
			default:
				return nil, s.syntax("expected ',' or ']' after a tag")
			}
		}
		if s.pos == len(s.data) {
			return nil, &SyntaxError{EOF: true}
		}
		var (
			v    string
			err  error
			msg  string
			kind string // of a value that is not a string
		)
		switch s.data[s.pos] {
		case '"':
			v, msg, err = s.readString()
		case 'n':
			err = s.literal("null")
		default:
			kind = s.kind()
			err = s.skipValue(1)
		}
		if err != nil {
			return nil, err
		}
		// The name and message are made only for an error the list has
		// room for.
		if (msg != "" || kind != "") && fields.room() {
			if kind != "" {
				msg = "must be a string, not " + kind
			}
			fields.add("tags["+strconv.Itoa(i)+"]", msg)
		}
		if !fields.any() {
			tags = append(tags, v)
		}
	}
}

// scanner reads JSON from data.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) syntax(msg string) error {
	if s.pos >= len(s.data) {
		return &SyntaxError{EOF: true}
	}
	return &SyntaxError{Offset: s.pos, Msg: msg}
}

func (s *scanner) skipWS() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// kind names the JSON type of the value at s.pos, as the API reports it.
func (s *scanner) kind() string {
	switch s.data[s.pos] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) {
		if string(s.data[s.pos:]) == lit[:len(s.data)-s.pos] {
			return &SyntaxError{EOF: true}
		}
		return s.syntax("invalid literal")
	}
	if string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.syntax("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// skipValue reads past one JSON value, checking its syntax.
func (s *scanner) skipValue(depth int) error {
	s.skipWS()
	if s.pos == len(s.data) {
		return &SyntaxError{EOF: true}
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		_, _, err := s.readString()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return s.syntax("nested too deeply")
		}
		if c == '{' {
			s.pos++
			for first := true; ; first = false {
				_, _, done, err := s.nextField(first)
				if err != nil || done {
					return err
				}
				if err := s.skipValue(depth + 1); err != nil {
					return err
				}
			}
		}
		s.pos++
		for i := 0; ; i++ {
			s.skipWS()
			if s.pos == len(s.data) {
				return &SyntaxError{EOF: true}
			}
			if s.data[s.pos] == ']' && i == 0 {
				s.pos++
				return nil
			}
			if i > 0 {
				switch s.data[s.pos] {
				case ',':
					s.pos++
				case ']':
					s.pos++
					return nil
				default:
					return s.syntax("expected ',' or ']' in an array")
				}
			}
			if err := s.skipValue(depth + 1); err != nil {
				return err
			}
		}
	}
	return s.syntax(fmt.Sprintf("invalid character %q looking for a value", s.data[s.pos]))
}

// number reads past a JSON number.
func (s *scanner) number() error {
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(d) && '0' <= d[s.pos] && d[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	switch {
	case s.pos == len(d):
		return &SyntaxError{EOF: true}
	case d[s.pos] == '0':
		s.pos++
	case '1' <= d[s.pos] && d[s.pos] <= '9':
		digits()
	default:
		return s.syntax("invalid number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return s.syntax("invalid number")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return s.syntax("invalid number")
		}
	}
	return nil
}

// readString reads the JSON string at s.pos. err is a syntax error; bad,
// when not empty, says why the well-formed string is refused (invalid UTF-8,
// a lone surrogate escape): the string is then returned with U+FFFD in place
// of each bad part.
func (s *scanner) readString() (v, bad string, err error) {
	b, bad, err := s.readRaw()
	return string(b), bad, err
}

// readRaw is readString returning bytes that, for a string without escapes
// or non-ASCII, are a part of s.data: valid until s.data changes.
func (s *scanner) readRaw() (v []byte, bad string, err error) {
	s.pos++ // the opening quote
	start := s.pos
	d := s.data
	for s.pos < len(d) { // the common case: plain ASCII without escapes
		c := d[s.pos]
		if c == '"' {
			s.pos++
			return d[start : s.pos-1], "", nil
		}
		if c == '\\' || c < 0x20 || c >= 0x80 {
			break
		}
		s.pos++
	}
	buf := make([]byte, s.pos-start, s.pos-start+64)
	copy(buf, d[start:s.pos])
	for {
		if s.pos >= len(d) {
			return nil, "", &SyntaxError{EOF: true}
		}
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return buf, bad, nil
		case c < 0x20:
			return nil, "", s.syntax("control character in a string (escape it)")
		case c == '\\':
			if s.pos+1 >= len(d) {
				return nil, "", &SyntaxError{EOF: true}
			}
			e := d[s.pos+1]
			s.pos += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := s.hex4()
				if err != nil {
					return nil, "", err
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if r < 0xdc00 && s.pos+1 < len(d) && d[s.pos] == '\\' && d[s.pos+1] == 'u' {
						save := s.pos
						s.pos += 2
						if r2, err = s.hex4(); err != nil {
							return nil, "", err
						}
						if r2 < 0xdc00 || r2 > 0xdfff {
							s.pos, r2 = save, -1 // not a pair: read the next escape on its own
						}
					}
					if r2 < 0 {
						if bad == "" {
							bad = msgSurrogate
						}
						r = utf8.RuneError
					} else {
						r = utf16.DecodeRune(r, r2)
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				s.pos--
				return nil, "", s.syntax("invalid escape in a string")
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			s.pos++
		default:
			r, size := utf8.DecodeRune(d[s.pos:])
			if r == utf8.RuneError && size == 1 {
				if bad == "" {
					bad = msgInvalidUTF8
				}
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, d[s.pos:s.pos+size]...)
			}
			s.pos += size
		}
	}
}

func (s *scanner) hex4() (rune, error) {
	if len(s.data)-s.pos < 4 {
		return 0, &SyntaxError{EOF: true}
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, s.syntax("invalid \\u escape")
		}
		r = r<<4 | rune(c)
	}
	s.pos += 4
	return r, nil
}

// decodeRecord decodes a record value strictly, by the same rules as
// DecodeInput plus the fields the API adds.
func decodeRecord(data []byte) (Post, error) {
	s := scanner{data: data}
	var (
		p      Post
		in     Input
		fields fieldErrors
	)
	if err := s.beginObject(); err != nil {
		return Post{}, err
	}
	seen := 0
	for first := true; ; first = false {
		name, bad, done, err := s.nextField(first)
		if err != nil {
			return Post{}, err
		}
		if done {
			break
		}
		bit := 0
		if !bad {
			bit = fieldBit(name, true)
		}
		if !s.known(name, bad, bit, &seen, &fields) {
			err = s.skipValue(1)
		} else if bit <= fTags {
			err = s.inputValue(&in, &fields, bit)
		} else {
			var v string
			v, err = s.stringField(fieldNames[bit], &fields)
			switch bit {
			case fID:
				p.ID = v
			case fFingerprint:
				p.Fingerprint = v
			case fCreatedAt, fIngestedAt:
				t, perr := time.Parse(time.RFC3339, v)
				if perr != nil && v != "" {
					fields.add(fieldNames[bit], "must be an RFC 3339 time")
				}
				if bit == fCreatedAt {
					p.CreatedAt = t
				}
			}
		}
		if err != nil {
			return Post{}, err
		}
	}
	s.skipWS()
	if s.pos != len(data) {
		return Post{}, &SyntaxError{Offset: s.pos, Msg: "trailing data after the post"}
	}
	if err := fields.err(); err != nil {
		return Post{}, err
	}
	p.Author, p.Title, p.Subtitle, p.Content, p.Tags = in.Author, in.Title, in.Subtitle, in.Content, in.Tags
	return p, nil
}
