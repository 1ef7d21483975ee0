package stream

import (
	"errors"
	"fmt"
	"strconv"
)

// The kinds of problem a streams file can have. A *FileError wraps one of
// them, so a caller can branch with errors.Is(err, stream.ErrReservedName)
// and still print the whole story.
var (
	ErrRead             = errors.New("cannot read the file")
	ErrSyntax           = errors.New("bad YAML")
	ErrUnknownKey       = errors.New("unknown key")
	ErrSchema           = errors.New("bad schema")
	ErrName             = errors.New("bad name")
	ErrReservedName     = errors.New("reserved name")
	ErrDuplicateName    = errors.New("duplicate name")
	ErrID               = errors.New("bad id")
	ErrList             = errors.New("bad list field")
	ErrTopic            = errors.New("bad topic")
	ErrCollection       = errors.New("bad collection")
	ErrSharedTopic      = errors.New("topic used twice")
	ErrSharedCollection = errors.New("collection used twice")
	ErrReservedField    = errors.New("reserved field")
)

// FileError is a problem with one stream of a streams file: it names the
// file, the line where known, the stream where known, and the reason.
type FileError struct {
	File   string // the streams file, as given; "" for the built-in stream
	Line   int    // 1-based; 0 when not known
	Stream string // the stream's name; "" when the problem is the file's
	Kind   error  // one of the Err* sentinels
	Err    error  // what exactly is wrong
}

func (e *FileError) Error() string {
	where := e.File
	if where == "" {
		where = "built-in streams"
	}
	if e.Line > 0 {
		where += ":" + strconv.Itoa(e.Line)
	}
	if e.Stream != "" {
		where += ": stream " + strconv.Quote(e.Stream)
	}
	return fmt.Sprintf("%s: %v: %v", where, e.Kind, e.Err)
}

// Unwrap gives errors.Is both the kind and the cause (a *fs.PathError of a
// schema file that is not there, say).
func (e *FileError) Unwrap() []error { return []error{e.Kind, e.Err} }
