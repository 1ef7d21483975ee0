package api_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

type pageBody struct {
	Posts      []post.Post `json:"posts"`
	NextCursor string      `json:"nextCursor"`
}

// seed stores n posts: several share a millisecond, authors alternate
// between alice and bob. It returns them newest first.
func seed(t *testing.T, s *fakeStore, n int) []post.Post {
	t.Helper()
	base := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		created := base.Add(time.Duration(i/3) * time.Millisecond) // three per millisecond
		author := "alice"
		if i%2 == 1 {
			author = "bob"
		}
		p := post.New(post.KeyedID("seed-"+strconv.Itoa(i)), post.Input{Author: author, Title: "t", Content: "c"}, created)
		if _, err := s.Insert(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedLocked()
}

func ids(posts []post.Post) []string {
	out := make([]string, len(posts))
	for i, p := range posts {
		out[i] = p.ID
	}
	return out
}

func TestGetPost(t *testing.T) {
	a := newTestAPI(t)
	stored := seed(t, a.store, 3)[1]

	got := decodeJSON[post.Post](t, do(t, a.h, http.MethodGet, "/v1/posts/"+stored.ID, ""), http.StatusOK)
	if got.ID != stored.ID || got.Author != stored.Author || !got.CreatedAt.Equal(stored.CreatedAt) || !got.IngestedAt.Equal(stored.IngestedAt) {
		t.Errorf("got %+v, want %+v", got, stored)
	}
}

func TestGetPostNotFound(t *testing.T) {
	tests := []struct {
		name      string
		id        string
		wantLooks int // store lookups
	}{
		{"unknown id", post.KeyedID("never stored"), 1},
		{"malformed id", "not-an-id", 0},
		{"upper-case id", strings.ToUpper(post.KeyedID("x")), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			seed(t, a.store, 2)
			p := problemOf(t, do(t, a.h, http.MethodGet, "/v1/posts/"+url.PathEscape(tt.id), ""), http.StatusNotFound)
			if p.Instance != "/v1/posts/"+tt.id {
				t.Errorf("instance = %q, want the request path", p.Instance)
			}
			if a.store.gets != tt.wantLooks {
				t.Errorf("store looked up %d times, want %d", a.store.gets, tt.wantLooks)
			}
		})
	}
}

func TestGetPostStoreFails(t *testing.T) {
	a := newTestAPI(t)
	a.store.getErr = errDown
	rec := do(t, a.h, http.MethodGet, "/v1/posts/"+post.KeyedID("x"), "")
	p := problemOf(t, rec, http.StatusServiceUnavailable)
	assertRetryAfter(t, rec)
	if !strings.Contains(p.Detail, "mongodb") {
		t.Errorf("detail %q does not name mongodb", p.Detail)
	}
}

func TestListPostsDefaultPage(t *testing.T) {
	a := newTestAPI(t)
	all := seed(t, a.store, 25)

	got := decodeJSON[pageBody](t, do(t, a.h, http.MethodGet, "/v1/posts", ""), http.StatusOK)
	if want := ids(all[:20]); !slices.Equal(ids(got.Posts), want) {
		t.Errorf("page ids %q, want the 20 newest %q", ids(got.Posts), want)
	}
	if got.NextCursor == "" {
		t.Error("no nextCursor although 5 more posts exist")
	}
	q := a.store.lastQuery(t)
	if q.Limit != 21 || q.Author != "" || q.After != nil {
		t.Errorf("store query = %+v, want limit 21 (20 and one to see if more exist), no author, from the newest", q)
	}
}

func TestListPostsPagesThroughEverything(t *testing.T) {
	a := newTestAPI(t)
	all := seed(t, a.store, 23)

	var seen []post.Post
	cursor := ""
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging does not end")
		}
		target := "/v1/posts?limit=7"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		got := decodeJSON[pageBody](t, do(t, a.h, http.MethodGet, target, ""), http.StatusOK)
		q := a.store.lastQuery(t)
		if q.Limit != 8 {
			t.Errorf("page %d: store limit %d, want 8", page, q.Limit)
		}
		switch {
		case page == 0 && q.After != nil:
			t.Errorf("page 0: store asked to start after %+v", *q.After)
		case page > 0:
			last := seen[len(seen)-1]
			if q.After == nil || q.After.ID != last.ID || !q.After.CreatedAt.Equal(last.CreatedAt) {
				t.Errorf("page %d: store position %+v, want the last post of the previous page (%s at %v)", page, q.After, last.ID, last.CreatedAt)
			}
		}
		seen = append(seen, got.Posts...)
		if got.NextCursor == "" {
			break
		}
		cursor = got.NextCursor
	}
	if !slices.Equal(ids(seen), ids(all)) {
		t.Errorf("paging gave %q, want every post once, newest first: %q", ids(seen), ids(all))
	}
}

func TestListPostsLastPageHasNoCursor(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a.store, 5)
	got := decodeJSON[pageBody](t, do(t, a.h, http.MethodGet, "/v1/posts?limit=5", ""), http.StatusOK)
	if len(got.Posts) != 5 || got.NextCursor != "" {
		t.Errorf("got %d posts and cursor %q, want 5 and no cursor", len(got.Posts), got.NextCursor)
	}
}

