//go:build !nodev

package main

// The development kit: the embedded broker (kfake) and store (FerretDB on
// SQLite, or on PostgreSQL for 'postpipe stack'). The production image builds
// with -tags nodev and gets devstack_nodev.go instead, so none of it is linked
// into that binary (nodev_test.go checks the dependency list).

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/devstack"
)

// embedded starts the in-process broker and store that cfg leaves
// unconfigured, on free loopback ports, and returns cfg pointing at them.
// stop shuts them down; call it after every client has disconnected. On an
// error whatever was started is already stopped, and stop is still safe to
// call.
func embedded(cfg config.Config, log *slog.Logger) (_ config.Config, stop func(), err error) {
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	// On an error the caller gets a no-op stop: a nil one would panic in a
	// deferred call (the second 'postpipe run' on a data dir in use did).
	fail := func(err error) (config.Config, func(), error) {
		stopAll()
		return cfg, func() {}, err
	}
	if !cfg.EmbeddedKafka() && !cfg.EmbeddedMongo() {
		return cfg, stopAll, nil
	}
	unlock, err := devstack.LockDir(cfg.DataDir)
	if err != nil {
		return fail(err)
	}
	stops = append(stops, unlock)

	if cfg.EmbeddedKafka() {
		dir := filepath.Join(cfg.DataDir, "kafka")
		k, err := devstack.StartKafka(dir, "127.0.0.1:0", quieter(log, slog.LevelWarn))
		if err != nil {
			return fail(err)
		}
		stops = append(stops, k.Close)
		cfg.KafkaBrokers = []string{k.Addr()}
		log.Info("using the embedded Kafka-protocol broker (kfake); set POSTPIPE_KAFKA_BROKERS to use real Kafka",
			"addr", k.Addr(), "data", dir)
	}
	if cfg.EmbeddedMongo() {
		dir := filepath.Join(cfg.DataDir, "mongo")
		m, err := devstack.StartMongo(dir, "127.0.0.1:0", quieter(log, slog.LevelError))
		if err != nil {
			return fail(err)
		}
		stops = append(stops, func() {
			if err := m.Close(); err != nil {
				log.Warn("embedded store stopped with an error", "err", err)
			}
		})
		cfg.MongoURI = m.URI()
		cfg.DevStoreReads()
		log.Info("using the embedded MongoDB-protocol store (FerretDB on SQLite); set POSTPIPE_MONGODB_URI to use real MongoDB",
			"uri", m.URI(), "data", dir)
	}
	return cfg, stopAll, nil
}

// runStack is 'postpipe stack': the embedded broker and store as servers.
func runStack(ctx context.Context, args []string, getenv func(string) string) error {
	cfg, log, err := setup("stack", args, getenv)
	if err != nil {
		return err
	}
	if !cfg.StackKafka && !cfg.StackMongo {
		return errors.New("nothing to run: both --stack-kafka and --stack-mongodb are false")
	}
	unlock, err := devstack.LockDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	var running []any
	if cfg.StackKafka {
		k, err := devstack.StartKafka(filepath.Join(cfg.DataDir, "kafka"), cfg.StackKafkaAddr, quieter(log, slog.LevelWarn))
		if err != nil {
			return err
		}
		defer k.Close()
		running = append(running, "kafka", k.Addr())
	}
	if cfg.StackMongo {
		var m *devstack.Mongo
		if cfg.StackPostgreSQLURL != "" {
			m, err = devstack.StartMongoOnPostgreSQL(cfg.StackPostgreSQLURL, cfg.StackMongoAddr, quieter(log, slog.LevelError))
			err = config.RedactError(err, cfg.StackPostgreSQLURL) // the backend may quote its URL
			running = append(running, "mongodb_backend", "FerretDB on PostgreSQL "+config.RedactURI(cfg.StackPostgreSQLURL))
		} else {
			m, err = devstack.StartMongo(filepath.Join(cfg.DataDir, "mongo"), cfg.StackMongoAddr, quieter(log, slog.LevelError))
			running = append(running, "mongodb_backend", "FerretDB on SQLite")
		}
		if err != nil {
			return err
		}
		defer func() {
			if err := m.Close(); err != nil {
				log.Warn("stopping the store failed", "err", err)
			}
		}()
		running = append(running, "mongodb", m.URI())
	}
	log.Info("stack running: api and sink use it when no broker or store is configured", append(running, "data", cfg.DataDir)...)
	<-ctx.Done()
	log.Info("stack stopping")
	return nil
}
