#!/usr/bin/env bash
# make bench / make bench-quick / make bench-ingest: the whole benchmark end
# to end. Starts real Apache Kafka (one broker) and FerretDB on PostgreSQL, a
# 'postpipe api' (with the bench endpoints: noop, fire-and-forget) and — but
# for the ingest profile — a 'postpipe sink', runs the profile's scenarios of
# 'postpipe bench', stops everything, and prints where the report is.
# Usage: deploy/bench.sh seed|quick|ingest   (BENCH_OUT=DIR)
# See docs/benchmark.md.
#
# For profiling (see docs/benchmark-results.md, "Where the time goes"):
#   BENCH_SCENARIOS=noop,kafka   only these scenarios
#   BENCH_ARGS='--stages 3s:100,20s:100,1s:0'   more flags for 'postpipe bench'
#   BENCH_SINK=0|1               no sink process: the accepted posts are checked on the topic
#                                instead of in the store (default 0 for ingest, 1 otherwise)
#   BENCH_ADMIN=127.0.0.1:6060   the API's admin listener, for pprof during the run
#   BENCH_API_ENV='GOGC=200'      more environment for the API process only
#   BENCH_SETTLE=60 BENCH_SETTLE_BUSY=15
#                                wait at most this many seconds, before the first scenario, for a
#                                second under this % of CPU busy (0: do not wait)
#   BENCH_STREAMS_FILE=FILE      the streams file the API, the sink and the bench run with; by default
#                                one written to .bench-run/streams.yaml declaring examples/streams.yaml's
#                                orders (schema examples/schemas/orders.json, id /orderId) on the bench's
#                                topics — bench.orders, or bench.ingest.orders without the sink (posts,
#                                left out, stays on POSTPIPE_KAFKA_TOPIC)
# The ingest profile then runs extra parts (docs/benchmark.md, "Scaling and connections (ingest)"), each a
# 'postpipe bench' of its own, summed up by 'postpipe bench --summarize' into the main report:
#   BENCH_SCALING=1|0            the API pinned (taskset) to 1 and to nproc−1 cores with GOMAXPROCS
#                                alike, the broker and the bench client on the other cores: noop,
#                                fire-and-forget, kafka, 2 rounds, into $OUT/scaling/api-<k>cores/ (default 1)
#   BENCH_CONNS='200 400'        kafka alone with this many connections (closed-loop clients), every
#                                core, 2 rounds, into $OUT/conns/kafka-<n>/ (0 or empty: none)
# The quick and ingest profiles run the orders scenario (POST /v1/orders, ~600-byte orders) after kafka.
# Each scenario reports the CPU per accepted post of the api, broker, sink, store (FerretDB and
# PostgreSQL with its backends) and the bench client over its measured window; afterwards this
# script also prints (and writes to $OUT/cpu.txt) the CPU seconds each process used during the run.
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
# The ingest profile measures the write path's front: no consumer competes for the CPUs.
SINK=${BENCH_SINK:-$([[ $PROFILE == ingest ]] && echo 0 || echo 1)}
# The ingest profile's extra parts (above).
SCALING=${BENCH_SCALING:-1}
CONNS=${BENCH_CONNS-200 400}
if [[ $PROFILE != ingest ]]; then
	SCALING=0 CONNS=
fi
conns=()
for c in $CONNS; do
	if ! [[ $c =~ ^[0-9]+$ ]]; then
		echo "bench: BENCH_CONNS='$CONNS': want counts of connections, e.g. '200 400' (0 or empty: none)" >&2
		exit 1
	fi
	if ((c > 0)); then conns+=("$c"); fi
done
KAFKA=deploy/kafka/kafka.sh
STORE=deploy/store/store.sh
RUN=.bench-run
BENCH_DB=postpipe_bench
mkdir -p "$RUN"

