package stream

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The fast path is held to the library: for every document, the same
// verdict and the same violations (fast.go). pair is one schema both ways.
type pair struct {
	name string
	lib  compiled // the library alone
	fast compiled // as Load makes it: the fast path where it applies
}

// compileTest compiles a schema written in JSON, as Load does a file's.
func compileTest(t testing.TB, name, schema string) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s, err := compileSchema("file:///fasttest/"+name+".json", doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// answer is a Validate's result, or its panic.
type answer struct {
	List  []Violation
	More  int
	Panic string
}

func validate(v Validator, doc any) (a answer) {
	defer func() {
		if r := recover(); r != nil {
			a = answer{Panic: fmt.Sprint(r)}
		}
	}()
	a.List, a.More = v.Validate(doc)
	return a
}

// libraryValid is the library's own verdict, bounds walk aside.
func libraryValid(s *jsonschema.Schema, doc any) (valid, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			valid, panicked = false, true
		}
	}()
	return s.Validate(doc) == nil, false
}

// agree fails t unless p's two validators answer doc alike and the fast
// checker's own verdict, where it gives one, is the library's. It returns
// that verdict.
func agree(t testing.TB, p pair, doc any) verdict {
	t.Helper()
	want, got := validate(p.lib, doc), validate(p.fast, doc)
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s: %s:\nlibrary %+v\nfast    %+v", p.name, show(doc), want, got)
	}
	r := p.fast.fast.check(doc)
	valid, panicked := libraryValid(p.lib.s, doc)
	switch {
	case r == pass && !valid:
		t.Fatalf("%s: %s: the fast path passes what the library refuses (panicked: %v): %+v", p.name, show(doc), panicked, want)
	case r == fail && valid:
		t.Fatalf("%s: %s: the fast path refuses what the library passes", p.name, show(doc))
	case valid != (len(want.List) == 0 && want.Panic == ""):
		t.Fatalf("%s: %s: the library says valid %v, Validate %+v", p.name, show(doc), valid, want)
	}
	return r
}

