package doc

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/postpipe/postpipe/internal/post"
)

// A document is read by hand, in one pass, for the reasons internal/post
// reads posts by hand: encoding/json turns invalid UTF-8 and lone
// surrogates into U+FFFD and lets a repeated member overwrite the first,
// and it cannot say which numbers would change on their way into BSON. The
// pass checks the rules every stream shares (docs/streams.md), writes the
// compact Body and builds the Tree the schema is checked against.

// Parsed is a body that obeys the strict rules: Body is the object
// re-encoded compact (members in the client's order, strings as
// post.AppendQuoted writes them, numbers byte for byte as sent), Tree the
// same object as map[string]any, []any, json.Number, string, bool and nil,
// for stream.Validator.
type Parsed struct {
	Body []byte
	Tree map[string]any
}

// Parse reads data, which must be one JSON object and nothing else but
// whitespace. Data that is not JSON, holds invalid UTF-8 or a lone or
// misordered surrogate escape, or nests deeper than MaxDepth is a
// *post.SyntaxError; a value that is not an object a *post.NotObjectError;
// an object that breaks a member rule (see checkName, checkString and
// checkNumber) a *post.ValidationError listing each problem at its JSON
// Pointer.
func Parse(data []byte) (Parsed, error) {
	s := scanner{data: data, maxDepth: MaxDepth, out: make([]byte, 0, len(data))}
	return s.document()
}

// ParseBatch reads data, a JSON array of documents, in one pass, as
// post.DecodeBatch reads posts: items[i] is valid only where itemErrs[i] is
// nil. An item that is JSON but not a document fails alone (a
// *post.NotObjectError, or a *post.ValidationError with pointers within the
// item), while data that is not JSON fails the whole batch
// (*post.SyntaxError). Data that is JSON but not an array is
// post.ErrNotArray, and more than max items a *post.TooManyError.
func ParseBatch(data []byte, max int) (items []Parsed, itemErrs []error, err error) {
	s := scanner{data: data, maxDepth: MaxDepth, out: make([]byte, 0, len(data))}
	s.skipWS()
	if s.pos == len(data) {
		return nil, nil, &post.SyntaxError{EOF: true}
	}
	if data[s.pos] != '[' {
		if err := s.skip(1); err != nil {
			return nil, nil, err
		}
		if err := s.end("the array"); err != nil {
			return nil, nil, err
		}
		return nil, nil, post.ErrNotArray
	}
	s.pos++
	n := 0
	for first := true; ; first = false {
		s.skipWS()
		if s.pos == len(data) {
			return nil, nil, &post.SyntaxError{EOF: true}
		}
		c := data[s.pos]
		if c == ']' && first {
			s.pos++
			break
		}
		if !first {
			if c == ']' {
				s.pos++
				break
			}
			if c != ',' {
				return nil, nil, s.syntax("expected ',' or ']' after a document")
			}
			s.pos++
			s.skipWS()
			if s.pos == len(data) {
				return nil, nil, &post.SyntaxError{EOF: true}
			}
		}
		n++
		if n > max { // only counted, for the answer
			if err := s.skip(1); err != nil {
				return nil, nil, err
			}
			continue
		}
		start := len(s.out)
		tree, err := s.item()
		switch err.(type) {
		case nil:
		case *post.NotObjectError, *post.ValidationError:
		default:
			return nil, nil, err
		}
		var p Parsed
		if err == nil {
			// Items share one buffer; the full slice expression keeps an
			// append to one item's Body from writing over the next.
			p = Parsed{Body: s.out[start:len(s.out):len(s.out)], Tree: tree}
		} else {
			s.out = s.out[:start]
		}
		items = append(items, p)
		itemErrs = append(itemErrs, err)
	}
	if err := s.end("the array"); err != nil {
		return nil, nil, err
	}
	if n > max {
		return nil, nil, &post.TooManyError{N: n, Max: max}
	}
	return items, itemErrs, nil
}

