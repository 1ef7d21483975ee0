package stream

import "testing"

func TestOfPath(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/orders":                       "orders",
		"POST /v1/orders:batch":            "orders",
		"/v1/orders:direct":                "orders",
		"GET /v1/orders/{id}":              "orders",
		"/v1/orders/ord-1":                 "orders",
		"/v1/posts":                        "posts",
		"POST /api/create-post-with-kafka": "posts",
		"/api/create-post-without-kafka":   "posts",
		"/v1/bench/noop":                   "",
		"/v1/stats":                        "",
		"/v1/":                             "",
		"/healthz":                         "",
		"GET /ui/{file...}":                "",
		"/":                                "",
	} {
		if got := OfPath(path); got != want {
			t.Errorf("OfPath(%q) = %q, want %q", path, got, want)
		}
	}
}
