package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/post"
)

const testKey = "pp_test-key-for-client-a"

// guardedAPI is the test API behind g, with one key "client-a" when
// withKeys.
func guardedAPI(t *testing.T, g api.Guard, withKeys bool) (http.Handler, *testAPI) {
	t.Helper()
	pub, store := &fakePublisher{}, newFakeStore()
	a := api.New(testLimits, pub, store, nil, slog.New(slog.DiscardHandler))
	if withKeys {
		keys, err := apikey.Parse(strings.NewReader(apikey.Line("client-a", testKey)))
		if err != nil {
			t.Fatal(err)
		}
		g.Keys = keys
	}
	return a.Guarded(g), &testAPI{h: a, pub: pub, store: store}
}

func TestAPIKeys(t *testing.T) {
	h, ta := guardedAPI(t, api.Guard{Exempt: []string{"/healthz", "/readyz"}}, true)
	for _, tt := range []struct {
		name, method, path, auth string
		want                     int
		wantChallenge            string
	}{
		{"missing", http.MethodPost, "/v1/posts", "", http.StatusUnauthorized, `Bearer realm="postpipe"`},
		{"wrong key", http.MethodPost, "/v1/posts", "Bearer pp_wrong", http.StatusUnauthorized, `Bearer realm="postpipe", error="invalid_token"`},
		{"key with a suffix", http.MethodPost, "/v1/posts", "Bearer " + testKey + "x", http.StatusUnauthorized, `Bearer realm="postpipe", error="invalid_token"`},
		{"wrong scheme", http.MethodPost, "/v1/posts", "Basic " + testKey, http.StatusUnauthorized, `Bearer realm="postpipe", error="invalid_token"`},
		{"no space", http.MethodPost, "/v1/posts", "Bearer", http.StatusUnauthorized, `Bearer realm="postpipe", error="invalid_token"`},
		{"empty key", http.MethodPost, "/v1/posts", "Bearer   ", http.StatusUnauthorized, `Bearer realm="postpipe", error="invalid_token"`},
		{"bare key", http.MethodPost, "/v1/posts", testKey, http.StatusUnauthorized, `Bearer realm="postpipe", error="invalid_token"`},
		{"unknown path needs a key too", http.MethodGet, "/nope", "", http.StatusUnauthorized, `Bearer realm="postpipe"`},
		{"spec needs a key", http.MethodGet, "/openapi.yaml", "", http.StatusUnauthorized, `Bearer realm="postpipe"`},
		{"valid key", http.MethodPost, "/v1/posts", "Bearer " + testKey, http.StatusAccepted, ""},
		{"scheme is case-insensitive", http.MethodPost, "/v1/posts", "bearer " + testKey, http.StatusAccepted, ""},
		{"valid key, read", http.MethodGet, "/v1/posts", "Bearer " + testKey, http.StatusOK, ""},
		{"exempt healthz", http.MethodGet, "/healthz", "", http.StatusOK, ""},
		{"exempt readyz", http.MethodGet, "/readyz", "", http.StatusOK, ""},
		{"exempt path with a wrong key", http.MethodGet, "/healthz", "Bearer pp_wrong", http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := ""
			if tt.method == http.MethodPost {
				body = postJSON(tt.name)
			}
			before := ta.pub.callCount()
			rec := do(t, h, tt.method, tt.path, body, "Authorization", tt.auth)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.wantChallenge)
			}
			if tt.want == http.StatusUnauthorized {
				problemOf(t, rec, http.StatusUnauthorized)
				if n := ta.pub.callCount(); n != before {
					t.Errorf("a refused request reached the publisher")
				}
				if strings.Contains(rec.Body.String(), testKey) {
					t.Errorf("the answer repeats the key: %s", rec.Body)
				}
			}
		})
	}
}

// keyNamePublisher acknowledges and remembers the key name each call's
// context carried.
type keyNamePublisher struct{ names []string }

func (p *keyNamePublisher) Publish(ctx context.Context, posts []post.Post) []error {
	p.names = append(p.names, api.KeyName(ctx))
	return make([]error, len(posts))
}

