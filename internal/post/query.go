package post

import (
	"errors"
	"time"
)

// Errors a store returns where its callers branch.
var (
	ErrNotFound = errors.New("post not found")
	ErrExists   = errors.New("post already exists")
)

// Query selects posts newest first.
type Query struct {
	Author string    // empty: all authors
	Limit  int       // at least 1
	After  *Position // nil: from the newest
}

// Position is where a page of posts ends: the next page starts strictly after
// it in (createdAt, id) descending order, so pages never skip or repeat a
// post even when many share a millisecond.
type Position struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"id"`
}