func TestListPostsEmpty(t *testing.T) {
	a := newTestAPI(t)
	rec := do(t, a.h, http.MethodGet, "/v1/posts", "")
	decodeJSON[pageBody](t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"posts":[]`) {
		t.Errorf("body %s, want an empty posts array, not null", rec.Body)
	}
}

func TestListPostsAuthorFilter(t *testing.T) {
	a := newTestAPI(t)
	seed(t, a.store, 10)
	got := decodeJSON[pageBody](t, do(t, a.h, http.MethodGet, "/v1/posts?author=bob&limit=100", ""), http.StatusOK)
	if q := a.store.lastQuery(t); q.Author != "bob" || q.Limit != 101 {
		t.Errorf("store query = %+v, want author bob, limit 101", q)
	}
	if len(got.Posts) != 5 {
		t.Errorf("got %d posts, want bob's 5", len(got.Posts))
	}
	for _, p := range got.Posts {
		if p.Author != "bob" {
			t.Errorf("post %s by %q in bob's list", p.ID, p.Author)
		}
	}
}

func TestListPostsBadParameters(t *testing.T) {
	cursor := func(json string) string { return base64.RawURLEncoding.EncodeToString([]byte(json)) }
	id := post.KeyedID("x")
	tests := []struct {
		name       string
		query      string
		wantDetail string
	}{
		{"limit zero", "limit=0", "limit"},
		{"limit above 100", "limit=101", "limit"},
		{"negative limit", "limit=-1", "limit"},
		{"limit not a number", "limit=ten", "limit"},
		{"fractional limit", "limit=1.5", "limit"},
		{"cursor not base64", "cursor=%21%21%21", "cursor"},
		{"cursor not JSON", "cursor=" + cursor("hello"), "cursor"},
		{"cursor without id", "cursor=" + cursor(`{"t":"2025-01-01T00:00:00Z"}`), "cursor"},
		{"cursor with bad id", "cursor=" + cursor(`{"t":"2025-01-01T00:00:00Z","id":"nope"}`), "cursor"},
		{"cursor without time", "cursor=" + cursor(`{"id":"`+id+`"}`), "cursor"},
		{"cursor with bad time", "cursor=" + cursor(`{"t":"yesterday","id":"`+id+`"}`), "cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			p := problemOf(t, do(t, a.h, http.MethodGet, "/v1/posts?"+tt.query, ""), http.StatusBadRequest)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not mention %q", p.Detail, tt.wantDetail)
			}
			if len(a.store.queries) != 0 {
				t.Errorf("store queried %d times for a bad request", len(a.store.queries))
			}
		})
	}
}

func TestListPostsLimitBounds(t *testing.T) {
	for _, limit := range []string{"1", "100"} {
		t.Run(limit, func(t *testing.T) {
			a := newTestAPI(t)
			decodeJSON[pageBody](t, do(t, a.h, http.MethodGet, "/v1/posts?limit="+limit, ""), http.StatusOK)
			want, _ := strconv.Atoi(limit)
			if q := a.store.lastQuery(t); q.Limit != want+1 {
				t.Errorf("store limit %d for limit=%s, want %d", q.Limit, limit, want+1)
			}
		})
	}
}

func TestListPostsStoreFails(t *testing.T) {
	a := newTestAPI(t)
	a.store.listErr = errDown
	rec := do(t, a.h, http.MethodGet, "/v1/posts", "")
	problemOf(t, rec, http.StatusServiceUnavailable)
	assertRetryAfter(t, rec)
}

// TestListPostsCutBySize: posts whose JSON is about 1.5 MiB each (the
// 262,144 '<' of the issue, escaped six-fold) fill a page of limit 100 only
// up to the byte budget; nextCursor continues after the last one given and
// paging still yields every post once; the store is not read past the cut.
func TestListPostsCutBySize(t *testing.T) {
	a := newTestAPI(t)
	base := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	content := strings.Repeat("<", 262144)
	for i := range 9 {
		p := post.New(post.KeyedID("big-"+strconv.Itoa(i)), post.Input{Author: "ann", Title: "t", Content: content}, base.Add(time.Duration(i)*time.Second))
		if _, err := a.store.Insert(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	a.store.mu.Lock()
	all := a.store.sortedLocked()
	a.store.mu.Unlock()

	const budget = 4 << 20
	var seen []post.Post
	cursor, pages := "", 0
	listed := func() int {
		a.store.mu.Lock()
		defer a.store.mu.Unlock()
		return a.store.listed
	}
	for page := 0; ; page++ {
		if page > len(all) {
			t.Fatal("paging does not end")
		}
		pages++
		target := "/v1/posts?author=ann&limit=100"
		if cursor != "" {
			target += "&cursor=" + url.QueryEscape(cursor)
		}
		listedBefore := listed()
		rec := do(t, a.h, http.MethodGet, target, "")
		size := rec.Body.Len()
		got := decodeJSON[pageBody](t, rec, http.StatusOK)
		if len(got.Posts) == 0 {
			t.Fatalf("page %d is empty", page)
		}
		if len(got.Posts) > 1 && size > budget {
			t.Errorf("page %d: %d posts in %d bytes, over the %d-byte budget", page, len(got.Posts), size, budget)
		}
		if got.NextCursor != "" && len(got.Posts) == len(all)-len(seen) {
			t.Errorf("page %d: a cursor although this page holds every post left", page)
		}
		if n := listed() - listedBefore; n > len(got.Posts)+1 {
			t.Errorf("page %d: the store handed out %d posts for a page of %d", page, n, len(got.Posts))
		}
		seen = append(seen, got.Posts...)
		if got.NextCursor == "" {
			break
		}
		if len(got.Posts) >= 100 {
			t.Fatalf("page %d was cut by count, not size", page)
		}
		cursor = got.NextCursor
	}
	if pages < 3 {
		t.Errorf("%d pages for 9 posts of ~1.5 MiB: not cut by size", pages)
	}
	if !slices.Equal(ids(seen), ids(all)) {
		t.Errorf("paging gave %q, want every post once, newest first: %q", ids(seen), ids(all))
	}
	if seen := len(seen); seen != 9 {
		t.Fatalf("saw %d posts, want 9", seen)
	}
}