func TestKeyNameInContext(t *testing.T) {
	keys, err := apikey.Parse(strings.NewReader(apikey.Line("client-a", "pp_a") + "\n" + apikey.Line("client-b", "pp_b")))
	if err != nil {
		t.Fatal(err)
	}
	pub := &keyNamePublisher{}
	h := api.New(testLimits, pub, newFakeStore(), nil, slog.New(slog.DiscardHandler)).Guarded(api.Guard{Keys: keys})
	for _, key := range []string{"pp_b", "pp_a"} {
		if rec := do(t, h, http.MethodPost, "/v1/posts", postJSON("t"), "Authorization", "Bearer "+key); rec.Code != http.StatusAccepted {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	if want := []string{"client-b", "client-a"}; !slices.Equal(pub.names, want) {
		t.Fatalf("key names %q, want %q", pub.names, want)
	}
}

func TestRateLimit(t *testing.T) {
	// A rate this low refills nothing during the test: each client gets
	// exactly its burst.
	g := api.Guard{RateLimit: 0.001, RateBurst: 2, Exempt: []string{"/healthz"}}
	for _, tt := range []struct {
		name     string
		withKeys bool
		// requests are (remote address, authorization, want status)
		requests [][3]string
	}{
		{"per address without keys", false, [][3]string{
			{"10.0.0.1:1000", "", "202"}, {"10.0.0.1:1001", "", "202"}, {"10.0.0.1:1002", "", "429"},
			{"10.0.0.2:1000", "", "202"}, // another address has its own bucket
			{"10.0.0.1:1003", "", "429"},
		}},
		{"per key, whatever the address", true, [][3]string{
			{"10.0.0.1:1000", "Bearer " + testKey, "202"}, {"10.0.0.2:1000", "Bearer " + testKey, "202"},
			{"10.0.0.3:1000", "Bearer " + testKey, "429"},
			{"10.0.0.3:1000", "", "401"}, // refused before it is counted
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, ta := guardedAPI(t, g, tt.withKeys)
			for i, rq := range tt.requests {
				req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(postJSON("t")))
				req.RemoteAddr = rq[0]
				if rq[1] != "" {
					req.Header.Set("Authorization", rq[1])
				}
				before := ta.pub.callCount()
				rec := serve(h, req)
				if got := strconv.Itoa(rec.Code); got != rq[2] {
					t.Fatalf("request %d from %s: status %s, want %s: %s", i, rq[0], got, rq[2], rec.Body)
				}
				if rec.Code == http.StatusTooManyRequests {
					problemOf(t, rec, http.StatusTooManyRequests)
					if ra, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || ra < 1 {
						t.Errorf("Retry-After = %q, want whole seconds >= 1", rec.Header().Get("Retry-After"))
					}
					if ta.pub.callCount() != before {
						t.Errorf("a limited request reached the publisher")
					}
				}
			}
		})
	}
}

func TestNoGuardIsTheAPI(t *testing.T) {
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	if h := a.Guarded(api.Guard{}); h != http.Handler(a) {
		t.Fatalf("the zero Guard wraps the API in %T", h)
	}
}

// TestRateLimitExtremes: a rate so small that its wait overflows a
// time.Duration still limits, and Retry-After stays whole seconds within
// the hour; a huge rate is no limit but does not break either.
func TestRateLimitExtremes(t *testing.T) {
	for _, tt := range []struct {
		rate        float64
		burst       int
		wantLimited bool
	}{
		{1e-10, 1, true},
		{1e-9, 1, true},
		{1e-300, 1, true},
		{math.SmallestNonzeroFloat64, 1, true},
		{1e6, 1, false},
		{1e308, 1, false},
		{math.MaxFloat64, math.MaxInt32, false},
	} {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			h, _ := guardedAPI(t, api.Guard{RateLimit: tt.rate, RateBurst: tt.burst}, false)
			var last *httptest.ResponseRecorder
			for range tt.burst%8 + 1 { // the burst (when small), then one more
				req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(postJSON("t")))
				req.RemoteAddr = "10.0.0.1:1000"
				last = serve(h, req)
			}
			if limited := last.Code == http.StatusTooManyRequests; limited != tt.wantLimited {
				t.Fatalf("status %d after the burst, want limited=%v: %s", last.Code, tt.wantLimited, last.Body)
			}
			if !tt.wantLimited {
				return
			}
			ra, err := strconv.Atoi(last.Header().Get("Retry-After"))
			if err != nil || ra < 1 || ra > 3600 {
				t.Fatalf("Retry-After = %q, want whole seconds from 1 to 3600", last.Header().Get("Retry-After"))
			}
		})
	}
}
