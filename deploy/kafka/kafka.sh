#!/usr/bin/env bash
# kafka.sh — run a real Apache Kafka (jars from Maven Central, no Docker, no tarball) for postpipe.
#
#   kafka.sh up | down | status            single combined KRaft node on 127.0.0.1:9092 (KAFKA_PORT, KAFKA_CTRL_PORT)
#   kafka.sh cluster-up | cluster-down     three combined nodes on 127.0.0.1:19092, :19192, :19292
#   kafka.sh node-start N | node-stop N | node-kill N    one node (1-3) of the cluster
#   kafka.sh clean                         stop everything and delete the data (jars are kept)
#   kafka.sh jars                          download the jars only (done automatically by up)
#
# Everything lives under $KAFKA_DIR (default: <repo>/.kafka): lib/ (jars), single/, cluster/nodeN/.
# Each node folder holds server.properties, data/, logs/server.log, logs/stdout.log and kafka.pid.
# Processes are found and stopped only through their pid files; a pid is trusted only if its
# command line carries -Dpostpipe.kafka.node=<that node's folder>.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KAFKA_DIR="${KAFKA_DIR:-$ROOT/.kafka}"
LIB="$KAFKA_DIR/lib"
POM="$HERE/pom.xml"
LOG4J_CONF="$HERE/log4j2.properties"
COMMON_PROPS="$HERE/common.properties"

KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
CLUSTER_START_TIMEOUT="${KAFKA_CLUSTER_START_TIMEOUT:-180}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_VERSION="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")}"

SINGLE_DIR="$KAFKA_DIR/single"
CLUSTER_DIR="$KAFKA_DIR/cluster"
SINGLE_PORT=${KAFKA_PORT:-9092}
SINGLE_CTRL_PORT=${KAFKA_CTRL_PORT:-9093}
READY_LINE="Kafka Server started"

