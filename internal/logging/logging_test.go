package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/postpipe/postpipe/internal/logging"
)

func TestRequestIDOnEveryRecordOfTheRequest(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(logging.NewHandler(slog.NewJSONHandler(&buf, nil))).With("component", "api").WithGroup("g")
	ctx := logging.WithRequestID(context.Background(), "req-1")

	log.InfoContext(ctx, "with id", "k", "v")
	log.Info("without context")
	log.InfoContext(context.Background(), "context without id")

	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
	// Records are grouped after WithGroup: the id sits in the group too,
	// which still finds every line of the request.
	g, _ := lines[0]["g"].(map[string]any)
	if g["request_id"] != "req-1" || g["k"] != "v" || lines[0]["component"] != "api" {
		t.Errorf("line with id = %v", lines[0])
	}
	for _, l := range lines[1:] {
		if g, _ := l["g"].(map[string]any); g["request_id"] != nil || l["request_id"] != nil {
			t.Errorf("line without id carries one: %v", l)
		}
	}
	buf.Reset()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
	slog.New(logging.NewHandler(slog.NewJSONHandler(&buf, nil))).InfoContext(traced, "traced")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil || m["trace_id"] != tid.String() || m["request_id"] != "req-1" {
		t.Errorf("traced line = %s (%v), want trace_id %s and request_id req-1", buf.Bytes(), err, tid)
	}
	if got := logging.RequestID(context.Background()); got != "" {
		t.Errorf("RequestID of a bare context = %q", got)
	}
}
