//go:build nodev

package main

// The production build (-tags nodev, see the Dockerfile): no embedded broker
// or store, so neither kfake nor FerretDB and its SQLite are linked in. The
// commands that would start them say so and name the settings to use
// instead.

import (
	"context"
	"errors"
	"log/slog"

	"github.com/postpipe/postpipe/internal/config"
)

// errNoDevKit is what a nodev build answers where the development build
// would start the embedded broker or store.
var errNoDevKit = errors.New("this build has no embedded broker/store; set POSTPIPE_KAFKA_BROKERS and POSTPIPE_MONGODB_URI")

// embedded fails when cfg leaves the broker or the store unconfigured; with
// both configured it has nothing to start. stop is never nil.
func embedded(cfg config.Config, _ *slog.Logger) (_ config.Config, stop func(), err error) {
	if cfg.EmbeddedKafka() || cfg.EmbeddedMongo() {
		return cfg, func() {}, errNoDevKit
	}
	return cfg, func() {}, nil
}

// runningStack finds no embedded stack: this build reads no state file
// (internal/devstack stays out of it), so api, sink and the dlq tools with
// nothing configured use the stack's default addresses.
func runningStack(string, *slog.Logger) stackAt { return stackAt{} }

// runStack is 'postpipe stack', which only the development build has.
func runStack(context.Context, []string, func(string) string) error {
	return errors.New("postpipe stack: this build has no embedded broker/store (built with -tags nodev); use the development build ('make build')")
}
