// Package chartcheck holds the offline tests of the Helm chart in
// ../postpipe. It renders the chart with helm template and decodes every
// object strictly into the Kubernetes API types; it keeps the settings in
// values.schema.json and the chart's README.md as configuration.md and
// values.yaml generate them (-update rewrites both); and, with
// POSTPIPE_TEST_CHART_RUN=1, it starts postpipe with each rendered
// container's environment in a network namespace of its own and runs the
// probes, the monitors' scrapes and the helm test from the host, as a
// kubelet and Prometheus would. It is a module of its own so k8s.io/api
// stays out of postpipe's module; `make test-deploy` runs it.
package chartcheck
