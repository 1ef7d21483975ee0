package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The id and list checks read the compiled schema, so a property declared
// through $ref (to $defs or another file) or allOf counts as one declared
// in place.

// property finds name among s's properties, and whether s requires it.
func property(s *jsonschema.Schema, name string) (p *jsonschema.Schema, required bool) {
	for _, part := range parts(s) {
		if q, ok := part.Properties[name]; ok && p == nil {
			p = q
		}
		if slices.Contains(part.Required, name) {
			required = true
		}
	}
	return p, required
}

// parts are s and the schemas it applies to the same value in every case:
// its $ref and allOf, followed through.
func parts(s *jsonschema.Schema) []*jsonschema.Schema {
	var out []*jsonschema.Schema
	var walk func(*jsonschema.Schema)
	walk = func(s *jsonschema.Schema) {
		if s == nil || slices.Contains(out, s) {
			return
		}
		out = append(out, s)
		walk(s.Ref)
		for _, a := range s.AllOf {
			walk(a)
		}
	}
	walk(s)
	return out
}

// types are the JSON types s allows, by its type keywords; nil when none
// says (any type).
func types(s *jsonschema.Schema) []string {
	var out []string
	for _, part := range parts(s) {
		if part.Types == nil || part.Types.IsEmpty() {
			continue
		}
		ts := part.Types.ToStrings()
		if out == nil {
			out = ts
			continue
		}
		out = slices.DeleteFunc(out, func(t string) bool {
			return !slices.Contains(ts, t) && !(t == "number" && slices.Contains(ts, "integer"))
		})
	}
	return out
}

// checkID checks that ptr points, through required properties, at a
// property that must be a string: every document then has its id.
func checkID(s *jsonschema.Schema, ptr string) error {
	if !strings.HasPrefix(ptr, "/") || ptr == "/" {
		return errors.New("want a JSON Pointer to a field, such as /orderId")
	}
	r := strings.NewReplacer("~1", "/", "~0", "~")
	cur := s
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = r.Replace(tok)
		p, required := property(cur, tok)
		switch {
		case p == nil:
			return fmt.Errorf("%q is not a property of the schema", tok)
		case !required:
			return fmt.Errorf("%q is not required by the schema; every document needs its id", tok)
		}
		cur = p
	}
	if ts := types(cur); len(ts) != 1 || ts[0] != "string" {
		return fmt.Errorf("the schema must say type: string there, not %v", typeNames(ts))
	}
	return nil
}

// scalar are the types a listing can filter on by equality.
var scalar = []string{"string", "integer", "number", "boolean"}

// listType checks that name is a top-level property whose values are
// scalars of one type, and returns that type (one of scalar): a filter
// compares by equality, which an object or array would not mean, and the
// query parameter, which is text, must be turned into one type to compare.
// null aside, since no parameter asks for it; integer and number together
// are number (MongoDB compares numbers across their types).
func listType(s *jsonschema.Schema, name string) (string, error) {
	p, _ := property(s, name)
	if p == nil {
		return "", errors.New("not a top-level property of the schema")
	}
	if ts := types(p); len(ts) > 0 {
		for _, t := range ts {
			if t != "null" && !slices.Contains(scalar, t) {
				return "", fmt.Errorf("may be %s; a listing filters on string, integer, number or boolean fields", t)
			}
		}
		if t, err := oneType(slices.DeleteFunc(slices.Clone(ts), func(t string) bool { return t == "null" })); t != "" || err != nil {
			return t, err
		}
	}
	// No type: an enum or const of scalars says it as well.
	for _, part := range parts(p) {
		var values []any
		switch {
		case part.Enum != nil:
			values = part.Enum.Values
		case part.Const != nil:
			values = []any{*part.Const}
		default:
			continue
		}
		var ts []string
		for _, v := range values {
			var t string
			switch v := v.(type) {
			case nil:
				continue
			case map[string]any, []any:
				return "", fmt.Errorf("may be %v; a listing filters on string, integer, number or boolean fields", v)
			case string:
				t = "string"
			case bool:
				t = "boolean"
			case json.Number:
				t = "number"
				if !strings.ContainsAny(string(v), ".eE") {
					t = "integer"
				}
			default: // a Go number, from a schema built in code
				t = "number"
			}
			if !slices.Contains(ts, t) {
				ts = append(ts, t)
			}
		}
		if t, err := oneType(ts); t != "" || err != nil {
			return t, err
		}
	}
	return "", errors.New("the schema must give it a type (string, integer, number or boolean) or an enum of them")
}

// oneType reduces the scalar types a field may have to the one a filter
// compares it as; "" for none.
func oneType(ts []string) (string, error) {
	if slices.Contains(ts, "integer") && slices.Contains(ts, "number") {
		ts = slices.DeleteFunc(slices.Clone(ts), func(t string) bool { return t == "integer" })
	}
	switch len(ts) {
	case 0:
		return "", nil
	case 1:
		return ts[0], nil
	}
	return "", fmt.Errorf("may be %s; a listing filter needs the one type its values are compared as", typeNames(ts))
}

// checkReservedFields refuses a schema that declares (as a property, or by
// requiring it) a top-level field of ReservedFields: every document that
// carries it is refused, so the schema could only describe documents the
// API never accepts. id is the document's own when the stream's id is /id.
func checkReservedFields(s *jsonschema.Schema, id string) error {
	for _, name := range ReservedFields {
		if name == "id" && id == "/id" {
			continue
		}
		if p, required := property(s, name); p != nil || required {
			return fmt.Errorf("%q is a top-level property of the schema; postpipe reserves %s (an answer adds id, createdAt and ingestedAt; the store keeps _id and _fp; id may be the document's own only with id: /id)", name, strings.Join(ReservedFields, ", "))
		}
	}
	return nil
}

func typeNames(ts []string) string {
	if len(ts) == 0 {
		return "any type"
	}
	return strings.Join(ts, " or ")
}
