#!/usr/bin/env bash
# make bench / make bench-quick: the whole benchmark end to end. Starts real
# Apache Kafka (one broker) and FerretDB on PostgreSQL, a 'postpipe api'
# (with the noop ceiling endpoint) and a 'postpipe sink', runs every scenario
# of 'postpipe bench' with the given profile, stops everything, and prints
# where the report is. Usage: deploy/bench.sh seed|quick   (BENCH_OUT=DIR)
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${1:-seed}
OUT=${BENCH_OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)-$PROFILE}
ADDR=${BENCH_ADDR:-127.0.0.1:8080}
# The batch scenario accepts posts several times faster than the sink can
# store them on this store: the check after it waits for the backlog.
case $PROFILE in
seed) DRAIN=${BENCH_DRAIN_TIMEOUT:-30m} ;;
*) DRAIN=${BENCH_DRAIN_TIMEOUT:-5m} ;;
esac
KAFKA=deploy/kafka/kafka.sh
STORE=deploy/store/store.sh
RUN=.bench-run
mkdir -p "$RUN"

pids=()
cleanup() {
	local rc=$?
	echo "== bench: stopping"
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	"$KAFKA" down || true
	"$STORE" down || true
	exit "$rc"
}
trap cleanup EXIT INT TERM

if (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null; then
	echo "bench: $ADDR is already in use; stop what listens there or set BENCH_ADDR" >&2
	exit 1
fi

make --no-print-directory store-up
"$KAFKA" up
backend=$("$STORE" status 2>/dev/null | grep -o 'FerretDB [^,]* on [A-Za-z]* [0-9.]*' | head -1 || true)

export POSTPIPE_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
export POSTPIPE_MONGODB_URI=mongodb://${STORE_ADDR:-127.0.0.1:27017}/
export POSTPIPE_MONGODB_DATABASE=postpipe_bench
export POSTPIPE_KAFKA_TOPIC=bench.posts POSTPIPE_KAFKA_DLQ_TOPIC=bench.posts.dlq POSTPIPE_KAFKA_GROUP=bench-sink
export POSTPIPE_LOG_LEVEL=warn

POSTPIPE_HTTP_ADDR=$ADDR POSTPIPE_BENCH_ENDPOINTS=true ./bin/postpipe api >"$RUN/api.log" 2>&1 &
api_pid=$!
pids+=($!)
./bin/postpipe sink >"$RUN/sink.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 120); do
	curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1 && break
	sleep 0.5
done
curl -fsS "http://$ADDR/readyz" >/dev/null || { echo "bench: the API did not become ready; see $RUN/api.log" >&2; exit 1; }

echo "== bench: profile $PROFILE, results in $OUT"
./bin/postpipe bench --target "http://$ADDR" --profile "$PROFILE" --out "$OUT" --drain-timeout "$DRAIN" --server-pid "$api_pid" \
	--kafka-label "Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/kafka/pom.xml | head -1) (1 broker, KRaft, same machine)" \
	--store-label "${backend:-FerretDB 1.24 on PostgreSQL}"

echo "== bench: report: $OUT/report.html ($OUT/report.md, $OUT/results.json)"
