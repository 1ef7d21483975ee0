//go:build nodev

package main

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/config"
)

// The production build refuses to run without a broker and a store instead
// of starting embedded ones; run by 'make test' with -tags nodev.
func TestNoDevEmbedded(t *testing.T) {
	for _, tt := range []struct {
		name    string
		brokers []string
		uri     string
		wantErr bool
	}{
		{name: "nothing configured", wantErr: true},
		{name: "no broker", uri: "mongodb://127.0.0.1:27017/", wantErr: true},
		{name: "no store", brokers: []string{"127.0.0.1:9092"}, wantErr: true},
		{name: "both configured", brokers: []string{"127.0.0.1:9092"}, uri: "mongodb://127.0.0.1:27017/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.KafkaBrokers, cfg.MongoURI = tt.brokers, tt.uri
			got, stop, err := embedded(cfg, slog.New(slog.DiscardHandler))
			if stop == nil {
				t.Fatal("stop is nil")
			}
			stop()
			if gotErr := errors.Is(err, errNoDevKit); gotErr != tt.wantErr {
				t.Fatalf("err = %v, want errNoDevKit: %v", err, tt.wantErr)
			}
			if !tt.wantErr && (got.MongoURI != tt.uri || len(got.KafkaBrokers) != len(tt.brokers)) {
				t.Fatalf("config changed: %+v", got)
			}
		})
	}
}

func TestNoDevCommandsSayWhy(t *testing.T) {
	for _, cmd := range []string{"stack", "bench"} {
		err := run(t.Context(), []string{cmd}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "-tags nodev") {
			t.Errorf("postpipe %s: err = %v, want one naming the nodev build", cmd, err)
		}
	}
	err := run(t.Context(), []string{"run"}, func(string) string { return "" })
	if !errors.Is(err, errNoDevKit) {
		t.Errorf("postpipe run without broker and store: err = %v, want errNoDevKit", err)
	}
}
