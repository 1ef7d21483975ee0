// Package stream is the vocabulary of a stream, the unit issue 19 makes
// postpipe generic over: a name (its route /v1/<name>), a JSON Schema its
// documents must satisfy, where a document's id comes from, the fields a
// listing may filter on, and the Kafka topic and MongoDB collection it
// travels through. It loads and checks the streams file (YAML) and compiles
// the schemas into Validators.
//
// The API (internal/api/streams.go), the sink's routes and the store's
// collections take a *Stream as a value; only the wiring (cmd/postpipe)
// knows the whole set (docs/streams.md).
package stream
