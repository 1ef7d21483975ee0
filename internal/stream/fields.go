package stream

import (
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

// checkListField checks that name is a top-level property whose values
// are scalars: a filter compares by equality, which an object or array
// would not mean.
func checkListField(s *jsonschema.Schema, name string) error {
	p, _ := property(s, name)
	if p == nil {
		return errors.New("not a top-level property of the schema")
	}
	if ts := types(p); len(ts) > 0 {
		for _, t := range ts {
			if t != "null" && !slices.Contains(scalar, t) {
				return fmt.Errorf("may be %s; a listing filters on string, integer, number or boolean fields", t)
			}
		}
		if slices.ContainsFunc(ts, func(t string) bool { return t != "null" }) {
			return nil
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
		for _, v := range values {
			switch v.(type) {
			case map[string]any, []any:
				return fmt.Errorf("may be %v; a listing filters on string, integer, number or boolean fields", v)
			}
		}
		return nil
	}
	return errors.New("the schema must give it a type (string, integer, number or boolean) or an enum of them")
}

func typeNames(ts []string) string {
	if len(ts) == 0 {
		return "any type"
	}
	return strings.Join(ts, " or ")
}