// scanner reads JSON from data, writing the compact form to out.
type scanner struct {
	data     []byte
	pos      int
	out      []byte
	maxDepth int
	errs     fieldErrors
	// path is where the value being read is, for the pointers of field
	// errors; a pointer is made only for an error the list has room for.
	path []step
	// names are the member names of the objects being read, outermost
	// first: an object's are names[base:] while it is read.
	names []string
	// scratch holds a string with escapes while it is decoded.
	scratch []byte
	// tops records where each top-level member's value lies in out,
	// when wantTops is set (Unmarshal slices the record's doc from it).
	wantTops bool
	tops     []span
}

// step is one token of a JSON Pointer: a member name, or an array index
// when index >= 0.
type step struct {
	name  string
	index int
}

// span is a top-level member and where its value lies in out.
type span struct {
	name       string
	start, end int
}

// document reads one object and the end of the data.
func (s *scanner) document() (Parsed, error) {
	s.skipWS()
	if s.pos == len(s.data) {
		return Parsed{}, &post.SyntaxError{EOF: true}
	}
	tree, err := s.item()
	if _, ok := err.(*post.SyntaxError); ok {
		return Parsed{}, err
	}
	// Data that is not JSON is the first thing to say, before what is
	// wrong with a document that is.
	if err := s.end("the document"); err != nil {
		return Parsed{}, err
	}
	if err != nil {
		return Parsed{}, err
	}
	return Parsed{Body: s.out, Tree: tree}, nil
}

// end requires nothing but whitespace after the value just read.
func (s *scanner) end(what string) error {
	s.skipWS()
	if s.pos != len(s.data) {
		return s.syntax("unexpected data after " + what)
	}
	return nil
}

// item reads one document at s.pos (after whitespace): an object, with its
// field errors, or any other value, checked and skipped, as a
// *post.NotObjectError.
func (s *scanner) item() (map[string]any, error) {
	if s.data[s.pos] != '{' {
		kind := s.kind()
		if err := s.skip(1); err != nil {
			return nil, err
		}
		return nil, &post.NotObjectError{Kind: kind, What: "document"}
	}
	s.errs = fieldErrors{}
	tree, err := s.object(1)
	if err != nil {
		return nil, err
	}
	if err := s.errs.err(); err != nil {
		return nil, err
	}
	return tree, nil
}

// value reads the value at s.pos, which the caller has found after
// whitespace; a container it opens is at nesting level depth.
func (s *scanner) value(depth int) (any, error) {
	if s.pos == len(s.data) {
		return nil, &post.SyntaxError{EOF: true}
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		m, err := s.object(depth)
		return m, err
	case c == '[':
		a, err := s.array(depth)
		return a, err
	case c == '"':
		v, ctl, err := s.str(true)
		if err == nil && ctl >= 0 && s.errs.room() {
			s.errs.add(s.pointer(), msgControl(ctl))
		}
		return v, err
	case c == '-' || '0' <= c && c <= '9':
		lit, integer, err := s.number()
		if err != nil {
			return nil, err
		}
		s.out = append(s.out, lit...)
		n := string(lit)
		if msg := checkNumber(n, integer); msg != "" && s.errs.room() {
			s.errs.add(s.pointer(), msg)
		}
		return json.Number(n), nil
	case c == 't':
		return true, s.literal("true")
	case c == 'f':
		return false, s.literal("false")
	case c == 'n':
		return nil, s.literal("null")
	}
	return nil, s.syntax("invalid character " + quoteByte(s.data[s.pos]) + " looking for a value")
}

