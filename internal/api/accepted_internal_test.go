package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// TestWriteAcceptedMatchesWriteJSON holds the hand-written 202 to the
// answer writeJSON gives, headers and body, for a fresh and a keyed id.
func TestWriteAcceptedMatchesWriteJSON(t *testing.T) {
	now := time.Now()
	for _, id := range []string{post.NewID(now), post.KeyedID("k")} {
		got := httptest.NewRecorder()
		writeAccepted(got, post.Post{ID: id})

		want := httptest.NewRecorder()
		want.Header().Set("Location", "/v1/posts/"+id)
		writeJSON(want, http.StatusAccepted, accepted{ID: id, Status: "accepted"})

		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("writeAccepted: %d %q, want %d %q", got.Code, got.Body, want.Code, want.Body)
		}
		for _, h := range []string{"Location", "Content-Type", "X-Content-Type-Options"} {
			if g, w := got.Header().Values(h), want.Header().Values(h); len(g) != 1 || len(w) != 1 || g[0] != w[0] {
				t.Errorf("%s = %q, want %q", h, g, w)
			}
		}
	}
}

// TestEncodedBoundIsAnUpperBound: checkEncodedSize skips the exact count
// when encodedBound is under the limit, so it must never be below it.
func TestEncodedBoundIsAnUpperBound(t *testing.T) {
	worst := strings.Repeat("\x00\xff", 500) + "\u2028\"\\<"
	for _, p := range []post.Post{
		{ID: post.NewID(time.Now()), Author: "a", Title: "t", Content: "c", CreatedAt: time.Now()},
		{ID: post.KeyedID("k"), Author: worst, Title: worst, Subtitle: worst, Content: worst, Tags: []string{worst, "", worst},
			CreatedAt:  time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60))),
			IngestedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", 23*3600+59*60)), Fingerprint: worst},
		{ID: "", Tags: []string{"", "", ""}, CreatedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if b, n := encodedBound(p), post.EncodedLen(p); b < n {
			t.Errorf("encodedBound = %d < EncodedLen = %d for %+v", b, n, p)
		}
	}
}
