package config

import (
	"log/slog"
	"os"
)

// Streams is where the streams come from: the streams file (docs/streams.md).
// Without one, the built-in stream posts is served alone, on the topics and
// the collection the Kafka and store sections name.
type Streams struct {
	// StreamsFile is the YAML file declaring the streams; "" serves posts
	// alone. Its content is checked when a role starts (postpipe streams
	// check FILE checks it beforehand), not here: only that it can be read.
	StreamsFile string
}

func (s *Streams) register(fs *flagSet) {
	fs.StringVar(&s.StreamsFile, "streams-file", s.StreamsFile, "YAML file declaring the streams served under /v1/{name} (docs/streams.md); empty: the built-in stream posts alone")
}

func (s Streams) validate(bad badFunc) {
	if s.StreamsFile == "" {
		return
	}
	if fi, err := os.Stat(s.StreamsFile); err != nil {
		bad("POSTPIPE_STREAMS_FILE", "cannot read %q: %v", s.StreamsFile, err)
	} else if fi.IsDir() {
		bad("POSTPIPE_STREAMS_FILE", "%q is a folder, not a file", s.StreamsFile)
	}
}

func (s Streams) attrs() []slog.Attr {
	return []slog.Attr{slog.String("streams_file", s.StreamsFile)}
}
