package bench

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"

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
	b = post.AppendQuoted(b, in.Author)
	b = append(b, `,"title":`...)
	b = post.AppendQuoted(b, in.Title)
	if in.Subtitle != "" {
		b = append(b, `,"subtitle":`...)
		b = post.AppendQuoted(b, in.Subtitle)
	}
	b = append(b, `,"content":`...)
	b = post.AppendQuoted(b, in.Content)
	if len(in.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range in.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = post.AppendQuoted(b, t)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
