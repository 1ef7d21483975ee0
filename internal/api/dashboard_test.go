package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/stats"
	"github.com/postpipe/postpipe/internal/stream"
)

// fixedStats always reports the same snapshot.
type fixedStats stats.Snapshot

func (f fixedStats) Snapshot() stats.Snapshot { return stats.Snapshot(f) }

var testSnapshot = stats.Snapshot{
	At:              time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	IntervalSeconds: 1,
	WindowSeconds:   300,
	Samples: []stats.Sample{{At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), IngestRate: 12.5, SinkRate: 10, Lag: 7,
		RequestRate: 14, ClientErrorRate: 1, UnavailableRate: 0.5, P50Ms: 2.4, P99Ms: 95}},
	Totals: stats.Totals{Accepted: 120, Committed: 113, DLQ: 2, Requests: 140, ClientErrors: 10, Unavailable: 5},
	Lag:    stats.Lag{Total: 7, Partitions: []stats.Partition{{Partition: 0, Committed: 113, End: 120, Lag: 7}}},
	Health: []stats.Health{{Name: "kafka", OK: true, Since: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)},
		{Name: "mongodb", Error: "server selection timeout", Since: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)}},
}

func newDashboardAPI(t *testing.T) http.Handler {
	t.Helper()
	a := newTestAPI(t)
	a.h.(*api.API).EnableDashboard(fixedStats(testSnapshot))
	return a.h
}

func TestStatsEndpoint(t *testing.T) {
	rec := do(t, newDashboardAPI(t), http.MethodGet, "/v1/stats", "")
	got := decodeJSON[stats.Snapshot](t, rec, http.StatusOK)
	if !reflect.DeepEqual(got.Totals, testSnapshot.Totals) || got.Lag.Total != 7 || len(got.Samples) != 1 || got.Samples[0] != testSnapshot.Samples[0] ||
		got.WindowSeconds != 300 || len(got.Lag.Partitions) != 1 || got.Lag.Partitions[0] != testSnapshot.Lag.Partitions[0] ||
		len(got.Health) != 2 || got.Health[1].Error != "server selection timeout" || got.Health[1].OK || !got.Health[0].OK {
		t.Errorf("GET /v1/stats = %+v, want %+v", got, testSnapshot)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	// Only the built-in stream is served: the picker has posts alone.
	if !slices.Equal(got.Streams, []string{"posts"}) {
		t.Errorf("streams = %q, want [posts]", got.Streams)
	}
}

// TestStatsNamesTheStreams: GET /v1/stats names every stream served, posts
// first and the declared ones in the order they were added, whatever the
// sampler's snapshot says, and always as an array.
func TestStatsNamesTheStreams(t *testing.T) {
	a := newTestAPI(t).h.(*api.API)
	for _, name := range []string{"orders", "clicks"} {
		a.AddStream(api.Stream{Stream: &stream.Stream{Name: name, Topic: name, Collection: name}})
	}
	snap := testSnapshot
	snap.Streams = []string{"stale"} // the API's names win over the sampler's
	a.EnableDashboard(fixedStats(snap))

	rec := do(t, a, http.MethodGet, "/v1/stats", "")
	got := decodeJSON[stats.Snapshot](t, rec, http.StatusOK)
	if want := []string{"posts", "orders", "clicks"}; !slices.Equal(got.Streams, want) {
		t.Errorf("streams = %q, want %q", got.Streams, want)
	}
	if !reflect.DeepEqual(got.Totals, testSnapshot.Totals) {
		t.Errorf("totals = %+v, want %+v", got.Totals, testSnapshot.Totals)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if s := string(raw["streams"]); s != `["posts","orders","clicks"]` {
		t.Errorf(`"streams": %s, want ["posts","orders","clicks"]`, s)
	}
}

func TestDashboardPageAndAssets(t *testing.T) {
	h := newDashboardAPI(t)
	page := do(t, h, http.MethodGet, "/", "")
	if page.Code != http.StatusOK || !strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q", page.Code, page.Header().Get("Content-Type"))
	}
	csp := page.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy = %q: the page must load nothing from elsewhere", csp)
	}
	// Every asset the page names is served from this binary, and nothing
	// is loaded from another origin.
	body := page.Body.String()
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(body, -1)
	assets := 0
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, "//") {
			t.Errorf("the page refers to another origin: %s", ref)
		}
		if !strings.HasPrefix(ref, "/ui/") {
			continue
		}
		assets++
		rec := do(t, h, http.MethodGet, ref, "")
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d, %d bytes", ref, rec.Code, rec.Body.Len())
		}
	}
	if assets < 2 {
		t.Errorf("the page names %d assets under /ui/, want the script and the stylesheet", assets)
	}
	for _, id := range []string{"ingest-rate", "sink-rate", "lag-total", "dlq-total", "client-error-rate", "unavailable-rate", "p99-latency", "health",
		"rates-chart", "errors-chart", "latency-chart", "lag-chart", "posts", "post-form"} {
		if !strings.Contains(body, `id="`+id+`"`) {
			t.Errorf("the page has no element #%s", id)
		}
	}
	if js := do(t, h, http.MethodGet, "/ui/app.js", ""); !strings.Contains(js.Header().Get("Content-Type"), "javascript") {
		t.Errorf("app.js served as %q", js.Header().Get("Content-Type"))
	}
}

func TestDashboardKeepsProblemsForUnknownPaths(t *testing.T) {
	h := newDashboardAPI(t)
	for _, target := range []string{"/index.html", "/nope", "/ui/", "/ui/missing.js", "/v1/nope"} {
		t.Run(target, func(t *testing.T) {
			problemOf(t, do(t, h, http.MethodGet, target, ""), http.StatusNotFound)
		})
	}
	rec := do(t, h, http.MethodPost, "/", "{}")
	problemOf(t, rec, http.StatusMethodNotAllowed)
	if allow := rec.Header().Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("POST / Allow = %q, want GET, HEAD", allow)
	}
}

func TestNoDashboardUnlessEnabled(t *testing.T) {
	h := newTestAPI(t).h
	for _, target := range []string{"/", "/v1/stats", "/ui/app.js"} {
		problemOf(t, do(t, h, http.MethodGet, target, ""), http.StatusNotFound)
	}
}
