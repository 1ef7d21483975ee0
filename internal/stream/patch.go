package stream

import "slices"

// compilePatch compiles the schema a merge patch's members are checked
// against: the stream's own with every "required" dropped. What a patch
// removes (its nulls) is checked by Required, not by this schema; what the
// merged document becomes is checked again where the patch is applied. A
// $ref to another file keeps that file's "required": such a patch is
// checked there, where it is applied.
func (s *Stream) compilePatch() error {
	c, err := compileSchema(s.url, withoutRequired(s.document))
	if err != nil {
		return err
	}
	s.PatchValidator = newCompiled(c)
	return nil
}

// withoutRequired is a copy of the schema document v without the
// array-valued "required" keywords (a property named required, under
// properties, is a schema and stays).
func withoutRequired(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if _, isList := x.([]any); k == "required" && isList {
				continue
			}
			out[k] = withoutRequired(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = withoutRequired(x)
		}
		return out
	default:
		return v
	}
}

// Required reports whether the member at the JSON Pointer-like path (the
// names of nested objects, from the top) is required by the stream's
// schema, following "properties" from the top: a patch may not remove it.
// A requirement behind a $ref, allOf or the like is not seen here; the
// merged document's check, where the patch is applied, sees it.
func (s *Stream) Required(path []string) bool {
	cur, _ := s.document.(map[string]any)
	for i, name := range path {
		if cur == nil {
			return false
		}
		if i == len(path)-1 {
			req, _ := cur["required"].([]any)
			return slices.Contains(req, any(name))
		}
		props, _ := cur["properties"].(map[string]any)
		cur, _ = props[name].(map[string]any)
	}
	return false
}
