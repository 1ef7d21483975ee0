package stream

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ordersSchema = `{
  "type": "object",
  "required": ["orderId", "customer"],
  "properties": {
    "orderId": {"type": "string"},
    "optionalRef": {"type": "string"},
    "count": {"type": "integer"},
    "customer": {"$ref": "#/$defs/name"},
    "status": {"enum": ["placed", "paid"]},
    "items": {"type": "array"},
    "meta": {"type": "object"},
    "either": {"type": ["string", "integer"]},
    "eitherEnum": {"enum": ["a", 1]},
    "amount": {"type": ["integer", "number", "null"]},
    "paid": {"const": true},
    "size": {"enum": [1, 2, null]}
  },
  "$defs": {"name": {"type": "string"}}
}`

// idSchema is a schema with a top-level id, allowed with id: /id alone.
const idSchema = `{"required": ["id", "ref"], "properties": {"id": {"type": "string"}, "ref": {"type": "string"}}}`

// write puts files in a new folder and returns the path of streams.yaml.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "streams.yaml")
}

// TestLoadRefuses: each bad file is refused with its kind, naming the file,
// the stream (where there is one) and the reason.
func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name   string
		yaml   string
		kind   error
		stream string // "" when the problem is the file's
		want   string // in the message
		line   int    // 0: not checked
	}{
		{"not YAML", "streams: [\n", ErrSyntax, "", "yaml", 0},
		{"empty", "", ErrSyntax, "", "empty", 0},
		{"no streams", "streams: []\n", ErrSyntax, "", "non-empty list", 0},
		{"streams twice", "streams:\n  - name: a\n    schema: o.json\nstreams:\n  - name: b\n    schema: o.json\n", ErrSyntax, "", "twice", 4},
		{"unknown top key", "streams:\n  - name: a\n    schema: o.json\nextra: 1\n", ErrUnknownKey, "", `"extra"`, 4},
		{"unknown stream key", "streams:\n  - name: orders\n    schema: o.json\n    colour: red\n", ErrUnknownKey, "orders", `"colour"`, 4},
		{"key twice", "streams:\n  - name: orders\n    schema: o.json\n    topic: a\n    topic: b\n", ErrSyntax, "orders", "twice", 0},
		{"no name", "streams:\n  - schema: o.json\n", ErrName, "", "no name", 2},
		{"bad name", "streams:\n  - name: Orders\n    schema: o.json\n", ErrName, "Orders", "^[a-z]", 2},
		{"name too long", "streams:\n  - name: a" + strings.Repeat("b", 63) + "\n    schema: o.json\n", ErrName, "a" + strings.Repeat("b", 63), "^[a-z]", 0},
		{"reserved name", "streams:\n  - name: healthz\n    schema: o.json\n", ErrReservedName, "healthz", "/healthz", 2},
		{"reserved route under v1", "streams:\n  - name: bench\n    schema: o.json\n", ErrReservedName, "bench", "/v1/bench", 0},
		{"no schema", "streams:\n  - name: orders\n", ErrSchema, "orders", "no schema", 0},
		{"schema file missing", "streams:\n  - name: orders\n    schema: missing.json\n", ErrSchema, "orders", "missing.json", 3},
		{"schema not JSON", "streams:\n  - name: orders\n    schema: bad.json\n", ErrSchema, "orders", "bad.json", 0},
		{"schema does not compile", "streams:\n  - name: orders\n    schema: {type: 12}\n", ErrSchema, "orders", "", 0},
		{"schema of another draft", "streams:\n  - name: orders\n    schema: d7.json\n", ErrSchema, "orders", "draft/2020-12", 0},
		{"referenced file of another draft", "streams:\n  - name: orders\n    schema: {$ref: d7.json}\n", ErrSchema, "orders", "draft/2020-12", 0},
		{"id not a property", "streams:\n  - name: orders\n    schema: o.json\n    id: /nope\n", ErrID, "orders", "not a property", 4},
		{"id not required", "streams:\n  - name: orders\n    schema: o.json\n    id: /optionalRef\n", ErrID, "orders", "not required", 0},
		{"id not a string", "streams:\n  - name: orders\n    schema: n.json\n    id: /n\n", ErrID, "orders", "type: string", 0},
		{"id not a pointer", "streams:\n  - name: orders\n    schema: o.json\n    id: orderId\n", ErrID, "orders", "JSON Pointer", 0},
		{"list field not a property", "streams:\n  - name: orders\n    schema: o.json\n    list: [nope]\n", ErrList, "orders", "not a top-level property", 4},
		{"list field an array", "streams:\n  - name: orders\n    schema: o.json\n    list: [items]\n", ErrList, "orders", "array", 0},
		{"list field an object", "streams:\n  - name: orders\n    schema: o.json\n    list: [meta]\n", ErrList, "orders", "object", 0},
		{"list field of two types", "streams:\n  - name: orders\n    schema: o.json\n    list: [either]\n", ErrList, "orders", "integer or string; a listing filter needs the one type", 4},
		{"list field enum of two types", "streams:\n  - name: orders\n    schema: o.json\n    list: [eitherEnum]\n", ErrList, "orders", "string or integer; a listing filter needs the one type", 0},
		{"reserved field declared", "streams:\n  - name: orders\n    schema: r.json\n", ErrReservedField, "orders", `"createdAt"`, 3},
		{"reserved field required only", "streams:\n  - name: orders\n    schema: {required: [_id]}\n", ErrReservedField, "orders", `"_id"`, 3},
		{"reserved field through allOf", "streams:\n  - name: orders\n    schema: {allOf: [{$ref: r.json}]}\n", ErrReservedField, "orders", `"createdAt"`, 0},
		{"id field without id: /id", "streams:\n  - name: orders\n    schema: i.json\n", ErrReservedField, "orders", `"id"`, 0},
		{"id field with another id", "streams:\n  - name: orders\n    schema: i.json\n    id: /ref\n", ErrReservedField, "orders", "id: /id", 0},
		{"list field twice", "streams:\n  - name: orders\n    schema: o.json\n    list: [count, count]\n", ErrList, "orders", "twice", 0},
		{"bad topic", "streams:\n  - name: orders\n    schema: o.json\n    topic: 'a topic'\n", ErrTopic, "orders", "Kafka", 4},
		{"bad collection", "streams:\n  - name: orders\n    schema: o.json\n    collection: system.x\n", ErrCollection, "orders", "MongoDB", 4},
		{"duplicate name", "streams:\n  - name: orders\n    schema: o.json\n  - name: orders\n    schema: o.json\n", ErrDuplicateName, "orders", "line 2", 4},
		{"posts replaced twice", "streams:\n  - name: posts\n    schema: o.json\n    collection: p1\n  - name: posts\n    schema: o.json\n", ErrDuplicateName, "posts", "line 2", 5},
		{"shared topic", "streams:\n  - name: orders\n    schema: o.json\n  - name: sales\n    schema: o.json\n    topic: orders\n", ErrSharedTopic, "sales", `"orders"`, 4},
		{"topic is another's DLQ", "streams:\n  - name: orders\n    schema: o.json\n  - name: sales\n    schema: o.json\n    topic: orders.dlq\n", ErrSharedTopic, "sales", "orders.dlq", 0},
		{"topic of the built-in posts", "streams:\n  - name: orders\n    schema: o.json\n    topic: posts\n", ErrSharedTopic, "orders", `"posts"`, 0},
		{"shared collection", "streams:\n  - name: orders\n    schema: o.json\n  - name: sales\n    schema: o.json\n    collection: orders\n", ErrSharedCollection, "sales", `"orders"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, map[string]string{
				"streams.yaml": tt.yaml,
				"o.json":       ordersSchema,
				"bad.json":     `{"type": `,
				"d7.json":      `{"$schema": "http://json-schema.org/draft-07/schema#"}`,
				"n.json":       `{"required": ["n"], "properties": {"n": {"type": "integer"}}}`,
				"r.json":       `{"properties": {"createdAt": {"type": "string"}}}`,
				"i.json":       idSchema,
			})
			set, err := Load(path)
			if err == nil {
				t.Fatalf("loaded %d streams, want an error", len(set.Streams))
			}
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("%T %v, want a *FileError", err, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("kind %v, want %v (%v)", fe.Kind, tt.kind, err)
			}
			if fe.File != path || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file %s", err, path)
			}
			if fe.Stream != tt.stream || (tt.stream != "" && !strings.Contains(err.Error(), `stream "`+tt.stream+`"`)) {
				t.Errorf("error %q names stream %q, want %q", err, fe.Stream, tt.stream)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if tt.line != 0 && fe.Line != tt.line {
				t.Errorf("line %d, want %d (%v)", fe.Line, tt.line, err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if !errors.Is(err, ErrRead) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("%v, want ErrRead naming %s and wrapping os.ErrNotExist", err, path)
	}
}

func TestLoadAccepts(t *testing.T) {
	path := write(t, map[string]string{
		"streams.yaml": `streams:
  - name: orders
    schema: o.json
    id: /orderId
    list: [customer, status, count]
  - name: clicks
    schema:
      type: object
      properties:
        page: {type: string}
    topic: clicks-v2
`,
		"o.json": ordersSchema,
	})
	set, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range set.Streams {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "posts,orders,clicks" {
		t.Fatalf("streams %s, want posts,orders,clicks", got)
	}
	orders, clicks := set.Lookup("orders"), set.Lookup("clicks")
	if orders.ID != "/orderId" || orders.Topic != "orders" || orders.Collection != "orders" || orders.DLQTopic() != "orders.dlq" {
		t.Errorf("orders %+v: want id /orderId and topic, collection by its name", orders)
	}
	if clicks.ID != "" || clicks.Topic != "clicks-v2" || clicks.Collection != "clicks" || clicks.Schema != "inline" {
		t.Errorf("clicks %+v: want a generated id, topic clicks-v2, collection clicks, inline schema", clicks)
	}
	if v, _ := clicks.Validator.Validate(map[string]any{"page": 3.0}); len(v) != 1 || v[0].Pointer != "/page" {
		t.Errorf("inline schema: %+v, want one violation at /page", v)
	}
}

// TestListTypes: each list field has the one type a listing's parameter is
// turned into, from its type keyword or, without one, its enum or const.
func TestListTypes(t *testing.T) {
	path := write(t, map[string]string{
		"streams.yaml": "streams:\n  - name: orders\n    schema: o.json\n    list: [customer, status, count, amount, paid, size]\n",
		"o.json":       ordersSchema,
	})
	set, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	orders := set.Lookup("orders")
	for field, want := range map[string]string{
		"customer": "string", "status": "string", "count": "integer", "amount": "number", "paid": "boolean", "size": "integer",
		"orderId": "", // not a list field
	} {
		if got := orders.ListType(field); got != want {
			t.Errorf("ListType(%q) = %q, want %q", field, got, want)
		}
	}
	// A Stream made in code, without Load, reads the types from its schema.
	bare := &Stream{Name: "orders", List: []string{"count"}, Validator: orders.Validator}
	if got := bare.ListType("count"); got != "integer" {
		t.Errorf("a stream made without Load: ListType(count) = %q, want integer", got)
	}
}

// TestIDFieldWithIDPointer: a schema may declare id when it is the id.
func TestIDFieldWithIDPointer(t *testing.T) {
	path := write(t, map[string]string{
		"streams.yaml": "streams:\n  - name: things\n    schema: i.json\n    id: /id\n",
		"i.json":       idSchema,
	})
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
}

func TestBuiltinAndReplacement(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Streams) != 1 || set.Streams[0].Name != Builtin || set.Streams[0].Topic != "posts" || set.Streams[0].Collection != "posts" {
		t.Fatalf("without a file: %+v, want posts alone on topic and collection posts", set.Streams)
	}
	path := write(t, map[string]string{
		"streams.yaml": "streams:\n  - name: orders\n    schema: o.json\n  - name: posts\n    schema: o.json\n    topic: blog\n",
		"o.json":       ordersSchema,
	})
	set, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Streams) != 2 || set.Streams[0].Name != "posts" || set.Streams[0].Topic != "blog" {
		t.Fatalf("posts declared again: %+v, want it replaced in first place, on topic blog", set.Streams)
	}
}

// TestSchemaRefs: a $ref to a file beside the schema (or, inline, beside
// the streams file) is followed; one to the network is refused, not fetched.
func TestSchemaRefs(t *testing.T) {
	files := map[string]string{
		"streams.yaml": "streams:\n  - name: a\n    schema: s.json\n  - name: b\n    schema: {$ref: other.json}\n",
		"s.json":       `{"properties":{"x":{"$ref":"other.json"}}}`,
		"other.json":   `{"type":"string"}`,
	}
	set, err := Load(write(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if vs, _ := set.Lookup("a").Validator.Validate(map[string]any{"x": true}); len(vs) != 1 || vs[0].Pointer != "/x" {
		t.Errorf("a: %+v, want one violation at /x from other.json", vs)
	}
	if vs, _ := set.Lookup("b").Validator.Validate(true); len(vs) != 1 {
		t.Errorf("b: %+v, want one violation from other.json", vs)
	}
	files["streams.yaml"] = "streams:\n  - name: c\n    schema: {$ref: 'https://example.com/x.json'}\n"
	if _, err := Load(write(t, files)); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "https://example.com/x.json") {
		t.Errorf("a $ref to https: %v, want a bad schema naming the URL", err)
	}
}
