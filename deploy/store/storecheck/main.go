// Command storecheck waits until a MongoDB-protocol server answers a real
// ping and prints one line about it. deploy/store/store.sh uses it as the
// readiness and health check of the standalone store (FerretDB): FerretDB
// answers ping only after asking its backend, so a ping that succeeds also
// means PostgreSQL (or SQLite) is reachable with the configured credentials.
//
// Output on success (exit 0):
//
//	ok ping_ms=2 attempts=1
//
// On failure it prints the last error to stderr and exits 1.
//
// With -drop it then drops the database -db names: deploy/bench.sh starts
// every run from an empty bench database, so what an earlier run left
// (hundreds of thousands of documents) does not slow this run's reads and
// store check by an amount that depends on the history.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	uri := flag.String("uri", "mongodb://127.0.0.1:27017/", "MongoDB URI to check")
	db := flag.String("db", "postpipe", "database the ping is sent to")
	timeout := flag.Duration("timeout", 30*time.Second, "how long to keep trying")
	drop := flag.Bool("drop", false, "once the server answers, drop the database -db names")
	flag.Parse()
	if err := run(*uri, *db, *timeout, *drop); err != nil {
		fmt.Fprintln(os.Stderr, "storecheck:", err)
		os.Exit(1)
	}
}

func run(uri, db string, timeout time.Duration, drop bool) error {
	deadline := time.Now().Add(timeout)
	client, err := mongo.Connect(options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(2 * time.Second).
		SetConnectTimeout(2 * time.Second).
		SetAppName("postpipe-storecheck"))
	if err != nil {
		return fmt.Errorf("client for %s: %w", uri, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = client.Disconnect(ctx)
	}()

	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		start := time.Now()
		err := client.Database(db).RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
		took := time.Since(start)
		cancel()
		if err == nil {
			// No version here: FerretDB embedded from its Go module reports
			// ferretdbVersion "unknown" in buildInfo.
			fmt.Printf("ok ping_ms=%d attempts=%d\n", took.Milliseconds(), attempt)
			if drop {
				return dropDatabase(client, db, timeout)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to ping from %s after %s (%d attempts): %w", uri, timeout, attempt, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dropDatabase(client *mongo.Client, db string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := client.Database(db).Drop(ctx); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	fmt.Printf("dropped database %s in %dms\n", db, time.Since(start).Milliseconds())
	return nil
}
