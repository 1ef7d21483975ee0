#!/usr/bin/env bash
# make bench-scale: the scale-out measurement (TestScaleOut in
# cmd/postpipe/scaleout_test.go) on the local 3-node Apache Kafka cluster and
# FerretDB on PostgreSQL: two api processes under steady load while the sink
# group grows 1 -> 2 -> 3 and shrinks to 2. Prints the table (stored posts/s
# per phase, the longest partition stall after each join/leave, CPU seconds
# per process) and fails on any lost or duplicated post. Tears down what it
# started. SCALE_PHASE (default 40s), SCALE_RATE (batch requests/s per api,
# 50 posts each; default 40), SCALE_OUT=FILE keeps the table.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
KAFKA=$PWD/deploy/kafka/kafka.sh
STORE=$PWD/deploy/store/store.sh

cleanup() {
	local rc=$?
	echo "== bench-scale: tearing down"
	"$KAFKA" cluster-down || true
	"$STORE" down || true
	exit "$rc"
}
trap cleanup EXIT INT TERM

began=$SECONDS
echo "== bench-scale: store and the 3-node Apache Kafka cluster"
make --no-print-directory store-up
"$KAFKA" cluster-up

export POSTPIPE_TEST_SUITE=scale # cmd/postpipe/suite_test.go
export POSTPIPE_TEST_BINARY=$PWD/bin/postpipe
export POSTPIPE_TEST_MONGODB_URI=mongodb://${STORE_ADDR:-127.0.0.1:27017}/
export POSTPIPE_TEST_KAFKA_CLUSTER_BROKERS=127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292
echo "== bench-scale: $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"

set +e
# No race detector: the processes measured are the built binary's; the test
# process only drives the load.
"$GO" test -count=1 -v -timeout 60m ./cmd/postpipe 2>&1 | grep -v '^time='
rc=${PIPESTATUS[0]}
set -e
echo "== bench-scale: took $((SECONDS - began)) s"
exit "$rc"
