// Package doc is the vocabulary of a document in a declared stream (see
// internal/stream): how a body is checked (the strict JSON rules every stream
// shares, then the stream's schema), where its id comes from, how it travels
// as a Kafka record and how it is answered. The built-in posts stream keeps
// its own typed path (internal/post), which is faster for its one schema;
// every other stream goes through this package.
package doc

import (
	"errors"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// Document is one accepted document of a stream.
type Document struct {
	// ID is the document's id: taken from the field the stream's id
	// pointer names, or generated (a UUIDv7, or the UUIDv8 of an
	// Idempotency-Key). It is the Kafka key and the stored _id.
	ID string
	// Body is the document as accepted: one JSON object, compact, members
	// in the client's order, strings re-encoded canonically (as
	// post.AppendQuoted does), numbers as the client wrote them. It never
	// holds a reserved top-level member (see Reserved).
	Body []byte
	// CreatedAt is when the API accepted it, cut to milliseconds (what a
	// BSON date keeps).
	CreatedAt time.Time
	// IngestedAt is when it reached the store; zero while in flight.
	IngestedAt time.Time
	// Fingerprint identifies the body's content (32 hex digits): two
	// bodies with the same members and values, in any member order and
	// with numbers of equal value, have the same one. A repeat of an id
	// with another fingerprint is a conflict, never a silent drop.
	Fingerprint string
	// Version is the op that last wrote the stored document, in a stream
	// with changes (None when no op of the pipeline wrote it); the zero
	// Version for a document that was not read from the store.
	Version Version
}

// Reserved are the top-level member names a document may not carry: the
// answer to a GET adds id, createdAt and ingestedAt beside the document's
// own members, and the stored document keeps _id and _fp. A stream whose id
// pointer is /id may carry id (it is the id).
//
// It is stream.ReservedFields: the streams check refuses a schema that
// declares one of them, and stream cannot import this package.
var Reserved = stream.ReservedFields

// Limits of a document.
const (
	// MaxDepth bounds the nesting of objects and arrays.
	MaxDepth = 64
	// MaxIDBytes bounds an id taken from a document.
	MaxIDBytes = 128
)

// Errors callers branch on. Decoding and validation failures use internal/post's
// error types (post.SyntaxError, post.NotObjectError, post.ValidationError,
// post.TooManyError, post.ErrNotArray) so the API answers every stream alike;
// a record the sink cannot store wraps post.ErrBadRecord.
var (
	// ErrTooLarge: the encoded record would not fit a Kafka record
	// (post.MaxEncodedBytes); wrapped by *TooLargeError.
	ErrTooLarge = errors.New("document too large")
)

// TooLargeError is a document whose record would take N bytes, over Max.
type TooLargeError struct{ N, Max int }

func (e *TooLargeError) Error() string {
	return "the document takes " + itoa(e.N) + " bytes encoded (JSON with its id and times); the limit is " + itoa(e.Max) + " bytes"
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// Query selects documents of one stream, newest first.
type Query struct {
	// Field and Value filter by equality on one of the stream's list
	// fields; Field "" selects all. Value is a string, int64, float64 or
	// bool, as the schema declares the field.
	Field string
	Value any
	Limit int       // at least 1
	After *Position // nil: from the newest
}

// Position is where a page ends: the next page starts strictly after it in
// (createdAt, id) descending order. It is the posts' position, so one
// cursor format serves every stream.
type Position = post.Position

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
