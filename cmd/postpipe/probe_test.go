package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			w.WriteHeader(http.StatusOK)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"2xx", []string{srv.URL + "/ok"}, true},
		{"503", []string{srv.URL + "/down"}, false},
		{"too slow", []string{"--timeout", "200ms", srv.URL + "/slow"}, false},
		{"nobody listening", []string{closed.URL}, false},
		{"no URL", nil, false},
		{"bad URL", []string{"http://[::1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), append([]string{"probe"}, tt.args...), noEnv)
			if (err == nil) != tt.ok {
				t.Errorf("postpipe probe %v: err = %v, want success %v", tt.args, err, tt.ok)
			}
		})
	}
}
