// Package devstack runs the embedded broker and store that make postpipe
// work with nothing installed: franz-go's kfake (the Kafka protocol) and
// FerretDB on SQLite (the MongoDB protocol), both in-process but listening
// on TCP, so the service reaches them through the same clients it uses for
// real ones. They are for development and tests, not production.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is an embedded single-broker Kafka-protocol cluster.
type Kafka struct {
	cluster *kfake.Cluster
	addr    string
}

// StartKafka starts a broker on addr ("127.0.0.1:0" picks a free port) that
// keeps its log and committed offsets in dir, fsyncing every produced batch
// so an acknowledged record survives a crash of the process.
func StartKafka(dir, addr string, log *slog.Logger) (*Kafka, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create kafka data dir: %w", err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.SyncWrites(),
		kfake.ClusterID("postpipe-embedded"),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.WithLogger(kfakeLogger{log}),
	)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	return &Kafka{cluster: c, addr: c.ListenAddrs()[0]}, nil
}

// Addr is the broker's host:port.
func (k *Kafka) Addr() string { return k.addr }

// Close stops the broker and saves its state.
func (k *Kafka) Close() { k.cluster.Close() }

type kfakeLogger struct{ log *slog.Logger }

func (l kfakeLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	lvl := slog.LevelDebug
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	}
	if l.log.Enabled(context.Background(), lvl) {
		l.log.Log(context.Background(), lvl, "embedded kafka", "detail", fmt.Sprintf(msg, args...))
	}
}

// Mongo is an embedded FerretDB over SQLite.
type Mongo struct {
	uri    string
	cancel context.CancelFunc
	done   chan error
}

// StartMongo starts FerretDB on addr with its SQLite files in dir. log gets
// FerretDB's own messages; it warns about every command it does not support
// (endSessions at each client disconnect), so callers usually pass a logger
// that keeps only errors. Callers should disconnect their clients before
// Close, or FerretDB waits for them.
func StartMongo(dir, addr string, log *slog.Logger) (*Mongo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("mongo data dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create mongo data dir: %w", err)
	}
	return startFerretDB(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
		Logger:    log.With("component", "ferretdb"),
	})
}

// StartMongoOnPostgreSQL starts FerretDB on addr keeping its data in the
// PostgreSQL database at pgURL: two to three times faster than SQLite, for
// benchmarks and integration tests. log is used as in StartMongo.
func StartMongoOnPostgreSQL(pgURL, addr string, log *slog.Logger) (*Mongo, error) {
	return startFerretDB(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: addr},
		Handler:       "postgresql",
		PostgreSQLURL: pgURL,
		Logger:        log.With("component", "ferretdb"),
	})
}

func startFerretDB(cfg *ferretdb.Config) (*Mongo, error) {
	addr := cfg.Listener.TCP
	f, err := ferretdb.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded mongodb (%s): %w", cfg.Handler, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mongo{cancel: cancel, done: make(chan error, 1)}
	go func() { m.done <- f.Run(ctx) }()

	// MongoDBURI blocks until the listener is up; bound that wait.
	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()
	select {
	case m.uri = <-uriCh:
		return m, nil
	case err := <-m.done:
		cancel()
		return nil, fmt.Errorf("start embedded mongodb on %s: %w", addr, errors.Join(err, errors.New("stopped at start")))
	case <-time.After(30 * time.Second):
		cancel()
		return nil, fmt.Errorf("start embedded mongodb on %s: no listener after 30s", addr)
	}
}

// URI is the mongodb:// URI to connect to.
func (m *Mongo) URI() string { return m.uri }

// Close stops FerretDB and waits until it has closed its files.
func (m *Mongo) Close() error {
	m.cancel()
	if err := <-m.done; err != nil {
		return fmt.Errorf("stop embedded mongodb: %w", err)
	}
	return nil
}

// LockDir takes an exclusive lock on dir so that two processes never share
// one set of embedded data files; the lock dies with the process.
func LockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open data dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another postpipe process (set POSTPIPE_DATA_DIR to another folder): %w", dir, err)
	}
	return func() { f.Close() }, nil
}