// object reads the object at s.pos, at nesting level depth.
func (s *scanner) object(depth int) (map[string]any, error) {
	if depth > s.maxDepth {
		return nil, s.syntax("nested too deeply (at most " + itoa(s.maxDepth) + " levels of objects and arrays)")
	}
	s.pos++
	s.out = append(s.out, '{')
	m := map[string]any{}
	base := len(s.names)
	var folded map[string]string
	for first := true; ; first = false {
		s.skipWS()
		if s.pos == len(s.data) {
			return nil, &post.SyntaxError{EOF: true}
		}
		c := s.data[s.pos]
		if c == '}' { // after '{' or a member; after ',' a name is expected
			s.pos++
			s.out = append(s.out, '}')
			s.names = s.names[:base]
			return m, nil
		}
		if !first {
			if c != ',' {
				return nil, s.syntax("expected ',' or '}' after a member")
			}
			s.pos++
			s.skipWS()
			if s.pos == len(s.data) {
				return nil, &post.SyntaxError{EOF: true}
			}
			s.out = append(s.out, ',')
		}
		if s.data[s.pos] != '"' {
			return nil, s.syntax("expected a member name in double quotes")
		}
		name, ctl, err := s.str(true)
		if err != nil {
			return nil, err
		}
		s.skipWS()
		if s.pos == len(s.data) {
			return nil, &post.SyntaxError{EOF: true}
		}
		if s.data[s.pos] != ':' {
			return nil, s.syntax("expected ':' after a member name")
		}
		s.pos++
		s.out = append(s.out, ':')
		s.skipWS()

		s.path = append(s.path, step{name: name, index: -1})
		_, dup := m[name]
		s.checkName(name, ctl, dup, base, &folded)
		if !dup {
			s.names = append(s.names, name)
		}
		start := len(s.out)
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		s.path = s.path[:len(s.path)-1]
		if !dup {
			m[name] = v
		}
		if depth == 1 && s.wantTops {
			s.tops = append(s.tops, span{name: name, start: start, end: len(s.out)})
		}
	}
}

// array reads the array at s.pos, at nesting level depth.
func (s *scanner) array(depth int) ([]any, error) {
	if depth > s.maxDepth {
		return nil, s.syntax("nested too deeply (at most " + itoa(s.maxDepth) + " levels of objects and arrays)")
	}
	s.pos++
	s.out = append(s.out, '[')
	// Not nil: encoding/json decodes [] as an empty slice too, and a
	// schema's validator sees an array either way.
	a := []any{}
	for i := 0; ; i++ {
		s.skipWS()
		if s.pos == len(s.data) {
			return nil, &post.SyntaxError{EOF: true}
		}
		c := s.data[s.pos]
		if c == ']' { // after '[' or an item; after ',' a value is expected
			s.pos++
			s.out = append(s.out, ']')
			return a, nil
		}
		if i > 0 {
			if c != ',' {
				return nil, s.syntax("expected ',' or ']' after an array item")
			}
			s.pos++
			s.skipWS()
			s.out = append(s.out, ',')
		}
		s.path = append(s.path, step{index: i})
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		s.path = s.path[:len(s.path)-1]
		a = append(a, v)
	}
}

