#!/usr/bin/env bash
# store.sh — the standalone MongoDB-compatible store for postpipe:
# FerretDB 1.24 (inside `postpipe stack --stack-kafka=false`) on PostgreSQL,
# or on SQLite files. See deploy/store/README.md.
#
#   deploy/store/store.sh up       start it (installs/starts PostgreSQL when needed); idempotent
#   deploy/store/store.sh down     stop it (and PostgreSQL only if this script started it); idempotent
#   deploy/store/store.sh status   exit 0 running and answering, 1 running but not answering, 3 stopped
#   deploy/store/store.sh clean    down, then drop the PostgreSQL database and role and remove .store/
#
# Settings (environment):
#   STORE_BACKEND=postgresql|sqlite    default postgresql; falls back to sqlite, with a warning, when
#                                      PostgreSQL cannot be installed or started (STORE_NO_FALLBACK=1: fail)
#   STORE_ADDR=127.0.0.1:27017         where the MongoDB wire protocol listens
#   STORE_PG_DB / STORE_PG_USER / STORE_PG_PASSWORD   default postpipe / postpipe / postpipe
#   STORE_PG_CLUSTER=15/main           Debian cluster to use; default: the newest "main" cluster
#   STORE_KEEP_POSTGRESQL=1            down leaves PostgreSQL running even if this script started it
#   STORE_START_TIMEOUT=60 STORE_STOP_TIMEOUT=15 (seconds)
#   STORE_STATE_DIR=<repo>/.store      pid file, log, SQLite files, the check binary
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${STORE_STATE_DIR:-$ROOT/.store}
BIN=${STORE_POSTPIPE_BIN:-$ROOT/bin/postpipe}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
GO=${GO:-go}
ADDR=${STORE_ADDR:-127.0.0.1:27017}
BACKEND_REQ=${STORE_BACKEND:-postgresql}
PG_DB=${STORE_PG_DB:-postpipe}
PG_USER=${STORE_PG_USER:-postpipe}
PG_PASSWORD=${STORE_PG_PASSWORD:-postpipe}
PG_CLUSTER=${STORE_PG_CLUSTER:-}
NO_FALLBACK=${STORE_NO_FALLBACK:-0}
KEEP_PG=${STORE_KEEP_POSTGRESQL:-0}
START_TIMEOUT=${STORE_START_TIMEOUT:-60}
STOP_TIMEOUT=${STORE_STOP_TIMEOUT:-15}

PIDFILE=$STATE/ferretdb.pid
LOG=$STATE/ferretdb.log
INFO=$STATE/running.info          # key=value lines about the running process
PGMARK=$STATE/postgresql-started  # "VERSION NAME" of a cluster this script started
DATA=$STATE/data                  # --data-dir: its lock, and mongo/ with the SQLite files
CHECK=$STATE/bin/storecheck
HOST=${ADDR%:*}
PORT=${ADDR##*:}
URI="mongodb://$ADDR/"
# The FerretDB version compiled into bin/postpipe (its own buildInfo says "unknown").
FERRETDB_VER=$(awk '$1=="github.com/FerretDB/FerretDB"{sub(/^v/,"",$2); print $2; exit}' "$ROOT/go.mod" 2>/dev/null)
FERRETDB="FerretDB ${FERRETDB_VER:-1.x}"

say() { printf 'store: %s\n' "$*"; }
warn() { printf 'store: WARNING: %s\n' "$*" >&2; }
die() {
	printf 'store: ERROR: %s\n' "$*" >&2
	exit 1
}
now_ms() { date +%s%3N; }
# nolock CMD...: run CMD without fd 9, this script's lock; daemons it starts
# (PostgreSQL, FerretDB) would otherwise hold the lock for their lifetime.
nolock() { "$@" 9>&-; }
secs() { printf '%d.%02ds' $(($1 / 1000)) $(($1 % 1000 / 10)); }

case $BACKEND_REQ in
postgresql | postgres | pg) BACKEND_REQ=postgresql ;;
sqlite) ;;
*) die "STORE_BACKEND=$BACKEND_REQ: want postgresql or sqlite" ;;
esac
for v in "$PG_DB" "$PG_USER"; do
	[[ $v =~ ^[a-z_][a-z0-9_]*$ ]] || die "PostgreSQL names must be lower-case identifiers, got '$v'"
