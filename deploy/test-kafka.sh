#!/usr/bin/env bash
# make test-kafka: the integration suite against real Apache Kafka and the
# standalone store. It starts what it needs (single node, then the 3-node
# cluster), runs the tests, and tears everything down even when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
KAFKA=deploy/kafka/kafka.sh
STORE=deploy/store/store.sh
GOTEST=("$GO" test -race -count=1 -v -timeout 30m ./cmd/postpipe)

cleanup() {
	local rc=$?
	echo "== test-kafka: tearing down"
	"$KAFKA" down || true
	"$KAFKA" cluster-down || true
	"$STORE" down || true
	exit "$rc"
}
trap cleanup EXIT INT TERM

# The in-process components log at warn; keep test output readable.
filter() { grep -v '^time=' || true; }

echo "== test-kafka: store"
make --no-print-directory store-up
export POSTPIPE_TEST_MONGODB_URI=mongodb://${STORE_ADDR:-127.0.0.1:27017}/
export POSTPIPE_TEST_BINARY=$PWD/bin/postpipe

echo "== test-kafka: single-node Apache Kafka"
"$KAFKA" up
# The suites' members are listed in cmd/postpipe/suite_test.go.
POSTPIPE_TEST_SUITE=kafka POSTPIPE_TEST_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092} "${GOTEST[@]}" \
	2>&1 | filter
"$KAFKA" down

echo "== test-kafka: 3-node Apache Kafka cluster"
"$KAFKA" cluster-up
POSTPIPE_TEST_SUITE=kafka-cluster \
POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS=127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292 \
POSTPIPE_TEST_KAFKA_NODE_CMD=$PWD/$KAFKA \
	"${GOTEST[@]}" 2>&1 | filter

echo "== test-kafka: passed"
