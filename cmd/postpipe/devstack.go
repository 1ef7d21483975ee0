//go:build !nodev

package main

// The development kit: the embedded broker (kfake) and store (FerretDB on
// SQLite, or on PostgreSQL for 'postpipe stack'). The production image builds
// with -tags nodev and gets devstack_nodev.go instead, so none of it is linked
// into that binary (nodev_test.go checks the dependency list).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/postpipe/postpipe/internal/config"
	"github.com/postpipe/postpipe/internal/devstack"
)

// embedded starts the in-process broker and store that cfg leaves
// unconfigured, on free loopback ports, and returns cfg pointing at them.
// It writes where they listen to the data directory's state file, so api,
// sink and the dlq tools beside this 'postpipe run' find them (runningStack).
// stop shuts them down and removes the file; call it after every client has
// disconnected. On an error whatever was started is already stopped, and
// stop is still safe to call.
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

	st := devstack.State{Command: "run"}
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
		st.Kafka = k.Addr()
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
		st.MongoDB = m.URI()
	}
	st.HTTP = dialableHTTP(cfg.HTTPAddr)
	stops = append(stops, writeState(cfg.DataDir, st, log))
	return cfg, stopAll, nil
}

// writeState writes st, the running stack, to dir's state file and returns
// what removes it at a clean stop. A file that cannot be written costs the
// other commands the way to this stack, not the stack itself: a warning.
func writeState(dir string, st devstack.State, log *slog.Logger) (remove func()) {
	st.PID, st.StartedAt = os.Getpid(), time.Now().UTC().Truncate(time.Second)
	rm, err := devstack.WriteState(dir, st)
	if err != nil {
		log.Warn("api, sink and the dlq tools will not find this stack by its data directory", "err", err)
		return func() {}
	}
	return func() {
		if err := rm(); err != nil {
			log.Warn("the embedded stack's state file is left behind (the next command ignores it once this process is gone)", "err", err)
		}
	}
}

// dialableHTTP is where a client reaches a listener on addr: the loopback
// address for a host left out or unspecified; "" when the port is picked at
// start (":0") or addr does not parse.
func dialableHTTP(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// runningStack is the embedded stack whose state file is in dir, when the
// process that wrote it still runs and its addresses answer; the zero
// stackAt when there is none. A file left behind (its process gone, or its
// ports closed) is ignored with a warning saying so.
func runningStack(dir string, log *slog.Logger) stackAt {
	path := filepath.Join(dir, devstack.StateFile)
	st, err := devstack.ReadState(dir)
	switch {
	case errors.Is(err, devstack.ErrNoState):
		return stackAt{}
	case err != nil:
		log.Warn("ignoring the embedded stack's state file: "+err.Error(), "file", path)
		return stackAt{}
	}
	if err := st.Check(time.Second); err != nil {
		log.Warn(fmt.Sprintf("ignoring a stale embedded stack state file, left by 'postpipe %s' (pid %d, started %s): %s",
			st.Command, st.PID, st.StartedAt.Format(time.RFC3339), err), "file", path)
		return stackAt{}
	}
	return stackAt{
		Kafka: st.Kafka, MongoURI: st.MongoDB, HTTP: st.HTTP,
		From: fmt.Sprintf("'postpipe %s' (pid %d, %s)", st.Command, st.PID, path),
	}
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
	st := devstack.State{Command: "stack"}
	if cfg.StackKafka {
		k, err := devstack.StartKafka(filepath.Join(cfg.DataDir, "kafka"), cfg.StackKafkaAddr, quieter(log, slog.LevelWarn))
		if err != nil {
			return err
		}
		defer k.Close()
		running = append(running, "kafka", k.Addr())
		st.Kafka = k.Addr()
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
		st.MongoDB = m.URI()
	}
	// Removed before the servers stop (deferred last, run first).
	defer writeState(cfg.DataDir, st, log)()
	log.Info("stack running: api and sink use it when no broker or store is configured", append(running, "data", cfg.DataDir)...)
	<-ctx.Done()
	log.Info("stack stopping")
	return nil
}
