package stream

import (
	"bytes"
	_ "embed"
	"reflect"
	"regexp"
	"slices"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Stream is one declared stream, checked and with its schema compiled.
type Stream struct {
	// Name is the stream's name and its route, /v1/<Name>.
	Name string
	// Schema is where the schema came from: a file path (as resolved
	// against the streams file's folder), "inline" or "built-in".
	Schema string
	// ID is the JSON Pointer of the string field a document's id is taken
	// from; "" means the id is generated (UUIDv7).
	ID string
	// List are the top-level scalar fields a listing may filter on.
	List []string
	// Topic is the Kafka topic; its dead letters go to DLQTopic().
	Topic string
	// Collection is the MongoDB collection.
	Collection string
	// Validator checks a document against the compiled schema.
	Validator Validator
	// Changes turns on PUT, PATCH and DELETE of the stream's documents
	// (docs/streams.md, "Changes"): every record is then keyed and placed
	// by the document's id, so that the ops on one document keep their
	// order, and the sink applies them by version.
	Changes bool
	// PatchValidator checks the members a JSON Merge Patch sets (its
	// nulls taken out): the schema with every "required" dropped, so a
	// patch is checked for what it says, not for what it leaves alone.
	// Set for a stream with Changes.
	PatchValidator Validator
	// url is where the schema was compiled from, for the patch schema.
	url string
	// listTypes are the types of List's fields (see ListType), found
	// when the file is checked.
	listTypes map[string]string
	// line is where the stream is declared, for errors found after parsing.
	line int
	// document is the schema as decoded JSON (json.Number numbers), the
	// stream's own file only: what a $ref to another file names is not in it.
	document any
}

// ListType returns the JSON type a listing compares list field field as:
// "string", "integer", "number" or "boolean"; "" for a field not in List.
// A listing's query parameter is text, and the store compares typed values
// (MongoDB never finds the string "3" equal to the number 3), so the API
// turns the parameter into this type first.
func (s *Stream) ListType(field string) string {
	if t, ok := s.listTypes[field]; ok {
		return t
	}
	// A Stream made without Load (in a test, say) has no types recorded:
	// read them from the schema when it is a compiled one.
	if c, ok := s.Validator.(compiled); ok && slices.Contains(s.List, field) {
		t, _ := listType(c.s, field)
		return t
	}
	return ""
}

// ReservedFields are the top-level member names a document may not carry:
// the answer to a GET adds id, createdAt and ingestedAt beside the
// document's own members, and the stored document keeps _id and _fp, and
// in a stream with changes _v, _vp and _ops (the version and op ids of the
// last ops applied) and, deleted, _deleted. A
// stream whose id pointer is /id may carry id (it is the id). internal/doc
// refuses them in documents (doc.Reserved is this list); the streams check
// refuses a schema that declares one, which could never be satisfied.
var ReservedFields = []string{"id", "createdAt", "ingestedAt", "_id", "_fp", "_v", "_vp", "_ops", "_deleted"}

// SchemaDocument is the stream's schema as decoded JSON, for the OpenAPI
// description. A $ref to another file stays a $ref.
func (s *Stream) SchemaDocument() any { return s.document }

// BuiltinSchema reports whether the stream's schema is the built-in posts
// schema: the embedded one, or a copy of it in a file (value for value).
func (s *Stream) BuiltinSchema() bool {
	if s.Schema == "built-in" {
		return true
	}
	builtin, err := jsonschema.UnmarshalJSON(bytes.NewReader(postsSchema))
	return err == nil && reflect.DeepEqual(builtin, s.document)
}

// DLQTopic is the topic the sink dead-letters the stream's records to.
func (s *Stream) DLQTopic() string { return s.Topic + dlqSuffix }

const dlqSuffix = ".dlq"

// Builtin is the name of the stream postpipe serves without a streams
// file: the blog post it was written for.
const Builtin = "posts"

// postsSchema is internal/post's rules in JSON Schema (see the schema's
// description for what it cannot say).
//
//go:embed schemas/posts.json
var postsSchema []byte

// PostsSchema returns the built-in posts stream's schema, for docs and tests.
func PostsSchema() []byte { return append([]byte(nil), postsSchema...) }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// reserved are names a stream may not take. A stream's route is /v1/<name>:
// bench and stats are routes under /v1 already. The rest are the server's
// top-level paths (healthz, readyz, metrics, openapi.yaml, ui, debug/pprof,
// the legacy /api/…) and v1 itself: kept free so that a stream's name never
// reads as one of them in logs, metrics labels and docs, and so the routes
// may move without renaming a user's stream.
var reserved = map[string]string{
	"bench":   "the route /v1/bench (load-test endpoints)",
	"stats":   "the route /v1/stats",
	"healthz": "the liveness probe /healthz",
	"readyz":  "the readiness probe /readyz",
	"metrics": "the Prometheus endpoint /metrics",
	"openapi": "the API description /openapi.yaml",
	"ui":      "the dashboard /ui",
	"debug":   "the profiler /debug/pprof",
	"api":     "the legacy routes /api/…",
	"v1":      "the API's version prefix",
}

// Set is the streams postpipe serves, in the file's order, posts first
// unless the file replaces it.
type Set struct {
	File    string // the streams file; "" for the built-in set
	Streams []*Stream
}

// Lookup returns the stream named name, or nil.
func (s *Set) Lookup(name string) *Stream {
	for _, st := range s.Streams {
		if st.Name == name {
			return st
		}
	}
	return nil
}
