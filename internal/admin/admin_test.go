package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestRoutes(t *testing.T) {
	m := New(Options{Cmdline: []string{"postpipe", "run"}})
	m.Handle("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "extra") }))
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	tests := []struct {
		path     string
		status   int
		contains string
	}{
		{"/", 200, "/debug/pprof/"},
		{"/", 200, "GET /extra"},
		{"/debug/pprof/", 200, "goroutine"},
		{"/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"/debug/pprof/cmdline", 200, "postpipe\x00run"},
		{"/extra", 200, "extra"},
		{"/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body := get(t, srv.URL+tt.path, "")
			if status != tt.status {
				t.Fatalf("status %d, want %d", status, tt.status)
			}
			if !strings.Contains(body, tt.contains) {
				t.Fatalf("body does not contain %q:\n%s", tt.contains, body)
			}
		})
	}
}

type keys map[string]string // key -> name

func (k keys) Check(key string) (string, bool) {
	name, ok := k[key]
	return name, ok
}

func TestKeysGuardEveryRouteButTheProbes(t *testing.T) {
	m := New(Options{Keys: keys{"k-ops": "ops"}, Open: []string{"/healthz", "/readyz"}})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	for _, p := range []string{"GET /healthz", "GET /readyz", "GET /metrics"} {
		m.Handle(p, ok)
	}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		path, key string
		status    int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 401},
		{"/", "", 401},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/cmdline", "", 401},
		{"/debug/pprof/goroutine", "", 401},
		{"/debug/pprof/", "k-wrong", 401},
		{"/metrics", "k-ops", 200},
		{"/debug/pprof/", "k-ops", 200},
		{"/nope", "", 401}, // nothing about the routes without a key
	} {
		if status, body := get(t, srv.URL+tt.path, tt.key); status != tt.status {
			t.Errorf("GET %s with key %q: %d, want %d\n%s", tt.path, tt.key, status, tt.status, body)
		}
	}
	if !m.Guarded() || New(Options{}).Guarded() {
		t.Error("Guarded does not say whether keys are on")
	}
}

func TestCmdlineShowsOnlyWhatItIsGiven(t *testing.T) {
	// The process's own os.Args here is the test binary's; the handler must
	// show the masked copy it was given, never os.Args.
	srv := httptest.NewServer(New(Options{Cmdline: []string{"postpipe", "run", "--mongodb-uri=mongodb://app:xxxxx@db/"}}))
	t.Cleanup(srv.Close)
	status, body := get(t, srv.URL+"/debug/pprof/cmdline", "")
	if status != 200 || body != "postpipe\x00run\x00--mongodb-uri=mongodb://app:xxxxx@db/" {
		t.Fatalf("cmdline: %d %q", status, body)
	}
}

func TestListenAddr(t *testing.T) {
	for _, tt := range []struct {
		addr, listen string
		exposed      bool
	}{
		{":6060", "127.0.0.1:6060", false},
		{":0", "127.0.0.1:0", false},
		{"127.0.0.1:6060", "127.0.0.1:6060", false},
		{"[::1]:6060", "[::1]:6060", false},
		{"localhost:6060", "localhost:6060", false},
		{"0.0.0.0:6060", "0.0.0.0:6060", true},
		{"[::]:6060", "[::]:6060", true},
		{"10.1.2.3:6060", "10.1.2.3:6060", true},
		{"admin.internal:6060", "admin.internal:6060", true},
	} {
		listen, exposed, err := ListenAddr(tt.addr)
		if err != nil || listen != tt.listen || exposed != tt.exposed {
			t.Errorf("ListenAddr(%q) = %q, %v, %v; want %q, %v", tt.addr, listen, exposed, err, tt.listen, tt.exposed)
		}
	}
	if _, _, err := ListenAddr("6060"); err == nil {
		t.Error("ListenAddr(6060) took an address without a port separator")
	}
}

// TestOpenPathsAreExact: opening /metrics opens that path alone: no
// prefix, no other case, no path that cleans to a guarded route, no other
// method's route behind it.
func TestOpenPathsAreExact(t *testing.T) {
	m := New(Options{Keys: keys{"k-ops": "ops"}, Open: []string{"/healthz", "/metrics"}})
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	m.Handle("GET /healthz", ok)
	m.Handle("GET /metrics", ok)
	m.Handle("GET /metrics/detail", ok)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/metrics", 200},
		{"/healthz", 200},
		{"/metrics/", 401},
		{"/metrics/detail", 401},
		{"/Metrics", 401},
		{"/metrics/../debug/pprof/", 401},
		{"/metrics/..%2fdebug/pprof/", 401},
		{"//metrics", 401},
		{"/debug/pprof/", 401},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Errorf("GET %s without a key: %d, want %d\n%s", tt.path, res.StatusCode, tt.status, body)
		}
	}
	// An open path answers only the methods its route has.
	res, err := http.Post(srv.URL+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", res.StatusCode)
	}
}
