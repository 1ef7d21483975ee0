package api_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/api"
)

// TestRateLimitCountsTheConnCapsUnit: the rate limit counts a client in the
// unit the connection cap does, an IPv4 address or an IPv6 /64: addresses
// rotated inside one /64 share a bucket (they each had their own, so a
// client escaped the limit), another /64 has its own, and an IPv4-mapped
// IPv6 address is its IPv4 address.
func TestRateLimitCountsTheConnCapsUnit(t *testing.T) {
	// Nothing refills during the test: each client gets exactly its burst.
	g := api.Guard{RateLimit: 0.001, RateBurst: 2}
	for _, tt := range []struct {
		name string
		// requests are (remote address, want status)
		requests [][2]string
	}{
		{"addresses in one /64 share a bucket", [][2]string{
			{"[2001:db8:1:2::1]:1000", "202"}, {"[2001:db8:1:2:ffff:ffff:ffff:fffe]:1000", "202"},
			{"[2001:db8:1:2:abcd::9]:2000", "429"},
			{"[2001:db8:1:3::1]:1000", "202"}, // the next /64 is another client
			{"[2001:db8:1:2::1%eth0]:1000", "429"},
		}},
		{"an IPv4-mapped address is the IPv4 address", [][2]string{
			{"192.0.2.7:1000", "202"}, {"[::ffff:192.0.2.7]:1000", "202"},
			{"[::ffff:192.0.2.7]:1001", "429"}, {"192.0.2.7:1002", "429"},
			{"192.0.2.8:1000", "202"}, // IPv4 is not grouped: a neighbour is another client
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := guardedAPI(t, g, false)
			for i, rq := range tt.requests {
				req := httptest.NewRequest(http.MethodPost, "/v1/posts", strings.NewReader(postJSON("t")))
				req.Header.Set("Content-Type", "application/json")
				req.RemoteAddr = rq[0]
				rec := serve(h, req)
				if got := strconv.Itoa(rec.Code); got != rq[1] {
					t.Fatalf("request %d from %s: status %s, want %s: %s", i, rq[0], got, rq[1], rec.Body)
				}
			}
		})
	}
}
