package post

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The Kafka record value is the post as JSON. The sink trusts nothing on the
// topic: anyone with access can write to it, so a record is decoded strictly
// and validated again before it may reach the store.

// ErrBadRecord marks a record the sink can never store; it goes to the DLQ.
var ErrBadRecord = errors.New("bad record")

// Marshal encodes p as a record value.
func Marshal(p Post) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode post %s: %w", p.ID, err)
	}
	return b, nil
}

// Unmarshal decodes and validates a record value. Every failure wraps
// ErrBadRecord and says why.
func Unmarshal(key, value []byte) (Post, error) {
	var p Post
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Post{}, fmt.Errorf("%w: not a post in JSON: %v", ErrBadRecord, err)
	}
	// dec.More would miss a stray '}' or ']': only io.EOF means nothing follows.
	if _, err := dec.Token(); err != io.EOF {
		return Post{}, fmt.Errorf("%w: trailing data after the post", ErrBadRecord)
	}
	switch {
	case !ValidID(p.ID):
		return Post{}, fmt.Errorf("%w: id %q is not a post id", ErrBadRecord, p.ID)
	case key != nil && string(key) != p.ID:
		return Post{}, fmt.Errorf("%w: key %q does not match id %q", ErrBadRecord, key, p.ID)
	case p.CreatedAt.IsZero():
		return Post{}, fmt.Errorf("%w: createdAt missing", ErrBadRecord)
	}
	if err := p.Input().Validate(); err != nil {
		return Post{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	p.IngestedAt = time.Time{} // the sink sets it when the post lands
	return p, nil
}
