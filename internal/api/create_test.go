package api_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

type acceptedBody struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func TestCreatePostAccepted(t *testing.T) {
	a := newTestAPI(t)
	before := time.Now().Truncate(time.Millisecond)
	rec := do(t, a.h, http.MethodPost, "/v1/posts", postJSON("Engines"))
	after := time.Now()

	got := decodeJSON[acceptedBody](t, rec, http.StatusAccepted)
	if got.Status != "accepted" || !post.ValidID(got.ID) || got.ID[14] != '7' {
		t.Errorf("body = %+v, want a fresh version 7 id and status accepted", got)
	}
	if loc := rec.Header().Get("Location"); loc != "/v1/posts/"+got.ID {
		t.Errorf("Location = %q, want /v1/posts/%s", loc, got.ID)
	}

	pub := a.pub.published()
	if len(pub) != 1 {
		t.Fatalf("published %d posts, want 1", len(pub))
	}
	p := pub[0]
	if p.ID != got.ID || p.Author != "Ada" || p.Title != "Engines" || p.Subtitle != "Notes" || p.Content != "Text" || !slices.Equal(p.Tags, []string{"go", "kafka"}) {
		t.Errorf("published %+v, want the request's post with id %s", p, got.ID)
	}
	if p.CreatedAt.Before(before) || p.CreatedAt.After(after) || p.CreatedAt.Nanosecond()%1e6 != 0 {
		t.Errorf("CreatedAt = %v, want a millisecond time in [%v, %v]", p.CreatedAt, before, after)
	}
	if !p.IngestedAt.IsZero() {
		t.Errorf("IngestedAt = %v, want zero while in flight", p.IngestedAt)
	}
}

func TestCreatePostContentType(t *testing.T) {
	tests := []struct {
		contentType string
		want        int
	}{
		{"", http.StatusAccepted}, // old clients send none
		{"application/json", http.StatusAccepted},
		{"application/json; charset=utf-8", http.StatusAccepted},
		{"Application/JSON", http.StatusAccepted},
		{"application/vnd.postpipe+json", http.StatusAccepted},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"application/json; charset", http.StatusUnsupportedMediaType},
		{"json", http.StatusUnsupportedMediaType},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			a := newTestAPI(t)
			rec := do(t, a.h, http.MethodPost, "/v1/posts", postJSON("x"), "Content-Type", tt.contentType)
			if tt.want == http.StatusAccepted {
				decodeJSON[acceptedBody](t, rec, tt.want)
				if n := len(a.pub.published()); n != 1 {
					t.Errorf("published %d posts, want 1", n)
				}
				return
			}
			p := problemOf(t, rec, tt.want)
			if !strings.Contains(p.Detail, "application/json") {
				t.Errorf("detail %q does not say what to send", p.Detail)
			}
			if n := a.pub.callCount(); n != 0 {
				t.Errorf("publisher called %d times for a refused request", n)
			}
		})
	}
}

