# postpipe — the two commands a newcomer needs are `make run` and `make test`.

GO            ?= go
# Build and test with the toolchain go.mod names (a patch release with the
# standard library's security fixes), fetched from the module proxy once,
# even where the environment says GOTOOLCHAIN=local.
export GOTOOLCHAIN := auto
BIN           := bin/postpipe
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The commit, for postpipe_build_info and 'postpipe version' (-dirty with
# uncommitted changes): from git here, since the go command's own VCS stamp
# is off wherever GOFLAGS says -buildvcs=false. Empty outside a checkout.
REVISION      ?= $(shell r=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD -- 2>/dev/null && echo $$r || echo $$r-dirty; })
LDFLAGS       := -s -w -X main.versionOverride=$(VERSION) -X main.revisionOverride=$(REVISION)
TOOLS         := $(CURDIR)/.tools
STATICCHECK   := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Go test flags: always with the race detector.
TESTFLAGS     ?= -race -count=1 -timeout 20m

.PHONY: all go-version build build-prod run test test-ui test-kafka test-chaos test-deploy bench bench-quick bench-ingest bench-scale benchmarks lint vet fmt clean fuzz

include deploy/kafka/kafka.mk
include deploy/store/store.mk

.DEFAULT_GOAL := all
all: lint test build

go-version:
	@$(GO) version

## build: compile bin/postpipe, the development build (embedded broker and store, 'stack', 'bench')
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/postpipe

## build-prod: compile bin/postpipe-prod as the image does (-tags nodev: no kfake, FerretDB,
## SQLite or load generator; 'run' needs POSTPIPE_KAFKA_BROKERS and POSTPIPE_MONGODB_URI)
build-prod:
	CGO_ENABLED=0 $(GO) build -tags nodev -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)-prod ./cmd/postpipe

## run: serve on 127.0.0.1:8080 with the embedded broker and store (data in ./data)
run: build
	./$(BIN) run

## test: every test, the whole pipeline in-process, with the race detector; then the
## production build's own tests (-tags nodev: devstack_nodev_test.go)
test:
	$(GO) test $(TESTFLAGS) ./...
	$(GO) test $(TESTFLAGS) -tags nodev -run '^TestNoDev' ./cmd/postpipe/

## test-ui: the dashboard in headless Chromium against the in-process pipeline; installs Debian's
## chromium (apt-get, as root) when no chromium binary is found; screenshot in ui-results/
test-ui:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
		{ echo "test-ui: no chromium found; installing Debian's chromium"; apt-get update && apt-get install -y chromium; }
	POSTPIPE_TEST_SUITE=ui $(GO) test $(TESTFLAGS) -v ./cmd/postpipe/

## test-kafka: the integration suite against real Apache Kafka (single node and a 3-node cluster)
## and FerretDB on PostgreSQL; starts them and tears them down itself
test-kafka: build
	deploy/test-kafka.sh

## test-chaos: the fault suite (sink killed, store and broker stopped, API SIGTERMed, a cluster
## broker killed, poison records) under steady load against real Kafka and the store; prints a
## table, fails on any lost or duplicated post. CHAOS_SHORT=1: a few minutes, for CI
test-chaos: build
	deploy/test-chaos.sh

## bench: the original k6 stages against real Kafka and FerretDB on PostgreSQL, all scenarios
## (writes, reads), each after a 10 s warm-up (BENCH_OUT=DIR chooses where the results go)
bench: build
	deploy/bench.sh seed

## bench-quick: the write scenarios (no reads; orders, ~600-byte documents of a declared stream, among them),
## each 3 s warm-up + 3 rounds of 6 s (batch: 1) at up to 50 VUs, in a few minutes
bench-quick: build
	deploy/bench.sh quick

## bench-ingest: the write path's front with the sink stopped: noop, fire-and-forget, kafka, orders, batch,
## each 15 s warm-up + 4 rounds of 5 s at 100 VUs; accepted posts and orders checked on the topics; then the API
## pinned to 1 and nproc-1 cores (BENCH_SCALING=0 skips) and kafka with 200, 400 connections (BENCH_CONNS= skips),
## summed up in the report (docs/benchmark.md)
bench-ingest: build
	deploy/bench.sh ingest

## bench-scale: scale-out on the local 3-node Kafka cluster and FerretDB on PostgreSQL: 2 api
## processes, 1 -> 2 -> 3 -> 2 sinks under steady load; stored posts/s per phase, the partition
## stall after each join/leave, CPU seconds per process (SCALE_PHASE, SCALE_RATE, SCALE_OUT);
## see docs/scale-out.md
bench-scale: build
	deploy/scale-out.sh

