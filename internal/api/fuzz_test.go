package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

// FuzzCreatePost sends arbitrary bodies, content types and idempotency keys
// to POST /v1/posts and /v1/posts:batch with a publisher that always
// acknowledges: the answer must be a client error or an acceptance, never a
// panic or a 5xx, and only valid posts that fit a record and that the sink
// accepts may reach the publisher. Plain `go test` runs only the seeds and
// the corpus in testdata/fuzz/FuzzCreatePost (the cases of issue 10 among
// them).
func FuzzCreatePost(f *testing.F) {
	valid := postJSON("seed")
	seeds := []struct {
		body, contentType, key string
		batch                  bool
	}{
		{valid, "application/json", "", false},
		{valid, "", "key-1", false},
		{valid, "text/plain", "", false},
		{valid + "}", "application/json", "", false},
		{`{}`, "application/json", "", false},
		{`{"author":"a","title":"t","content":"c","tags":"x"}`, "application/json", "", false},
		{`{"author":"a","title":"t","content":"c","nope":1}`, "application/json", "", false},
		{`{"author":"\ud800","title":"t","content":"c"}`, "application/json", "", false},
		{"\xff\xfe{", "application/json; charset=utf-8", "ключ", false},
		{"[" + valid + ",{},\"x\",null]", "application/json", "k", true},
		{"[]", "application/json", "", true},
		{`{"a":1}`, "application/json", "", true},
		{"[" + valid, "", "", true},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.contentType, s.key, s.batch)
	}

	f.Fuzz(func(t *testing.T, body []byte, contentType, key string, batch bool) {
		a := newTestAPI(t)
		path := "/v1/posts"
		if batch {
			path = "/v1/posts:batch"
		}
		rec := do(t, a.h, http.MethodPost, path, string(body), "Content-Type", contentType, "Idempotency-Key", key)

		switch rec.Code {
		case http.StatusAccepted:
			if batch {
				t.Fatalf("batch answered 202: %s", rec.Body)
			}
			got := decodeJSON[acceptedBody](t, rec, http.StatusAccepted)
			pub := a.pub.published()
			if len(pub) != 1 || pub[0].ID != got.ID {
				t.Fatalf("answered id %s, published %+v", got.ID, pub)
			}
			if key != "" && got.ID != post.KeyedID(key) {
				t.Fatalf("key %q gave id %s, want %s", key, got.ID, post.KeyedID(key))
			}
		case http.StatusMultiStatus:
			if !batch {
				t.Fatalf("single post answered 207: %s", rec.Body)
			}
			items := decodeJSON[[]itemBody](t, rec, http.StatusMultiStatus)
			accepted := 0
			for i, it := range items {
				if !slices.Contains([]int{http.StatusAccepted, http.StatusBadRequest, http.StatusUnprocessableEntity}, it.Status) {
					t.Fatalf("item %d has status %d: %+v", i, it.Status, it)
				}
				if it.Status == http.StatusAccepted {
					accepted++
				}
			}
			if n := len(a.pub.published()); n != accepted {
				t.Fatalf("%d items accepted, %d published", accepted, n)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			problemOf(t, rec, rec.Code)
			if n := a.pub.callCount(); n != 0 {
				t.Fatalf("refused with %d but called the publisher %d times", rec.Code, n)
			}
		default:
			t.Fatalf("status %d for body %q (Content-Type %q, key %q): %s", rec.Code, body, contentType, key, rec.Body)
		}
		for _, p := range a.pub.published() {
			if err := p.Input().Validate(); err != nil {
				t.Fatalf("published an invalid post %+v: %v", p, err)
			}
			if !post.ValidID(p.ID) {
				t.Fatalf("published a post with id %q", p.ID)
			}
			// Every post the API publishes fits a record, and the sink
			// accepts it as it was.
			rec, err := post.Marshal(p)
			if err != nil || len(rec) > post.MaxEncodedBytes {
				t.Fatalf("published a post whose record is %d bytes (%v)", len(rec), err)
			}
			back, err := post.Unmarshal([]byte(p.ID), rec)
			if err != nil {
				t.Fatalf("the sink refuses a post the API published: %v", err)
			}
			if back.Input().Fingerprint() != p.Input().Fingerprint() || back.Fingerprint != p.Fingerprint {
				t.Fatalf("the record of %+v reads back as %+v", p, back)
			}
		}
	})
}
