package api_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"testing"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/post"
)

// PublishNoWait makes fakePublisher a publisher that can fire and forget:
// it remembers the post as Publish does and reports the outcome fail gives
// at once.
func (f *fakePublisher) PublishNoWait(p post.Post, done func(error)) {
	f.mu.Lock()
	f.calls = append(f.calls, []post.Post{p})
	fail := f.fail
	f.mu.Unlock()
	var err error
	if fail != nil {
		err = fail(p)
	}
	done(err)
}

func TestBenchFireAndForget(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		fail       error
		wantStatus int
		wantCounts api.FireAndForgetCounts
	}{
		{name: "produced and acknowledged", body: `{"author":"a","title":"t","content":"c"}`, wantStatus: http.StatusAccepted,
			wantCounts: api.FireAndForgetCounts{Sent: 1, Acknowledged: 1}},
		{name: "refused by the broker after the 202: only counted", body: `{"author":"a","title":"t","content":"c"}`,
			fail: errors.New("broker down"), wantStatus: http.StatusAccepted, wantCounts: api.FireAndForgetCounts{Sent: 1, Failed: 1}},
		{name: "invalid post: refused like /v1/posts refuses it, nothing produced", body: `{"author":"","title":"t","content":"c"}`,
			wantStatus: http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &fakePublisher{}
			if tt.fail != nil {
				pub.fail = func(post.Post) error { return tt.fail }
			}
			limits := testLimits
			limits.BenchEndpoints = true
			h := api.New(limits, pub, newFakeStore(), nil, slog.New(slog.DiscardHandler))

			rec := do(t, h, http.MethodPost, "/v1/bench/fire-and-forget", tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantStatus, rec.Body)
			}
			var produced []post.Post
			if tt.wantStatus == http.StatusAccepted {
				var a struct{ ID string }
				if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.ID == "" {
					t.Fatalf("answer %s: no id (%v)", rec.Body, err)
				}
				produced = pub.published()
				if len(produced) != 1 || produced[0].ID != a.ID || produced[0].Author != "a" {
					t.Errorf("produced %+v, want the post answered with id %s", produced, a.ID)
				}
				if got := rec.Header().Get("Location"); got != "/v1/posts/"+a.ID {
					t.Errorf("Location %q", got)
				}
			} else if n := len(pub.published()); n != 0 {
				t.Errorf("%d posts produced, want none", n)
			}

			rec = do(t, h, http.MethodGet, "/v1/bench/fire-and-forget", "")
			var got api.FireAndForgetCounts
			if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusOK || err != nil {
				t.Fatalf("GET counts: %d %s (%v)", rec.Code, rec.Body, err)
			}
			if got != tt.wantCounts {
				t.Errorf("counts %+v, want %+v", got, tt.wantCounts)
			}
		})
	}
}

func TestBenchEndpointsAreOffByDefault(t *testing.T) {
	a := newTestAPI(t)
	for _, path := range []string{"/v1/bench/noop", "/v1/bench/fire-and-forget"} {
		if rec := do(t, a.h, http.MethodPost, path, `{"author":"a","title":"t","content":"c"}`); rec.Code != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404 without BenchEndpoints", path, rec.Code)
		}
	}
	if n := len(a.pub.published()); n != 0 {
		t.Errorf("%d posts produced", n)
	}
}