func show(doc any) string {
	s := fmt.Sprintf("%#v", doc)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func decode(t testing.TB, s string) any {
	t.Helper()
	doc, err := DecodeDocument([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return doc
}

// The synthetic schemas: between them, every keyword of the subset.
var synthetic = []struct{ name, schema string }{
	{"numbers", `{
		"type": "object",
		"properties": {
			"i":   {"type": "integer", "minimum": -9007199254740993, "maximum": 9007199254740993},
			"big": {"maximum": 9007199254740992},
			"n":   {"type": ["number", "null"], "exclusiveMinimum": -1.5, "exclusiveMaximum": 1e3, "multipleOf": 0.25},
			"m7":  {"multipleOf": 7},
			"c":   {"multipleOf": 0.01, "minimum": 0},
			"t":   {"multipleOf": 0.3, "maximum": -0.5e-3},
			"two": {"multipleOf": 2},
			"h":   {"multipleOf": 1.5, "exclusiveMaximum": 0},
			"u":   {"multipleOf": 12345678901234567, "exclusiveMinimum": -1e-400}
		}
	}`},
	{"strings", `{
		"properties": {
			"s":  {"type": "string", "minLength": 2, "maxLength": 4},
			"l":  {"minLength": 3},
			"p":  {"pattern": "^\\p{L}+$"},
			"q":  {"type": "string", "pattern": "b+"},
			"d":  {"format": "date-time"},
			"e":  {"format": "email"},
			"k":  {"enum": [1, "1", 2.50, null, true, [1, 2], {"a": 1}, 1e-3]},
			"c":  {"const": {"a": [1, 2.0], "b": null}},
			"z":  {"const": 0},
			"st": {"enum": ["placed", "paid"]}
		}
	}`},
	{"structure", `{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"$id": "file:///fasttest/structure-id.json",
		"title": "structure", "description": "every structural keyword", "$comment": "c",
		"examples": [{}], "default": {},
		"type": "object",
		"required": ["r"],
		"additionalProperties": false,
		"properties": {
			"r":     {"type": ["string", "integer", "boolean", "null", "array", "object", "number"]},
			"tree":  {"$ref": "#/$defs/node"},
			"tuple": {"prefixItems": [{"type": "string"}, {"type": "number"}], "items": false, "minItems": 1},
			"list":  {"type": "array", "items": {"$ref": "#/$defs/small", "type": "integer"}, "maxItems": 4},
			"open":  {"minProperties": 1, "maxProperties": 2},
			"no":    false,
			"yes":   true
		},
		"$defs": {
			"node": {
				"type": "object",
				"required": ["v"],
				"properties": {
					"v":    {"type": "integer"},
					"kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}
				},
				"additionalProperties": {"type": "string", "maxLength": 3}
			},
			"small": {"maximum": 10, "$ref": "#/$defs/positive"},
			"positive": {"exclusiveMinimum": 0}
		}
	}`},
}

// examplePairs are the streams of examples/streams.yaml and the synthetic
// schemas, each with its fast path.
var examplePairs = sync.OnceValues(func() ([]pair, error) {
	set, err := Load("../../examples/streams.yaml")
	if err != nil {
		return nil, err
	}
	var ps []pair
	for _, st := range set.Streams {
		c := st.Validator.(compiled)
		if c.fast == nil {
			return nil, fmt.Errorf("stream %s: no fast path", st.Name)
		}
		ps = append(ps, pair{name: st.Name, lib: compiled{s: c.s}, fast: c})
	}
	for _, sy := range synthetic {
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(sy.schema))
		if err != nil {
			return nil, err
		}
		s, err := compileSchema("file:///fasttest/"+sy.name+".json", doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sy.name, err)
		}
		c := newCompiled(s)
		if c.fast == nil {
			return nil, fmt.Errorf("%s: no fast path", sy.name)
		}
		ps = append(ps, pair{name: sy.name, lib: compiled{s: s}, fast: c})
	}
	return ps, nil
})

func pairs(t testing.TB) map[string]pair {
	t.Helper()
	ps, err := examplePairs()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]pair{}
	for _, p := range ps {
		m[p.name] = p
	}
	return m
}

