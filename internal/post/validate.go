package post

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// FieldError says what is wrong with one field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in one post, so a client can fix
// them all in one round trip.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		if f.Message == MsgUnknownField {
			parts[i] = fmt.Sprintf("unknown field %q (field names are case-sensitive)", f.Field)
			continue
		}
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid post: " + strings.Join(parts, "; ")
}

// Validate checks in against the limits and returns a *ValidationError
// listing each bad field, or nil.
func (in Input) Validate() error {
	var fs []FieldError
	add := func(field, format string, args ...any) {
		fs = append(fs, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	// A tag's field name ("tags[2]") is made only for a message:
	// formatting it for every tag of every valid post was an allocation
	// per tag on the hot path. notATag marks the other fields.
	const notATag = -1
	// text checks a string field in one pass: required, valid UTF-8, no
	// C0 control character but tab, line feed and carriage return (they
	// are invisible, break logs and terminals, and U+0000 ends strings in
	// C), at most max characters.
	text := func(field string, tag int, v string, required bool, max int) {
		name := func() string {
			if tag == notATag {
				return field
			}
			return "tags[" + strconv.Itoa(tag) + "]"
		}
		if required && strings.TrimSpace(v) == "" {
			add(name(), "is required")
			return
		}
		n := 0
		for i := 0; i < len(v); n++ {
			c := v[i]
			if c < utf8.RuneSelf {
				if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
					add(name(), "must not contain control characters (U+%04X at character %d)", c, n)
					return
				}
				i++
				continue
			}
			r, size := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && size == 1 {
				add(name(), "must be valid UTF-8")
				return
			}
			i += size
		}
		if n > max {
			add(name(), "must be at most %d characters", max)
		}
	}
	text("author", notATag, in.Author, true, MaxAuthorLen)
	text("title", notATag, in.Title, true, MaxTitleLen)
	text("subtitle", notATag, in.Subtitle, false, MaxSubtitleLen)
	text("content", notATag, in.Content, true, MaxContentLen)
	if len(in.Tags) > MaxTags {
		add("tags", "must have at most %d tags, got %d", MaxTags, len(in.Tags))
	}
	for i, t := range in.Tags {
		text("", i, t, true, MaxTagLen)
	}
	if len(fs) > 0 {
		return &ValidationError{Fields: fs}
	}
	return nil
}