done
[[ $PG_PASSWORD =~ ^[A-Za-z0-9_.~-]+$ ]] || die "STORE_PG_PASSWORD: use letters, digits and _.~- only (it goes into a URL)"
[[ $PORT =~ ^[0-9]+$ && -n $HOST ]] || die "STORE_ADDR=$ADDR: want host:port"

info_get() { if [[ -f $INFO ]]; then sed -n "s/^$1=//p" "$INFO" | head -n1; fi; }

# alive PID: the process exists and is not a zombie.
alive() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != Z ]]
}

# our_pid: the pid from the pid file if that process is alive and is `postpipe stack`.
our_pid() {
	local pid cmd
	[[ -f $PIDFILE ]] || return 1
	pid=$(<"$PIDFILE")
	[[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmd == *postpipe*" stack "* ]] || return 1
	echo "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; }
port_holder() { ss -ltnpH "sport = :$PORT" 2>/dev/null | sed -n 's/.*users:((\(.*\)))$/\1/p' | head -n1; }

ensure_check() {
	local src=$ROOT/deploy/store/storecheck/main.go
	if [[ ! -x $CHECK || $src -nt $CHECK ]]; then
		mkdir -p "$(dirname "$CHECK")"
		(cd "$ROOT" && "$GO" build -o "$CHECK" ./deploy/store/storecheck) || die "cannot build the check program (needs Go)"
	fi
}

ensure_bin() {
	if [[ ! -x $BIN ]]; then
		say "building $BIN"
		make -C "$ROOT" build >/dev/null || die "make build failed"
	fi
}

# ---------------------------------------------------------------- PostgreSQL

as_postgres() {
	if [[ $(id -un) == postgres ]]; then
		(cd / && "$@")
	elif [[ $(id -u) == 0 ]]; then
		(cd / && runuser -u postgres -- "$@")
	else
		(cd / && sudo -n -u postgres -- "$@")
	fi
}
pg_admin() { as_postgres psql -X -p "$PG_PORT" -v ON_ERROR_STOP=1 -qAt -d postgres "$@"; }

pg_installed() {
	command -v pg_ctlcluster >/dev/null && command -v psql >/dev/null &&
		compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

# pick_cluster sets PG_VER PG_NAME PG_PORT PG_STATUS; no output when there is no cluster.
pick_cluster() {
	local line
	if [[ -n $PG_CLUSTER ]]; then
		line=$(pg_lsclusters -h 2>/dev/null | awk -v v="${PG_CLUSTER%/*}" -v n="${PG_CLUSTER#*/}" '$1==v && $2==n' | head -n1)
	else
		line=$(pg_lsclusters -h 2>/dev/null | sort -k1,1n | awk '$2=="main"' | tail -n1)
		[[ -n $line ]] || line=$(pg_lsclusters -h 2>/dev/null | sort -k1,1n | tail -n1)
	fi
	[[ -n $line ]] || return 1
	read -r PG_VER PG_NAME PG_PORT PG_STATUS _ <<<"$line"
}

# start_cluster starts the picked cluster when it is down; sets PG_STARTED_NOW=1 if it did.
start_cluster() {
	PG_STARTED_NOW=0
	if [[ $PG_STATUS != online* ]]; then
		local t0
		t0=$(now_ms)
		nolock pg_ctlcluster "$PG_VER" "$PG_NAME" start || {
			warn "pg_ctlcluster $PG_VER $PG_NAME start failed (see /var/log/postgresql/postgresql-$PG_VER-$PG_NAME.log)"
			return 1
		}
		PG_STARTED_NOW=1
		say "started PostgreSQL cluster $PG_VER/$PG_NAME on port $PG_PORT in $(secs $(($(now_ms) - t0)))"
	fi
	local i
	for ((i = 0; i < 150; i++)); do
		pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && return 0
		sleep 0.2
	done
	warn "PostgreSQL $PG_VER/$PG_NAME does not accept connections on 127.0.0.1:$PG_PORT"
	return 1
}

# ensure_postgres: installed, cluster running, role and database present, login works.
# Sets PG_URL and PG_LABEL. Returns 1 (after a warning) on any failure; it runs
# under `if`, so every step checks its own result.
ensure_postgres() {
	local installed_now=0
	if ! pg_installed; then
		if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
			warn "PostgreSQL is not installed and this script cannot apt-get install it (needs root and apt-get)"
			return 1
		fi
		local t0
		t0=$(now_ms)
		say "PostgreSQL is not installed: apt-get update && apt-get install -y postgresql (log: $STATE/apt.log)"
		if ! (export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y postgresql) >>"$STATE/apt.log" 2>&1 9>&-; then
			warn "apt-get install postgresql failed; last lines of $STATE/apt.log:"
			tail -n 5 "$STATE/apt.log" >&2
			return 1
		fi
		say "installed PostgreSQL in $(secs $(($(now_ms) - t0)))"
		installed_now=1
	fi
	if ! pick_cluster; then
		if [[ -n $PG_CLUSTER ]]; then
			warn "no PostgreSQL cluster $PG_CLUSTER (pg_lsclusters lists: $(pg_lsclusters -h 2>/dev/null | awk '{printf "%s/%s ", $1, $2}'))"
			return 1
		fi
		local ver
		ver=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -n | tail -n1)
		say "no PostgreSQL cluster: pg_createcluster $ver main"
		nolock pg_createcluster "$ver" main >/dev/null || {
			warn "pg_createcluster $ver main failed"
			return 1
		}
		pick_cluster || return 1
	fi
	start_cluster || return 1
	# PostgreSQL that was not running before this script (or that its apt-get
	# install started) is this script's to stop (down).
	if [[ $PG_STARTED_NOW == 1 || $installed_now == 1 ]]; then echo "$PG_VER $PG_NAME" >"$PGMARK"; fi

	pg_admin >/dev/null <<SQL || {
DO \$\$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN PASSWORD '$PG_PASSWORD';
  END IF;
END\$\$;
SQL
		warn "cannot create role $PG_USER"
		return 1
	}
	if [[ -z $(pg_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
		pg_admin -c "CREATE DATABASE $PG_DB OWNER $PG_USER" || {
			warn "cannot create database $PG_DB"
			return 1
		}
		say "created PostgreSQL role $PG_USER and database $PG_DB"
	fi
	local ver
	ver=$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -qAt -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" \
		-c 'SHOW server_version' 2>&1) || {
		warn "cannot log in to PostgreSQL as $PG_USER on 127.0.0.1:$PG_PORT: $ver"
		return 1
	}
	PG_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
	PG_LABEL="PostgreSQL ${ver%% *}"
	say "$PG_LABEL cluster $PG_VER/$PG_NAME on 127.0.0.1:$PG_PORT, database $PG_DB (owner $PG_USER)"
}

stop_postgres_if_ours() {
	[[ -f $PGMARK ]] || {
		if pg_installed && pick_cluster 2>/dev/null && [[ $PG_STATUS == online* ]]; then
			say "PostgreSQL $PG_VER/$PG_NAME left running (store.sh did not start it)"
		fi
		return 0
	}
	local ver name
	read -r ver name <"$PGMARK"
	if [[ $KEEP_PG == 1 ]]; then
		say "PostgreSQL $ver/$name left running (STORE_KEEP_POSTGRESQL=1)"
		return 0
	fi
	if pg_ctlcluster "$ver" "$name" status >/dev/null 2>&1; then
		pg_ctlcluster "$ver" "$name" stop && say "stopped PostgreSQL $ver/$name (store.sh had started it)"
	fi
	rm -f "$PGMARK"
}

# ------------------------------------------------------------------ FerretDB

show_log_tail() {
	[[ -f $LOG ]] || return 0
	echo "---- last lines of $LOG" >&2
	tail -n 15 "$LOG" >&2
	echo "----" >&2
}

stop_ferretdb() {
	local pid
	if ! pid=$(our_pid); then
		if [[ -f $PIDFILE ]]; then
			rm -f "$PIDFILE" "$INFO"
			say "FerretDB not running (stale pid file removed)"
		else
			say "FerretDB not running"
		fi
		if port_open; then
			warn "something not started by store.sh listens on $ADDR: $(port_holder); left alone"
		fi
		return 0
	fi
	local t0 i
	t0=$(now_ms)
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		warn "FerretDB (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
	fi
	rm -f "$PIDFILE" "$INFO"
	say "stopped FerretDB (pid $pid) in $(secs $(($(now_ms) - t0)))"
}

cmd_up() {
	local t0 pid
	t0=$(now_ms)
	ensure_bin
	ensure_check
	if pid=$(our_pid); then
		local requested
		requested=$(info_get requested)
		if [[ -n $requested && $requested != "$BACKEND_REQ" ]]; then
			die "already running with STORE_BACKEND=$requested ($(info_get label)); run 'make store-down' first"
		fi
		if [[ $(info_get backend) == postgresql ]]; then
			ensure_postgres >/dev/null || warn "PostgreSQL check failed"
		fi
		local out
		out=$("$CHECK" -uri "$URI" -timeout 10s) || die "FerretDB (pid $pid) runs but does not answer; see $LOG, or: make store-down store-up"
		say "already running: pid $pid, $(info_get label), $out"
		say "URI: $URI"
		return 0
	fi
	rm -f "$PIDFILE" "$INFO"
	if port_open; then
		die "$ADDR is already in use by $(port_holder) (not started by store.sh); stop it or set STORE_ADDR"
	fi

	local backend=$BACKEND_REQ label fallback=0
	PG_URL=""
	if [[ $backend == postgresql ]]; then
		if ! ensure_postgres; then
			[[ $NO_FALLBACK == 1 ]] && die "PostgreSQL unavailable and STORE_NO_FALLBACK=1"
			warn "##########################################################################"
			warn "PostgreSQL unavailable: FALLING BACK TO FerretDB on SQLite ($DATA/mongo)."
			warn "SQLite is 2-3x slower: do not use this store for benchmarks."
			warn "##########################################################################"
			backend=sqlite
			fallback=1
		fi
	fi
	if [[ $backend == postgresql ]]; then
		label="$FERRETDB on $PG_LABEL"
	else
		label="$FERRETDB on SQLite"
	fi

	mkdir -p "$DATA"
	printf '\n=== %s store.sh up: %s on %s\n' "$(date -Is)" "$label" "$ADDR" >>"$LOG"
	local t1
	t1=$(now_ms)
	# setsid: its own session, so a Ctrl-C in this terminal does not reach it.
	# 9>&-: the process must not inherit this script's lock. The PostgreSQL URL
	# (with its password) goes through the environment, not the command line.
	if [[ $backend == postgresql ]]; then
		POSTPIPE_STACK_POSTGRESQL_URL=$PG_URL setsid "$BIN" stack --stack-kafka=false --stack-mongodb=true \
			--stack-mongodb-addr="$ADDR" --data-dir="$DATA" </dev/null >>"$LOG" 2>&1 9>&- &
	else
		setsid "$BIN" stack --stack-kafka=false --stack-mongodb=true --stack-postgresql-url= \
			--stack-mongodb-addr="$ADDR" --data-dir="$DATA" </dev/null >>"$LOG" 2>&1 9>&- &
	fi
	pid=$!
	echo "$pid" >"$PIDFILE"
	{
		echo "requested=$BACKEND_REQ"
		echo "backend=$backend"
		echo "fallback=$fallback"
		echo "label=$label"
		echo "uri=$URI"
		echo "started=$(date -Is)"
		if [[ $backend == postgresql ]]; then
			echo "postgresql=postgres://$PG_USER:***@127.0.0.1:$PG_PORT/$PG_DB (cluster $PG_VER/$PG_NAME)"
		fi
	} >"$INFO"

	local deadline=$(($(now_ms) + START_TIMEOUT * 1000))
	until port_open; do
		if ! alive "$pid"; then
			rm -f "$PIDFILE" "$INFO"
			show_log_tail
			die "FerretDB exited during start-up"
		fi
		if (($(now_ms) > deadline)); then
			show_log_tail
			stop_ferretdb >/dev/null
			die "FerretDB did not open $ADDR within ${START_TIMEOUT}s"
		fi
		sleep 0.1
	done
	local t_port out left
	t_port=$(now_ms)
	left=$(((deadline - t_port) / 1000))
	((left > 5)) || left=5
	if ! out=$("$CHECK" -uri "$URI" -timeout "${left}s"); then
		show_log_tail
		stop_ferretdb >/dev/null
		die "FerretDB opened $ADDR but does not answer ping"
	fi
	local t_end
	t_end=$(now_ms)
	say "running: pid $pid, $label, $out"
	say "FerretDB start: port open after $(secs $((t_port - t1))), ping after $(secs $((t_end - t1))); whole 'up' $(secs $((t_end - t0)))"
	if [[ $fallback == 1 ]]; then warn "running on the SQLite FALLBACK, not PostgreSQL"; fi
	say "log: $LOG"
	say "URI: $URI"
}

cmd_down() {
	stop_ferretdb
	stop_postgres_if_ours
}

cmd_status() {
	local pid rc=0
	if pid=$(our_pid); then
		local out
		say "FerretDB running: pid $pid since $(info_get started), $(info_get label)"
		if [[ -n $(info_get postgresql) ]]; then say "backend database: $(info_get postgresql)"; fi
		if [[ $(info_get fallback) == 1 ]]; then warn "this is the SQLite FALLBACK (PostgreSQL was unavailable at start)"; fi
		if [[ -x $CHECK ]] && out=$("$CHECK" -uri "$URI" -timeout 3s 2>&1); then
			say "answers: $out"
		else
			say "NOT answering: ${out:-check program missing}"
			rc=1
		fi
		say "URI: $URI   log: $LOG"
	else
		say "FerretDB not running (store.sh)"
		if port_open; then warn "something not started by store.sh listens on $ADDR: $(port_holder)"; fi
		rc=3
	fi
	if pg_installed && pick_cluster; then
		local who="not started by store.sh"
		[[ -f $PGMARK ]] && who="started by store.sh"
		say "PostgreSQL cluster $PG_VER/$PG_NAME port $PG_PORT: $PG_STATUS ($who)"
	else
		say "PostgreSQL: not installed or no cluster"
	fi
	return $rc
}

cmd_clean() {
	stop_ferretdb
	if pg_installed && pick_cluster; then
		local was_marked=0
		[[ -f $PGMARK ]] && was_marked=1
		if start_cluster; then
			if [[ -n $(pg_admin -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'") ]]; then
				pg_admin -c "DROP DATABASE $PG_DB WITH (FORCE)" && say "dropped PostgreSQL database $PG_DB"
			else
				say "PostgreSQL database $PG_DB does not exist"
			fi
			if [[ -n $(pg_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER'") ]]; then
				pg_admin -c "DROP ROLE $PG_USER" && say "dropped PostgreSQL role $PG_USER"
			fi
			if [[ $PG_STARTED_NOW == 1 && $was_marked == 0 ]]; then
				pg_ctlcluster "$PG_VER" "$PG_NAME" stop && say "stopped PostgreSQL $PG_VER/$PG_NAME again"
			fi
		else
			warn "PostgreSQL cluster not running: database $PG_DB not dropped"
		fi
	fi
	stop_postgres_if_ours
	if [[ -n $(find "$STATE" -mindepth 1 -maxdepth 1 ! -name .lock 2>/dev/null) ]]; then
		say "removed $STATE (SQLite files, log, check binary)"
	fi
	rm -rf "$STATE"
}

cmd=${1:-}
case $cmd in
down)
	# Nothing was ever started here: nothing to stop, and no .store/ to create.
	if [[ ! -d $STATE ]]; then
		cmd_down
		exit 0
	fi
	;;&
up | down | clean)
	mkdir -p "$STATE"
	exec 9>"$STATE/.lock"
	if ! flock -n 9; then
		say "another store.sh is running: waiting up to 120s for its lock ($STATE/.lock)"
		flock -w 120 9 || die "still locked by another store.sh (lock $STATE/.lock)"
	fi
	"cmd_$cmd"
	;;
status) cmd_status ;;
*)
	echo "usage: $0 up|down|status|clean" >&2
	exit 2
	;;
esac