// TestFastAgreesByKeyword: documents made by hand for each keyword's
// edges, each judged by both, with the verdict the library gives written
// down (so a fast path that sends a valid document to the library, which
// costs time and not correctness, shows too).
func TestFastAgreesByKeyword(t *testing.T) {
	ps := pairs(t)
	type c struct {
		doc   string
		valid bool
	}
	tests := map[string][]c{
		"numbers": {
			{`{}`, true},
			{`[]`, false},
			{`{"i":1}`, true}, {`{"i":1.0}`, true}, {`{"i":1e2}`, true}, {`{"i":1E+2}`, true},
			{`{"i":1.5}`, false}, {`{"i":1e-2}`, false}, {`{"i":-0}`, true}, {`{"i":0.0}`, true},
			{`{"i":10e-1}`, true}, {`{"i":100e-3}`, false},
			{`{"i":9007199254740993}`, true}, {`{"i":9007199254740994}`, false},
			{`{"i":-9007199254740993}`, true}, {`{"i":-9007199254740994}`, false},
			{`{"i":9007199254740993.0}`, true}, {`{"i":90071992547409930e-1}`, true},
			{`{"i":"1"}`, false}, {`{"i":null}`, false},
			{`{"big":9007199254740992}`, true}, {`{"big":9007199254740993}`, false},
			{`{"big":9007199254740992.0000001}`, false}, {`{"big":9.007199254740992e15}`, true},
			{`{"big":-1e400}`, true}, {`{"big":1e400}`, false}, {`{"big":"x"}`, true},
			{`{"n":null}`, true}, {`{"n":0}`, true}, {`{"n":-1.25}`, true}, {`{"n":-1.5}`, false},
			{`{"n":-1.50}`, false}, {`{"n":-15e-1}`, false}, {`{"n":999.75}`, true}, {`{"n":1000}`, false},
			{`{"n":1e3}`, false}, {`{"n":0.1}`, false}, {`{"n":0.125}`, false}, {`{"n":2.5e-1}`, true},
			{`{"n":"1"}`, false}, {`{"n":true}`, false},
			{`{"m7":7e1000}`, true}, {`{"m7":1e1000}`, false}, {`{"m7":-14}`, true}, {`{"m7":0}`, true},
			{`{"m7":7.7}`, false}, {`{"m7":700e-2}`, true}, {`{"m7":70e-1}`, true}, {`{"m7":7e-1}`, false},
			{`{"c":45.5}`, true}, {`{"c":45.505}`, false}, {`{"c":1e-7}`, false}, {`{"c":0}`, true},
			{`{"c":45.50}`, true}, {`{"c":4550e-2}`, true}, {`{"c":1e300}`, true}, {`{"c":-0.01}`, false},
			{`{"c":0.009}`, false}, {`{"c":12.345e1}`, true}, {`{"c":12.3456e1}`, false},
			{`{"t":0.9}`, false}, {`{"t":-0.9}`, true}, {`{"t":-1}`, false}, {`{"t":-3e5}`, true},
			{`{"t":-0.0003}`, false}, {`{"t":-0.6}`, true},
			{`{"two":9007199254740993}`, false}, {`{"two":9007199254740994}`, true},
			{`{"two":123456789012345678901234567890}`, true}, {`{"two":123456789012345678901234567891}`, false},
			{`{"h":-4.5}`, true}, {`{"h":-3}`, true}, {`{"h":-1}`, false}, {`{"h":0}`, false}, {`{"h":-0}`, false},
			{`{"u":12345678901234567e3}`, true}, {`{"u":24691357802469134}`, true}, {`{"u":12345678901234568}`, false},
			{`{"u":0}`, true}, {`{"u":-1e-500}`, false}, {`{"u":123456789012345670e-1}`, true},
			// Beyond big.Rat's exponents: the library's own answer
			// (a panic for a bound), whatever the fast path thinks.
			{`{"i":1e1000001}`, false}, {`{"n":1e-1000001}`, false},
		},
		"strings": {
			{`{"s":"ab"}`, true}, {`{"s":"a"}`, false}, {`{"s":"abcd"}`, true}, {`{"s":"abcde"}`, false},
			{`{"s":"😀😀"}`, true}, {`{"s":"😀😀😀😀"}`, true}, {`{"s":"😀😀😀😀😀"}`, false}, {`{"s":"😀"}`, false},
			{`{"s":"éé"}`, true}, {`{"s":"\ud83d\ude00x"}`, true}, {`{"s":1}`, false},
			{`{"l":"😀😀😀"}`, true}, {`{"l":"😀😀"}`, false}, {`{"l":"abc"}`, true}, {`{"l":"\u00e9\u00e9"}`, false}, {`{"l":3}`, true},
			{`{"p":"élan"}`, true}, {`{"p":"e lan"}`, false}, {`{"p":""}`, false}, {`{"p":1}`, true},
			{`{"q":"abba"}`, true}, {`{"q":"aa"}`, false},
			{`{"d":"2026-12-04T19:59:21.123Z"}`, true}, {`{"d":"2026-13-01T00:00:00Z"}`, false},
			{`{"d":"2024-02-29T00:00:00Z"}`, true}, {`{"d":"2023-02-29T00:00:00Z"}`, false},
			{`{"d":"1900-02-29T00:00:00Z"}`, false}, {`{"d":"2000-02-29T00:00:00Z"}`, true},
			{`{"d":"2026-12-04t19:59:21z"}`, true}, {`{"d":"2026-12-04 19:59:21Z"}`, false},
			{`{"d":"2026-12-04T23:59:60Z"}`, true}, {`{"d":"2026-12-04T22:59:60Z"}`, false},
			{`{"d":"2026-12-04T22:59:60-01:00"}`, true}, {`{"d":"2026-12-04T23:59:60+00:00"}`, true},
			{`{"d":"2026-12-04T00:59:60+01:00"}`, true}, {`{"d":"2026-12-04T24:00:00Z"}`, false},
			{`{"d":"2026-12-04T19:59:21+05:30"}`, true}, {`{"d":"2026-12-04T19:59:21+0530"}`, false},
			{`{"d":"2026-12-04T19:59:21.Z"}`, false}, {`{"d":"2026-12-04T19:59:21"}`, false},
			{`{"d":"2026-12-04T+1:-0:+5Z"}`, true}, {`{"d":"2026-12-04T-1:00:00Z"}`, false},
			{`{"d":"2026-12-04T19:59:21+24:00"}`, false}, {`{"d":"0000-01-01T00:00:00Z"}`, true},
			{`{"d":"2026-00-10T00:00:00Z"}`, false}, {`{"d":"2026-04-31T00:00:00Z"}`, false},
			{`{"d":"2026-04-30T00:00:00.000000000001Z"}`, true}, {`{"d":"2026-04-30T00:00:00Zx"}`, false},
			{`{"d":"+026-04-30T00:00:00Z"}`, false}, {`{"d":1}`, true},
			{`{"e":"a@example.com"}`, true}, {`{"e":"a@"}`, false},
			{`{"k":1}`, true}, {`{"k":1.0}`, true}, {`{"k":1e0}`, true}, {`{"k":10e-1}`, true}, {`{"k":"1"}`, true},
			{`{"k":2.5}`, true}, {`{"k":25e-1}`, true}, {`{"k":2.500}`, true}, {`{"k":2}`, false},
			{`{"k":null}`, true}, {`{"k":true}`, true}, {`{"k":false}`, false},
			{`{"k":[1.0,2]}`, true}, {`{"k":[2,1]}`, false}, {`{"k":[1]}`, false},
			{`{"k":{"a":1.00}}`, true}, {`{"k":{"a":1,"b":2}}`, false}, {`{"k":{"b":1}}`, false},
			{`{"k":0.001}`, true}, {`{"k":1e-3}`, true}, {`{"k":3}`, false}, {`{"k":"2.5"}`, false},
			{`{"c":{"a":[1,2],"b":null}}`, true}, {`{"c":{"b":null,"a":[1.0,2e0]}}`, true},
			{`{"c":{"a":[1,2]}}`, false}, {`{"c":{"a":[1,2],"b":false}}`, false},
			{`{"z":0}`, true}, {`{"z":-0}`, true}, {`{"z":0.0}`, true}, {`{"z":0e5}`, true}, {`{"z":1e-400}`, false},
			{`{"st":"paid"}`, true}, {`{"st":"Paid"}`, false},
		},
		"structure": {
			{`{"r":1}`, true}, {`{}`, false}, {`{"r":1,"x":1}`, false}, {`{"r":{}}`, true},
			{`{"r":1,"no":1}`, false}, {`{"r":1,"yes":[{}]}`, true},
			{`{"r":1,"tree":{"v":1}}`, true}, {`{"r":1,"tree":{"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]}}`, true},
			{`{"r":1,"tree":{"v":1,"kids":[{"v":2,"kids":[{"v":3.5}]}]}}`, false},
			{`{"r":1,"tree":{"v":1,"kids":[{"v":2},{"v":2},{"v":2},{"v":2}]}}`, false},
			{`{"r":1,"tree":{"v":1,"name":"abc"}}`, true}, {`{"r":1,"tree":{"v":1,"name":"abcd"}}`, false},
			{`{"r":1,"tree":{"v":1,"name":1}}`, false}, {`{"r":1,"tree":{"kids":[]}}`, false},
			{`{"r":1,"tuple":["a"]}`, true}, {`{"r":1,"tuple":["a",1]}`, true}, {`{"r":1,"tuple":["a",1,2]}`, false},
			{`{"r":1,"tuple":[]}`, false}, {`{"r":1,"tuple":[1]}`, false}, {`{"r":1,"tuple":"x"}`, true},
			{`{"r":1,"list":[1,10]}`, true}, {`{"r":1,"list":[0]}`, false}, {`{"r":1,"list":[11]}`, false},
			{`{"r":1,"list":[1.5]}`, false}, {`{"r":1,"list":[1,2,3,4,5]}`, false},
			{`{"r":1,"open":{"a":1}}`, true}, {`{"r":1,"open":{}}`, false}, {`{"r":1,"open":{"a":1,"b":2,"c":3}}`, false},
			{`{"r":1,"open":[]}`, true},
		},
		"orders": {
			{orderDoc, true},
			{strings.Replace(orderDoc, `"total":151.47`, `"total":151.475`, 1), false},
			{strings.Replace(orderDoc, `"total":151.47`, `"total":-1`, 1), false},
			{strings.Replace(orderDoc, `"quantity":1`, `"quantity":1.0`, 1), true},
			{strings.Replace(orderDoc, `"quantity":1`, `"quantity":1000001`, 1), false},
			{strings.Replace(orderDoc, `"status":"paid"`, `"status":"lost"`, 1), false},
			{strings.Replace(orderDoc, `ord-2026-12-04-000123`, `ord 1`, 1), false},
			{strings.Replace(orderDoc, `2026-12-04T19:59:21.123Z`, `2026-12-04T19:59:21.123`, 1), false},
			{strings.Replace(orderDoc, `"note"`, `"Note"`, 1), false},
			{strings.Replace(orderDoc, `"sku":"MUG-7",`, ``, 1), false},
		},
		"clicks": {
			{`{"page":"/","at":"2026-12-04T19:59:21Z"}`, true},
			{`{"page":"/","at":"2026-12-04T19:59:21Z","session":"s"}`, true},
			{`{"page":"/","at":"yesterday"}`, false},
			{`{"page":"/"}`, false},
			{`{"page":"/","at":"2026-12-04T19:59:21Z","x":1}`, false},
			{`{"page":"` + strings.Repeat("é", 2048) + `","at":"2026-12-04T19:59:21Z"}`, true},
			{`{"page":"` + strings.Repeat("é", 2049) + `","at":"2026-12-04T19:59:21Z"}`, false},
		},
		"posts": {
			{`{"author":"a","title":"t","content":"c"}`, true},
			{`{"author":" ","title":"t","content":"c"}`, false},
			{`{"author":"a","title":"t","content":"c","subtitle":null,"tags":null}`, true},
			{`{"author":"a\u0007","title":"t","content":"c"}`, false},
			{`{"author":"a","title":"t","content":"c","tags":["x",""]}`, false},
		},
	}
	for name, cases := range tests {
		p, ok := ps[name]
		if !ok {
			t.Fatalf("no schema %s", name)
		}
		for _, tc := range cases {
			doc := decode(t, tc.doc)
			r := agree(t, p, doc)
			if valid, _ := libraryValid(p.lib.s, doc); valid != tc.valid {
				t.Errorf("%s: %s: the library says valid %v, the table %v", name, tc.doc, valid, tc.valid)
			}
			// Within big.Rat's exponents, the fast path decides.
			if r == unsure && !strings.Contains(tc.doc, "e100000") && !strings.Contains(tc.doc, "e-100000") {
				t.Errorf("%s: %s: the fast path is unsure", name, tc.doc)
			}
		}
	}
}

