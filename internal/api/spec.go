package api

import (
	"net/http"

	apispec "github.com/postpipe/postpipe/api"
)

// serveSpec answers with the OpenAPI description of these routes.
func serveSpec(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(apispec.OpenAPI)
}
