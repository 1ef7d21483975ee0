#!/usr/bin/env bash
# make test-chaos: the fault suite (TestChaos in cmd/postpipe/chaos_test.go).
# Starts the standalone store and single-node Apache Kafka, runs each fault
# under a steady load from the bench client, and prints a table; the 3-node
# cluster is started for its scenario only. Tears everything down even when a
# scenario fails. CHAOS_SHORT=1: shorter loads (CI). CHAOS_TABLE=FILE keeps
# the table. CHAOS_ONLY=REGEXP runs only the scenarios whose name matches
# (Go syntax; no match fails the run), e.g. CHAOS_ONLY='two streams' for the
# sink-kill scenario with posts and orders interleaving; the cluster starts
# only when its scenario is chosen.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
KAFKA=$PWD/deploy/kafka/kafka.sh
STORE=$PWD/deploy/store/store.sh
# The suite stops and starts the store; PostgreSQL under it stays up.
export STORE_KEEP_POSTGRESQL=1

cleanup() {
	local rc=$?
	echo "== test-chaos: tearing down"
	"$KAFKA" down || true
	"$KAFKA" cluster-down || true
	"$STORE" down || true
	exit "$rc"
}
trap cleanup EXIT INT TERM

began=$SECONDS
echo "== test-chaos: store and single-node Apache Kafka"
make --no-print-directory store-up
"$KAFKA" up

export POSTPIPE_TEST_SUITE=chaos # cmd/postpipe/suite_test.go
export POSTPIPE_TEST_BINARY=$PWD/bin/postpipe
export POSTPIPE_TEST_MONGODB_URI=mongodb://${STORE_ADDR:-127.0.0.1:27017}/
export POSTPIPE_TEST_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
export POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS=127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292
export POSTPIPE_TEST_KAFKA_CMD=$KAFKA
export POSTPIPE_TEST_STORE_CMD=$STORE

set +e
"$GO" test -race -count=1 -v -timeout 40m ./cmd/postpipe 2>&1 | grep -v '^time='
rc=${PIPESTATUS[0]}
set -e
echo "== test-chaos: took $((SECONDS - began)) s"
exit "$rc"
