// Package chartcheck holds the offline test of the Helm chart in
// ../postpipe: it renders the chart with helm template and decodes every
// object strictly into the Kubernetes API types. It is a module of its own
// so k8s.io/api stays out of postpipe's module; `make test-deploy` runs it.
package chartcheck
