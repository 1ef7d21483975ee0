package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/stream"
)

// runStreams is 'postpipe streams check FILE': the streams file's checks
// without starting anything, for an operator or CI before a deploy. The
// checks are internal/stream's, the same a server will run. dispatch has
// checked that args begin with the action, check.
func runStreams(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return config.Usagef("streams", "streams: want the action check; usage: postpipe streams check FILE")
	}
	fs := flag.NewFlagSet("postpipe streams check", flag.ContinueOnError)
	if err := parseFlags(fs, "streams", args[1:]); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return config.Usagef("streams", "streams check: want a FILE; usage: postpipe streams check FILE")
	case 1:
	default:
		return config.Usagef("streams", "unexpected argument %q; usage: postpipe streams check FILE", fs.Arg(1))
	}
	file := fs.Arg(0)
	set, err := stream.Load(file)
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
	_, err = fmt.Fprintf(out, "%s: %d streams, ok\n", file, len(set.Streams))
	return err
}