func TestCreatePostRejectsBody(t *testing.T) {
	long := strings.Repeat("t", post.MaxTitleLen+1)
	tests := []struct {
		name       string
		body       string
		want       int
		wantFields []string
		wantDetail string
	}{
		{"malformed JSON", `{"author":"a",`, http.StatusBadRequest, nil, "malformed JSON"},
		{"syntax error", `{"author" "a"}`, http.StatusBadRequest, nil, "malformed JSON at byte"},
		{"empty body", ``, http.StatusBadRequest, nil, "the body is empty"},
		{"whitespace body", " \n", http.StatusBadRequest, nil, "the body is empty"},
		{"trailing object", postJSON("x") + `{}`, http.StatusBadRequest, nil, "after the post object"},
		{"trailing garbage", postJSON("x") + ` x`, http.StatusBadRequest, nil, "malformed JSON"},
		{"trailing brace", postJSON("x") + `}`, http.StatusBadRequest, nil, "malformed JSON"},
		{"array", `[` + postJSON("x") + `]`, http.StatusBadRequest, nil, "must be a JSON object"},
		{"string", `"post"`, http.StatusBadRequest, nil, "must be a JSON object"},
		{"empty object", `{}`, http.StatusUnprocessableEntity, []string{"author", "title", "content"}, "author: is required"},
		{"null", `null`, http.StatusBadRequest, nil, "must be a JSON object, not null"},
		{
			"several bad fields",
			`{"author":" ","title":"` + long + `","content":"c","tags":["ok",""]}`,
			http.StatusUnprocessableEntity, []string{"author", "title", "tags[1]"}, "title: must be at most 300 characters",
		},
		{
			"too many tags",
			`{"author":"a","title":"t","content":"c","tags":` + tagsJSON(post.MaxTags+1) + `}`,
			http.StatusUnprocessableEntity, []string{"tags"}, "at most 20 tags",
		},
		{"unknown field", `{"author":"a","title":"t","content":"c","admin":true}`, http.StatusUnprocessableEntity, []string{"admin"}, `unknown field "admin"`},
		{"tags not an array", `{"author":"a","title":"t","content":"c","tags":"x"}`, http.StatusUnprocessableEntity, []string{"tags"}, "must be an array of strings"},
		{"author not a string", `{"author":5,"title":"t","content":"c"}`, http.StatusUnprocessableEntity, []string{"author"}, "author: must be a string, not number"},
		{"content an object", `{"author":"a","title":"t","content":{}}`, http.StatusUnprocessableEntity, []string{"content"}, "must be a string, not object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			p := problemOf(t, do(t, a.h, http.MethodPost, "/v1/posts", tt.body), tt.want)
			if got := fieldNames(p.Errors); !slices.Equal(got, tt.wantFields) {
				t.Errorf("errors list fields %q, want %q", got, tt.wantFields)
			}
			for _, e := range p.Errors {
				if e.Message == "" {
					t.Errorf("field %s has no message", e.Field)
				}
			}
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not contain %q", p.Detail, tt.wantDetail)
			}
			if p.Instance != "/v1/posts" {
				t.Errorf("instance = %q, want /v1/posts", p.Instance)
			}
			if n := a.pub.callCount(); n != 0 {
				t.Errorf("publisher called %d times for a rejected post", n)
			}
		})
	}
}

func tagsJSON(n int) string {
	b, _ := json.Marshal(slices.Repeat([]string{"t"}, n))
	return string(b)
}

func TestCreatePostBodyLimit(t *testing.T) {
	limit := int(testLimits.MaxBodyBytes)
	tests := []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the limit is found while reading
		want    int
	}{
		{"at the limit", limit, false, http.StatusAccepted},
		{"at the limit, chunked", limit, true, http.StatusAccepted},
		{"one byte over", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"one byte over, chunked", limit + 1, true, http.StatusRequestEntityTooLarge},
		{"far over, chunked", 10 * limit, true, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(bodyOfSize(t, tt.size)))
			req.Header.Set("Content-Type", "application/json")
			if tt.chunked {
				req.ContentLength = -1
				req.TransferEncoding = []string{"chunked"}
			}
			rec := serve(a.h, req)
			if tt.want == http.StatusAccepted {
				decodeJSON[acceptedBody](t, rec, tt.want)
				return
			}
			p := problemOf(t, rec, tt.want)
			if !strings.Contains(p.Detail, strconv.Itoa(limit)) {
				t.Errorf("detail %q does not state the limit %d", p.Detail, limit)
			}
			if n := a.pub.callCount(); n != 0 {
				t.Errorf("publisher called %d times for a refused body", n)
			}
		})
	}
}

func TestCreatePostPublisherFails(t *testing.T) {
	a := newTestAPI(t)
	a.pub.fail = func(post.Post) error { return errors.New("not acknowledged") }
	rec := do(t, a.h, http.MethodPost, "/v1/posts", postJSON("x"), "Idempotency-Key", "k1")

	p := problemOf(t, rec, http.StatusServiceUnavailable)
	assertRetryAfter(t, rec)
	if !strings.Contains(p.Detail, "kafka") || !strings.Contains(strings.ToLower(p.Detail), "retry") {
		t.Errorf("detail %q does not name kafka and suggest a retry", p.Detail)
	}
	if loc := rec.Header().Get("Location"); loc != "" {
		t.Errorf("Location = %q on a 503", loc)
	}
	// The post may still land: the 503 names the id it would land under.
	if p.ID != post.KeyedID("k1") {
		t.Errorf("503 names id %q, want the post's id %s", p.ID, post.KeyedID("k1"))
	}
	if n := a.pub.callCount(); n != 1 {
		t.Errorf("publisher called %d times, want 1", n)
	}
}