// skip reads past one JSON value, by the syntax rules alone (UTF-8,
// surrogates and depth included), keeping nothing: a value that is not a
// document, or a batch's item beyond its limit.
func (s *scanner) skip(depth int) error {
	s.skipWS()
	if s.pos == len(s.data) {
		return &post.SyntaxError{EOF: true}
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		_, _, err := s.str(false)
		return err
	case c == '-' || '0' <= c && c <= '9':
		_, _, err := s.number()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '{' || c == '[':
		if depth > s.maxDepth {
			return s.syntax("nested too deeply (at most " + itoa(s.maxDepth) + " levels of objects and arrays)")
		}
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.pos++
		for i := 0; ; i++ {
			s.skipWS()
			if s.pos == len(s.data) {
				return &post.SyntaxError{EOF: true}
			}
			if s.data[s.pos] == closer {
				s.pos++
				return nil
			}
			if i > 0 {
				if s.data[s.pos] != ',' {
					return s.syntax("expected ',' or '" + string(closer) + "'")
				}
				s.pos++
				s.skipWS()
				if s.pos == len(s.data) {
					return &post.SyntaxError{EOF: true}
				}
			}
			if closer == '}' {
				if s.data[s.pos] != '"' {
					return s.syntax("expected a member name in double quotes")
				}
				if _, _, err := s.str(false); err != nil {
					return err
				}
				s.skipWS()
				if s.pos == len(s.data) {
					return &post.SyntaxError{EOF: true}
				}
				if s.data[s.pos] != ':' {
					return s.syntax("expected ':' after a member name")
				}
				s.pos++
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
		}
	}
	return s.syntax("invalid character " + quoteByte(s.data[s.pos]) + " looking for a value")
}

// str reads the string at s.pos. With keep it returns the decoded string
// and appends its canonical form (post.AppendQuoted's) to out; without, it
// only checks it. ctl is the first C0 control character other than tab,
// line feed and carriage return the string decodes to (one can only be
// escaped: a raw one is a syntax error), -1 for none.
func (s *scanner) str(keep bool) (v string, ctl rune, err error) {
	d := s.data
	s.pos++ // the opening quote
	start := s.pos
	// The common case: no escape, and nothing AppendQuoted would write
	// otherwise, so the bytes as sent are the canonical form.
	for s.pos < len(d) {
		c := d[s.pos]
		if c == '"' {
			s.pos++
			if keep {
				s.out = append(s.out, d[start-1:s.pos]...)
				v = string(d[start : s.pos-1])
			}
			return v, -1, nil
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			s.pos++
			continue
		}
		r, size := utf8.DecodeRune(d[s.pos:])
		if r == utf8.RuneError && size == 1 {
			return "", -1, s.syntax("invalid UTF-8 in a string")
		}
		if r == '\u2028' || r == '\u2029' {
			break // AppendQuoted escapes them
		}
		s.pos += size
	}
	buf := s.scratch[:0]
	if keep {
		buf = append(buf, d[start:s.pos]...)
	}
	ctl = -1
	for {
		if s.pos >= len(d) {
			return "", -1, &post.SyntaxError{EOF: true}
		}
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			if keep {
				v = string(buf)
				s.out = post.AppendQuoted(s.out, v)
				s.scratch = buf[:0]
			}
			return v, ctl, nil
		case c < 0x20:
			return "", -1, s.syntax("control character in a string (escape it)")
		case c == '\\':
			if s.pos+1 >= len(d) {
				return "", -1, &post.SyntaxError{EOF: true}
			}
			var r rune
			switch e := d[s.pos+1]; e {
			case '"', '\\', '/':
				r = rune(e)
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'u':
			default:
				s.pos++
				return "", -1, s.syntax("invalid escape in a string")
			}
			s.pos += 2
			if d[s.pos-1] == 'u' {
				if r, err = s.hex4(); err != nil {
					return "", -1, err
				}
				if utf16.IsSurrogate(r) {
					if r, err = s.lowSurrogate(r); err != nil {
						return "", -1, err
					}
				}
			}
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' && ctl < 0 {
				ctl = r
			}
			if keep {
				buf = utf8.AppendRune(buf, r)
			}
		case c < utf8.RuneSelf:
			if keep {
				buf = append(buf, c)
			}
			s.pos++
		default:
			r, size := utf8.DecodeRune(d[s.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", -1, s.syntax("invalid UTF-8 in a string")
			}
			if keep {
				buf = append(buf, d[s.pos:s.pos+size]...)
			}
			s.pos += size
		}
	}
}

