package bench

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/postpipe/postpipe/internal/post"
)

// words is a pool of random lowercase words that post texts are cut from:
// making fresh random text for every post would cost the load generator
// more CPU than the server spends on the post, on the same machine.
type words struct{ pool string }

func newWords(minLen int) *words {
	size := max(256<<10, 4*minLen)
	var b strings.Builder
	b.Grow(size + 16)
	for b.Len() < size {
		n := 2 + rand.IntN(9)
		for range n {
			b.WriteByte(byte('a' + rand.IntN(26)))
		}
		b.WriteByte(' ')
	}
	return &words{pool: b.String()}
}

// cut returns n bytes of text starting at a random word.
func (w *words) cut(n int) string {
	off := rand.IntN(len(w.pool) - n - 16)
	for w.pool[off] == ' ' {
		off++
	}
	return w.pool[off : off+n]
}

// posts makes the bodies of a scenario: posts shaped like the original load
// test's (author, title, subtitle, random content) that each carry a marker
// for the check in the store. The author marks the run and scenario, so the
// check can find every document the scenario stored; the title marks the
// post, so a copy stored under a second id shows up.
type posts struct {
	words        *words
	author       string
	titlePrefix  string
	contentBytes int
	seq          atomic.Int64
}

func newPosts(w *words, runID, scenario string, contentBytes int) *posts {
	return &posts{
		words:        w,
		author:       authorFor(runID, scenario),
		titlePrefix:  "bench " + runID + " " + scenario + " #",
		contentBytes: contentBytes,
	}
}

// authorFor is the author of every post of a run's scenario.
func authorFor(runID, scenario string) string { return "bench-" + runID + "-" + scenario }

// next returns a new post; its title is its marker.
func (p *posts) next() post.Input {
	var n [20]byte
	return post.Input{
		Author:   p.author,
		Title:    p.titlePrefix + string(strconv.AppendInt(n[:0], p.seq.Add(1), 10)),
		Subtitle: p.words.cut(40),
		Content:  p.words.cut(p.contentBytes),
	}
}

// appendPost appends in as JSON, as json.Marshal encodes a post.Input but
// without its reflection and allocations: the load generator encodes one
// per request.
func appendPost(b []byte, in post.Input) []byte {
	b = append(b, `{"author":`...)
	b = appendJSONString(b, in.Author)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, in.Title)
	if in.Subtitle != "" {
		b = append(b, `,"subtitle":`...)
		b = appendJSONString(b, in.Subtitle)
	}
	b = append(b, `,"content":`...)
	b = appendJSONString(b, in.Content)
	if len(in.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range in.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, t)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. The texts the bench makes
// need no escaping, so that case is a scan and one copy; quotes,
// backslashes and control characters are escaped, invalid UTF-8 becomes
// U+FFFD (as encoding/json does), and U+2028/U+2029 are escaped so the
// result is also valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
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
