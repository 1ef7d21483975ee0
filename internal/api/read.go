package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/postpipe/postpipe/internal/post"
)

const (
	defaultListLimit = 20
	maxListLimit     = 100
)

func (a *API) getPost(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !post.ValidID(id) {
		a.fail(w, r, post.ErrNotFound)
		return
	}
	p, err := a.store.Get(r.Context(), id)
	if err != nil && !errors.Is(err, post.ErrNotFound) {
		err = &unavailableError{dependency: "mongodb", err: err}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

type page struct {
	Posts      []post.Post `json:"posts"`
	NextCursor string      `json:"nextCursor,omitempty"`
}

func (a *API) listPosts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query := post.Query{Author: q.Get("author"), Limit: defaultListLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxListLimit {
			a.fail(w, r, badRequest(http.StatusBadRequest, "limit must be a whole number from 1 to 100"))
			return
		}
		query.Limit = n
	}
	if s := q.Get("cursor"); s != "" {
		pos, err := decodeCursor(s)
		if err != nil {
			a.fail(w, r, badRequest(http.StatusBadRequest, "cursor is not one this API gave out"))
			return
		}
		query.After = &pos
	}
	want := query.Limit
	query.Limit++ // one more tells whether another page exists
	posts, err := a.store.List(r.Context(), query)
	if err != nil {
		a.fail(w, r, &unavailableError{dependency: "mongodb", err: err})
		return
	}
	res := page{Posts: posts}
	if len(posts) > want {
		res.Posts = posts[:want]
		last := res.Posts[want-1]
		res.NextCursor = encodeCursor(post.Position{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	if res.Posts == nil {
		res.Posts = []post.Post{}
	}
	writeJSON(w, http.StatusOK, res)
}

// Cursors are opaque to clients: base64url of the position as JSON.
func encodeCursor(p post.Position) string {
	b, _ := json.Marshal(p) // a time and a string always encode
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (post.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return post.Position{}, err
	}
	var p post.Position
	if err := json.Unmarshal(b, &p); err != nil {
		return post.Position{}, err
	}
	if !post.ValidID(p.ID) || p.CreatedAt.IsZero() {
		return post.Position{}, errors.New("incomplete cursor")
	}
	return p, nil
}
