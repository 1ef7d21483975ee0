//go:build nodev

package main

import (
	"context"
	"errors"
)

// runBench is 'postpipe bench', which only the development build has: the
// load generator (internal/bench) is no part of the production binary.
func runBench(context.Context, []string, func(string) string) error {
	return errors.New("postpipe bench: this build has no load generator (built with -tags nodev); use the development build ('make build')")
}