func TestCreatePostIdempotencyKey(t *testing.T) {
	a := newTestAPI(t)
	send := func(key string) string {
		t.Helper()
		return decodeJSON[acceptedBody](t, do(t, a.h, http.MethodPost, "/v1/posts", postJSON("x"), "Idempotency-Key", key), http.StatusAccepted).ID
	}
	first, again, other := send("order-1"), send("order-1"), send("order-2")
	if first != again {
		t.Errorf("same key gave ids %s and %s", first, again)
	}
	if first == other {
		t.Errorf("keys order-1 and order-2 both gave id %s", first)
	}
	if first != post.KeyedID("order-1") || first[14] != '8' {
		t.Errorf("id %s, want KeyedID(order-1) = %s", first, post.KeyedID("order-1"))
	}
	long := strings.Repeat("k", 255)
	if id := send(long); id != post.KeyedID(long) {
		t.Errorf("255-character key gave id %s, want %s", id, post.KeyedID(long))
	}
	var ids []string
	for _, p := range a.pub.published() {
		ids = append(ids, p.ID)
	}
	if want := []string{first, first, other, post.KeyedID(long)}; !slices.Equal(ids, want) {
		t.Errorf("published ids %q, want %q", ids, want)
	}
}

func TestBadIdempotencyKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
	}{
		{"too long", strings.Repeat("k", 256)},
		{"non-ASCII", "schlüssel"},
		{"control character", "a\x01b"},
		{"DEL", "a\x7f"},
	}
	for _, path := range []string{"/v1/posts", "/v1/posts:batch", "/v1/posts:direct"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				a := newTestAPI(t)
				body := postJSON("x")
				if path == "/v1/posts:batch" {
					body = "[" + body + "]"
				}
				p := problemOf(t, do(t, a.h, http.MethodPost, path, body, "Idempotency-Key", tt.key), http.StatusBadRequest)
				if !strings.Contains(p.Detail, "Idempotency-Key") {
					t.Errorf("detail %q does not name the header", p.Detail)
				}
				if a.pub.callCount() != 0 || a.store.count() != 0 {
					t.Error("a post was handed on despite the bad key")
				}
			})
		}
	}
}

