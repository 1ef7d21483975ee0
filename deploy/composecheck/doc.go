// Package composecheck holds the offline tests of ../../compose.yaml. It
// loads the file with compose-go, the loader and schema validator Docker
// Compose itself uses, with no Docker engine and no network: the project
// name and the variables the file interpolates are given, and nothing but
// compose.yaml is read (no .env, no env_file, no include). Then it checks
// what the file promises: every pulled image pinned to an exact version,
// a health check on every service another waits for, depends_on waiting
// for service_healthy, ports published on loopback only unless a service
// says x-postpipe-public: true, and each POSTPIPE_* variable a postpipe
// service gets is a setting of its command (docs/configuration.md, which
// internal/config generates). COMPOSECHECK_FILE=path checks another file
// instead. It is a module of its own so compose-go stays out of postpipe's
// module; `make test-deploy` runs it.
package composecheck
