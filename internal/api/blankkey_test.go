package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBlankIdempotencyKey: a header that is there but blank is a 400, not a
// post without a key (which each retry would store again). Over the wire
// net/textproto trims a whitespace-only value to "", so both are checked.
func TestBlankIdempotencyKey(t *testing.T) {
	for _, path := range []string{"/v1/posts", "/v1/posts:batch", "/v1/posts:direct"} {
		for _, value := range []string{"", " ", "\t  "} {
			t.Run(path+" "+strings.ReplaceAll(value, "\t", `\t`), func(t *testing.T) {
				a := newTestAPI(t)
				body := postJSON("x")
				if path == "/v1/posts:batch" {
					body = "[" + body + "]"
				}
				req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header["Idempotency-Key"] = []string{value}
				p := problemOf(t, serve(a.h, req), http.StatusBadRequest)
				if !strings.Contains(p.Detail, "Idempotency-Key is blank") {
					t.Errorf("detail %q does not say the key is blank", p.Detail)
				}
				if a.pub.callCount() != 0 || a.store.count() != 0 {
					t.Error("a post was handed on despite the blank key")
				}
			})
		}
	}
}

// TestBlankIdempotencyKeyOverTheWire: what a real client sends, through
// the server's own header parsing.
func TestBlankIdempotencyKeyOverTheWire(t *testing.T) {
	a := newTestAPI(t)
	srv := httptest.NewServer(a.h)
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/posts", strings.NewReader(postJSON("x")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header["Idempotency-Key"] = []string{"   "}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	if a.pub.callCount() != 0 {
		t.Error("a post was handed on despite the blank key")
	}
}