var orderDoc = func() string {
	data, err := os.ReadFile("testdata/order.json")
	if err != nil {
		panic(err)
	}
	return string(bytes.TrimSpace(data))
}()

// TestFastCoverage: the example schemas get the fast path; a schema with a
// keyword outside the subset, a $ref elsewhere or a loop of $refs keeps the
// library alone.
func TestFastCoverage(t *testing.T) {
	pairs(t) // orders, clicks, posts and the synthetic ones have one
	for _, s := range []string{
		`{"allOf": [{"type": "string"}]}`,
		`{"anyOf": [{"type": "string"}]}`,
		`{"oneOf": [{"type": "string"}]}`,
		`{"not": {"type": "string"}}`,
		`{"if": {"type": "string"}, "then": {"minLength": 1}}`,
		`{"properties": {"a": {"allOf": [true]}}}`,
		`{"unevaluatedProperties": false}`,
		`{"items": {"unevaluatedItems": false}}`,
		`{"dependentRequired": {"a": ["b"]}}`,
		`{"dependentSchemas": {"a": true}}`,
		`{"patternProperties": {"^a": true}}`,
		`{"propertyNames": {"maxLength": 3}}`,
		`{"contains": {"type": "string"}}`,
		`{"uniqueItems": true}`,
		`{"$anchor": "a"}`,
		`{"$dynamicAnchor": "a"}`,
		`{"$ref": "#/properties/a", "properties": {"a": true}}`,
		`{"$ref": "#"}`,
		`{"properties": {"a": {"$id": "inner", "type": "string"}}}`,
		`{"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}`,
		`{"properties": {"x": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"$ref": "#/$defs/a"}}}`,
		`{"$defs": {"a": {"anyOf": [true]}}, "items": {"$ref": "#/$defs/a"}}`,
		`{"multipleOf": 123456789012345678901}`,
		`{"enum": [0e1234567890]}`,
	} {
		if c := newCompiled(compileTest(t, "coverage", s)); c.fast != nil {
			t.Errorf("%s: a fast path, want the library alone", s)
		}
	}
}

