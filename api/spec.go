// Package api holds the OpenAPI 3.1 description of postpipe's HTTP interface
// (openapi.yaml), embedded so the server can serve the very file the
// schema tests check it against.
package api

import _ "embed"

// OpenAPI is openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
