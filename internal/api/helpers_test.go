package api_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/post"
)

// testLimits are small enough to hit in a test.
var testLimits = api.Limits{
	MaxBodyBytes:      2048,
	MaxBatchBodyBytes: 64 << 10,
	MaxBatchPosts:     config.MaxBatchPosts,
	// On, so every test's body passes through the budget; far above what
	// the tests hold at once.
	BodyBudgetBytes:     4 << 20,
	BodyBudgetPerClient: 1 << 20,
}

// fakePublisher acknowledges every post unless fail says otherwise, and
// remembers what it was given.
type fakePublisher struct {
	mu    sync.Mutex
	calls [][]post.Post
	fail  func(post.Post) error
}

func (f *fakePublisher) Publish(_ context.Context, posts []post.Post) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, slices.Clone(posts))
	errs := make([]error, len(posts))
	for i, p := range posts {
		if f.fail != nil {
			errs[i] = f.fail(p)
		}
	}
	return errs
}

// published returns every post handed over, in order.
func (f *fakePublisher) published() []post.Post {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Concat(f.calls...)
}

func (f *fakePublisher) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// fakeStore keeps posts in memory and lists them like the real store:
// newest first by (createdAt, id), strictly after the query's position.
type fakeStore struct {
	mu        sync.Mutex
	posts     map[string]post.Post
	insertErr error
	getErr    error
	listErr   error
	gets      int
	queries   []post.Query
	listed    int // posts List handed out
}

func newFakeStore() *fakeStore { return &fakeStore{posts: map[string]post.Post{}} }

// ingestedAt is when the fake store claims a post landed.
var ingestedAt = time.Date(2025, 1, 2, 3, 4, 5, 6e6, time.UTC)

func (s *fakeStore) Insert(_ context.Context, p post.Post) (post.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.insertErr != nil {
		return post.Post{}, s.insertErr
	}
	if _, ok := s.posts[p.ID]; ok {
		return post.Post{}, post.ErrExists
	}
	p.IngestedAt = ingestedAt
	s.posts[p.ID] = p
	return p, nil
}

func (s *fakeStore) Get(_ context.Context, id string) (post.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.getErr != nil {
		return post.Post{}, s.getErr
	}
	p, ok := s.posts[id]
	if !ok {
		return post.Post{}, post.ErrNotFound
	}
	return p, nil
}

func (s *fakeStore) List(_ context.Context, q post.Query, each func(post.Post) bool) error {
	s.mu.Lock()
	s.queries = append(s.queries, q)
	if s.listErr != nil {
		s.mu.Unlock()
		return s.listErr
	}
	var out []post.Post
	for _, p := range s.sortedLocked() {
		if q.Author != "" && p.Author != q.Author {
			continue
		}
		if q.After != nil && !before(p, *q.After) {
			continue
		}
		out = append(out, p)
		if len(out) == q.Limit {
			break
		}
	}
	s.mu.Unlock()
	for _, p := range out {
		s.mu.Lock()
		s.listed++
		s.mu.Unlock()
		if !each(p) {
			break
		}
	}
	return nil
}

// before reports whether p comes after pos in newest-first order.
func before(p post.Post, pos post.Position) bool {
	if c := p.CreatedAt.Compare(pos.CreatedAt); c != 0 {
		return c < 0
	}
	return p.ID < pos.ID
}

func (s *fakeStore) sortedLocked() []post.Post {
	all := make([]post.Post, 0, len(s.posts))
	for _, p := range s.posts {
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b post.Post) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	})
	return all
}

func (s *fakeStore) lastQuery(t *testing.T) post.Query {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queries) == 0 {
		t.Fatal("the store was not queried")
	}
	return s.queries[len(s.queries)-1]
}

func (s *fakeStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.posts)
}

// testAPI is a handler wired to fakes.
type testAPI struct {
	h     http.Handler
	pub   *fakePublisher
	store *fakeStore
}

func newTestAPI(t *testing.T, checks ...api.Check) *testAPI {
	t.Helper()
	pub, store := &fakePublisher{}, newFakeStore()
	return &testAPI{h: api.New(testLimits, pub, store, checks, slog.New(slog.DiscardHandler)), pub: pub, store: store}
}

// do serves one request. POST bodies are sent as application/json unless
// header sets Content-Type (to "" to send none). header holds name, value
// pairs.
func do(t *testing.T, h http.Handler, method, target, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, r)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if len(header)%2 != 0 {
		t.Fatalf("header %q is not name, value pairs", header)
	}
	for i := 0; i < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	return serve(h, req)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// decodeJSON checks the status and the JSON content type and decodes the
// body strictly into a T.
func decodeJSON[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	var v T
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}

// problemBody is an RFC 9457 answer.
type problemBody struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail"`
	Instance string            `json:"instance"`
	Errors   []post.FieldError `json:"errors"`
	// MoreErrors counts the problems beyond Errors.
	MoreErrors int    `json:"moreErrors"`
	ID         string `json:"id"`
	// RequestID is there when the API is wrapped by api.Instrument.
	RequestID string `json:"requestId"`
}

// problemOf checks that rec is a well-formed problem answer with status.
func problemOf(t *testing.T, rec *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p problemBody
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %s: %v", rec.Body, err)
	}
	if p.Type != "about:blank" || p.Title != http.StatusText(status) || p.Status != status || p.Detail == "" {
		t.Errorf("problem = %+v, want type about:blank, title %q, status %d and a detail", p, http.StatusText(status), status)
	}
	return p
}

// fieldNames lists the fields of a problem's or item's errors.
func fieldNames(errs []post.FieldError) []string {
	names := make([]string, len(errs))
	for i, e := range errs {
		names[i] = e.Field
	}
	return names
}

// assertRetryAfter checks a 503 tells the client when to come back.
func assertRetryAfter(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

// postJSON is a valid post body with the given title.
func postJSON(title string) string {
	b, err := json.Marshal(post.Input{Author: "Ada", Title: title, Subtitle: "Notes", Content: "Text", Tags: []string{"go", "kafka"}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// bodyOfSize returns a valid post body of exactly n bytes.
func bodyOfSize(t *testing.T, n int) string {
	t.Helper()
	const head, tail = `{"author":"a","title":"t","content":"`, `"}`
	if n < len(head)+len(tail)+1 {
		t.Fatalf("a post body needs at least %d bytes", len(head)+len(tail)+1)
	}
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

var errDown = errors.New("connection refused")