// TestFastRefLoop: a loop of $refs the fast path leaves alone is the
// library's to report, and it does.
func TestFastRefLoop(t *testing.T) {
	s := compileTest(t, "loop", `{"properties": {"x": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"$ref": "#/$defs/a"}}}`)
	c := newCompiled(s)
	if vs, _ := c.Validate(decode(t, `{}`)); len(vs) != 0 {
		t.Errorf("{}: %+v", vs)
	}
	if vs, _ := c.Validate(decode(t, `{"x":1}`)); len(vs) == 0 {
		t.Error(`{"x":1}: valid; want the library's $ref cycle`)
	}
}

// TestDecimal holds the number arithmetic to big.Rat: comparison, integer
// and multipleOf.
func TestDecimal(t *testing.T) {
	nums := []string{"0", "-0", "0.0", "0e10", "1", "-1", "1.0", "10e-1", "0.1", "1e-1", "100", "1e2",
		"1.5", "15e-1", "0.01", "45.5", "45.505", "1e-7", "9007199254740993", "9007199254740992",
		"12345678901234567890123456789", "1.2345678901234567890123456789e28", "-2.5", "-25e-1", "7e300",
		"0.3", "0.9", "3", "1E+2", "1e-400", "-1e400", "123.456e-2", "0.000001000", "1000000e-6"}
	for _, a := range nums {
		da, ok := parseDecimal(a)
		if !ok {
			t.Fatalf("%s: not read", a)
		}
		ra, _ := new(big.Rat).SetString(a)
		if da.integer() != ra.IsInt() {
			t.Errorf("%s: integer %v, big.Rat %v", a, da.integer(), ra.IsInt())
		}
		for _, b := range nums {
			db, _ := parseDecimal(b)
			rb, _ := new(big.Rat).SetString(b)
			if got, want := da.cmp(&db), ra.Cmp(rb); got != want {
				t.Errorf("cmp(%s, %s) = %d, big.Rat %d", a, b, got, want)
			}
			if rb.Sign() <= 0 {
				continue
			}
			m, ok := makeMultipleOf(rb)
			if !ok {
				continue
			}
			want := new(big.Rat).Quo(ra, rb).IsInt()
			if got := m.divides(&da); got != want {
				t.Errorf("%s multipleOf %s: %v, big.Rat %v", a, b, got, want)
			}
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "+1", "1e", "1e+", "0x10", "1_000", "Inf", "NaN", "1e1000001", "1.5e-1000000", "1e1234567890"} {
		if _, ok := parseDecimal(bad); ok {
			t.Errorf("%q read as a number", bad)
		}
	}
}

// dateTimeFormat is the library's own date-time check, as a compiled
// schema holds it.
var dateTimeFormat = sync.OnceValue(func() func(any) error {
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(`{"format": "date-time"}`))
	if err != nil {
		panic(err)
	}
	s, err := compileSchema("file:///fasttest/date-time.json", doc)
	if err != nil {
		panic(err)
	}
	return s.Format.Validate
})

