package stream

import "strings"

// OfPath is the stream a request path (or a route pattern, "POST
// /v1/orders:batch") is for: "orders" for /v1/orders, /v1/orders:batch,
// /v1/orders:direct and /v1/orders/{id}; posts for the seed's
// /api/create-post-… routes; "" for every path of no stream (probes,
// /v1/stats, the bench endpoints, the dashboard). It does not say whether
// such a stream is served.
func OfPath(path string) string {
	if _, p, ok := strings.Cut(path, " "); ok {
		path = p
	}
	if strings.HasPrefix(path, "/api/create-post-") {
		return Builtin
	}
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return ""
	}
	if end := strings.IndexAny(rest, "/:"); end >= 0 {
		rest = rest[:end]
	}
	if _, ok := reserved[rest]; ok || rest == "" {
		return ""
	}
	return rest
}
