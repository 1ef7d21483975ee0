package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/postpipe/postpipe/internal/post"
)

// member is one member of an object, in the order the object has them: a
// merge keeps the target's order and appends what the patch adds.
type member struct {
	name string
	val  any // *object, []any, json.Number, string, bool or nil
}

type object struct{ members []member }

func (o *object) index(name string) int {
	for i, m := range o.members {
		if m.name == name {
			return i
		}
	}
	return -1
}

// MergePatch applies the JSON Merge Patch patch to target (RFC 7396), both
// JSON objects, and returns the result, compact: the target's members in
// their order, a member the patch sets to null removed, one it sets to an
// object merged into the target's (or into {} when the target's is not an
// object), any other replaced, and the patch's new members appended in the
// patch's order.
func MergePatch(target, patch []byte) ([]byte, error) {
	t, err := decodeOrdered(target)
	if err != nil {
		return nil, fmt.Errorf("the stored document: %w", err)
	}
	p, err := decodeOrdered(patch)
	if err != nil {
		return nil, fmt.Errorf("the patch: %w", err)
	}
	to, ok := t.(*object)
	if !ok {
		return nil, errors.New("the stored document is not an object")
	}
	po, ok := p.(*object)
	if !ok {
		return nil, errors.New("the patch is not an object")
	}
	return appendOrdered(nil, merge(to, po)), nil
}

func merge(target *object, patch *object) *object {
	out := &object{members: append([]member(nil), target.members...)}
	for _, pm := range patch.members {
		i := out.index(pm.name)
		switch pv := pm.val.(type) {
		case nil:
			if i >= 0 {
				out.members = append(out.members[:i], out.members[i+1:]...)
			}
			continue
		case *object:
			base := &object{}
			if i >= 0 {
				if tv, ok := out.members[i].val.(*object); ok {
					base = tv
				}
			}
			merged := merge(base, pv)
			if i >= 0 {
				out.members[i].val = merged
			} else {
				out.members = append(out.members, member{pm.name, merged})
			}
		default:
			if i >= 0 {
				out.members[i].val = pm.val
			} else {
				out.members = append(out.members, pm)
			}
		}
	}
	return out
}

// decodeOrdered decodes one JSON value keeping the order of members.
func decodeOrdered(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &object{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				o.members = append(o.members, member{k.(string), v})
			}
			_, err := d.Token()
			return o, err
		case '[':
			a := []any{}
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := d.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil
	}
}

func appendOrdered(b []byte, v any) []byte {
	switch v := v.(type) {
	case *object:
		b = append(b, '{')
		for i, m := range v.members {
			if i > 0 {
				b = append(b, ',')
			}
			b = post.AppendQuoted(b, m.name)
			b = append(b, ':')
			b = appendOrdered(b, m.val)
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendOrdered(b, x)
		}
		return append(b, ']')
	case string:
		return post.AppendQuoted(b, v)
	case json.Number:
		return append(b, v...)
	case bool:
		if v {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	default:
		return append(b, "null"...)
	}
}