// TestDateTimeMatchesLibrary: the hand-written date-time is the
// library's, on edges of every field (FuzzDateTime goes further).
func TestDateTimeMatchesLibrary(t *testing.T) {
	lib := dateTimeFormat()
	base := "2026-12-04T19:59:21.123Z"
	cases := []string{base, "", "2026-12-04T19:59:21Z", "2026-12-04T19:59:21z", "2026-12-04t19:59:21Z",
		"2026-12-04T19:59:21", "2026-12-04T19:59:2Z", "2026-12-04T19:59:21+01:00", "2026-12-04T19:59:21-23:59",
		"2026-12-04T19:59:21+24:00", "2026-12-04T19:59:21+01:60", "2026-12-04T19:59:21+01-00",
		"2026-12-04T23:59:60Z", "2026-12-04T23:58:60Z", "2026-12-04T00:59:60+01:00", "2026-12-04T23:59:60-00:00",
		"2026-12-04T22:59:60-01:00", "2026-12-04T23:59:61Z", "2026-12-04T+1:+2:+3Z", "2026-12-04T-0:-0:-0Z",
		"2026-12-04T-1:00:00Z", "2026-12-04T1::00:00Z", "2026-12-04T00:00:00+-1:00", "2026-12-04T00:00:00+0:-00",
		"2026-12-04T00:00:00.Z", "2026-12-04T00:00:00.1.2Z", "2026-12-04T00:00:00.١Z", "2024-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "0000-02-29T00:00:00Z", "9999-12-31T23:59:59Z",
		"2026-1-04T00:00:00Z0", "2026-12-4T00:00:00Z0", "20261204T000000Z12345", "2026-12-04T00:00:00Zé",
		"2026-12-04Té0:00:00Z", "2026-12-04T00:00:00+01:00x", "2026-12-04T00:00:00+1:00", "2026-12-04T00:00:00.0+01:00",
		"2026-12-00T00:00:00Z", "2026-11-31T00:00:00Z", "2026-12-32T00:00:00Z", "-026-12-04T00:00:00Z",
		"2026-12-04T00:00:00 Z", "2026-12-04T00:00:00+01:0", "2026-12-04T00:60:00Z", "2026-12-04T00:00:00+00:00",
		"2026-12-04T24:00:00Z", "2026-12-04T23:59:60.5Z", "2026-12-04T23:59:60.5+00:00"}
	for _, s := range cases {
		if got, want := dateTime(s), lib(s) == nil; got != want {
			t.Errorf("%q: %v, the library %v (%v)", s, got, want, lib(s))
		}
	}
}

