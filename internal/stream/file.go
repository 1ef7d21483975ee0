package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// keys are the keys a stream may have. Users' files depend on them: a key
// is added, never renamed.
var keys = []string{"name", "schema", "id", "list", "topic", "collection", "changes"}

// Load reads and checks the streams file at path; "" is no file, the
// built-in stream posts alone. Every problem is a *FileError.
func Load(path string) (*Set, error) {
	if path == "" {
		return builtinSet()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &FileError{File: path, Kind: ErrRead, Err: err}
	}
	return Parse(path, data)
}

// builtinSet is the set without a file.
func builtinSet() (*Set, error) {
	posts, err := builtinPosts()
	if err != nil {
		return nil, err
	}
	return &Set{Streams: []*Stream{posts}}, nil
}

func builtinPosts() (*Stream, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(postsSchema))
	if err != nil {
		return nil, &FileError{Stream: Builtin, Kind: ErrSchema, Err: err}
	}
	const url = "urn:postpipe:schema:posts"
	s, err := compileSchema(url, doc)
	if err != nil {
		return nil, &FileError{Stream: Builtin, Kind: ErrSchema, Err: err}
	}
	st := &Stream{Name: Builtin, Schema: "built-in", Topic: Builtin, Collection: Builtin, Validator: newCompiled(s), document: doc, url: url, Changes: true}
	if err := st.compilePatch(); err != nil {
		return nil, &FileError{Stream: Builtin, Kind: ErrSchema, Err: err}
	}
	return st, nil
}

// Parse checks data, the content of the streams file at path (relative
// schema paths are resolved against path's folder).
func Parse(path string, data []byte) (*Set, error) {
	fail := func(line int, stream string, kind error, format string, args ...any) error {
		return &FileError{File: path, Line: line, Stream: stream, Kind: kind, Err: fmt.Errorf(format, args...)}
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fail(0, "", ErrSyntax, "the file is empty; want a mapping with the key streams")
		}
		return nil, fail(0, "", ErrSyntax, "%w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fail(extra.Line, "", ErrSyntax, "a second YAML document; want one")
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, fail(doc.Line, "", ErrSyntax, "want a mapping with the key streams")
	}
	var list *yaml.Node
	for i := 0; i < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if k.Value != "streams" {
			return nil, fail(k.Line, "", ErrUnknownKey, "%q at the top (want streams)", k.Value)
		}
		if list != nil {
			return nil, fail(k.Line, "", ErrSyntax, "key streams given twice")
		}
		list = v
	}
	if list == nil || list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		line := doc.Line
		if list != nil {
			line = list.Line
		}
		return nil, fail(line, "", ErrSyntax, "streams must be a non-empty list")
	}

	dir := filepath.Dir(path)
	set := &Set{File: path}
	posts, err := builtinPosts()
	if err != nil {
		return nil, err
	}
	set.Streams = append(set.Streams, posts)
	for _, n := range list.Content {
		st, err := parseStream(path, dir, n, fail)
		if err != nil {
			return nil, err
		}
		if st.Name == Builtin && set.Streams[0] == posts {
			set.Streams[0] = st // the file replaces the built-in posts
			continue
		}
		if prev := set.Lookup(st.Name); prev != nil {
			return nil, fail(st.line, st.Name, ErrDuplicateName, "declared again (first at line %d)", prev.line)
		}
		set.Streams = append(set.Streams, st)
	}
	return set, checkShared(set, fail)
}

// failFunc makes a *FileError of the file being parsed.
type failFunc func(line int, stream string, kind error, format string, args ...any) error

