// Package stream is the vocabulary of a stream, the unit issue 19 makes
// postpipe generic over: a name (its route /v1/<name>), a JSON Schema its
// documents must satisfy, where a document's id comes from, the fields a
// listing may filter on, and the Kafka topic and MongoDB collection it
// travels through. It loads and checks the streams file (YAML) and compiles
// the schemas into Validators.
//
// Only the vocabulary and the checks live here for now: the API, the sink and
// the store still serve the built-in stream posts alone (see docs/streams.md).
package stream
