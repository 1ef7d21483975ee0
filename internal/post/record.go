package post

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The Kafka record value is the post as JSON. The sink trusts nothing on the
// topic: anyone with access can write to it, so a record is decoded strictly
// and validated again before it may reach the store.

// ErrBadRecord marks a record the sink can never store; it goes to the DLQ.
var ErrBadRecord = errors.New("bad record")

// record is the record value: the post plus its input fingerprint, which
// the public JSON of a post leaves out.
type record struct {
	Post
	Fingerprint string `json:"fp,omitempty"`
}

// Marshal encodes p as a record value: the JSON encoding/json gives a
// record{p, p.Fingerprint} with HTML escaping off (a '<' stays one byte
// instead of six, so the record is never much larger than the post; see
// EncodedLen), byte for byte. It is written by hand because it runs once per
// accepted post: encoding/json's reflection and its encoder's buffer cost
// more than the rest of the encoding (TestMarshalMatchesEncodingJSON holds
// the two equal).
func Marshal(p Post) ([]byte, error) {
	if !jsonTime(p.CreatedAt) || !(p.IngestedAt.IsZero() || jsonTime(p.IngestedAt)) {
		return nil, fmt.Errorf("encode post %s: a time outside the years 0-9999 has no JSON form", p.ID)
	}
	n := len(p.ID) + len(p.Author) + len(p.Title) + len(p.Subtitle) + len(p.Content) + len(p.Fingerprint) + 160
	for _, t := range p.Tags {
		n += len(t) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, `{"id":`...)
	b = AppendQuoted(b, p.ID)
	b = append(b, `,"author":`...)
	b = AppendQuoted(b, p.Author)
	b = append(b, `,"title":`...)
	b = AppendQuoted(b, p.Title)
	if p.Subtitle != "" {
		b = append(b, `,"subtitle":`...)
		b = AppendQuoted(b, p.Subtitle)
	}
	b = append(b, `,"content":`...)
	b = AppendQuoted(b, p.Content)
	if len(p.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range p.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendQuoted(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"createdAt":"`...)
	b = p.CreatedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if !p.IngestedAt.IsZero() {
		b = append(b, `,"ingestedAt":"`...)
		b = p.IngestedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if p.Fingerprint != "" {
		b = append(b, `,"fp":`...)
		b = AppendQuoted(b, p.Fingerprint)
	}
	return append(b, '}'), nil
}

// jsonTime reports whether time.Time.MarshalJSON accepts t.
func jsonTime(t time.Time) bool {
	y := t.Year()
	_, off := t.Zone()
	return 0 <= y && y <= 9999 && -24*3600 < off && off < 24*3600
}

// AppendQuoted appends s as encoding/json quotes it without HTML escaping:
// the escapes quotedLen counts. The bench writes its posts with it too.
func AppendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// EncodedLen returns len(Marshal(p)) without encoding: one pass over the
// strings, no allocation, so the API can refuse a post that could not fit a
// record before it goes anywhere.
func EncodedLen(p Post) int {
	n := len(`{"id":,"author":,"title":,"content":,"createdAt":}`)
	n += quotedLen(p.ID) + quotedLen(p.Author) + quotedLen(p.Title) + quotedLen(p.Content)
	if p.Subtitle != "" {
		n += len(`,"subtitle":`) + quotedLen(p.Subtitle)
	}
	if len(p.Tags) > 0 {
		n += len(`,"tags":[]`) + len(p.Tags) - 1
		for _, t := range p.Tags {
			n += quotedLen(t)
		}
	}
	var tb [64]byte
	n += len(p.CreatedAt.AppendFormat(tb[:0], time.RFC3339Nano)) + 2
	if !p.IngestedAt.IsZero() {
		n += len(`,"ingestedAt":`) + len(p.IngestedAt.AppendFormat(tb[:0], time.RFC3339Nano)) + 2
	}
	if p.Fingerprint != "" {
		n += len(`,"fp":`) + quotedLen(p.Fingerprint)
	}
	return n
}

// quotedLen is the length of s as encoding/json writes it without HTML
// escaping: quotes, two-byte escapes for '"', '\\' and \b \f \n \r \t,
// \u00XX for other control characters, \ufffd for each invalid byte and
// \u2028, \u2029 for those two separators.
func quotedLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// Unmarshal decodes and validates a record value by the rules the API
// applies to input (docs/api-input.md), so everything the API produces is
// accepted and nothing it would refuse is stored. Every failure wraps
// ErrBadRecord and says why.
func Unmarshal(key, value []byte) (Post, error) {
	p, err := decodeRecord(value)
	if err != nil {
		return Post{}, fmt.Errorf("%w: not a post in JSON: %v", ErrBadRecord, err)
	}
	switch {
	case !ValidID(p.ID):
		return Post{}, fmt.Errorf("%w: id %q is not a post id", ErrBadRecord, p.ID)
	case key != nil && string(key) != p.ID:
		return Post{}, fmt.Errorf("%w: key %q does not match id %q", ErrBadRecord, key, p.ID)
	case p.CreatedAt.IsZero():
		return Post{}, fmt.Errorf("%w: createdAt missing", ErrBadRecord)
	case p.Fingerprint != "" && !validFingerprint(p.Fingerprint):
		return Post{}, fmt.Errorf("%w: fp %q is not a fingerprint", ErrBadRecord, p.Fingerprint)
	}
	if err := p.Input().Validate(); err != nil {
		return Post{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	p.CreatedAt = p.CreatedAt.UTC()
	p.IngestedAt = time.Time{} // the sink sets it when the post lands
	return p, nil
}

func validFingerprint(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