func parseStream(path, dir string, n *yaml.Node, fail failFunc) (*Stream, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fail(n.Line, "", ErrSyntax, "a stream must be a mapping of %s", strings.Join(keys, ", "))
	}
	st := &Stream{line: n.Line}
	fields := map[string]*yaml.Node{}
	// The name first, so that every later error names the stream.
	for i := 0; i < len(n.Content); i += 2 {
		if n.Content[i].Value == "name" {
			if err := n.Content[i+1].Decode(&st.Name); err != nil {
				return nil, fail(n.Content[i+1].Line, "", ErrName, "%w", err)
			}
		}
	}
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(keys, k.Value) {
			return nil, fail(k.Line, st.Name, ErrUnknownKey, "%q (want one of %s)", k.Value, strings.Join(keys, ", "))
		}
		if fields[k.Value] != nil {
			return nil, fail(k.Line, st.Name, ErrSyntax, "key %q given twice", k.Value)
		}
		fields[k.Value] = v
	}
	switch {
	case fields["name"] == nil:
		return nil, fail(n.Line, "", ErrName, "no name")
	case !namePattern.MatchString(st.Name):
		return nil, fail(fields["name"].Line, st.Name, ErrName, "want ^[a-z][a-z0-9-]{0,62}$ (lowercase letters, digits and '-', starting with a letter)")
	}
	if why, ok := reserved[st.Name]; ok {
		return nil, fail(fields["name"].Line, st.Name, ErrReservedName, "reserved for %s", why)
	}
	str := func(key string, dst *string) error {
		v := fields[key]
		if v == nil {
			return nil
		}
		if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			return fail(v.Line, st.Name, ErrSyntax, "%s must be a string", key)
		}
		*dst = v.Value
		return nil
	}
	for key, dst := range map[string]*string{"id": &st.ID, "topic": &st.Topic, "collection": &st.Collection} {
		if err := str(key, dst); err != nil {
			return nil, err
		}
	}
	// posts takes changes unless told otherwise, declared or not: the
	// built-in stream has them on.
	st.Changes = st.Name == Builtin
	if v := fields["changes"]; v != nil {
		if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
			return nil, fail(v.Line, st.Name, ErrSyntax, "changes must be true or false")
		}
		st.Changes = v.Value == "true"
	}
	if v := fields["list"]; v != nil {
		if err := v.Decode(&st.List); err != nil {
			return nil, fail(v.Line, st.Name, ErrList, "want a list of field names: %w", err)
		}
	}
	if st.Topic == "" {
		st.Topic = st.Name
	}
	if st.Collection == "" {
		st.Collection = st.Name
	}
	if err := checkTopic(st.Topic); err != nil {
		return nil, fail(lineOf(fields["topic"], n), st.Name, ErrTopic, "%q: %w", st.Topic, err)
	}
	if err := checkCollection(st.Collection); err != nil {
		return nil, fail(lineOf(fields["collection"], n), st.Name, ErrCollection, "%q: %w", st.Collection, err)
	}

	sn := fields["schema"]
	if sn == nil {
		return nil, fail(n.Line, st.Name, ErrSchema, "no schema (a file path or an inline mapping)")
	}
	schema, err := loadSchema(path, dir, st, sn)
	if err != nil {
		return nil, fail(sn.Line, st.Name, ErrSchema, "%w", err)
	}
	st.Validator = newCompiled(schema)
	if st.ID != "" {
		if err := checkID(schema, st.ID); err != nil {
			return nil, fail(fields["id"].Line, st.Name, ErrID, "%q: %w", st.ID, err)
		}
	}
	for _, f := range st.List {
		if _, dup := st.listTypes[f]; dup {
			return nil, fail(fields["list"].Line, st.Name, ErrList, "%q listed twice", f)
		}
		t, err := listType(schema, f)
		if err != nil {
			return nil, fail(fields["list"].Line, st.Name, ErrList, "%q: %w", f, err)
		}
		if st.listTypes == nil {
			st.listTypes = map[string]string{}
		}
		st.listTypes[f] = t
	}
	if err := checkReservedFields(schema, st.ID); err != nil {
		return nil, fail(sn.Line, st.Name, ErrReservedField, "%w", err)
	}
	if st.Changes {
		if err := st.compilePatch(); err != nil {
			return nil, fail(sn.Line, st.Name, ErrSchema, "the schema of a patch: %w", err)
		}
	}
	return st, nil
}

func lineOf(v, parent *yaml.Node) int {
	if v != nil {
		return v.Line
	}
	return parent.Line
}

// loadSchema compiles the schema of st: a file path relative to the streams
// file's folder, or an inline mapping.
func loadSchema(path, dir string, st *Stream, n *yaml.Node) (*jsonschema.Schema, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		file := n.Value
		if !filepath.IsAbs(file) {
			file = filepath.Join(dir, file)
		}
		st.Schema = file
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		st.document, st.url = doc, fileURL(file)
		return compileSchema(st.url, doc)
	case yaml.MappingNode:
		st.Schema = "inline"
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		// Through JSON, so the schema's numbers are json.Number as a
		// file's are, and a YAML-only value (a timestamp, a non-string
		// key) is refused here.
		data, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("an inline schema must be JSON in YAML form: %w", err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		// A made-up file beside the streams file: a relative $ref in the
		// inline schema resolves against the streams file's folder.
		st.document, st.url = doc, fileURL(filepath.Join(dir, filepath.Base(path)+"."+st.Name+".schema.json"))
		return compileSchema(st.url, doc)
	default:
		return nil, errors.New("want a file path or an inline mapping")
	}
}

func fileURL(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// topicPattern is what Kafka accepts in a topic name; 249 less ".dlq" leaves
// room for the stream's dead-letter topic.
var topicPattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,245}$`)

func checkTopic(t string) error {
	switch {
	case !topicPattern.MatchString(t) || t == "." || t == "..":
		return errors.New("want 1 to 245 of a-z A-Z 0-9 . _ - (Kafka's rule, less room for .dlq)")
	case strings.HasPrefix(t, "__"):
		return errors.New("topics starting with __ are Kafka's own")
	}
	return nil
}

func checkCollection(c string) error {
	switch {
	case c == "" || len(c) > 120:
		return errors.New("want 1 to 120 bytes")
	case strings.ContainsAny(c, "$\x00"):
		return errors.New("must not contain $ or NUL (MongoDB's rule)")
	case strings.HasPrefix(c, "system."):
		return errors.New("system.* collections are MongoDB's own")
	}
	return nil
}

// checkShared refuses two streams on one topic (a stream's dead-letter
// topic included) or one collection: the sink would land one stream's
// records among the other's, validated against the wrong schema.
func checkShared(set *Set, fail failFunc) error {
	topics := map[string]*Stream{}
	collections := map[string]*Stream{}
	for _, st := range set.Streams {
		for _, t := range []string{st.Topic, st.DLQTopic()} {
			if prev := topics[t]; prev != nil {
				return fail(st.line, st.Name, ErrSharedTopic, "topic %q is also stream %q's (its topic %q or dead-letter topic %q)", t, prev.Name, prev.Topic, prev.DLQTopic())
			}
		}
		topics[st.Topic], topics[st.DLQTopic()] = st, st
		if prev := collections[st.Collection]; prev != nil {
			return fail(st.line, st.Name, ErrSharedCollection, "collection %q is also stream %q's", st.Collection, prev.Name)
		}
		collections[st.Collection] = st
	}
	return nil
}
