package post

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on what a refused post's errors may take. Nothing in a body full of
// bad items is malformed, so no other limit stops it: a 1 MiB post of
// 500,000 bad tags made 500,000 field errors and a 55 MB answer. Twenty
// errors are enough to fix a post by; the rest are only counted.
const (
	// MaxFieldErrors is the most field errors listed for one post; the
	// rest are counted in ValidationError.More.
	MaxFieldErrors = 20
	// MaxFieldErrorText bounds a field error's name and its message, in
	// bytes each: an unknown field's name is the client's, of any length.
	MaxFieldErrorText = 200
	// MaxDetailBytes bounds ValidationError.Error, the detail of a 422.
	MaxDetailBytes = 1024
)

// FieldError says what is wrong with one field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists the problems found in one post, so a client can fix
// them in one round trip: the first MaxFieldErrors of them, and how many
// more there are.
type ValidationError struct {
	Fields []FieldError
	// More counts the problems found beyond Fields.
	More int
	// What names the refused thing in Error ("document"); "" is "post".
	What string
}

// Error lists the problems within MaxDetailBytes and counts the ones it
// leaves out.
func (e *ValidationError) Error() string {
	head := "invalid post: "
	if e.What != "" {
		head = "invalid " + e.What + ": "
	}
	// tail is the longest "; and N more problems" the count can make.
	tail := len("; and  more problems") + len(strconv.Itoa(len(e.Fields)+e.More))
	var b strings.Builder
	b.WriteString(head)
	listed := 0
	for _, f := range e.Fields {
		var part string
		if f.Message == MsgUnknownField {
			part = "unknown field " + strconv.Quote(f.Field) + " (field names are case-sensitive)"
		} else if f.Field == "" && e.What != "" { // the JSON Pointer of the whole document
			part = "the " + e.What + ": " + f.Message
		} else {
			part = f.Field + ": " + f.Message
		}
		// A part of a bounded field error is at most about 1 KiB (a
		// quoted name of invalid bytes); half the detail is enough.
		part = Truncate(part, MaxDetailBytes/2)
		sep := 0
		if listed > 0 {
			sep = len("; ")
		}
		if b.Len()+sep+len(part)+tail > MaxDetailBytes {
			break
		}
		if listed > 0 {
			b.WriteString("; ")
		}
		b.WriteString(part)
		listed++
	}
	if rest := len(e.Fields) - listed + e.More; rest > 0 {
		if listed > 0 {
			b.WriteString("; ")
		}
		b.WriteString("and " + strconv.Itoa(rest) + " more problem")
		if rest > 1 {
			b.WriteString("s")
		}
	}
	return b.String()
}

// Truncate returns s cut to at most max bytes, on a UTF-8 boundary, with
// "…" marking the cut; s itself when it fits.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	if max < len(ellipsis) {
		return ""
	}
	i := max - len(ellipsis)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ellipsis
}

// LimitFieldErrors bounds a list of field errors as the decoder and Validate
// bound theirs: the first MaxFieldErrors, each name and message truncated to
// MaxFieldErrorText bytes, and more plus the number left out. It is for
// lists made elsewhere (the API applies it to every answer). fs is not
// changed; a list within the bounds is returned as it is, without copying.
func LimitFieldErrors(fs []FieldError, more int) ([]FieldError, int) {
	if len(fs) > MaxFieldErrors {
		more += len(fs) - MaxFieldErrors
		fs = fs[:MaxFieldErrors]
	}
	for i, f := range fs {
		if len(f.Field) > MaxFieldErrorText || len(f.Message) > MaxFieldErrorText {
			cut := make([]FieldError, len(fs))
			copy(cut, fs)
			for j := i; j < len(cut); j++ {
				cut[j] = truncated(cut[j])
			}
			return cut, more
		}
	}
	return fs, more
}

func truncated(f FieldError) FieldError {
	return FieldError{Field: Truncate(f.Field, MaxFieldErrorText), Message: Truncate(f.Message, MaxFieldErrorText)}
}

// fieldErrors collects one post's field errors within the bounds: a body of
// a million bad tags makes twenty errors and a count, never a million.
type fieldErrors struct {
	list []FieldError
	more int
}

// room reports whether another error will be listed. When it will not, it
// counts the error, and the caller need not even build it.
func (f *fieldErrors) room() bool {
	if len(f.list) < MaxFieldErrors {
		return true
	}
	f.more++
	return false
}

// add lists an error, truncated, or counts it once the list is full.
func (f *fieldErrors) add(field, msg string) {
	if f.room() {
		f.list = append(f.list, truncated(FieldError{Field: field, Message: msg}))
	}
}

// any reports whether an error was found.
func (f *fieldErrors) any() bool { return len(f.list) > 0 }

// err returns the errors as a *ValidationError, or nil for none.
func (f *fieldErrors) err() error {
	if !f.any() {
		return nil
	}
	return &ValidationError{Fields: f.list, More: f.more}
}
