package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"text/template"

	"gopkg.in/yaml.v3"

	apispec "github.com/postpipe/postpipe/api"
	"github.com/postpipe/postpipe/internal/stream"
)

// The OpenAPI description is api/openapi.yaml (posts and every other route)
// plus, for each declared stream, its five routes with the stream's own
// JSON Schema as the request body: an OpenAPI 3.1 Schema Object is a JSON
// Schema 2020-12, so the stream's schema goes in as it is, its local $refs
// pointed at where it now sits.

// specOf builds the description once, when first asked: streams are added
// before serving.
type specOf struct {
	once sync.Once
	data []byte
	err  error
}

func (a *API) serveSpec(w http.ResponseWriter, r *http.Request) {
	a.spec.once.Do(func() { a.spec.data, a.spec.err = buildSpec(a.streams, a.streamNames, a.postsStream) })
	if a.spec.err != nil {
		a.fail(w, r, a.spec.err)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(a.spec.data)
}

// buildSpec is api/openapi.yaml with the declared streams' routes added,
// and posts' documents described by posts' schema when a streams file gave
// it another (posts, non-nil).
func buildSpec(streams map[string]*served, names []string, posts *served) ([]byte, error) {
	if len(names) == 0 && posts == nil {
		return apispec.OpenAPI, nil
	}
	var root yaml.Node
	if err := yaml.Unmarshal(apispec.OpenAPI, &root); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	top := root.Content[0]
	paths, schemas := mapping(top, "paths"), mapping(mapping(top, "components"), "schemas")
	if paths == nil || schemas == nil {
		return nil, fmt.Errorf("openapi.yaml: no paths or components.schemas")
	}
	for _, name := range names {
		st := streams[name].Stream.Stream
		comp := componentName(st.Name)
		var buf bytes.Buffer
		if err := streamPaths.Execute(&buf, specStream{Stream: st, Comp: comp}); err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
		var add yaml.Node
		if err := yaml.Unmarshal(buf.Bytes(), &add); err != nil {
			return nil, fmt.Errorf("stream %s: paths: %w", st.Name, err)
		}
		paths.Content = append(paths.Content, mapping(add.Content[0], "paths").Content...)
		schemas.Content = append(schemas.Content, mapping(add.Content[0], "schemas").Content...)

		input, err := schemaNode(st, "#/components/schemas/"+comp+"Input")
		if err != nil {
			return nil, fmt.Errorf("stream %s: schema: %w", st.Name, err)
		}
		schemas.Content = append(schemas.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: comp + "Input"}, input)
	}
	if posts != nil {
		if err := describePosts(paths, mapping(top, "components"), posts.Stream.Stream); err != nil {
			return nil, fmt.Errorf("stream posts: %w", err)
		}
	}
	return yaml.Marshal(&root)
}

// describePosts makes the posts' routes of the description take and give
// documents of posts' own schema: PostInput is that schema, Post and PostID
// lose what the built-in post had (its fields, a UUID id), and the listing
// takes the stream's list fields instead of author.
func describePosts(paths, components *yaml.Node, st *stream.Stream) error {
	schemas := mapping(components, "schemas")
	input, err := schemaNode(st, "#/components/schemas/PostInput")
	if err != nil {
		return err
	}
	var stored, id yaml.Node
	if err := yaml.Unmarshal([]byte(`{type: object, required: [id, createdAt], description: "The document as accepted, with id, createdAt and ingestedAt.", properties: {id: {type: string}, createdAt: {type: string, format: date-time}, ingestedAt: {type: string, format: date-time}}}`), &stored); err != nil {
		return err
	}
	if err := yaml.Unmarshal([]byte(`{type: string}`), &id); err != nil {
		return err
	}
	for name, n := range map[string]*yaml.Node{"PostInput": input, "Post": stored.Content[0], "PostID": id.Content[0]} {
		if !setMapping(schemas, name, n) {
			return fmt.Errorf("openapi.yaml has no schema %s", name)
		}
	}
	var params yaml.Node
	list := `[{name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 100, default: 20}}, {name: cursor, in: query, schema: {type: string}}`
	for _, f := range st.List {
		list += `, {name: ` + f + `, in: query, description: "Only documents whose ` + f + ` equals this (one filter at a time).", schema: {type: string}}`
	}
	if err := yaml.Unmarshal([]byte(list+`]`), &params); err != nil {
		return err
	}
	if get := mapping(mapping(paths, "/v1/posts"), "get"); get == nil || !setMapping(get, "parameters", params.Content[0]) {
		return fmt.Errorf("openapi.yaml has no GET /v1/posts parameters")
	}
	// Location names a UUID path in the file; an id from the document is
	// any string.
	var loc yaml.Node
	if err := yaml.Unmarshal([]byte(`{description: Where the post can be read once stored., required: true, schema: {type: string}}`), &loc); err != nil {
		return err
	}
	if !setMapping(mapping(components, "headers"), "Location", loc.Content[0]) {
		return fmt.Errorf("openapi.yaml has no Location header")
	}
	return nil
}

