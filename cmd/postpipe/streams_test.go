package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/stream"
)

// TestStreamsCheckExample: the example file passes, a line per stream.
func TestStreamsCheckExample(t *testing.T) {
	var out bytes.Buffer
	path := filepath.Join("..", "..", "examples", "streams.yaml")
	if err := runStreams([]string{"check", path}, &out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, want := range []string{
		"posts: route /v1/posts, topic posts (dlq posts.dlq), collection posts, id generated (UUIDv7), list -",
		"orders: route /v1/orders, topic orders (dlq orders.dlq), collection orders, id /orderId, list customer,status",
		"clicks: route /v1/clicks, topic clicks (dlq clicks.dlq), collection clicks, id generated (UUIDv7), list -, schema inline",
		"3 streams, ok",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

// TestStreamsExamplePostsSchema: the example's posts schema is the one the
// binary ships, so the example shows the real thing.
func TestStreamsExamplePostsSchema(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "schemas", "posts.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, stream.PostsSchema()) {
		t.Error("examples/schemas/posts.json differs from internal/stream/schemas/posts.json; copy it over")
	}
}

// TestStreamsCheckExitCodes: each bad file exits 2 with the file, the
// stream and the reason; a mistaken command line exits 2 with the usage.
func TestStreamsCheckExitCodes(t *testing.T) {
	schema := `{"type":"object","required":["ref"],"properties":{"ref":{"type":"string"},"tags":{"type":"array"}}}`
	tests := []struct {
		name, yaml string
		kind       error
		want       []string
	}{
		{"bad YAML", "streams:\n  - name: [\n", stream.ErrSyntax, []string{"bad YAML"}},
		{"unknown key", "streams:\n  - name: orders\n    schema: s.json\n    colour: red\n", stream.ErrUnknownKey, []string{`stream "orders"`, `"colour"`, ":4:"}},
		{"schema missing", "streams:\n  - name: orders\n    schema: nope.json\n", stream.ErrSchema, []string{`stream "orders"`, "nope.json"}},
		{"schema does not compile", "streams:\n  - name: orders\n    schema: {minLength: -1}\n", stream.ErrSchema, []string{`stream "orders"`, "bad schema"}},
		{"bad name", "streams:\n  - name: Orders\n    schema: s.json\n", stream.ErrName, []string{`stream "Orders"`, "bad name"}},
		{"reserved name", "streams:\n  - name: metrics\n    schema: s.json\n", stream.ErrReservedName, []string{`stream "metrics"`, "/metrics"}},
		{"id not a required string", "streams:\n  - name: orders\n    schema: s.json\n    id: /tags\n", stream.ErrID, []string{`stream "orders"`, "not required"}},
		{"list field not scalar", "streams:\n  - name: orders\n    schema: s.json\n    list: [tags]\n", stream.ErrList, []string{`stream "orders"`, "array"}},
		{"shared topic", "streams:\n  - name: a\n    schema: s.json\n  - name: b\n    schema: s.json\n    topic: a\n", stream.ErrSharedTopic, []string{`stream "b"`, `"a"`}},
		{"DLQ topic shared", "streams:\n  - name: a\n    schema: s.json\n  - name: b\n    schema: s.json\n    topic: a.dlq\n", stream.ErrSharedTopic, []string{`stream "b"`, "a.dlq"}},
		{"shared collection", "streams:\n  - name: a\n    schema: s.json\n  - name: b\n    schema: s.json\n    collection: a\n", stream.ErrSharedCollection, []string{`stream "b"`, `collection "a"`}},
		{"reserved field", "streams:\n  - name: orders\n    schema: {properties: {createdAt: {type: string}}}\n", stream.ErrReservedField, []string{`stream "orders"`, "createdAt"}},
		{"duplicate name", "streams:\n  - name: a\n    schema: s.json\n  - name: a\n    schema: s.json\n", stream.ErrDuplicateName, []string{`stream "a"`, "declared again"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "streams.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "s.json"), []byte(schema), 0o600); err != nil {
				t.Fatal(err)
			}
			err := run(context.Background(), []string{"streams", "check", path}, func(string) string { return "" })
			if !errors.Is(err, tt.kind) {
				t.Errorf("error %v, want kind %v", err, tt.kind)
			}
			var msg bytes.Buffer
			if code := exitCode(&msg, err); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			for _, w := range append(tt.want, path) {
				if !strings.Contains(msg.String(), w) {
					t.Errorf("output %q lacks %q", msg.String(), w)
				}
			}
		})
	}
	for _, args := range [][]string{{"streams"}, {"streams", "check"}, {"streams", "lint", "f"}, {"streams", "check", "a", "b"}} {
		var msg bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" })
		if code := exitCode(&msg, err); code != 2 || !strings.Contains(msg.String(), "postpipe streams check FILE") {
			t.Errorf("%v: exit %d, %q; want 2 and the usage", args, code, msg.String())
		}
	}
}

// TestServingRefusesABadStreamsFile: run, api and sink check the streams
// file as 'streams check' does, before starting anything: exit 2 naming the
// file, the stream and the reason.
func TestServingRefusesABadStreamsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "streams.yaml")
	bad := "streams:\n  - name: orders\n    schema: {type: object, properties: {n: {type: integer}}, required: [n]}\n    id: /n\n"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"run", "api", "sink"} {
		t.Run(cmd, func(t *testing.T) {
			env := map[string]string{"POSTPIPE_STREAMS_FILE": path, "POSTPIPE_DATA_DIR": t.TempDir(), "POSTPIPE_LOG_LEVEL": "error",
				// Nothing listens there: a role that got as far as
				// connecting would fail otherwise, and slowly.
				"POSTPIPE_STACK_KAFKA_ADDR": "127.0.0.1:1", "POSTPIPE_STACK_MONGODB_ADDR": "127.0.0.1:1"}
			began := time.Now()
			err := run(context.Background(), []string{cmd}, func(k string) string { return env[k] })
			if !errors.Is(err, stream.ErrID) {
				t.Fatalf("postpipe %s: %v, want the streams file's ErrID", cmd, err)
			}
			var msg bytes.Buffer
			if code := exitCode(&msg, err); code != 2 || !strings.Contains(msg.String(), path) || !strings.Contains(msg.String(), `stream "orders"`) {
				t.Errorf("exit %d, %q; want 2 naming the file and the stream", code, msg.String())
			}
			if d := time.Since(began); d > 5*time.Second {
				t.Errorf("postpipe %s took %s to refuse the file: it started something first", cmd, d)
			}
		})
	}
}

