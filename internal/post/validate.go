package post

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Validate checks in against the limits and returns a *ValidationError
// listing each bad field, or nil.
func (in Input) Validate() error {
	var fs fieldErrors
	// A tag's field name ("tags[2]") is made only for a message:
	// formatting it for every tag of every valid post was an allocation
	// per tag on the hot path. notATag marks the other fields.
	const notATag = -1
	// add lists a problem, naming and formatting it only when the list has
	// room: a post of a million bad tags costs twenty messages.
	add := func(field string, tag int, format string, args ...any) {
		if !fs.room() {
			return
		}
		if tag != notATag {
			field = "tags[" + strconv.Itoa(tag) + "]"
		}
		fs.add(field, fmt.Sprintf(format, args...))
	}
	// text checks a string field in one pass: required, valid UTF-8, no
	// C0 control character but tab, line feed and carriage return (they
	// are invisible, break logs and terminals, and U+0000 ends strings in
	// C), at most max characters.
	text := func(field string, tag int, v string, required bool, max int) {
		if required && strings.TrimSpace(v) == "" {
			add(field, tag, "is required")
			return
		}
		n := 0
		for i := 0; i < len(v); n++ {
			c := v[i]
			if c < utf8.RuneSelf {
				if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
					add(field, tag, "must not contain control characters (U+%04X at character %d)", c, n)
					return
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 {
				add(field, tag, "must be valid UTF-8")
				return
			}
			i += size
		}
		if n > max {
			add(field, tag, "must be at most %d characters", max)
		}
	}
	text("author", notATag, in.Author, true, MaxAuthorLen)
	text("title", notATag, in.Title, true, MaxTitleLen)
	text("subtitle", notATag, in.Subtitle, false, MaxSubtitleLen)
	text("content", notATag, in.Content, true, MaxContentLen)
	if len(in.Tags) > MaxTags {
		add("tags", notATag, "must have at most %d tags, got %d", MaxTags, len(in.Tags))
	}
	for i, t := range in.Tags {
		text("", i, t, true, MaxTagLen)
	}
	return fs.err()
}
