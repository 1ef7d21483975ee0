# postpipe — the two commands a newcomer needs are `make run` and `make test`.

GO            ?= go
BIN           := bin/postpipe
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X main.versionOverride=$(VERSION)
TOOLS         := $(CURDIR)/.tools
STATICCHECK   := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
# Go test flags: always with the race detector.
TESTFLAGS     ?= -race -count=1 -timeout 20m

.PHONY: all build run test test-kafka test-chaos bench bench-quick benchmarks lint vet fmt clean

include deploy/kafka/kafka.mk
include deploy/store/store.mk

.DEFAULT_GOAL := all
all: lint test build

## build: compile bin/postpipe
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/postpipe

## run: serve on :8080 with the embedded broker and store (data in ./data)
run: build
	./$(BIN) run

## test: every test, the whole pipeline in-process, with the race detector
test:
	$(GO) test $(TESTFLAGS) ./...

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
## (BENCH_OUT=DIR chooses where the results go)
bench: build
	deploy/bench.sh seed

## bench-quick: the same in under two minutes
bench-quick: build
	deploy/bench.sh quick

## benchmarks: Go benchmarks of the hot paths
benchmarks:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## lint: go vet, gofmt and staticcheck
lint: vet $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(STATICCHECK) ./...

vet:
	$(GO) vet ./...

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## fmt: format the code
fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(TOOLS)
