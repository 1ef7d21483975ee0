package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

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
	a.spec.once.Do(func() { a.spec.data, a.spec.err = buildSpec(a.streams, a.streamNames, a.postsStream, a.postsChanges) })
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
// it another (posts, non-nil), or posts' changes on its typed path
// (postsChanges, non-nil).
func buildSpec(streams map[string]*served, names []string, posts, postsChanges *served) ([]byte, error) {
	if len(names) == 0 && posts == nil && postsChanges == nil {
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
		ref := "#/components/schemas/" + comp
		if err := describeChanges(paths, schemas, streams[name], changeSpec{Comp: comp,
			Input: ref + "Input", Patch: comp + "Patch", Stored: ref + "Stored", Accepted: ref + "Accepted"}); err != nil {
			return nil, fmt.Errorf("stream %s: %w", st.Name, err)
		}
	}
	if posts != nil || postsChanges != nil {
		if posts != nil {
			if err := describePosts(paths, mapping(top, "components"), posts.Stream.Stream); err != nil {
				return nil, fmt.Errorf("stream posts: %w", err)
			}
		} else {
			posts = postsChanges
		}
		const ref = "#/components/schemas/"
		if err := describeChanges(paths, schemas, posts, changeSpec{Comp: "Post",
			Input: ref + "PostInput", Patch: "PostPatch", Stored: ref + "Post", Accepted: ref + "Accepted"}); err != nil {
			return nil, fmt.Errorf("stream posts: %w", err)
		}
	}
	return yaml.Marshal(&root)
}

// changeSpec names what a stream's routes take and give in the
// description: the components of its input, stored document and 202, and
// the name its patch schema gets.
type changeSpec struct {
	*stream.Stream
	Comp                          string // operationId suffix
	Input, Stored, Accepted       string // $refs
	Patch                         string // a schema component added here
	Wait                          bool   // Prefer: wait may be honoured
	IDDoc, PatchType, MaxWaitSecs string
}

// describeChanges adds to a stream's routes in the description what
// changes.go serves: ETag and If-None-Match on GET /v1/<name>/{id};
// Prefer: wait and its 201 on the create, where the stream honours it;
// and, for a stream with changes, PUT, PATCH and DELETE of a document,
// the patch's schema being the stream's without "required".
func describeChanges(paths, schemas *yaml.Node, sv *served, cs changeSpec) error {
	st := sv.Stream.Stream
	cs.Stream, cs.IDDoc, cs.PatchType = st, specStream{Stream: st}.IDDoc(), mergePatchType
	cs.Wait = sv.Applied != nil && sv.Changes != nil
	cs.MaxWaitSecs = strconv.Itoa(int(MaxPreferWait / time.Second))
	base := "/v1/" + st.Name
	item := mapping(paths, base+"/{id}")
	get := mapping(item, "get")
	if get == nil {
		return fmt.Errorf("no GET %s/{id} to describe", base)
	}
	if err := addSnippet(get, "parameters", `[{name: If-None-Match, in: header, description: "Entity tags (or *) of a copy the client holds: when one is the document's, the answer is 304 without a body.", schema: {type: string}}]`); err != nil {
		return err
	}
	responses := mapping(get, "responses")
	if err := addSnippet(mapping(responses, "200"), "headers", `{ETag: {description: `+strconv.Quote(etagDoc(st))+`, required: true, schema: {type: string}}}`); err != nil {
		return err
	}
	if err := addSnippet(get, "responses", `{"304": {description: "If-None-Match named the document's entity tag: it has not changed.", headers: {ETag: {required: true, schema: {type: string}}}}}`); err != nil {
		return err
	}
	if cs.Wait {
		create := mapping(mapping(paths, base), "post")
		if create == nil {
			return fmt.Errorf("no POST %s to describe", base)
		}
		var buf bytes.Buffer
		if err := createWait.Execute(&buf, cs); err != nil {
			return err
		}
		if err := addSnippet(create, "parameters", `[`+preferParam(cs)+`]`); err != nil {
			return err
		}
		if err := addSnippet(create, "responses", buf.String()); err != nil {
			return err
		}
		if mapping(mapping(create, "responses"), "404") == nil {
			if err := addSnippet(create, "responses", `{"404": {$ref: "#/components/responses/NotFound"}}`); err != nil {
				return err
			}
		}
	}
	if !st.Changes {
		return nil
	}
	var buf bytes.Buffer
	if err := changeOps.Execute(&buf, struct {
		changeSpec
		Prefer string
	}{cs, preferParam(cs)}); err != nil {
		return err
	}
	var ops yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &ops); err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	item.Content = append(item.Content, ops.Content[0].Content...)
	patch, err := schemaNode(st, "#/components/schemas/"+cs.Patch)
	if err != nil {
		return fmt.Errorf("patch schema: %w", err)
	}
	dropRequired(patch)
	if patch.Kind == yaml.MappingNode && mapping(patch, "description") == nil {
		patch.Content = append(patch.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "description"},
			&yaml.Node{Kind: yaml.ScalarNode, Value: "What a JSON Merge Patch of a " + st.Name + " document may set: the stream's schema without \"required\". A member set to null is removed (never one the schema requires, nor the id); the merged document must pass the whole schema where the sink applies it."})
	}
	schemas.Content = append(schemas.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: cs.Patch}, patch)
	return nil
}

