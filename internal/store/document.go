package store

import (
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// document is a post as stored; the post id is the _id, which is what makes
// every write idempotent.
type document struct {
	ID         string    `bson:"_id"`
	Author     string    `bson:"author"`
	Title      string    `bson:"title"`
	Subtitle   string    `bson:"subtitle,omitempty"`
	Content    string    `bson:"content"`
	Tags       []string  `bson:"tags,omitempty"`
	CreatedAt  time.Time `bson:"createdAt"`
	IngestedAt time.Time `bson:"ingestedAt"`
	// Fingerprint is the input fingerprint of a post sent with an
	// Idempotency-Key: what a later post under the same id is compared with.
	Fingerprint string `bson:"fp,omitempty"`
}

func toDocument(p post.Post, ingestedAt time.Time) document {
	return document{
		ID: p.ID, Author: p.Author, Title: p.Title, Subtitle: p.Subtitle, Content: p.Content, Tags: p.Tags,
		CreatedAt: p.CreatedAt, IngestedAt: ingestedAt, Fingerprint: p.Fingerprint,
	}
}

func (d document) post() post.Post {
	return post.Post{
		ID: d.ID, Author: d.Author, Title: d.Title, Subtitle: d.Subtitle, Content: d.Content, Tags: d.Tags,
		CreatedAt: d.CreatedAt.UTC(), IngestedAt: d.IngestedAt.UTC(), Fingerprint: d.Fingerprint,
	}
}
