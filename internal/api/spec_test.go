package api_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	apispec "github.com/postpipe/postpipe/api"
	"github.com/postpipe/postpipe/internal/api"
)

// describedElsewhere are routes the description documents that other parts
// of the service serve.
var describedElsewhere = []string{"GET /metrics"}

// specRoutes lists "METHOD /path" for every operation in openapi.yaml.
func specRoutes(t *testing.T) []string {
	t.Helper()
	var doc struct {
		OpenAPI string                               `yaml:"openapi"`
		Paths   map[string]map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(apispec.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	var routes []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
			default:
				continue // parameters, summary, ...
			}
			routes = append(routes, strings.ToUpper(method)+" "+path)
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	slices.Sort(routes)
	return routes
}

func TestSpecDescribesEveryRoute(t *testing.T) {
	limits := testLimits
	limits.BenchEndpoints = true // the description covers the optional route too
	a := api.New(limits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	a.EnableDashboard(fixedStats{})
	served := a.Routes()
	served = append(served, describedElsewhere...)
	slices.Sort(served)

	described := specRoutes(t)
	for _, r := range served {
		if !slices.Contains(described, r) {
			t.Errorf("route %s is served but not in api/openapi.yaml", r)
		}
	}
	for _, r := range described {
		if !slices.Contains(served, r) {
			t.Errorf("api/openapi.yaml describes %s, which is not served", r)
		}
	}
}

func TestServesSpec(t *testing.T) {
	a := newTestAPI(t)
	rec := do(t, a.h, http.MethodGet, "/openapi.yaml", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), apispec.OpenAPI) {
		t.Errorf("served %d bytes, not the embedded description (%d bytes)", rec.Body.Len(), len(apispec.OpenAPI))
	}
}