## test-schema: schemathesis (from PyPI, into .tools/) against 'postpipe run' on 127.0.0.1:18680,
## checking every answer against api/openapi.yaml (SCHEMA_EXAMPLES, SCHEMA_SEED, SCHEMA_ADDR)
test-schema: build
	deploy/test-schema.sh

## test-deploy: compose.yaml, the Helm chart and deploy/monitoring, offline (no Docker, no cluster):
## deploy/composecheck (a module of its own) loads compose.yaml with compose-go and checks pinned images,
## health checks, depends_on, loopback ports and POSTPIPE_* names; helm lint and helm template
## with the default and the production-like values, deploy/helm/chartcheck (a module of its own): the
## strict decode of every rendered object, the schema's settings and README.md as generated, and the
## rendered pods run: bin/postpipe started with each container's env in a network namespace, its probes,
## monitors and helm test exercised from the host (needs root; CHART_RUN=0 skips that part); promtool
## check rules and test rules. helm and promtool are built into .tools/ from the module proxy
HELM             := $(TOOLS)/helm
HELM_VERSION     := v3.22.0
PROMTOOL         := $(TOOLS)/promtool
PROMTOOL_VERSION := v0.316.0
CHART            := deploy/helm/postpipe
# helm built with go install assumes Kubernetes 1.20; the chart needs 1.30+.
KUBE_VERSION     ?= 1.31.0
# 1: chartcheck's TestChartPodsServe starts the rendered pods (root, ip netns).
CHART_RUN        ?= 1
test-deploy: $(HELM) $(PROMTOOL) build
	cd deploy/composecheck && $(GO) vet ./... && $(GO) test $(TESTFLAGS) ./...
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) -f deploy/helm/values-production.yaml
	$(HELM) template postpipe $(CHART) --kube-version $(KUBE_VERSION) >/dev/null
	$(HELM) template postpipe $(CHART) --kube-version $(KUBE_VERSION) -f deploy/helm/values-production.yaml >/dev/null
	cd deploy/helm/chartcheck && $(GO) vet ./... && HELM=$(HELM) KUBE_VERSION=$(KUBE_VERSION) \
	  POSTPIPE_BIN=$(CURDIR)/$(BIN) POSTPIPE_TEST_CHART_RUN=$(CHART_RUN) $(GO) test $(TESTFLAGS) ./...
	$(PROMTOOL) check rules deploy/monitoring/alerts.yaml
	$(PROMTOOL) test rules deploy/monitoring/alerts_test.yaml

$(HELM):
	GOBIN=$(TOOLS) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(PROMTOOL):
	GOBIN=$(TOOLS) $(GO) install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

## vulncheck: govulncheck on the module. The database is vuln.go.dev when reachable; otherwise
## an offline copy built from the golang.org/x/vulndb module (VULNDB_VERSION) from the module proxy
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION ?= v0.0.0-20261105234957-e22db6528018
vulncheck:
	GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)
	@if curl -sf --max-time 10 -o /dev/null https://vuln.go.dev/index/db.json; then \
	  echo "== vulncheck: database https://vuln.go.dev"; \
	  $(TOOLS)/govulncheck ./...; \
	else \
	  echo "== vulncheck: vuln.go.dev is unreachable; using the offline snapshot golang.org/x/vulndb@$(VULNDB_VERSION)"; \
	  echo "   (it knows only the vulnerabilities published before that date: set VULNDB_VERSION to a newer one)"; \
	  dir=$$(cd / && GO111MODULE=on $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	  test -d "$$dir/data/osv" || { echo "vulncheck: no data/osv in golang.org/x/vulndb@$(VULNDB_VERSION)"; exit 1; }; \
	  rm -rf $(TOOLS)/vulndb && \
	  $(GO) run golang.org/x/vulndb/cmd/indexdb@$(VULNDB_VERSION) -vulns "$$dir/data/osv" -out $(TOOLS)/vulndb && \
	  $(TOOLS)/govulncheck -db file://$(TOOLS)/vulndb ./...; \
	fi

## fuzz: run every fuzz target for FUZZTIME each (seed corpora in testdata/fuzz/)
FUZZTIME ?= 10s
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) bash deploy/fuzz.sh

## benchmarks: Go benchmarks of the hot paths
benchmarks:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## lint: go vet, gofmt and staticcheck
lint: vet $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...

vet:
	$(GO) vet ./...
	$(GO) vet -tags nodev ./cmd/postpipe/

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## fmt: format the code
fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(TOOLS)