// etagDoc says what a stream's entity tags are.
func etagDoc(st *stream.Stream) string {
	if st.Changes {
		return "The version of the op that last wrote the document (v<partition>.<offset>): it changes with every op applied."
	}
	return "The document's (its documents never change)."
}

// preferParam is the Prefer header as a parameter, in flow style: empty
// when the stream does not honour it.
func preferParam(cs changeSpec) string {
	if !cs.Wait {
		return ""
	}
	return `{name: Prefer, in: header, description: "wait=N (RFC 7240; N whole seconds, at most ` + cs.MaxWaitSecs +
		`) waits up to N seconds for the sink to apply the op, then answers what the store holds, with Preference-Applied: wait; a sink that takes longer gets the usual 202. Any other or malformed preference is ignored.", schema: {type: string}}`
}

// addSnippet adds what the YAML snippet holds (flow style; a sequence or a
// mapping) to the sequence or mapping under key in n, making it if absent.
func addSnippet(n *yaml.Node, key, snippet string) error {
	if n == nil || n.Kind != yaml.MappingNode {
		return fmt.Errorf("no mapping to add %s to", key)
	}
	var add yaml.Node
	if err := yaml.Unmarshal([]byte(snippet), &add); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if len(add.Content) == 0 {
		return nil
	}
	v := add.Content[0]
	if to := mapping(n, key); to != nil {
		if to.Kind != v.Kind {
			return fmt.Errorf("%s is not a %v", key, v.Kind)
		}
		to.Content = append(to.Content, v.Content...)
		return nil
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return nil
}

// dropRequired takes the list-valued "required" keywords out of a schema
// node, at any depth (a property named required, a schema, stays): what a
// merge patch may set (stream.Stream.PatchValidator's schema).
func dropRequired(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "required" && n.Content[i+1].Kind == yaml.SequenceNode {
				continue
			}
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		dropRequired(c)
	}
}

// createWait is what a create answers when the client waited for the sink.
var createWait = template.Must(template.New("createWait").Parse(`
"201":
  description: "With Prefer: wait, the sink stored the document in time: the stored document."
  headers:
    Location: { description: Where the document is., required: true, schema: { type: string } }
    ETag: { required: true, schema: { type: string } }
    Preference-Applied: { required: true, schema: { const: wait } }
  content:
    application/json:
      schema: { $ref: "{{.Stored}}" }
`))