// lowSurrogate completes the high surrogate hi, just read, with the low
// one that must follow it as the next escape; anything else (a low
// surrogate first, a high one alone) is not a character and is refused.
func (s *scanner) lowSurrogate(hi rune) (rune, error) {
	at := s.pos - len(`\uXXXX`)
	if hi >= 0xdc00 {
		s.pos = at
		return 0, s.syntax("a low UTF-16 surrogate escape without a high one before it")
	}
	d := s.data
	switch {
	case s.pos+1 < len(d) && d[s.pos] == '\\' && d[s.pos+1] == 'u':
		s.pos += 2
		lo, err := s.hex4()
		if err != nil {
			return 0, err
		}
		if 0xdc00 <= lo && lo <= 0xdfff {
			return utf16.DecodeRune(hi, lo), nil
		}
	case s.pos == len(d) || s.pos+1 == len(d) && d[s.pos] == '\\':
		return 0, &post.SyntaxError{EOF: true}
	}
	s.pos = at
	return 0, s.syntax("a high UTF-16 surrogate escape without a low one after it")
}

func (s *scanner) hex4() (rune, error) {
	if len(s.data)-s.pos < 4 {
		for _, c := range s.data[s.pos:] {
			if !isHex(c) {
				return 0, s.syntax("invalid \\u escape")
			}
		}
		return 0, &post.SyntaxError{EOF: true}
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

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// number reads the JSON number at s.pos; integer reports that it is
// written without a fraction or exponent.
func (s *scanner) number() (lit []byte, integer bool, err error) {
	d := s.data
	start := s.pos
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
		return nil, false, &post.SyntaxError{EOF: true}
	case d[s.pos] == '0':
		s.pos++
	case '1' <= d[s.pos] && d[s.pos] <= '9':
		digits()
	default:
		return nil, false, s.syntax("invalid number")
	}
	integer = true
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		integer = false
		if digits() == 0 {
			return nil, false, s.syntax("invalid number")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		integer = false
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return nil, false, s.syntax("invalid number")
		}
	}
	return d[start:s.pos], integer, nil
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) {
		if string(s.data[s.pos:]) == lit[:len(s.data)-s.pos] {
			return &post.SyntaxError{EOF: true}
		}
		return s.syntax("invalid literal")
	}
	if string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.syntax("invalid literal")
	}
	s.pos += len(lit)
	s.out = append(s.out, lit...)
	return nil
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

// syntax is a *post.SyntaxError at s.pos; at the end of the data, the
// data ended too early.
func (s *scanner) syntax(msg string) error {
	if s.pos >= len(s.data) {
		return &post.SyntaxError{EOF: true}
	}
	return &post.SyntaxError{Offset: s.pos, Msg: msg}
}

// kind names the JSON type of the value at s.pos, as post.NotObjectError
// does.
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

// pointer is the JSON Pointer (RFC 6901) of the value being read.
func (s *scanner) pointer() string {
	var b strings.Builder
	for _, st := range s.path {
		b.WriteByte('/')
		if st.index >= 0 {
			b.WriteString(itoa(st.index))
			continue
		}
		appendToken(&b, st.name)
		if b.Len() > post.MaxFieldErrorText {
			break // cut by the error list anyway
		}
	}
	return b.String()
}

func appendToken(b *strings.Builder, name string) {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case '~':
			b.WriteString("~0")
		case '/':
			b.WriteString("~1")
		default:
			b.WriteByte(c)
		}
	}
}

// Messages of the member rules.
const (
	msgEmptyName  = "is an empty member name, which MongoDB cannot store"
	msgNULName    = "has U+0000 in its name, which MongoDB cannot store"
	msgDotName    = "has '.' in its name, which MongoDB reads as a path into the document; it cannot be stored"
	msgDollarName = "starts with '$', which MongoDB keeps for its operators; it cannot be stored"
	msgDuplicate  = "appears more than once in its object"
	msgBigInteger = "an integer beyond 64 bits has no BSON type; send it as a string"
	msgRounded    = "would be rounded when stored; send it as a string"
	msgInfinite   = "is beyond the range of a 64-bit float, so it would be stored as infinity or zero; send it as a string"
	msgReserved   = "is a name postpipe reserves at the top of a document (an answer adds id, createdAt and ingestedAt; the store keeps _id and _fp)"
)

