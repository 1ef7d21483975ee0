package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/postpipe/postpipe/internal/post"
)

const (
	defaultListLimit = 20
	maxListLimit     = 100
)

func (a *API) getPost(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		a.getDoc(w, r, sv)
		return
	}
	if sv := a.postsChanges; sv != nil {
		// Read in the collection's own layout, for the version (ETag).
		a.getDoc(w, r, sv)
		return
	}
	id := r.PathValue("id")
	if !post.ValidID(id) {
		a.fail(w, r, post.ErrNotFound)
		return
	}
	// HEAD runs the lookup too: by _id it is one index read, and only the
	// lookup can tell 200 from 404.
	var p post.Post
	err := a.read(r, func(ctx context.Context) (err error) {
		p, err = a.store.Get(ctx, id)
		return err
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// maxPageBytes bounds a listing's answer: posts stop before the one that
// would take it past this many bytes (the first post always goes, and a
// post is at most about a megabyte), so a page costs at most about this
// much memory however large its posts, and nextCursor continues after the
// last one given.
const maxPageBytes = 4 << 20

func (a *API) listPosts(w http.ResponseWriter, r *http.Request) {
	if sv := a.postsStream; sv != nil {
		a.listDocs(w, r, sv)
		return
	}
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
		pos, err := decodeCursor(s, post.ValidID)
		if err != nil {
			a.fail(w, r, badRequest(http.StatusBadRequest, "cursor is not one this API gave out"))
			return
		}
		query.After = &pos
	}
	// ServeMux serves HEAD with this handler. A HEAD gets the headers of a
	// page without one being built: the query is checked, the store never
	// asked (the length is unknown without the page, so none is sent).
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		return
	}
	want := query.Limit
	query.Limit++ // one more tells whether another page exists

	// The page is encoded post by post as the store's cursor yields them,
	// so neither the posts past the cut nor a second copy of the page are
	// ever held. It is answered only once complete: a store failing
	// half-way is a 503, not a truncated 200.
	var (
		buf    bytes.Buffer
		n      int
		last   post.Post
		more   bool
		encErr error
	)
	buf.WriteString(`{"posts":[`)
	each := func(p post.Post) bool {
		if n == want {
			more = true
			return false
		}
		b, err := json.Marshal(p)
		if err != nil {
			encErr = fmt.Errorf("encode post %s: %w", p.ID, err)
			return false
		}
		if n > 0 && buf.Len()+1+len(b) > maxPageBytes {
			more = true
			return false
		}
		if n > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
		n, last = n+1, p
		return true
	}
	err := a.read(r, func(ctx context.Context) error {
		return a.store.List(ctx, query, each)
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if encErr != nil { // a stored post JSON cannot carry: a 500, logged
		a.fail(w, r, encErr)
		return
	}
	buf.WriteByte(']')
	if more {
		buf.WriteString(`,"nextCursor":`)
		c, _ := json.Marshal(encodeCursor(post.Position{CreatedAt: last.CreatedAt, ID: last.ID}))
		buf.Write(c)
	}
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// Cursors are opaque to clients: base64url of the position as JSON.
func encodeCursor(p post.Position) string {
	b, _ := json.Marshal(p) // a time and a string always encode
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor encodeCursor gave out; validID is the
// stream's rule for ids (post.ValidID, doc.ValidID).
func decodeCursor(s string, validID func(string) bool) (post.Position, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return post.Position{}, err
	}
	var p post.Position
	if err := json.Unmarshal(b, &p); err != nil {
		return post.Position{}, err
	}
	if !validID(p.ID) || p.CreatedAt.IsZero() {
		return post.Position{}, errors.New("incomplete cursor")
	}
	return p, nil
}