// fuzzSeeds are documents for every schema of examplePairs.
func fuzzSeeds() []string {
	post, _ := os.ReadFile("testdata/post.json")
	return []string{
		orderDoc, string(post),
		`{"page":"/home","at":"2026-12-04T19:59:21Z","session":"s-1"}`,
		`{"i":9007199254740993,"big":9007199254740992,"n":0.25,"m7":14,"c":45.5,"t":-0.9,"two":2,"h":-1.5,"u":0}`,
		`{"i":1.0,"n":null,"c":45.505,"m7":7e300}`,
		`{"s":"ab😀","l":"abc","p":"élan","q":"abb","d":"2026-12-04T23:59:60Z","e":"a@b.c","k":{"a":1.0},"c":{"a":[1,2],"b":null},"z":-0,"st":"paid"}`,
		`{"k":[1,2],"d":"2026-12-04T19:59:21+05:30"}`,
		`{"r":1,"tree":{"v":1,"kids":[{"v":2,"x":"abc"}]},"tuple":["a",1],"list":[1,2,3],"open":{"a":1},"yes":null}`,
		`{"r":null,"tree":{"v":1,"kids":[{"v":2,"kids":[{"v":3,"kids":[]}]}]}}`,
		`{}`, `[]`, `1`, `"s"`, `null`,
	}
}