// changeOps are the PUT, PATCH and DELETE of a document of a stream with
// changes.
var changeOps = template.Must(template.New("changeOps").Parse(`
{{- define "params"}}
  parameters:
    - name: id
      in: path
      required: true
      description: {{printf "%q" (print .IDDoc " A put of an id not stored creates the document.")}}
      schema: { type: string }
    - $ref: "#/components/parameters/IdempotencyKey"
{{- if .Wait}}
    - {{.Prefer}}
{{- end}}
{{- end}}
{{- define "bodyErrors"}}
    "400": { $ref: "#/components/responses/BadRequest" }
    "401": { $ref: "#/components/responses/Unauthorized" }
    "404": { $ref: "#/components/responses/NotFound" }
    "408": { $ref: "#/components/responses/RequestTimeout" }
    "409": { $ref: "#/components/responses/KeyConflict" }
    "413": { $ref: "#/components/responses/TooLarge" }
    "415": { $ref: "#/components/responses/UnsupportedMediaType" }
    "422": { $ref: "#/components/responses/Unprocessable" }
    "429": { $ref: "#/components/responses/TooManyRequests" }
    "503": { $ref: "#/components/responses/Unavailable" }
{{- end}}
{{- define "accepted"}}
    "202":
      description: The broker acknowledged the op; the sink applies it shortly, after the ops on the document the broker took before it.
      headers:
        Location: { description: Where the document can be read., required: true, schema: { type: string } }
      content:
        application/json:
          schema: { $ref: "{{.Accepted}}" }
{{- end}}
{{- define "stored"}}
{{- if .Wait}}
    "200":
      description: "With Prefer: wait, the sink applied the op in time: the document the store now holds."
      headers:
        ETag: { required: true, schema: { type: string } }
        Preference-Applied: { required: true, schema: { const: wait } }
      content:
        application/json:
          schema: { $ref: "{{.Stored}}" }
{{- end}}
{{- end}}
put:
  operationId: put{{.Comp}}
  summary: Replace a {{.Name}} document, or create it, once the broker acknowledged the put.
  description: |
    The body is the whole document, checked as a create's; a document that names its id must name
    the one in the path. With an Idempotency-Key a retry is the same op (the sink applies it once);
    the key with another body is a 409.
  tags: [{{.Name}}]
{{- template "params" .}}
  requestBody:
    required: true
    content:
      application/json:
        schema: { $ref: "{{.Input}}" }
  responses:
{{- template "accepted" .}}
{{- template "stored" .}}
{{- template "bodyErrors"}}
patch:
  operationId: patch{{.Comp}}
  summary: Change a {{.Name}} document by a JSON Merge Patch (RFC 7396), once the broker acknowledged the patch.
  description: |
    Only {{.PatchType}} is taken (415 otherwise). What the patch sets is checked by the stream's
    schema without "required"; null removes a member, never one the schema requires. The merged
    document is checked again where the sink applies the patch: a patch that fails there, or of a
    document that is not stored, goes to the dead-letter topic (with Prefer: wait, 422 or 404).
  tags: [{{.Name}}]
{{- template "params" .}}
  requestBody:
    required: true
    content:
      {{.PatchType}}:
        schema: { $ref: "#/components/schemas/{{.Patch}}" }
  responses:
{{- template "accepted" .}}
{{- template "stored" .}}
{{- template "bodyErrors"}}
delete:
  operationId: delete{{.Comp}}
  summary: Delete a {{.Name}} document once the broker acknowledged the delete.
  tags: [{{.Name}}]
{{- template "params" .}}
  responses:
{{- template "accepted" .}}
{{- if .Wait}}
    "204":
      description: "With Prefer: wait, the sink applied the delete in time."
      headers:
        Preference-Applied: { required: true, schema: { const: wait } }
{{- end}}
    "400": { $ref: "#/components/responses/BadRequest" }
    "401": { $ref: "#/components/responses/Unauthorized" }
    "404": { $ref: "#/components/responses/NotFound" }
    "409": { $ref: "#/components/responses/KeyConflict" }
    "429": { $ref: "#/components/responses/TooManyRequests" }
    "503": { $ref: "#/components/responses/Unavailable" }
`))

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
