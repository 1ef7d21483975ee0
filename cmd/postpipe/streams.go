package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/stream"
)

const streamsUsage = "usage: postpipe streams check FILE (checks a streams file: exit 0 and a line per stream, or exit 2 and what is wrong)"

// runStreams is 'postpipe streams check FILE': the streams file's checks
// without starting anything, for an operator or CI before a deploy. The
// checks are internal/stream's, the same a server will run.
func runStreams(args []string, out io.Writer) error {
	if len(args) != 2 || args[0] != "check" || strings.HasPrefix(args[1], "-") {
		return config.Usagef("", "%s", streamsUsage)
	}
	set, err := stream.Load(args[1])
	if err != nil {
		return err
	}
	for _, s := range set.Streams {
		id := "generated (UUIDv7)"
		if s.ID != "" {
			id = s.ID
		}
		list := "-"
		if len(s.List) > 0 {
			list = strings.Join(s.List, ",")
		}
		if _, err := fmt.Fprintf(out, "%s: route /v1/%s, topic %s (dlq %s), collection %s, id %s, list %s, schema %s\n",
			s.Name, s.Name, s.Topic, s.DLQTopic(), s.Collection, id, list, s.Schema); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(out, "%s: %d streams, ok\n", args[1], len(set.Streams))
	return err
}
