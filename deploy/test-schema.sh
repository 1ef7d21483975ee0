#!/usr/bin/env bash
# make test-schema: schemathesis, generating requests from api/openapi.yaml,
# against 'postpipe run' on the embedded broker and store, serving the example
# streams file (posts, orders, clicks). Fails on any
# finding: a 5xx, or a status, content type, body or header the description
# does not allow.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=${SCHEMATHESIS_VERSION:-4.32.5}
VENV=.tools/schemathesis-$SCHEMATHESIS_VERSION
ADDR=${SCHEMA_ADDR:-127.0.0.1:18680}
EXAMPLES=${SCHEMA_EXAMPLES:-100}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance

if [ ! -x "$VENV/bin/schemathesis" ]; then
	echo "== test-schema: installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $VENV"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi
"$VENV/bin/schemathesis" --version

work=$(mktemp -d)
POSTPIPE_HTTP_ADDR=$ADDR POSTPIPE_DATA_DIR=$work/data POSTPIPE_STREAMS_FILE=${SCHEMA_STREAMS_FILE:-examples/streams.yaml} POSTPIPE_BENCH_ENDPOINTS=true POSTPIPE_LOG_LEVEL=warn \
	bin/postpipe run >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
	local rc=$?
	kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo "== test-schema: last lines of the server log"
		tail -n 30 "$work/server.log" || true
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT INT TERM

echo "== test-schema: waiting for postpipe run on $ADDR"
for _ in $(seq 1 180); do
	if curl -sf "http://$ADDR/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$pid" 2>/dev/null; then echo "postpipe run exited"; exit 1; fi
	sleep 0.5
done
curl -sf "http://$ADDR/readyz" >/dev/null

echo "== test-schema: schemathesis run (checks $CHECKS, up to $EXAMPLES examples per operation)"
"$VENV/bin/schemathesis" run "http://$ADDR/openapi.yaml" \
	--checks "$CHECKS" \
	--max-examples "$EXAMPLES" \
	--workers 2 \
	--request-timeout 30 \
	--seed "${SCHEMA_SEED:-1}" \
	--suppress-health-check too_slow "$@"
