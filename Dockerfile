# syntax=docker/dockerfile:1
# postpipe as a small static image: build with the Go toolchain go.mod names,
# run on distroless as a non-root user. The same image runs every subcommand
# (api, sink, dlq, probe, apikey, and run with POSTPIPE_KAFKA_BROKERS and
# POSTPIPE_MONGODB_URI set).

# The patch release go.mod's toolchain line names (its standard library
# carries the security fixes); cmd/postpipe/docker_test.go keeps them equal.
ARG GO_VERSION=1.26.10
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
# The image's Go runs with GOTOOLCHAIN=local: it would build with itself,
# older than go.mod's toolchain, without a word. Refuse instead.
RUN want="$(sed -n 's/^toolchain //p' go.mod)"; have="$(go env GOVERSION)"; \
    [ -z "$want" ] || [ "$want" = "$have" ] || { echo "go.mod wants $want, the image has $have: bump GO_VERSION" >&2; exit 1; }
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=docker
# The commit, for postpipe_build_info and 'postpipe version': .git is not in
# the build context, so say it:
#   docker build --build-arg REVISION=$(git rev-parse HEAD) .
# Left empty, the revision is "unknown".
ARG REVISION=
# Pure Go: no C library in the final image. -tags nodev leaves the
# development kit out (the embedded broker and store, kfake, FerretDB and its
# SQLite, and the load generator): 'stack' and 'bench' are not in this binary,
# and 'run' needs a broker and a store configured.
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -tags nodev -trimpath -ldflags "-s -w -X main.versionOverride=${VERSION} -X main.revisionOverride=${REVISION}" -o /out/postpipe ./cmd/postpipe

# static-debian12:nonroot: CA certificates, tzdata, /etc/passwd with the
# nonroot user (65532), no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/postpipe /postpipe
USER nonroot:nonroot
WORKDIR /home/nonroot
# Every interface: the container's port is how it is reached (the binary's
# own default, for 'make run', is 127.0.0.1:8080).
ENV POSTPIPE_HTTP_ADDR=:8080 \
    POSTPIPE_LOG_FORMAT=json
EXPOSE 8080
# No curl in the image: the binary probes itself. The sink has no API port;
# compose.yaml checks /readyz on its admin listener instead.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/postpipe", "probe", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/postpipe"]
CMD ["api"]