// FuzzFastMatchesLibrary: for every example and synthetic schema, a
// document (any JSON the fuzzer makes) gets the same answer with the fast
// path as without, and the fast path never passes what the library
// refuses.
//
//	go test -run '^$' -fuzz FuzzFastMatchesLibrary -fuzztime 60s ./internal/stream/
func FuzzFastMatchesLibrary(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	ps, err := examplePairs()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := DecodeDocument(data)
		if err != nil {
			return
		}
		for _, p := range ps {
			agree(t, p, doc)
		}
	})
}

// FuzzDateTime: the hand-written date-time is the library's.
//
//	go test -run '^$' -fuzz FuzzDateTime -fuzztime 60s ./internal/stream/
func FuzzDateTime(f *testing.F) {
	for _, s := range []string{"2026-12-04T19:59:21.123Z", "2026-12-04T23:59:60+00:00", "2024-02-29t00:00:00-23:59", "2026-12-04T+1:-0:+5Z"} {
		f.Add(s)
	}
	lib := dateTimeFormat()
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := dateTime(s), lib(s) == nil; got != want {
			t.Errorf("%q: %v, the library %v (%v)", s, got, want, lib(s))
		}
	})
}

// FuzzDecimal: comparison, integer and multipleOf are big.Rat's.
//
//	go test -run '^$' -fuzz FuzzDecimal -fuzztime 60s ./internal/stream/
func FuzzDecimal(f *testing.F) {
	f.Add("45.505", "0.01")
	f.Add("9007199254740993", "2")
	f.Add("-1.5e-3", "3e-4")
	f.Add("7e300", "7")
	f.Add("0", "1e5")
	f.Fuzz(func(t *testing.T, a, b string) {
		da, okA := parseDecimal(a)
		db, okB := parseDecimal(b)
		if !okA || !okB || max(abs(da.point), abs(db.point)) > 5000 {
			return // big.Rat's 10^1,000,000 would take the fuzzer's time
		}
		ra, ok1 := new(big.Rat).SetString(a)
		rb, ok2 := new(big.Rat).SetString(b)
		if !ok1 || !ok2 {
			t.Fatalf("%q, %q: read here, not by big.Rat", a, b)
		}
		if got, want := da.cmp(&db), ra.Cmp(rb); got != want {
			t.Errorf("cmp(%s, %s) = %d, big.Rat %d", a, b, got, want)
		}
		if da.integer() != ra.IsInt() {
			t.Errorf("%s: integer %v, big.Rat %v", a, da.integer(), ra.IsInt())
		}
		if rb.Sign() <= 0 {
			return
		}
		if m, ok := makeMultipleOf(rb); ok {
			if got, want := m.divides(&da), new(big.Rat).Quo(ra, rb).IsInt(); got != want {
				t.Errorf("%s multipleOf %s: %v, big.Rat %v", a, b, got, want)
			}
		}
	})
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// BenchmarkValidateOnly is Validate alone on a decoded document, the
// library's path and the fast path, for the example streams.
//
//	go test -run '^$' -bench ValidateOnly -benchmem ./internal/stream/
func BenchmarkValidateOnly(b *testing.B) {
	ps := pairs(b)
	post, err := os.ReadFile("testdata/post.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ stream, doc string }{
		{"orders", orderDoc},
		{"clicks", `{"page":"/home","at":"2026-12-04T19:59:21.123Z","session":"s-1"}`},
		{"posts", string(post)},
	} {
		doc := decode(b, bc.doc)
		for _, path := range []string{"library", "fast"} {
			v := ps[bc.stream].lib
			if path == "fast" {
				v = ps[bc.stream].fast
			}
			b.Run(bc.stream+"/"+path, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if vs, _ := v.Validate(doc); len(vs) > 0 {
						b.Fatal(vs)
					}
				}
			})
		}
	}
}
