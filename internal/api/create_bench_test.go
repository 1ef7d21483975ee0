package api_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/post"
)

type nopPublisher struct{}

func (nopPublisher) Publish(_ context.Context, posts []post.Post) []error {
	return make([]error, len(posts))
}

// BenchmarkCreatePost is the request path of POST /v1/posts without I/O:
// read, decode, validate, id (and, with a key, fingerprint and window),
// publish to a fake, answer.
func BenchmarkCreatePost(b *testing.B) {
	body := postJSON("a title of a typical length for a post")
	for _, keyed := range []bool{false, true} {
		b.Run("keyed="+strconv.FormatBool(keyed), func(b *testing.B) {
			a := api.New(testLimits, nopPublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if keyed {
					i++
					req.Header.Set("Idempotency-Key", "k"+strconv.Itoa(i))
				}
				rec := httptest.NewRecorder()
				a.ServeHTTP(rec, req)
				if rec.Code != http.StatusAccepted {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