type itemBody struct {
	ID     string            `json:"id"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors []post.FieldError `json:"errors"`
	// MoreErrors counts the problems beyond Errors.
	MoreErrors int `json:"moreErrors"`
}

func TestBatchMixed(t *testing.T) {
	a := newTestAPI(t)
	body := "[" + strings.Join([]string{
		postJSON("first"),
		`{}`,
		postJSON("third"),
		`"not an object"`,
		`{"author":"a","title":"t","content":"c","extra":1}`,
		`{"author":"a","title":"t","content":"c","tags":"x"}`,
		postJSON("seventh"),
	}, ",") + "]"
	items := decodeJSON[[]itemBody](t, do(t, a.h, http.MethodPost, "/v1/posts:batch", body), http.StatusMultiStatus)

	wantStatus := []int{202, 422, 202, 400, 422, 422, 202}
	wantFields := [][]string{nil, {"author", "title", "content"}, nil, nil, {"extra"}, {"tags"}, nil}
	if len(items) != len(wantStatus) {
		t.Fatalf("got %d results, want %d: %+v", len(items), len(wantStatus), items)
	}
	var acceptedIDs []string
	for i, it := range items {
		if it.Status != wantStatus[i] {
			t.Errorf("item %d: status %d, want %d (%+v)", i, it.Status, wantStatus[i], it)
		}
		if got := fieldNames(it.Errors); !slices.Equal(got, wantFields[i]) {
			t.Errorf("item %d: error fields %q, want %q", i, got, wantFields[i])
		}
		if it.Status == http.StatusAccepted {
			if !post.ValidID(it.ID) {
				t.Errorf("item %d: accepted with id %q", i, it.ID)
			}
			acceptedIDs = append(acceptedIDs, it.ID)
		} else if it.ID != "" || it.Detail == "" {
			t.Errorf("item %d: failed item has id %q and detail %q; want no id and a detail", i, it.ID, it.Detail)
		}
	}

	if n := a.pub.callCount(); n != 1 {
		t.Errorf("publisher called %d times, want once for the whole batch", n)
	}
	var titles, ids []string
	for _, p := range a.pub.published() {
		titles, ids = append(titles, p.Title), append(ids, p.ID)
	}
	if want := []string{"first", "third", "seventh"}; !slices.Equal(titles, want) {
		t.Errorf("published titles %q, want %q", titles, want)
	}
	if !slices.Equal(ids, acceptedIDs) {
		t.Errorf("published ids %q, results say %q", ids, acceptedIDs)
	}
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(distinct) != len(ids) {
		t.Errorf("ids %q are not distinct", ids)
	}
}

func TestBatchPublisherFailsOneItem(t *testing.T) {
	a := newTestAPI(t)
	a.pub.fail = func(p post.Post) error {
		if p.Title == "unlucky" {
			return errors.New("not acknowledged")
		}
		return nil
	}
	body := "[" + postJSON("a") + "," + postJSON("unlucky") + "," + `{}` + "," + postJSON("d") + "]"
	items := decodeJSON[[]itemBody](t, do(t, a.h, http.MethodPost, "/v1/posts:batch", body), http.StatusMultiStatus)

	want := []int{202, 503, 422, 202}
	if len(items) != len(want) {
		t.Fatalf("got %d results, want %d", len(items), len(want))
	}
	for i, it := range items {
		if it.Status != want[i] {
			t.Errorf("item %d: status %d, want %d", i, it.Status, want[i])
		}
	}
	pub := a.pub.published()
	if len(pub) != 3 || items[1].ID != pub[1].ID || pub[1].Title != "unlucky" {
		t.Fatalf("published %+v; the failed item should carry id of post %q", pub, "unlucky")
	}
	if !strings.Contains(items[1].Detail, "retry") {
		t.Errorf("failed item detail %q does not suggest a retry", items[1].Detail)
	}
}

func TestBatchIdempotencyKey(t *testing.T) {
	a := newTestAPI(t)
	body := "[" + postJSON("a") + ",{}," + postJSON("c") + "]"
	send := func(key string) []itemBody {
		t.Helper()
		return decodeJSON[[]itemBody](t, do(t, a.h, http.MethodPost, "/v1/posts:batch", body, "Idempotency-Key", key), http.StatusMultiStatus)
	}
	first, again, other := send("batch-1"), send("batch-1"), send("batch-2")
	for _, i := range []int{0, 2} {
		if want := post.KeyedID("batch-1\x00" + strconv.Itoa(i)); first[i].ID != want || again[i].ID != want {
			t.Errorf("item %d: ids %s and %s, want %s both times", i, first[i].ID, again[i].ID, want)
		}
		if other[i].ID == first[i].ID {
			t.Errorf("item %d: another key gave the same id %s", i, first[i].ID)
		}
	}
	if first[0].ID == first[2].ID {
		t.Errorf("items 0 and 2 share id %s", first[0].ID)
	}
	if first[0].ID == post.KeyedID("batch-1") || first[0].ID == post.KeyedID("batch-1#0") {
		t.Error("batch item 0 got the id of a single post sent with key batch-1 or batch-1#0")
	}
}

func TestBatchRejectsRequest(t *testing.T) {
	one := `{"author":"a","title":"t","content":"c"}`
	tests := []struct {
		name       string
		body       string
		want       int
		wantDetail string
	}{
		{"empty array", `[]`, http.StatusUnprocessableEntity, "the batch is empty"},
		{"too many posts", "[" + strings.Repeat(one+",", testLimits.MaxBatchPosts) + one + "]", http.StatusUnprocessableEntity, "the batch has 501 posts; the limit is 500"},
		{"object", one, http.StatusBadRequest, "must be a JSON array"},
		{"string", `"posts"`, http.StatusBadRequest, "must be a JSON array"},
		{"null", ` null`, http.StatusBadRequest, "must be a JSON array"},
		{"malformed", `[` + one, http.StatusBadRequest, "malformed JSON"},
		{"trailing data", `[` + one + `] []`, http.StatusBadRequest, "malformed JSON"},
		{"empty body", ``, http.StatusBadRequest, "malformed JSON"},
		{"not JSON", `posts please`, http.StatusBadRequest, "malformed JSON"},
		{"broken later item", `[` + one + `,{"author":}]`, http.StatusBadRequest, "malformed JSON"},
		{"missing comma", `[` + one + one + `]`, http.StatusBadRequest, "malformed JSON"},
		{"trailing comma", `[` + one + `,]`, http.StatusBadRequest, "malformed JSON"},
		{"too many and broken", "[" + strings.Repeat(one+",", testLimits.MaxBatchPosts) + `{]`, http.StatusBadRequest, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			p := problemOf(t, do(t, a.h, http.MethodPost, "/v1/posts:batch", tt.body), tt.want)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail %q does not contain %q", p.Detail, tt.wantDetail)
			}
			if n := a.pub.callCount(); n != 0 {
				t.Errorf("publisher called %d times", n)
			}
		})
	}
}

func TestBatchLimits(t *testing.T) {
	one := `{"author":"a","title":"t","content":"c"}`
	a := newTestAPI(t)

	// The full batch fits the batch limit although it exceeds the
	// single-post limit.
	full := "[" + strings.Repeat(one+",", testLimits.MaxBatchPosts-1) + one + "]"
	if int64(len(full)) <= testLimits.MaxBodyBytes || int64(len(full)) > testLimits.MaxBatchBodyBytes {
		t.Fatalf("test batch of %d bytes must lie between the two limits", len(full))
	}
	items := decodeJSON[[]itemBody](t, do(t, a.h, http.MethodPost, "/v1/posts:batch", full), http.StatusMultiStatus)
	if len(items) != testLimits.MaxBatchPosts || len(a.pub.published()) != testLimits.MaxBatchPosts {
		t.Errorf("got %d results and %d published posts, want %d", len(items), len(a.pub.published()), testLimits.MaxBatchPosts)
	}

	big := "[" + bodyOfSize(t, int(testLimits.MaxBatchBodyBytes)) + "]"
	p := problemOf(t, do(t, a.h, http.MethodPost, "/v1/posts:batch", big), http.StatusRequestEntityTooLarge)
	if !strings.Contains(p.Detail, strconv.FormatInt(testLimits.MaxBatchBodyBytes, 10)) {
		t.Errorf("detail %q does not state the batch limit", p.Detail)
	}

	problemOf(t, do(t, a.h, http.MethodPost, "/v1/posts:batch", "["+one+"]", "Content-Type", "text/plain"), http.StatusUnsupportedMediaType)
}

func TestCreateDirect(t *testing.T) {
	a := newTestAPI(t)
	rec := do(t, a.h, http.MethodPost, "/v1/posts:direct", postJSON("Direct"))
	got := decodeJSON[post.Post](t, rec, http.StatusCreated)

	stored, err := a.store.Get(t.Context(), got.ID)
	if err != nil {
		t.Fatalf("the answered post %s is not in the store: %v", got.ID, err)
	}
	if got.Title != "Direct" || !got.IngestedAt.Equal(ingestedAt) || !got.CreatedAt.Equal(stored.CreatedAt) || got.Content != stored.Content {
		t.Errorf("answered %+v, want the stored document %+v", got, stored)
	}
	if loc := rec.Header().Get("Location"); loc != "/v1/posts/"+got.ID {
		t.Errorf("Location = %q, want /v1/posts/%s", loc, got.ID)
	}
	if h := rec.Header().Get("Idempotent-Replayed"); h != "" {
		t.Errorf("Idempotent-Replayed = %q on a first insert", h)
	}
	if n := a.pub.callCount(); n != 0 {
		t.Errorf("the direct path called the publisher %d times", n)
	}
}

func TestCreateDirectReplay(t *testing.T) {
	a := newTestAPI(t)
	first := do(t, a.h, http.MethodPost, "/v1/posts:direct", postJSON("original"), "Idempotency-Key", "k")
	firstPost := decodeJSON[post.Post](t, first, http.StatusCreated)

	again := do(t, a.h, http.MethodPost, "/v1/posts:direct", postJSON("original"), "Idempotency-Key", "k")
	againPost := decodeJSON[post.Post](t, again, http.StatusCreated)
	if h := again.Header().Get("Idempotent-Replayed"); h != "true" {
		t.Errorf("Idempotent-Replayed = %q, want true", h)
	}
	if againPost.ID != firstPost.ID || againPost.Title != "original" || !againPost.CreatedAt.Equal(firstPost.CreatedAt) {
		t.Errorf("replay answered %+v, want the document stored first %+v", againPost, firstPost)
	}
	if n := a.store.count(); n != 1 {
		t.Errorf("store holds %d posts, want 1", n)
	}
}

// TestCreateDirectOfADeletedPost: the id is taken (Insert) but no post is
// there (Get): a tombstone, the post was deleted. 409, not a 503 whose
// retry would fail the same way forever.
func TestCreateDirectOfADeletedPost(t *testing.T) {
	a := newTestAPI(t)
	a.store.insertErr, a.store.getErr = post.ErrExists, post.ErrNotFound
	rec := do(t, a.h, http.MethodPost, "/v1/posts:direct", postJSON("x"), "Idempotency-Key", "k")
	if p := problemOf(t, rec, http.StatusConflict); !strings.Contains(p.Detail, "deleted") {
		t.Errorf("detail %q does not say the post was deleted", p.Detail)
	}
}

func TestCreateDirectStoreFails(t *testing.T) {
	tests := []struct {
		name              string
		insertErr, getErr error
	}{
		{"insert fails", errDown, nil},
		{"replay lookup fails", post.ErrExists, errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			a.store.insertErr, a.store.getErr = tt.insertErr, tt.getErr
			rec := do(t, a.h, http.MethodPost, "/v1/posts:direct", postJSON("x"), "Idempotency-Key", "k")
			p := problemOf(t, rec, http.StatusServiceUnavailable)
			assertRetryAfter(t, rec)
			if !strings.Contains(p.Detail, "mongodb") {
				t.Errorf("detail %q does not name mongodb", p.Detail)
			}
			for _, h := range []string{"Location", "Idempotent-Replayed"} {
				if v := rec.Header().Get(h); v != "" {
					t.Errorf("%s = %q on a 503", h, v)
				}
			}
		})
	}
}

func TestCreateDirectRejectsInvalid(t *testing.T) {
	a := newTestAPI(t)
	p := problemOf(t, do(t, a.h, http.MethodPost, "/v1/posts:direct", `{"title":"t"}`), http.StatusUnprocessableEntity)
	if got := fieldNames(p.Errors); !slices.Equal(got, []string{"author", "content"}) {
		t.Errorf("error fields %q, want author and content", got)
	}
	if n := a.store.count(); n != 0 {
		t.Errorf("store holds %d posts after an invalid one", n)
	}
}

func TestLegacyRoutes(t *testing.T) {
	tests := []struct {
		name      string
		path      string
		body      string
		pubFails  bool
		storeErr  error
		want      int
		published int
		stored    int
	}{
		{"with kafka", "/api/create-post-with-kafka", postJSON("x"), false, nil, http.StatusOK, 1, 0},
		{"without kafka", "/api/create-post-without-kafka", postJSON("x"), false, nil, http.StatusOK, 0, 1},
		{"with kafka, invalid", "/api/create-post-with-kafka", `{}`, false, nil, http.StatusUnprocessableEntity, 0, 0},
		{"without kafka, invalid", "/api/create-post-without-kafka", `{"author":1}`, false, nil, http.StatusUnprocessableEntity, 0, 0},
		{"with kafka, broker down", "/api/create-post-with-kafka", postJSON("x"), true, nil, http.StatusServiceUnavailable, 1, 0},
		{"without kafka, store down", "/api/create-post-without-kafka", postJSON("x"), false, errDown, http.StatusServiceUnavailable, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			if tt.pubFails {
				a.pub.fail = func(post.Post) error { return errDown }
			}
			a.store.insertErr = tt.storeErr
			rec := do(t, a.h, http.MethodPost, tt.path, tt.body)
			if tt.want == http.StatusOK {
				got := decodeJSON[struct {
					Message string `json:"message"`
				}](t, rec, http.StatusOK)
				if got.Message != "post created" {
					t.Errorf("message = %q, want %q", got.Message, "post created")
				}
			} else {
				problemOf(t, rec, tt.want)
			}
			if got := len(a.pub.published()); got != tt.published || a.store.count() != tt.stored {
				t.Errorf("published %d and stored %d posts, want %d and %d", got, a.store.count(), tt.published, tt.stored)
			}
		})
	}
}
