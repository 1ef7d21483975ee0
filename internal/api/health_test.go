package api_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
)

func TestHealthz(t *testing.T) {
	a := newTestAPI(t, api.Check{Name: "kafka", Ping: func(context.Context) error { return errDown }})
	got := decodeJSON[map[string]string](t, do(t, a.h, http.MethodGet, "/healthz", ""), http.StatusOK)
	if got["status"] != "ok" || len(got) != 1 {
		t.Errorf("body = %v, want status ok (liveness ignores dependencies)", got)
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		checks     []api.Check
		wantFailed []string // checks named in the 503 detail
		wantOK     []string // checks that must not be named as failing
	}{
		{"no checks", nil, nil, nil},
		{"all ready", []api.Check{{Name: "kafka", Ping: ok}, {Name: "mongodb", Ping: ok}}, nil, nil},
		{
			"one failing",
			[]api.Check{{Name: "kafka", Ping: ok}, {Name: "mongodb", Ping: func(context.Context) error { return errors.New("no primary") }}},
			[]string{"mongodb: no primary"}, []string{"kafka"},
		},
		{
			"both failing",
			[]api.Check{
				{Name: "mongodb", Ping: func(context.Context) error { return errors.New("auth failed") }},
				{Name: "kafka", Ping: func(context.Context) error { return errDown }},
			},
			[]string{"kafka: connection refused; mongodb: auth failed"}, nil,
		},
		{
			"check gives up with its context",
			[]api.Check{{Name: "kafka", Ping: func(ctx context.Context) error {
				<-ctx.Done() // a hanging dependency: /readyz must still answer
				return ctx.Err()
			}}},
			[]string{"kafka: context deadline exceeded"}, nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t, tt.checks...)
			rec := do(t, a.h, http.MethodGet, "/readyz", "")
			if len(tt.wantFailed) == 0 {
				got := decodeJSON[struct {
					Status string            `json:"status"`
					Checks map[string]string `json:"checks"`
				}](t, rec, http.StatusOK)
				if got.Status != "ready" || len(got.Checks) != len(tt.checks) {
					t.Errorf("body = %+v, want ready with %d checks", got, len(tt.checks))
				}
				for _, c := range tt.checks {
					if got.Checks[c.Name] != "ok" {
						t.Errorf("check %s = %q, want ok", c.Name, got.Checks[c.Name])
					}
				}
				return
			}
			p := problemOf(t, rec, http.StatusServiceUnavailable)
			assertRetryAfter(t, rec)
			for _, w := range tt.wantFailed {
				if !strings.Contains(p.Detail, w) {
					t.Errorf("detail %q does not contain %q", p.Detail, w)
				}
			}
			for _, name := range tt.wantOK {
				if strings.Contains(p.Detail, name) {
					t.Errorf("detail %q names the healthy check %s", p.Detail, name)
				}
			}
		})
	}
}

func TestUnknownRoute(t *testing.T) {
	for _, target := range []string{"/", "/nope", "/v1/post", "/v2/posts", "/v1/posts/" + "a/b"} {
		t.Run(target, func(t *testing.T) {
			a := newTestAPI(t)
			p := problemOf(t, do(t, a.h, http.MethodGet, target, ""), http.StatusNotFound)
			if !strings.Contains(p.Detail, "GET "+target) {
				t.Errorf("detail %q does not name the route", p.Detail)
			}
			if p.Instance != target {
				t.Errorf("instance = %q, want %q", p.Instance, target)
			}
		})
	}
}

func TestWrongMethod(t *testing.T) {
	tests := []struct {
		method, target string
		wantAllow      string
	}{
		{http.MethodDelete, "/v1/posts", "GET, HEAD, POST"},
		{http.MethodPut, "/v1/posts/0197a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "GET, HEAD"},
		{http.MethodGet, "/v1/posts:batch", "POST"},
		{http.MethodGet, "/v1/posts:direct", "POST"},
		{http.MethodGet, "/api/create-post-with-kafka", "POST"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPatch, "/readyz", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			a := newTestAPI(t)
			rec := do(t, a.h, tt.method, tt.target, "")
			p := problemOf(t, rec, http.StatusMethodNotAllowed)
			if got := rec.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if !strings.Contains(p.Detail, tt.method) {
				t.Errorf("detail %q does not name the method", p.Detail)
			}
			if a.pub.callCount() != 0 || len(a.store.queries) != 0 || a.store.gets != 0 {
				t.Error("a handler ran for the wrong method")
			}
		})
	}
}

// TestReadyzWithKeysShowsReasonCodes: with API keys on, the exempt /readyz
// names each failing check with a reason code, never its error text (a
// store's address, a driver's message); the error goes to the log.
func TestReadyzWithKeysShowsReasonCodes(t *testing.T) {
	internal := "connection(127.0.0.1:18902[-3]) incomplete read of message header"
	checks := []api.Check{
		{Name: "mongodb", Ping: func(context.Context) error { return errors.New(internal) }},
		{Name: "kafka", Ping: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
	}
	keys, err := apikey.Parse(strings.NewReader(apikey.Line("client-a", testKey)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name       string
		keys       bool
		wantDetail string
	}{
		{"keys on", true, "not ready: kafka: timeout; mongodb: unavailable"},
		{"keys off", false, "not ready: kafka: context deadline exceeded; mongodb: " + internal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logged bytes.Buffer
			a := api.New(testLimits, &fakePublisher{}, newFakeStore(), checks, slog.New(slog.NewTextHandler(&logged, nil)))
			g := api.Guard{Exempt: []string{"/healthz", "/readyz"}}
			if tt.keys {
				g.Keys = keys
			}
			rec := do(t, a.Guarded(g), http.MethodGet, "/readyz", "")
			p := problemOf(t, rec, http.StatusServiceUnavailable)
			if p.Detail != tt.wantDetail {
				t.Errorf("detail %q, want %q", p.Detail, tt.wantDetail)
			}
			if tt.keys && !strings.Contains(logged.String(), "incomplete read of message header") {
				t.Errorf("the error is not in the log: %s", logged.String())
			}
		})
	}
}
