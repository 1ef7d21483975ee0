package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

type countingPublisher struct{ n int }

func (c *countingPublisher) Publish(_ context.Context, posts []post.Post) []error {
	c.n += len(posts)
	return make([]error, len(posts))
}

// TestEncodedSizeBoundary posts a keyed post whose record is exactly
// post.MaxEncodedBytes (accepted) and one byte more (413 naming the limit,
// nothing published).
func TestEncodedSizeBoundary(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, tt := range []struct {
		size int
		want int
	}{
		{post.MaxEncodedBytes, http.StatusAccepted},
		{post.MaxEncodedBytes + 1, http.StatusRequestEntityTooLarge},
	} {
		pub := &countingPublisher{}
		a := New(Limits{MaxBodyBytes: 2 << 20, MaxBatchBodyBytes: 4 << 20, MaxBatchPosts: 10}, pub, nil, nil, slog.New(slog.DiscardHandler))
		a.now = func() time.Time { return now }

		// The record's size depends on the content's bytes only (the
		// fingerprint has a fixed length): fill it to the size wanted.
		in := post.Input{Author: "a", Title: "t", Content: "x"}
		p := post.New(post.ScopedKeyedID("", "edge"), in, now)
		p.Fingerprint = in.Fingerprint()
		gap := tt.size - post.EncodedLen(p)
		in.Content = strings.Repeat("😀", gap/4) + strings.Repeat("x", 1+gap%4)
		p.Content = in.Content
		if n := post.EncodedLen(p); n != tt.size {
			t.Fatalf("built %d bytes, want %d", n, tt.size)
		}
		body, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(string(body)))
		req.Header.Set("Idempotency-Key", "edge")
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Fatalf("record of %d bytes: status %d, want %d: %.300s", tt.size, rec.Code, tt.want, rec.Body)
		}
		if tt.want != http.StatusAccepted {
			if !strings.Contains(rec.Body.String(), "the limit is 1040000 bytes") || pub.n != 0 {
				t.Errorf("answer %s (published %d), want the limit named and nothing published", rec.Body, pub.n)
			}
		}
	}
}