pids=()
cleanup() {
	local rc=$?
	echo "== bench: stopping"
	if [[ -n ${broker_affinity:-} ]]; then
		taskset -a -p -c "$broker_affinity" "$kafka_pid" >/dev/null 2>&1 || true
	fi
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
# Every run starts from an empty bench database: what earlier runs left (it
# grew to ~874k documents) made the store's reads and the store check slow
# by an amount that depended on the history, not on this run.
"${STORE_STATE_DIR:-.store}/bin/storecheck" -uri "mongodb://${STORE_ADDR:-127.0.0.1:27017}/" -db "$BENCH_DB" -timeout 2m -drop
"$KAFKA" up
backend=$("$STORE" status 2>/dev/null | grep -o 'FerretDB [^,]* on [A-Za-z]* [0-9.]*' | head -1 || true)

export POSTPIPE_KAFKA_BROKERS=127.0.0.1:${KAFKA_PORT:-9092}
export POSTPIPE_MONGODB_URI=mongodb://${STORE_ADDR:-127.0.0.1:27017}/
export POSTPIPE_MONGODB_DATABASE=$BENCH_DB
export POSTPIPE_KAFKA_TOPIC=bench.posts POSTPIPE_KAFKA_DLQ_TOPIC=bench.posts.dlq POSTPIPE_KAFKA_GROUP=bench-sink
if [[ $SINK == 0 ]]; then
	# Nothing consumes what a run without the sink produces: on its own topic,
	# it is not a backlog the next run's sink must store before its own posts.
	export POSTPIPE_KAFKA_TOPIC=bench.ingest.posts POSTPIPE_KAFKA_DLQ_TOPIC=bench.ingest.posts.dlq
fi
export POSTPIPE_LOG_LEVEL=warn

# The streams of the run: the declared stream orders, as examples/streams.yaml
# declares it but on the bench's own topics, as posts are (what a run without
# the sink produces there is no backlog for the next run's sink); its
# collection, orders, is in the bench database, which every run starts empty.
# posts, left out of the file, stays on POSTPIPE_KAFKA_TOPIC (its typed path).
orders_topic=bench.orders
if [[ $SINK == 0 ]]; then
	orders_topic=bench.ingest.orders
fi
cat >"$RUN/streams.yaml" <<EOF
# Written by deploy/bench.sh for one run: examples/streams.yaml's orders on the bench's topics.
streams:
  - name: orders
    schema: ../examples/schemas/orders.json
    id: /orderId
    list: [customer, status]
    topic: $orders_topic
EOF
export POSTPIPE_STREAMS_FILE=${BENCH_STREAMS_FILE:-$RUN/streams.yaml}

# Every run starts from empty bench topics too, and without the sink's
# committed offsets into them: the ingest profile leaves ~2.5 GB on the
# topic a run, which nothing consumes (43 GB after a day of runs here).
"${GO:-go}" build -o "$RUN/topicreset" ./deploy/kafka/topicreset
"$RUN/topicreset" -brokers "$POSTPIPE_KAFKA_BROKERS" -group bench-sink \
	bench.posts bench.posts.dlq bench.ingest.posts bench.ingest.posts.dlq \
	bench.orders bench.orders.dlq bench.ingest.orders bench.ingest.orders.dlq

# The read and mixed scenarios measure what the store serves to 100 users at
# once, as the seed's did: the read bound (50 against a store of its own)
# and the 5 s read timeout would answer FerretDB's slow reads 503 instead
# (docs/limits.md, "Reads under load"). The bench's client is one address:
# with --rate it opens a connection for every request in flight, and at
# 15,000 req/s a pause took it past the per-client bound (512), answered 503
# (~0.07 % of the posts); the bound is for many clients sharing a server,
# not what the path costs, so it is lifted. BENCH_API_ENV can set them back.
# shellcheck disable=SC2206 # BENCH_API_ENV is words: VAR=value …
api_env=(POSTPIPE_MAX_READS_IN_FLIGHT=1000 POSTPIPE_READ_TIMEOUT=1m POSTPIPE_MAX_CONNS_PER_CLIENT=0 ${BENCH_API_ENV:-} POSTPIPE_HTTP_ADDR=$ADDR POSTPIPE_ADMIN_ADDR=${BENCH_ADMIN:-} POSTPIPE_BENCH_ENDPOINTS=true)
# start_api LOG [CPUS [VAR=value…]]: start 'postpipe api' with the run's environment, and VAR=value
# after it, pinned to the CPU list CPUS (taskset) where one is given; sets api_pid.
start_api() {
	local log=$1 cpus=${2:-} pin=()
	shift $(($# < 2 ? $# : 2))
	[[ -z $cpus ]] || pin=(taskset -c "$cpus")
	"${pin[@]}" env "${api_env[@]}" "$@" ./bin/postpipe api >"$RUN/$log" 2>&1 &
	api_pid=$!
	pids+=("$api_pid")
}
# port_in_use: something listens on ADDR.
port_in_use() { (exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR#*:}") 2>/dev/null; }
# wait_ready: until the API answers /readyz, for at most a minute.
wait_ready() {
	for _ in $(seq 1 120); do
		curl -fsS "http://$ADDR/readyz" >/dev/null 2>&1 && return 0
		kill -0 "$api_pid" 2>/dev/null || break
		sleep 0.5
	done
	curl -fsS "http://$ADDR/readyz" >/dev/null || { echo "bench: the API did not become ready; see $RUN/*.log" >&2; return 1; }
}
# stop_api: stop the API and wait until its port is free.
stop_api() {
	local keep=() p
	kill -TERM "$api_pid" 2>/dev/null || true
	wait "$api_pid" 2>/dev/null || true
	for p in "${pids[@]}"; do [[ $p == "$api_pid" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
	for _ in $(seq 1 100); do
		port_in_use || return 0
		sleep 0.1
	done
	echo "bench: $ADDR still in use 10 s after the API stopped" >&2
	return 1
}
start_api api.log
sink_pid=
runner=()
if [[ $SINK != 0 ]]; then
	./bin/postpipe sink >"$RUN/sink.log" 2>&1 &
	sink_pid=$!
	pids+=($!)
else
	runner=(env -u POSTPIPE_MONGODB_URI)
fi
wait_ready

# cputicks PID...: user+system CPU ticks of the processes (0 for one gone).
cputicks() {
	local sum=0 p t
	for p in "$@"; do
		t=$(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null) || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}
kafka_pid=$(cat .kafka/single/kafka.pid 2>/dev/null || true)
store_pid=$(cat .store/ferretdb.pid 2>/dev/null || true)
pg_pids() { pgrep -u postgres postgres 2>/dev/null | tr '\n' ' '; }
# pg_masters: the postmasters (postgres processes whose parent is not one);
# the bench counts each with its descendants, the backends.
pg_masters() {
	local p pp
	for p in $(pgrep -x postgres 2>/dev/null); do
		pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || continue
		[[ $(cat "/proc/$pp/comm" 2>/dev/null) == postgres ]] || printf '+%s' "$p"
	done
}
declare -A cpu0
for who in api sink kafka store; do
	var=${who}_pid
	cpu0[$who]=$(cputicks ${!var:-})
done
cpu0[pg]=$(cputicks $(pg_pids))

# Let the machine settle before measuring: the broker's JVM compiles for a
# while after it starts, and a store still busy after an earlier run (or a
# PostgreSQL checkpoint) took up to 40 % of the CPUs. Wait, at most
# BENCH_SETTLE seconds, until one second passes under BENCH_SETTLE_BUSY %
# busy; the report records the background load it found either way.
busy_percent() {
	local a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7 b8
	read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
	sleep 1
	read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
	local busy=$(((b1 + b2 + b3 + b6 + b7 + b8) - (a1 + a2 + a3 + a6 + a7 + a8)))
	local total=$((busy + (b4 + b5) - (a4 + a5)))
	echo $((total > 0 ? 100 * busy / total : 0))
}
settle=${BENCH_SETTLE:-60} busy=unmeasured
for ((waited = 0; waited < settle; waited++)); do
	busy=$(busy_percent)
	((busy < ${BENCH_SETTLE_BUSY:-15})) && break
done
echo "== bench: machine ${busy}% busy after waiting ${waited}s to settle (at most ${settle}s)"

kafka_label="Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' deploy/kafka/pom.xml | head -1) (1 broker, KRaft, same machine)"
store_label=${backend:-FerretDB 1.24 on PostgreSQL}
echo "== bench: profile $PROFILE, results in $OUT"
processes="api=$api_pid,broker=$kafka_pid,sink=$sink_pid,store=$store_pid$(pg_masters)"
"${runner[@]}" ./bin/postpipe bench --target "http://$ADDR" --profile "$PROFILE" --out "$OUT" --drain-timeout "$DRAIN" --server-pid "$api_pid" \
	--processes "$processes" \
	${BENCH_SCENARIOS:+--scenarios "$BENCH_SCENARIOS"} ${BENCH_ARGS:-} \
	--kafka-label "$kafka_label" --store-label "$store_label" &
bench_pid=$!
# Stopped (SIGTERM, SIGINT), this script stops the bench first — it writes
# what it measured so far — instead of leaving it running against a stack
# that is going down (a SIGTERM reaches this script alone).
pids=("$bench_pid" "${pids[@]}")
bench_ticks=0
while kill -0 "$bench_pid" 2>/dev/null; do
	t=$(cputicks "$bench_pid")
	((t > 0)) && bench_ticks=$t
	sleep 0.5
done
wait "$bench_pid" || bench_rc=$?
hz=$(getconf CLK_TCK)
{
	echo "CPU seconds used during the run, by process (2 cores give 2 s per second):"
	for who in api sink kafka store; do
		var=${who}_pid
		[[ -n ${!var:-} ]] || continue
		echo "  $who: $(awk -v a="$(cputicks ${!var})" -v b="${cpu0[$who]}" -v hz="$hz" 'BEGIN{printf "%.1f", (a-b)/hz}')"
	done
	echo "  postgresql: $(awk -v a="$(cputicks $(pg_pids))" -v b="${cpu0[pg]}" -v hz="$hz" 'BEGIN{printf "%.1f", (a-b)/hz}')"
	echo "  bench client: $(awk -v a="$bench_ticks" -v hz="$hz" 'BEGIN{printf "%.1f", a/hz}') (until its last half-second sample)"
} | tee "$OUT/cpu.txt" 2>/dev/null || true
[[ -z ${bench_rc:-} ]] || exit "$bench_rc"

# The ingest profile's extra parts: each a 'postpipe bench' of its own, in a directory under $OUT.
extra_failed=()
# extra_bench DIR CPUS FLAG…: a bench run into DIR against the API now running, pinned to the CPU
# list CPUS where one is given; its report goes to DIR, its progress to the terminal.
extra_bench() {
	local out=$1 cpus=$2 pin=() rc=0 pid p keep=()
	shift 2
	[[ -z $cpus ]] || pin=(taskset -c "$cpus")
	echo "== bench: ${out#"$OUT"/}${cpus:+ (bench client on CPUs $cpus)}"
	# shellcheck disable=SC2086 # BENCH_ARGS is flags
	"${runner[@]}" "${pin[@]}" ./bin/postpipe bench --target "http://$ADDR" --profile "$PROFILE" --out "$out" --drain-timeout "$DRAIN" --server-pid "$api_pid" \
		--processes "api=$api_pid,broker=$kafka_pid,sink=$sink_pid,store=$store_pid$(pg_masters)" \
		${BENCH_ARGS:-} --kafka-label "$kafka_label" --store-label "$store_label" "$@" >/dev/null &
	pid=$!
	pids=("$pid" "${pids[@]}")
	wait "$pid" || rc=$?
	for p in "${pids[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
	pids=("${keep[@]}")
	if ((rc != 0)); then
		echo "bench: ${out#"$OUT"/}: postpipe bench exited $rc (its report says why)" >&2
		extra_failed+=("${out#"$OUT"/}")
	fi
}
# cpu_list: the CPUs this script may run on, one per line (taskset's "0-3,6" expanded).
cpu_list() {
	local part parts
	IFS=, read -ra parts <<<"$(taskset -cp $$ | sed 's/.*: *//')"
	for part in "${parts[@]}"; do seq "${part%-*}" "${part#*-}"; done
}
joined() {
	local IFS=,
	echo "$*"
}
extras=0 api_pinned=0
if [[ $SCALING != 0 ]] || ((${#conns[@]} > 0)); then
	rm -rf -- "$OUT/scaling" "$OUT/conns"
	[[ $SINK == 0 ]] || echo "== bench: note: the sink runs (BENCH_SINK=$SINK) and shares the cores, pinned to none"
fi
if [[ $SCALING != 0 ]]; then
	cpus=()
	if ! command -v taskset >/dev/null; then
		echo "== bench: scaling skipped: taskset (util-linux) is not installed (BENCH_SCALING=0 skips it quietly)"
	elif [[ -z $kafka_pid ]]; then
		echo "== bench: scaling skipped: the broker's pid is unknown (.kafka/single/kafka.pid), so it cannot be pinned"
	else
		mapfile -t cpus < <(cpu_list)
		if ((${#cpus[@]} < 2)); then
			echo "== bench: scaling skipped: ${#cpus[@]} CPU to run on ($(taskset -cp $$ 2>&1)), none to pin the API apart from the broker and the client"
			cpus=()
		fi
	fi
	n=${#cpus[@]}
	if ((n >= 2)); then
		broker_affinity=$(taskset -cp "$kafka_pid" | sed 's/.*: *//')
		ks=(1)
		((n - 1 > 1)) && ks+=($((n - 1)))
		for k in "${ks[@]}"; do
			api_cpus=$(joined "${cpus[@]:0:k}") other_cpus=$(joined "${cpus[@]:k}")
			echo "== bench: scaling: the API on CPUs $api_cpus (GOMAXPROCS=$k), the broker and the bench client on $other_cpus"
			stop_api
			start_api "api-${k}cores.log" "$api_cpus" GOMAXPROCS="$k"
			api_pinned=1
			wait_ready
			taskset -a -p -c "$other_cpus" "$kafka_pid" >/dev/null
			extra_bench "$OUT/scaling/api-${k}cores" "$other_cpus" --scenarios noop,fire-and-forget,kafka --rounds 2
			extras=1
		done
		taskset -a -p -c "$broker_affinity" "$kafka_pid" >/dev/null
		broker_affinity=
	fi
fi
if ((${#conns[@]} > 0)); then
	# The API runs without a bound of connections per client address
	# (api_env): each turn opens fresh connections while the last turn's
	# may still be closing at the server.
	if ((api_pinned)); then
		stop_api
		start_api api-conns.log
		wait_ready
	fi
	for c in "${conns[@]}"; do
		extra_bench "$OUT/conns/kafka-$c" "" --scenarios kafka --stages "0s:$c,5s:$c" --rounds 2
		extras=1
	done
fi
if ((extras)); then
	echo "== bench: summing up the extra parts"
	./bin/postpipe bench --summarize "$OUT" || extra_failed+=("--summarize")
	[[ ! -f $OUT/scaling/scaling.md ]] || echo "== bench: scaling: $OUT/scaling/scaling.md (scaling.json)"
	[[ ! -f $OUT/conns/conns.md ]] || echo "== bench: connections: $OUT/conns/conns.md (conns.json)"
fi

echo "== bench: report: $OUT/report.html ($OUT/report.md, $OUT/results.json)"
if ((${#extra_failed[@]} > 0)); then
	echo "bench: the extra parts that failed: ${extra_failed[*]}" >&2
	exit 1
fi
