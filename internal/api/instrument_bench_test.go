package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/api"
)

type nopObserver struct{}

func (nopObserver) Served(string, int, time.Duration) {}

type nopGauge struct{}

func (nopGauge) Inc() {}
func (nopGauge) Dec() {}

// BenchmarkInstrument shows what Instrument adds to a request (run with
// -benchmem): request id, context, status capture and the observer call.
func BenchmarkInstrument(b *testing.B) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	mux := http.NewServeMux()
	mux.Handle("POST /v1/posts", inner)
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", mux},
		{"instrumented", api.Instrument(mux, api.Instruments{Requests: nopObserver{}})},
		{"instrumented with client id", api.Instrument(mux, api.Instruments{Requests: nopObserver{}})},
		{"instrumented with in-flight gauge", api.Instrument(mux, api.Instruments{Requests: nopObserver{}, InFlight: nopGauge{}})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodPost, "/v1/posts", nil)
			if bc.name == "instrumented with client id" {
				req.Header.Set(api.RequestIDHeader, "client-id-1")
			}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, req)
			}
		})
	}
}