func msgControl(r rune) string {
	const hex = "0123456789ABCDEF"
	return "must not contain control characters (U+00" + string(hex[r>>4]) + string(hex[r&0xf]) + "); only tab, line feed and carriage return are allowed"
}

func msgCase(other string) string {
	return "differs only by case from the member " + quote(post.Truncate(other, post.MaxFieldErrorText/2)) + ", which MongoDB and many clients would treat ambiguously"
}

// checkName applies the member-name rules to name, the member being read
// (its pointer is on the path) of the object whose names are
// s.names[base:]; dup says name is already one of them. ctl is what str
// found in the name.
//
// MongoDB cannot store an empty name or one with U+0000, and reads '.' and a
// leading '$' as paths and operators; a control character is refused in
// names as in values. Two names that differ only by case (Unicode simple
// case folding, as strings.EqualFold and encoding/json's field matching)
// would be one member to a case-insensitive client, and which one it took
// would depend on the client.
func (s *scanner) checkName(name string, ctl rune, dup bool, base int, folded *map[string]string) {
	msg := ""
	switch {
	case name == "":
		msg = msgEmptyName
	case ctl == 0:
		msg = msgNULName
	case ctl > 0:
		msg = msgControl(ctl)
	case strings.IndexByte(name, '.') >= 0:
		msg = msgDotName
	case name[0] == '$':
		msg = msgDollarName
	}
	if msg != "" && s.errs.room() {
		s.errs.add(s.pointer(), msg)
	}
	if dup {
		if s.errs.room() {
			s.errs.add(s.pointer(), msgDuplicate)
		}
		return
	}
	// A few names are compared one by one; an object of many is compared
	// through a map of folded names, so a hostile object of a hundred
	// thousand members costs no more than its size.
	const linear = 16
	names := s.names[base:]
	if len(names) < linear {
		for _, other := range names {
			if strings.EqualFold(other, name) {
				if s.errs.room() {
					s.errs.add(s.pointer(), msgCase(other))
				}
				return
			}
		}
		return
	}
	if *folded == nil {
		*folded = make(map[string]string, 2*len(names))
		for _, other := range names {
			k := foldKey(other)
			if _, ok := (*folded)[k]; !ok {
				(*folded)[k] = other
			}
		}
	}
	k := foldKey(name)
	if other, ok := (*folded)[k]; ok {
		if s.errs.room() {
			s.errs.add(s.pointer(), msgCase(other))
		}
		return
	}
	(*folded)[k] = name
}

// foldKey maps each rune of name to the least of its simple case folding
// orbit, so foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b).
func foldKey(name string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, name)
}

// fieldErrors collects one document's field errors within post's bounds:
// the first post.MaxFieldErrors, each cut to post.MaxFieldErrorText bytes,
// and a count of the rest.
type fieldErrors struct {
	list []post.FieldError
	more int
}

// room reports whether another error will be listed, counting it when it
// will not, so the caller need not build its pointer and message.
func (f *fieldErrors) room() bool {
	if len(f.list) < post.MaxFieldErrors {
		return true
	}
	f.more++
	return false
}

// add lists an error the caller has found room for.
func (f *fieldErrors) add(field, msg string) {
	f.list = append(f.list, post.FieldError{
		Field:   post.Truncate(field, post.MaxFieldErrorText),
		Message: post.Truncate(msg, post.MaxFieldErrorText),
	})
}

func (f *fieldErrors) err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &post.ValidationError{Fields: f.list, More: f.more, What: "document"}
}

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		const hex = "0123456789abcdef"
		return `'\x` + string(hex[c>>4]) + string(hex[c&0xf]) + `'`
	}
	return "'" + string(c) + "'"
}

// quote is a name in double quotes, for a message; post.AppendQuoted's
// escapes keep it one line.
func quote(s string) string { return string(post.AppendQuoted(nil, s)) }