// setMapping replaces the value of key in the mapping node n; false when
// n has no such key.
func setMapping(n *yaml.Node, key string, v *yaml.Node) bool {
	if n == nil || n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return true
		}
	}
	return false
}

// mapping returns the value of key in the mapping node n, nil when absent.
func mapping(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// componentName is the stream's name as a component prefix: "order-lines"
// is "StreamOrderLines", which cannot meet the file's own components.
func componentName(name string) string {
	var b strings.Builder
	b.WriteString("Stream")
	for part := range strings.SplitSeq(name, "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// schemaNode is the stream's schema as a node, its local references
// ("#/$defs/item") rewritten to where it sits (at) and $id dropped: the
// description is one document, and an $id would make its references
// resolve against a URL no client can fetch.
func schemaNode(st *stream.Stream, at string) (*yaml.Node, error) {
	n, err := yamlNode(st.SchemaDocument())
	if err != nil {
		return nil, err
	}
	rewriteRefs(n, at, true)
	return n, nil
}

// yamlNode is v, a decoded JSON value, as a YAML node. yaml.v3 would write
// a json.Number as a quoted string ("2048"), which no longer reads as the
// schema's number: numbers are written as they were, untouched; members in
// name order, as the encoder writes maps.
func yamlNode(v any) (*yaml.Node, error) {
	switch v := v.(type) {
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(string(v), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(v)}, nil
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, k := range slices.Sorted(maps.Keys(v)) {
			c, err := yamlNode(v[k])
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, c)
		}
		return n, nil
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for _, e := range v {
			c, err := yamlNode(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	default:
		var n yaml.Node
		if err := n.Encode(v); err != nil {
			return nil, err
		}
		return &n, nil
	}
}

func rewriteRefs(n *yaml.Node, at string, top bool) {
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if top && (k.Value == "$id" || k.Value == "$schema") {
				continue
			}
			if k.Value == "$ref" && v.Kind == yaml.ScalarNode && strings.HasPrefix(v.Value, "#") {
				v.Value = at + strings.TrimPrefix(v.Value, "#")
			}
			kept = append(kept, k, v)
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		rewriteRefs(c, at, false)
	}
}

type specStream struct {
	*stream.Stream
	Comp string
}

// IDDoc says where a stream's ids come from.
func (s specStream) IDDoc() string {
	if s.ID != "" {
		return "The document's own " + s.ID + " (a repeat with the same document is a retry; with another, 409)."
	}
	return "A UUIDv7 (time-sortable), or with an Idempotency-Key the key's UUIDv8."
}

var streamPaths = template.Must(template.New("paths").Parse(`
paths:
  /v1/{{.Name}}:
    post:
      operationId: create{{.Comp}}
      summary: Accept a {{.Name}} document once the broker acknowledged it.
      tags: [{{.Name}}]
      parameters:
        - $ref: "#/components/parameters/IdempotencyKey"
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/{{.Comp}}Input" }
      responses:
        "202":
          description: The broker acknowledged the document; the sink stores it shortly.
          headers:
            Location:
              description: Where the document can be read once stored.
              required: true
              schema: { type: string }
          content:
            application/json:
              schema: { $ref: "#/components/schemas/{{.Comp}}Accepted" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "401": { $ref: "#/components/responses/Unauthorized" }
        "408": { $ref: "#/components/responses/RequestTimeout" }
        "409": { $ref: "#/components/responses/KeyConflict" }
        "413": { $ref: "#/components/responses/TooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "422": { $ref: "#/components/responses/Unprocessable" }
        "429": { $ref: "#/components/responses/TooManyRequests" }
        "503": { $ref: "#/components/responses/Unavailable" }
    get:
      operationId: list{{.Comp}}
      summary: Stored {{.Name}} documents, newest first, a page at a time (pages as for posts).
      tags: [{{.Name}}]
      parameters:
{{- range .List}}
        - name: {{.}}
          in: query
          description: Only documents whose {{.}} equals this (one filter at a time).
          schema: { type: string }
{{- end}}
        - name: limit
          in: query
          schema: { type: integer, minimum: 1, maximum: 100, default: 20 }
        - name: cursor
          in: query
          description: The nextCursor of the previous page; opaque.
          schema: { type: string }
      responses:
        "200":
          description: One page.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/{{.Comp}}Page" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "401": { $ref: "#/components/responses/Unauthorized" }
        "429": { $ref: "#/components/responses/TooManyRequests" }
        "503": { $ref: "#/components/responses/Unavailable" }
  /v1/{{.Name}}:batch:
    post:
      operationId: create{{.Comp}}Batch
      summary: Accept up to 500 {{.Name}} documents produced together, with one result per item.
      tags: [{{.Name}}]
      parameters:
        - $ref: "#/components/parameters/IdempotencyKey"
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: array
              minItems: 1
              maxItems: 500
              items: { $ref: "#/components/schemas/{{.Comp}}Input" }
      responses:
        "207":
          description: One result per item, in order (bounded as for posts).
          content:
            application/json:
              schema:
                type: array
                items: { $ref: "#/components/schemas/{{.Comp}}BatchItem" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "401": { $ref: "#/components/responses/Unauthorized" }
        "408": { $ref: "#/components/responses/RequestTimeout" }
        "413": { $ref: "#/components/responses/TooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "422": { $ref: "#/components/responses/Unprocessable" }
        "429": { $ref: "#/components/responses/TooManyRequests" }
  /v1/{{.Name}}:direct:
    post:
      operationId: create{{.Comp}}Direct
      summary: Write a {{.Name}} document straight to the store, without Kafka (the baseline path).
      tags: [{{.Name}}]
      parameters:
        - $ref: "#/components/parameters/IdempotencyKey"
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/{{.Comp}}Input" }
      responses:
        "201":
          description: The stored document.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/{{.Comp}}Stored" }
        "400": { $ref: "#/components/responses/BadRequest" }
        "401": { $ref: "#/components/responses/Unauthorized" }
        "408": { $ref: "#/components/responses/RequestTimeout" }
        "409": { $ref: "#/components/responses/KeyConflict" }
        "413": { $ref: "#/components/responses/TooLarge" }
        "415": { $ref: "#/components/responses/UnsupportedMediaType" }
        "422": { $ref: "#/components/responses/Unprocessable" }
        "429": { $ref: "#/components/responses/TooManyRequests" }
        "503": { $ref: "#/components/responses/Unavailable" }
  /v1/{{.Name}}/{id}:
    get:
      operationId: get{{.Comp}}
      summary: One stored {{.Name}} document.
      tags: [{{.Name}}]
      parameters:
        - name: id
          in: path
          required: true
          description: {{.IDDoc}}
          schema: { type: string }
      responses:
        "200":
          description: The stored document.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/{{.Comp}}Stored" }
        "401": { $ref: "#/components/responses/Unauthorized" }
        "404": { $ref: "#/components/responses/NotFound" }
        "429": { $ref: "#/components/responses/TooManyRequests" }
        "503": { $ref: "#/components/responses/Unavailable" }
schemas:
  {{.Comp}}Accepted:
    type: object
    required: [id, status]
    properties:
      id: { type: string, description: "{{.IDDoc}}" }
      status: { const: accepted }
  {{.Comp}}Stored:
    type: object
    description: The document as accepted, with id, createdAt (when the API accepted it) and ingestedAt (when it reached the store).
    required: [id, createdAt]
    properties:
      id: { type: string }
      createdAt: { type: string, format: date-time }
      ingestedAt: { type: string, format: date-time }
  {{.Comp}}Page:
    type: object
    required: [{{.Name}}]
    properties:
      {{.Name}}:
        type: array
        items: { $ref: "#/components/schemas/{{.Comp}}Stored" }
      nextCursor: { type: string }
  {{.Comp}}BatchItem:
    type: object
    required: [status]
    properties:
      id: { type: string }
      status: { type: integer, enum: [202, 400, 409, 413, 422, 503] }
      detail: { type: string, maxLength: 1024 }
      errors:
        type: array
        maxItems: 20
        items: { $ref: "#/components/schemas/FieldError" }
      moreErrors: { $ref: "#/components/schemas/MoreErrors" }
`))