// TestLoadStreamsAndPosts: a file that leaves posts out leaves posts on the
// topics and collection of the settings; one that declares posts moves it
// there; one that gives posts another schema serves it as a declared stream.
func TestLoadStreamsAndPosts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	builtin := write("posts.json", string(stream.PostsSchema()))
	other := "streams:\n  - name: notes\n    schema: {type: object}\n"
	for _, tt := range []struct {
		name, file             string
		topic, dlq, collection string
		declared               string // the generic streams, by name
	}{
		{"no file", "", "t", "t.dlq", "c", ""},
		{"posts left out", write("a.yaml", other), "t", "t.dlq", "c", "notes"},
		{"posts declared, built-in schema", write("b.yaml", other+"  - name: posts\n    schema: "+builtin+"\n    topic: p2\n    collection: pc\n"), "p2", "p2.dlq", "pc", "notes"},
		{"posts declared, another schema", write("c.yaml", other+"  - name: posts\n    schema: {type: object, required: [headline]}\n"), "posts", "posts.dlq", "posts", "posts,notes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.StreamsFile, cfg.KafkaTopic, cfg.KafkaDLQTopic, cfg.MongoCollection = tt.file, "t", "t.dlq", "c"
			declared, _, err := loadStreams(&cfg)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, st := range declared {
				names = append(names, st.Name)
			}
			if cfg.KafkaTopic != tt.topic || cfg.KafkaDLQTopic != tt.dlq || cfg.MongoCollection != tt.collection || strings.Join(names, ",") != tt.declared {
				t.Errorf("posts on %s, %s, %s; generic streams %v; want %s, %s, %s and %s",
					cfg.KafkaTopic, cfg.KafkaDLQTopic, cfg.MongoCollection, names, tt.topic, tt.dlq, tt.collection, tt.declared)
			}
		})
	}
}