say() { echo "kafka: $*"; }
die() { echo "kafka: error: $*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
rel() { echo "${1#"$ROOT"/}"; }

# Below 32768, the start of Linux's ephemeral range: a client socket can never
# hold one of these ports when a node starts.
cluster_port() { echo $((18992 + 100 * $1)); }
cluster_ctrl_port() { echo $((18993 + 100 * $1)); }
node_dir() { echo "$CLUSTER_DIR/node$1"; }

# ---------------------------------------------------------------- prerequisites

JAVA=""
check_java() {
	if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
		JAVA="$JAVA_HOME/bin/java"
	elif command -v java >/dev/null 2>&1; then
		JAVA="$(command -v java)"
	else
		die "Java 17 or newer is required to run Kafka, and no 'java' was found (set JAVA_HOME or install e.g. openjdk-17-jre-headless)"
	fi
	local v major
	v="$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -1)"
	major="${v%%.*}"
	[[ "$major" == 1 ]] && major="$(echo "$v" | cut -d. -f2)"
	[[ "$major" =~ ^[0-9]+$ ]] || die "cannot read the Java version from '$JAVA -version' (got '$v')"
	((major >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17 or newer; $JAVA is version $v (set JAVA_HOME to a newer JDK)"
}

jars_stamp() {
	echo "kafka=$KAFKA_VERSION pom=$(sha256sum "$POM" | cut -c1-16)"
}

# ensure_jars downloads the broker's runtime classpath once; later runs use the cache without
# calling Maven (and so without network).
ensure_jars() {
	local want
	want="$(jars_stamp)"
	if [[ -f "$LIB/.complete" && "$(cat "$LIB/.complete")" == "$want" ]]; then
		return 0
	fi
	command -v mvn >/dev/null 2>&1 ||
		die "Maven (mvn) is required once, to download the Kafka $KAFKA_VERSION jars from Maven Central into $(rel "$LIB") (install it, e.g. apt-get install maven)"
	mkdir -p "$KAFKA_DIR"
	ignore_self
	say "downloading Apache Kafka $KAFKA_VERSION jars from Maven Central into $(rel "$LIB") (once)..."
	local t0 tmp="$LIB.tmp"
	t0="$(now)"
	rm -rf "$tmp"
	if ! mvn -q -B -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_DIR/mvn.log" 2>&1; then
		rm -rf "$tmp"
		sed 's/\x1b\[[0-9;]*m//g' "$KAFKA_DIR/mvn.log" | tail -n 20 >&2
		die "Maven could not download org.apache.kafka:kafka_2.13:$KAFKA_VERSION (network? try KAFKA_VERSION=4.3.1)"
	fi
	[[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after the download"
	ls "$tmp"/log4j-slf4j-impl-*.jar >/dev/null 2>&1 || die "log4j-slf4j-impl missing after the download"
	echo "$want" >"$tmp/.complete"
	rm -rf "$LIB"
	mv "$tmp" "$LIB"
	say "jars ready: $(find "$LIB" -name '*.jar' | wc -l) jars, $(du -sh "$LIB" | cut -f1) in $(since "$t0")"
}

# The data folder ignores itself, so nothing in it is ever committed.
ignore_self() {
	[[ -f "$KAFKA_DIR/.gitignore" ]] || echo '*' >"$KAFKA_DIR/.gitignore"
}

prepare() {
	check_java
	ensure_jars
}

# ---------------------------------------------------------------- processes

# node_pid DIR prints the pid of the node's Kafka process and succeeds only if it is running.
node_pid() {
	local dir="$1" pid
	pid="$(cat "$dir/kafka.pid" 2>/dev/null)" || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	# A zombie or a recycled pid has another (or an empty) command line.
	grep -qzxF -- "-Dpostpipe.kafka.node=$dir" "/proc/$pid/cmdline" 2>/dev/null || return 1
	echo "$pid"
}

port_open() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

java_run() { # java_run DIR CLASS ARGS... (foreground)
	local dir="$1"
	shift
	# shellcheck disable=SC2086
	"$JAVA" $KAFKA_HEAP_OPTS -Dkafka.logs.dir="$dir/logs" -Dkafka.log.file=tool.log \
		-Dlog4j2.configurationFile="$LOG4J_CONF" -cp "$LIB/*" "$@"
}

new_cluster_id() {
	local id
	while :; do
		id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
		[[ "$id" == -* ]] || break
	done
	echo "$id"
}

# write_props DIR ID PORT CTRL_PORT MODE(single|cluster)
write_props() {
	local dir="$1" id="$2" port="$3" ctrl="$4" mode="$5"
	{
		cat "$COMMON_PROPS"
		echo
		echo "# ---- generated by deploy/kafka/kafka.sh ($mode, node $id); edits here are overwritten at start ----"
		echo "node.id=$id"
		echo "listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl"
		echo "advertised.listeners=PLAINTEXT://127.0.0.1:$port"
		echo "log.dirs=$dir/data"
		if [[ "$mode" == single ]]; then
			cat <<-EOF
				controller.quorum.bootstrap.servers=127.0.0.1:$ctrl
				default.replication.factor=1
				min.insync.replicas=1
				offsets.topic.replication.factor=1
				transaction.state.log.replication.factor=1
				transaction.state.log.min.isr=1
				share.coordinator.state.topic.replication.factor=1
				share.coordinator.state.topic.min.isr=1
			EOF
		else
			local voters="" n
			for n in 1 2 3; do
				voters+="${voters:+,}$n@127.0.0.1:$(cluster_ctrl_port "$n")"
			done
			cat <<-EOF
				controller.quorum.voters=$voters
				default.replication.factor=3
				min.insync.replicas=2
				offsets.topic.replication.factor=3
				transaction.state.log.replication.factor=3
				transaction.state.log.min.isr=2
				share.coordinator.state.topic.replication.factor=3
				share.coordinator.state.topic.min.isr=2
			EOF
		fi
	} >"$dir/server.properties"
}

# format_node DIR CLUSTER_ID [--standalone]; a formatted data dir is kept as it is.
format_node() {
	local dir="$1" cid="$2"
	shift 2
	[[ -f "$dir/data/meta.properties" ]] && return 0
	local t0
	t0="$(now)"
	mkdir -p "$dir/data" "$dir/logs"
	if ! java_run "$dir" kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" "$@" \
		>"$dir/logs/format.log" 2>&1; then
		cat "$dir/logs/format.log" >&2
		die "formatting $(rel "$dir/data") failed"
	fi
	say "formatted $(rel "$dir/data") (cluster id $cid) in $(since "$t0")"
}

# launch DIR LABEL PORT CTRL_PORT: start the JVM in the background (no waiting).
launch() {
	local dir="$1" label="$2" port="$3" ctrl="$4" p
	for p in "$port" "$ctrl"; do
		if port_open "$p"; then
			die "cannot start $label: port 127.0.0.1:$p is already in use by another process (ss -ltnp | grep :$p)"
		fi
	done
	mkdir -p "$dir/logs"
	local f
	for f in server.log stdout.log; do
		[[ -f "$dir/logs/$f" ]] && mv -f "$dir/logs/$f" "$dir/logs/$f.prev"
	done
	(
		cd "$dir"
		# setsid: own session, so a Ctrl-C in the terminal that ran make does not reach the broker.
		# shellcheck disable=SC2086
		setsid "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_OPTS -Dpostpipe.kafka.node="$dir" \
			-Dkafka.logs.dir="$dir/logs" -Dlog4j2.configurationFile="$LOG4J_CONF" \
			-cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
			</dev/null >"$dir/logs/stdout.log" 2>&1 &
		echo $! >"$dir/kafka.pid"
	)
}

show_failure() { # show_failure DIR
	local dir="$1"
	echo "---- last 30 lines of $(rel "$dir/logs/server.log") ----" >&2
	tail -n 30 "$dir/logs/server.log" 2>/dev/null >&2 || echo "(no server.log)" >&2
	if [[ -s "$dir/logs/stdout.log" ]]; then
		echo "---- last 15 lines of $(rel "$dir/logs/stdout.log") ----" >&2
		tail -n 15 "$dir/logs/stdout.log" >&2
	fi
	echo "----" >&2
}

# wait_ready DIR LABEL PORT DEADLINE_EPOCH: 0 when ready, 1 when the process died or time ran out.
wait_ready() {
	local dir="$1" label="$2" port="$3" deadline="$4"
	while :; do
		if ! node_pid "$dir" >/dev/null; then
			echo "kafka: error: $label exited during start-up" >&2
			show_failure "$dir"
			return 1
		fi
		if grep -qF "$READY_LINE" "$dir/logs/server.log" 2>/dev/null && port_open "$port"; then
			return 0
		fi
		if awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }'; then
			echo "kafka: error: $label not ready after the time limit (no '$READY_LINE' in its log and/or port $port closed); stopping it" >&2
			show_failure "$dir"
			return 1
		fi
		sleep 0.2
	done
}

# stop_dirs SIGNAL TIMEOUT DIR...: send SIGNAL to every running node, wait for all of them, then
# SIGKILL the stragglers. Nodes of one cluster must be stopped together: stopped one after the other,
# the last ones hang in controlled shutdown for lack of a controller quorum.
stop_dirs() {
	local sig="$1" timeout="$2"
	shift 2
	local dir pid t0 running=() deadline killed=0 sent_kill=0
	declare -A HOPELESS_SINCE=()
	t0="$(now)"
	for dir in "$@"; do
		if pid="$(node_pid "$dir")"; then
			# Remember where the log stood, to read only what the node logs while stopping.
			wc -l <"$dir/logs/server.log" >"$dir/logs/.stop-mark" 2>/dev/null || echo 0 >"$dir/logs/.stop-mark"
			kill -"$sig" "$pid" 2>/dev/null || true
			running+=("$dir")
		else
			rm -f "$dir/kafka.pid"
		fi
	done
	((${#running[@]})) || return 1
	deadline="$(awk -v t="$t0" -v s="$timeout" 'BEGIN { printf "%.3f", t + s }')"
	local left=("${running[@]}")
	while ((${#left[@]})); do
		local still=()
		for dir in "${left[@]}"; do
			node_pid "$dir" >/dev/null && still+=("$dir")
		done
		left=("${still[@]+"${still[@]}"}")
		((${#left[@]})) || break
		((sent_kill)) || kill_hopeless "${left[@]}"
		if awk -v d="$deadline" -v n="$(now)" 'BEGIN { exit !(n > d) }'; then
			if ((sent_kill)); then
				for dir in "${left[@]}"; do
					echo "kafka: error: $(label_of "$dir") (pid $(node_pid "$dir")) survived SIGKILL for 10s" >&2
				done
				exit 1
			fi
			for dir in "${left[@]}"; do
				pid="$(node_pid "$dir")" || continue
				say "$(label_of "$dir") (pid $pid) still running after ${timeout}s: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
				killed=$((killed + 1))
			done
			sent_kill=1
			deadline="$(awk -v n="$(now)" 'BEGIN { printf "%.3f", n + 10 }')"
		fi
		sleep 0.2
	done
	for dir in "${running[@]}"; do rm -f "$dir/kafka.pid"; done
	STOPPED_IN="$(since "$t0")"
	if ((killed)) && [[ "$sig" != KILL ]]; then
		STOPPED_IN+=" ($killed of ${#running[@]} needed SIGKILL)"
	fi
	return 0
}

# kill_hopeless DIR...: a cluster node in controlled shutdown waits (up to 5 minutes) for the active
# controller to approve it. Once fewer than 2 of the 3 controllers are alive there is no quorum and
# no approval can come: such a node gets 2 s of grace, then SIGKILL (its data is in the page cache
# and is recovered at the next start). This is the "last node hangs in controlled shutdown" case.
kill_hopeless() {
	local dir alive=0 n mark pid since
	for n in 1 2 3; do
		node_pid "$(node_dir "$n")" >/dev/null && alive=$((alive + 1))
	done
	((alive < 2)) || return 0
	for dir in "$@"; do
		[[ "$dir" == "$CLUSTER_DIR"/node* ]] || continue
		pid="$(node_pid "$dir")" || continue
		mark="$(cat "$dir/logs/.stop-mark" 2>/dev/null || echo 0)"
		since="$(tail -n +"$((mark + 1))" "$dir/logs/server.log" 2>/dev/null)"
		if grep -q "Beginning controlled shutdown" <<<"$since" &&
			! grep -q "from PENDING_CONTROLLED_SHUTDOWN to SHUTTING_DOWN" <<<"$since"; then
			if [[ -z "${HOPELESS_SINCE[$dir]:-}" ]]; then
				HOPELESS_SINCE[$dir]="$(now)"
			elif awk -v t="${HOPELESS_SINCE[$dir]}" -v n="$(now)" 'BEGIN { exit !(n - t > 2) }'; then
				say "$(label_of "$dir") (pid $pid) waits in controlled shutdown for a controller quorum that is gone: SIGKILL"
				kill -KILL "$pid" 2>/dev/null || true
				echo 999999999 >"$dir/logs/.stop-mark"
				killed=$((killed + 1))
			fi
		fi
	done
}

label_of() {
	case "$1" in
	"$SINGLE_DIR") echo "single node" ;;
	*) echo "cluster node ${1##*node}" ;;
	esac
}

# ---------------------------------------------------------------- single node

single_up() {
	local pid
	if pid="$(node_pid "$SINGLE_DIR")"; then
		say "single node already running on 127.0.0.1:$SINGLE_PORT (pid $pid)"
		return 0
	fi
	prepare
	mkdir -p "$SINGLE_DIR"
	ignore_self
	write_props "$SINGLE_DIR" 1 "$SINGLE_PORT" "$SINGLE_CTRL_PORT" single
	format_node "$SINGLE_DIR" "$(new_cluster_id)" --standalone
	local t0 deadline
	t0="$(now)"
	deadline="$(awk -v t="$t0" -v s="$START_TIMEOUT" 'BEGIN { printf "%.3f", t + s }')"
	launch "$SINGLE_DIR" "single node" "$SINGLE_PORT" "$SINGLE_CTRL_PORT"
	if ! wait_ready "$SINGLE_DIR" "single node" "$SINGLE_PORT" "$deadline"; then
		stop_dirs TERM 15 "$SINGLE_DIR" || true
		die "single node did not start (limit ${START_TIMEOUT}s, KAFKA_START_TIMEOUT); full log: $(rel "$SINGLE_DIR/logs/server.log")"
	fi
	say "single node ready on 127.0.0.1:$SINGLE_PORT in $(since "$t0") (Kafka $KAFKA_VERSION, pid $(node_pid "$SINGLE_DIR"), log $(rel "$SINGLE_DIR/logs/server.log"))"
}

single_down() {
	if stop_dirs TERM "$STOP_TIMEOUT" "$SINGLE_DIR"; then
		say "single node stopped in $STOPPED_IN"
	else
		say "single node not running"
	fi
}

# ---------------------------------------------------------------- cluster

check_n() {
	[[ "${1:-}" =~ ^[123]$ ]] || die "node number must be 1, 2 or 3 (got '${1:-}')"
}

cluster_id() {
	local f="$CLUSTER_DIR/cluster.id" n id
	if [[ ! -s "$f" ]]; then
		# Re-use the id of a node formatted before, if any, else make a new one.
		id=""
		for n in 1 2 3; do
			id="$(sed -n 's/^cluster.id=//p' "$(node_dir "$n")/data/meta.properties" 2>/dev/null || true)"
			[[ -n "$id" ]] && break
		done
		mkdir -p "$CLUSTER_DIR"
		echo "${id:-$(new_cluster_id)}" >"$f"
	fi
	cat "$f"
}

# cluster_start N...: start the given nodes that are not running and wait until every one is ready.
cluster_start() {
	prepare
	mkdir -p "$CLUSTER_DIR"
	ignore_self
	local cid n dir pid started=() formats=() t0 deadline
	cid="$(cluster_id)"
	for n in "$@"; do
		dir="$(node_dir "$n")"
		mkdir -p "$dir"
		if pid="$(node_pid "$dir")"; then
			say "cluster node $n already running on 127.0.0.1:$(cluster_port "$n") (pid $pid)"
			continue
		fi
		write_props "$dir" "$n" "$(cluster_port "$n")" "$(cluster_ctrl_port "$n")" cluster
		# Format the new nodes in parallel (one JVM each), all with the same cluster id.
		format_node "$dir" "$cid" &
		formats+=($!)
	done
	for pid in "${formats[@]+"${formats[@]}"}"; do
		wait "$pid" || die "formatting the cluster failed"
	done
	t0="$(now)"
	deadline="$(awk -v t="$t0" -v s="$CLUSTER_START_TIMEOUT" 'BEGIN { printf "%.3f", t + s }')"
	for n in "$@"; do
		dir="$(node_dir "$n")"
		node_pid "$dir" >/dev/null && continue
		launch "$dir" "cluster node $n" "$(cluster_port "$n")" "$(cluster_ctrl_port "$n")"
		started+=("$n")
	done
	((${#started[@]})) || return 0
	for n in "${started[@]}"; do
		dir="$(node_dir "$n")"
		if ! wait_ready "$dir" "cluster node $n" "$(cluster_port "$n")" "$deadline"; then
			local dirs=()
			for m in "${started[@]}"; do dirs+=("$(node_dir "$m")"); done
			stop_dirs TERM 15 "${dirs[@]}" || true
			die "cluster did not start (limit ${CLUSTER_START_TIMEOUT}s, KAFKA_CLUSTER_START_TIMEOUT); the nodes started now were stopped again"
		fi
		say "cluster node $n ready on 127.0.0.1:$(cluster_port "$n") after $(since "$t0") (pid $(node_pid "$dir"))"
	done
	START_TOOK="$(since "$t0")"
}

cluster_up() {
	START_TOOK=""
	cluster_start 1 2 3
	if [[ -n "$START_TOOK" ]]; then
		say "cluster ready on 127.0.0.1:19092,127.0.0.1:19192,127.0.0.1:19292 in $START_TOOK (Kafka $KAFKA_VERSION, logs in $(rel "$CLUSTER_DIR")/nodeN/logs/server.log)"
	fi
}

cluster_down() {
	if stop_dirs TERM "$STOP_TIMEOUT" "$(node_dir 1)" "$(node_dir 2)" "$(node_dir 3)"; then
		say "cluster stopped in $STOPPED_IN"
	else
		say "cluster not running"
	fi
}

node_start() {
	check_n "${1:-}"
	START_TOOK=""
	cluster_start "$1"
}

node_stop() {
	check_n "${1:-}"
	if stop_dirs TERM "$STOP_TIMEOUT" "$(node_dir "$1")"; then
		say "cluster node $1 stopped (SIGTERM) in $STOPPED_IN"
	else
		say "cluster node $1 not running"
	fi
}

node_kill() {
	check_n "${1:-}"
	if stop_dirs KILL 10 "$(node_dir "$1")"; then
		say "cluster node $1 killed (SIGKILL)"
	else
		say "cluster node $1 not running"
	fi
}

# ---------------------------------------------------------------- misc

status() {
	local dir pid port
	for dir in "$SINGLE_DIR" "$(node_dir 1)" "$(node_dir 2)" "$(node_dir 3)"; do
		case "$dir" in
		"$SINGLE_DIR") port=$SINGLE_PORT ;;
		*) port="$(cluster_port "${dir##*node}")" ;;
		esac
		if pid="$(node_pid "$dir")"; then
			printf 'kafka: %-14s running  127.0.0.1:%s  pid %s\n' "$(label_of "$dir")" "$port" "$pid"
		else
			printf 'kafka: %-14s stopped  127.0.0.1:%s\n' "$(label_of "$dir")" "$port"
		fi
	done
	if [[ -f "$LIB/.complete" ]]; then
		say "jars: $(cat "$LIB/.complete") in $(rel "$LIB")"
	else
		say "jars: not downloaded yet"
	fi
}

clean() {
	single_down
	cluster_down
	rm -rf "$SINGLE_DIR" "$CLUSTER_DIR"
	say "removed $(rel "$SINGLE_DIR") and $(rel "$CLUSTER_DIR") (jars kept in $(rel "$LIB"))"
}

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
}

cmd="${1:-}"
shift || true
case "$cmd" in
up) single_up ;;
down) single_down ;;
cluster-up) cluster_up ;;
cluster-down) cluster_down ;;
node-start) node_start "$@" ;;
node-stop) node_stop "$@" ;;
node-kill) node_kill "$@" ;;
status) status ;;
clean) clean ;;
jars)
	check_java
	ensure_jars
	;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
