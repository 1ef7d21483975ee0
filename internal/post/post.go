// Package post defines the blog post that postpipe accepts, validates, carries
// over Kafka and stores: the one vocabulary every other package shares.
package post

import (
	"time"
)

// Limits on what a post may contain. The character limits reject obvious
// garbage early; MaxEncodedBytes is what decides whether a post fits a Kafka
// record: 262,144 characters of 4-byte UTF-8 alone are 1,048,576 bytes, so a
// post within every character limit can still be too large to carry.
const (
	MaxAuthorLen   = 200
	MaxTitleLen    = 300
	MaxSubtitleLen = 500
	MaxContentLen  = 256 << 10
	MaxTags        = 20
	MaxTagLen      = 50
	// MaxEncodedBytes bounds the record value (Marshal's output). The
	// Kafka record around it adds the key, trace headers and framing;
	// kafka.MaxRecordBytes (1,048,576) leaves 8,576 bytes for them.
	MaxEncodedBytes = 1_040_000
)

// Input is what a client sends to create a post.
type Input struct {
	Author   string   `json:"author"`
	Title    string   `json:"title"`
	Subtitle string   `json:"subtitle,omitempty"`
	Content  string   `json:"content"`
	Tags     []string `json:"tags,omitempty"`
}

// Post is an accepted post. CreatedAt is set when the API accepts it;
// IngestedAt when it reached the store (zero while in flight).
type Post struct {
	ID         string    `json:"id"`
	Author     string    `json:"author"`
	Title      string    `json:"title"`
	Subtitle   string    `json:"subtitle,omitempty"`
	Content    string    `json:"content"`
	Tags       []string  `json:"tags,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	IngestedAt time.Time `json:"ingestedAt,omitzero"`
	// Fingerprint identifies the client's input (see Input.Fingerprint)
	// of a post created with an Idempotency-Key; empty otherwise. It
	// travels in the record and the stored document but is not part of
	// the public JSON: it says nothing a client does not know already and
	// would only freeze an internal hash into the API.
	Fingerprint string `json:"-"`
}

// New turns validated input into a post with the given id, created now.
// Times are cut to milliseconds because that is what BSON dates keep: a post
// read back from the store then equals the one that was accepted.
func New(id string, in Input, now time.Time) Post {
	return Post{
		ID:        id,
		Author:    in.Author,
		Title:     in.Title,
		Subtitle:  in.Subtitle,
		Content:   in.Content,
		Tags:      in.Tags,
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
}

// Input returns the client-supplied part of p, for re-validation.
func (p Post) Input() Input {
	return Input{Author: p.Author, Title: p.Title, Subtitle: p.Subtitle, Content: p.Content, Tags: p.Tags}
}
