package doc

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

// TestParseAccepts: a body within the rules gives the compact Body (members
// in order, strings re-encoded as post.AppendQuoted does, numbers as sent)
// and the Tree encoding/json decodes from the input.
func TestParseAccepts(t *testing.T) {
	tests := []struct{ name, in, body string }{
		{"empty object", `{}`, `{}`},
		{"whitespace around and inside", " \t\r\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\n", `{"a":[1,2],"b":{}}`},
		{"member order kept", `{"b":1,"a":2,"c":3}`, `{"b":1,"a":2,"c":3}`},
		{"every type", `{"s":"x","n":-1.5e-3,"t":true,"f":false,"z":null,"a":[],"o":{}}`, `{"s":"x","n":-1.5e-3,"t":true,"f":false,"z":null,"a":[],"o":{}}`},
		{"escapes re-encoded", `{"a":"\u0041\/\u00e9\"\\"}`, `{"a":"A/é\"\\"}`},
		{"tab, line feed, return kept escaped", `{"a":"\t\n\r"}`, `{"a":"\t\n\r"}`},
		{"line and paragraph separators escaped", "{\"a\":\"x\u2028y\u2029\"}", `{"a":"x\u2028y\u2029"}`},
		{"surrogate pair", `{"a":"\ud83d\ude00","😀":1}`, `{"a":"😀","😀":1}`},
		{"HTML characters stay", `{"a":"<b>&</b>"}`, `{"a":"<b>&</b>"}`},
		{"DEL is not a control character here", `{"a":"\u007f"}`, "{\"a\":\"\x7f\"}"},
		{"name escapes re-encoded", `{"\u0061b":1}`, `{"ab":1}`},
		{"numbers byte for byte", `{"a":1.50,"b":1E+3,"c":-0.0,"d":0e10,"e":1e3}`, `{"a":1.50,"b":1E+3,"c":-0.0,"d":0e10,"e":1e3}`},
		{"int64 bounds", `{"a":9223372036854775807,"b":-9223372036854775808}`, `{"a":9223372036854775807,"b":-9223372036854775808}`},
		{"beyond 2^53 as an integer", `{"a":9007199254740993}`, `{"a":9007199254740993}`},
		{"exact decimals", `{"a":0.1,"b":0.30000000000000004,"c":151.47,"d":5e-324,"e":1.7976931348623157e308}`, `{"a":0.1,"b":0.30000000000000004,"c":151.47,"d":5e-324,"e":1.7976931348623157e308}`},
		{"trailing zeros of a fraction", `{"a":2.50000000000000000000000000000}`, `{"a":2.50000000000000000000000000000}`},
		{"leading zeros of a fraction", `{"a":0.000000000000000000000000000001}`, `{"a":0.000000000000000000000000000001}`},
		{"names with $ and . inside are fine", `{"a$":1,"price_$":2}`, `{"a$":1,"price_$":2}`},
		{"ß does not simple-fold to ss", `{"straße":1,"STRASSE":2}`, `{"straße":1,"STRASSE":2}`},
		{"same name in different objects", `{"a":{"a":1},"b":[{"a":1},{"a":2}]}`, `{"a":{"a":1},"b":[{"a":1},{"a":2}]}`},
		{"nested at the depth limit", nest(MaxDepth-1, `{"a":`, `}`), nest(MaxDepth-1, `{"a":`, `}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(p.Body) != tt.body {
				t.Errorf("Body %s, want %s", p.Body, tt.body)
			}
			std, err := stdDecode([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !sameTree(p.Tree, std) {
				t.Errorf("Tree %#v, want what encoding/json decodes: %#v", p.Tree, std)
			}
		})
	}
}

// nest wraps {} in n levels of open ... close.
func nest(n int, open, close string) string {
	return strings.Repeat(open, n) + "{}" + strings.Repeat(close, n)
}

// TestParseSyntax: what is not JSON, or not Unicode, or too deep, is a
// *post.SyntaxError, EOF when the data ends too early.
func TestParseSyntax(t *testing.T) {
	tests := []struct {
		name string
		in   string
		eof  bool
		msg  string // in the message, unless eof
	}{
		{"empty", ``, true, ""},
		{"whitespace only", " \n\t", true, ""},
		{"unclosed object", `{"a":1`, true, ""},
		{"no value", `{"a":`, true, ""},
		{"unclosed string", `{"a":"x`, true, ""},
		{"unclosed array", `{"a":[1,2`, true, ""},
		{"cut escape", `{"a":"\u00`, true, ""},
		{"cut surrogate pair", `{"a":"\ud800\`, true, ""},
		{"cut literal", `{"a":tr`, true, ""},
		{"cut number", `{"a":-`, true, ""},
		{"open brace", `{`, true, ""},
		{"trailing data", `{"a":1} x`, false, "after the document"},
		{"two objects", `{}{}`, false, "after the document"},
		{"invalid UTF-8 in a value", "{\"a\":\"\xff\"}", false, "UTF-8"},
		{"invalid UTF-8 in a name", "{\"\xc3\":1}", false, "UTF-8"},
		{"UTF-8 of a surrogate", "{\"a\":\"\xed\xa0\x80\"}", false, "UTF-8"},
		{"overlong UTF-8", "{\"a\":\"\xc0\xaf\"}", false, "UTF-8"},
		{"lone high surrogate", `{"a":"\ud800"}`, false, "high UTF-16 surrogate"},
		{"lone low surrogate", `{"a":"\udc00"}`, false, "low UTF-16 surrogate"},
		{"misordered surrogates", `{"a":"\udc00\ud800"}`, false, "low UTF-16 surrogate"},
		{"high surrogate then a letter escape", `{"a":"\ud800\u0041"}`, false, "high UTF-16 surrogate"},
		{"high surrogate then text", `{"a":"\ud800x"}`, false, "high UTF-16 surrogate"},
		{"two high surrogates", `{"a":"\ud800\ud800"}`, false, "high UTF-16 surrogate"},
		{"lone surrogate in a name", `{"\ud800":1}`, false, "surrogate"},
		{"raw tab in a string", "{\"a\":\"x\ty\"}", false, "control character"},
		{"raw line feed in a name", "{\"a\nb\":1}", false, "control character"},
		{"raw NUL", "{\"a\":\"\x00\"}", false, "control character"},
		{"bad escape", `{"a":"\x"}`, false, "escape"},
		{"bad unicode escape", `{"a":"\u00g0"}`, false, "escape"},
		{"leading zero", `{"a":01}`, false, ""},
		{"bare point", `{"a":1.}`, false, "number"},
		{"leading point", `{"a":.5}`, false, ""},
		{"plus sign", `{"a":+1}`, false, ""},
		{"empty exponent", `{"a":1e}`, false, "number"},
		{"NaN", `{"a":NaN}`, false, ""},
		{"Infinity", `{"a":Infinity}`, false, ""},
		{"bad literal", `{"a":nul}`, false, "literal"},
		{"bad literal before more", `{"a":nul,"b":1}`, false, "literal"},
		{"missing colon", `{"a" 1}`, false, "':'"},
		{"trailing comma in object", `{"a":1,}`, false, "member name"},
		{"trailing comma in array", `{"a":[1,]}`, false, ""},
		{"single quotes", `{'a':1}`, false, "member name"},
		{"missing comma", `{"a":1 "b":2}`, false, "','"},
		{"byte order mark", "\ufeff{}", false, ""},
		{"form feed is not whitespace", "{\f}", false, ""},
		{"too deep in arrays", `{"a":` + strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth) + `}`, false, "nested too deeply"},
		{"too deep in objects", nest(MaxDepth, `{"a":`, `}`), false, "nested too deeply"},
		{"too deep in what is not an object", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), false, "nested too deeply"},
		{"bad UTF-8 in what is not an object", "[\"\xff\"]", false, "UTF-8"},
		{"trailing data after what is not an object", `[1] x`, false, "after the document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var se *post.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%T %v, want a *post.SyntaxError", err, err)
			}
			if se.EOF != tt.eof {
				t.Errorf("EOF %v, want %v (%v)", se.EOF, tt.eof, err)
			}
			if !tt.eof && (se.Offset < 0 || se.Offset >= len(tt.in) || !strings.Contains(se.Msg, tt.msg)) {
				t.Errorf("%v: want an offset within the data and a message with %q", err, tt.msg)
			}
		})
	}
}

func TestParseNotObject(t *testing.T) {
	for in, kind := range map[string]string{`[]`: "array", ` [{"a":1}] `: "array", `"x"`: "string", `-1.5`: "number", `true`: "bool", `false`: "bool", `null`: "null"} {
		_, err := Parse([]byte(in))
		var ne *post.NotObjectError
		if !errors.As(err, &ne) || ne.Kind != kind {
			t.Errorf("%s: %v, want a *post.NotObjectError of kind %s", in, err, kind)
		}
	}
}

// TestParseFieldRules: each member rule, refused at its JSON Pointer with a
// message saying why; one body's problems all in one *post.ValidationError.
func TestParseFieldRules(t *testing.T) {
	type fe struct{ field, msg string }
	tests := []struct {
		name string
		in   string
		want []fe // field, and a part of the message
	}{
		{"duplicate member", `{"a":1,"b":2,"a":3}`, []fe{{"/a", "more than once"}}},
		{"duplicate of another value", `{"a":1,"a":"x"}`, []fe{{"/a", "more than once"}}},
		{"three times", `{"a":1,"a":2,"a":3}`, []fe{{"/a", "more than once"}, {"/a", "more than once"}}},
		{"duplicate deep", `{"x":{"y":[{"a":1,"a":2}]}}`, []fe{{"/x/y/0/a", "more than once"}}},
		{"case only", `{"name":1,"Name":2}`, []fe{{"/Name", `case from the member "name"`}}},
		{"case only, all upper", `{"id2":1,"ID2":2}`, []fe{{"/ID2", "case"}}},
		{"case, non-ASCII", `{"café":1,"CAFÉ":2}`, []fe{{"/CAFÉ", "case"}}},
		{"Kelvin sign folds to k", `{"k":1,"\u212a":2}`, []fe{{"/\u212a", "case"}}},
		{"long s folds to s", `{"s":1,"\u017f":2}`, []fe{{"/\u017f", "case"}}},
		{"case deep", `{"a":[{},{"x":1,"X":2}]}`, []fe{{"/a/1/X", "case"}}},
		{"empty name", `{"":1}`, []fe{{"/", "empty member name"}}},
		{"NUL in a name", `{"a\u0000b":1}`, []fe{{"/a\x00b", "U+0000"}}},
		{"control character in a name", `{"a\u0007":1}`, []fe{{"/a\x07", "control characters (U+0007)"}}},
		{"dot in a name", `{"a.b":1}`, []fe{{"/a.b", "'.'"}}},
		{"dollar first", `{"$set":1}`, []fe{{"/$set", "'$'"}}},
		{"dollar first, deep", `{"x":[{"$ref":"y"}]}`, []fe{{"/x/0/$ref", "'$'"}}},
		{"MongoDB in the message", `{"a.b":1}`, []fe{{"/a.b", "MongoDB"}}},
		{"pointer escapes", `{"a/b":{"c~d":"\u0001"}}`, []fe{{"/a~1b/c~0d", "control"}}},
		{"NUL in a value", `{"a":"x\u0000"}`, []fe{{"/a", "U+0000"}}},
		{"unit separator in a value", `{"a":"\u001f"}`, []fe{{"/a", "U+001F"}}},
		{"backspace escape", `{"a":["ok","\b"]}`, []fe{{"/a/1", "U+0008"}}},
		{"form feed escape", `{"a":{"b":"\f"}}`, []fe{{"/a/b", "U+000C"}}},
		{"integer beyond int64", `{"n":9223372036854775808}`, []fe{{"/n", "beyond 64 bits"}}},
		{"integer below int64", `{"n":-9223372036854775809}`, []fe{{"/n", "beyond 64 bits"}}},
		{"huge integer", `{"n":` + strings.Repeat("9", 400) + `}`, []fe{{"/n", "send it as a string"}}},
		{"overflow", `{"n":1e400}`, []fe{{"/n", "range"}}},
		{"negative overflow", `{"n":[-1e400]}`, []fe{{"/n/0", "range"}}},
		{"huge exponent", `{"n":1e99999999999999999999}`, []fe{{"/n", "range"}}},
		{"underflow", `{"n":1e-400}`, []fe{{"/n", "zero"}}},
		{"rounded to the least subnormal", `{"n":4.9e-324}`, []fe{{"/n", "rounded"}}},
		{"too many digits", `{"n":0.12345678901234567890123}`, []fe{{"/n", "would be rounded when stored; send it as a string"}}},
		{"beyond 2^53 as a double", `{"n":9007199254740993.0}`, []fe{{"/n", "rounded"}}},
		{"near but not the double", `{"n":0.3000000000000000444}`, []fe{{"/n", "rounded"}}},
		{"one digit past the double", `{"n":1.00000000000000001}`, []fe{{"/n", "rounded"}}},
		{"every problem listed", `{"$a":1,"b":"\u0002","b":2,"c":1e999}`, []fe{{"/$a", "'$'"}, {"/b", "control"}, {"/b", "more than once"}, {"/c", "range"}}},
		{"name rule and duplicate", `{"a.b":1,"a.b":2}`, []fe{{"/a.b", "'.'"}, {"/a.b", "'.'"}, {"/a.b", "more than once"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			ve := fieldsOf(t, err)
			if len(ve.Fields) != len(tt.want) || ve.More != 0 {
				t.Fatalf("%+v and %d more, want %d errors", ve.Fields, ve.More, len(tt.want))
			}
			for i, w := range tt.want {
				if got := ve.Fields[i]; got.Field != w.field || !strings.Contains(got.Message, w.msg) {
					t.Errorf("error %d: %q %q, want %q with %q", i, got.Field, got.Message, w.field, w.msg)
				}
			}
		})
	}
}

// TestParseCaseFoldManyMembers: an object of many members compares names
// through a map of folded names; it finds what the pairwise comparison
// finds, and a hostile object stays linear.
func TestParseCaseFoldManyMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 100 {
		fmt.Fprintf(&b, `"m%d":%d,`, i, i)
	}
	b.WriteString(`"M50":1,"\u212a":2,"k":3}`)
	_, err := Parse([]byte(b.String()))
	ve := fieldsOf(t, err)
	if len(ve.Fields) != 2 || ve.Fields[0].Field != "/M50" || !strings.Contains(ve.Fields[0].Message, `"m50"`) ||
		ve.Fields[1].Field != "/k" || !strings.Contains(ve.Fields[1].Message, `"`+"\u212a"+`"`) {
		t.Fatalf("%+v, want /M50 like m50 and /k like the Kelvin sign", ve.Fields)
	}
	// 200,000 distinct members parse (fast: a quadratic comparison would
	// take minutes).
	b.Reset()
	b.WriteString("{")
	for i := range 200_000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"m%d":0`, i)
	}
	b.WriteString("}")
	if _, err := Parse([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
}

// TestParseErrorsBounded: a body of many bad members lists
// post.MaxFieldErrors and counts the rest; a long name is cut in the
// pointer.
func TestParseErrorsBounded(t *testing.T) {
	const bad = 3 * post.MaxFieldErrors
	var b strings.Builder
	b.WriteString("{")
	for i := range bad {
		fmt.Fprintf(&b, `"$%d":1,`, i)
	}
	long := strings.Repeat("é", post.MaxFieldErrorText)
	fmt.Fprintf(&b, `"%s":1,"%s":2}`, long, long)
	_, err := Parse([]byte(b.String()))
	ve := fieldsOf(t, err)
	if len(ve.Fields) != post.MaxFieldErrors || ve.More != bad+1-post.MaxFieldErrors {
		t.Fatalf("%d listed, %d more; want %d and %d", len(ve.Fields), ve.More, post.MaxFieldErrors, bad+1-post.MaxFieldErrors)
	}
	_, err = Parse([]byte(fmt.Sprintf(`{"%s":1,"%s":2}`, long, long)))
	ve = fieldsOf(t, err)
	if f := ve.Fields[0].Field; len(f) > post.MaxFieldErrorText || !strings.HasPrefix(f, "/éé") || !strings.HasSuffix(f, "…") {
		t.Errorf("pointer %q: want it cut to %d bytes, marked", f, post.MaxFieldErrorText)
	}
}

func TestParseBatch(t *testing.T) {
	in := ` [ {"a":1} , {"a":1,"a":2}, [1], {"b":"\u00e9"}, {"$c":1} ] `
	items, errs, err := ParseBatch([]byte(in), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 5 || len(errs) != 5 {
		t.Fatalf("%d items, %d errors, want 5 of each", len(items), len(errs))
	}
	for i, want := range []string{`{"a":1}`, ``, ``, `{"b":"é"}`, ``} {
		if string(items[i].Body) != want || (want == "") != (errs[i] != nil) {
			t.Errorf("item %d: %s (%v), want %q", i, items[i].Body, errs[i], want)
		}
	}
	if ve := fieldsOf(t, errs[1]); ve.Fields[0].Field != "/a" {
		t.Errorf("item 1: %+v, want /a within the item", ve.Fields)
	}
	if ve := fieldsOf(t, errs[4]); len(ve.Fields) != 1 || ve.Fields[0].Field != "/$c" {
		t.Errorf("item 4: %+v, want only /$c (item 1's errors are its own)", ve.Fields)
	}
	var ne *post.NotObjectError
	if !errors.As(errs[2], &ne) || ne.Kind != "array" {
		t.Errorf("item 2: %v, want not an object", errs[2])
	}
	if items[0].Tree["a"] == nil || items[3].Tree["b"] != "é" {
		t.Errorf("trees %v %v", items[0].Tree, items[3].Tree)
	}
	// Bodies share a buffer but not their bytes.
	_ = append(items[0].Body, "XXXX"...)
	if string(items[3].Body) != `{"b":"é"}` {
		t.Errorf("appending to one Body changed another: %s", items[3].Body)
	}

	tests := []struct {
		name string
		in   string
		max  int
		is   func(error) bool
	}{
		{"object", `{"a":1}`, 10, func(err error) bool { return errors.Is(err, post.ErrNotArray) }},
		{"number", ` 1 `, 10, func(err error) bool { return errors.Is(err, post.ErrNotArray) }},
		{"empty", ``, 10, isEOF},
		{"cut", `[{"a":1}`, 10, isEOF},
		{"cut in an item", `[{"a":`, 10, isEOF},
		{"cut after a comma", `[{},`, 10, isEOF},
		{"cut after a comma and space", "[{}, \n", 10, isEOF},
		{"cut after a comma beyond the limit", `[{},{},`, 1, isEOF},
		{"cut after the bracket", `[ `, 10, isEOF},
		{"bad UTF-8 in an item", "[{\"a\":1},{\"a\":\"\xff\"}]", 10, isSyntax},
		{"bad surrogate in a non-object item", `[{}, ["\ud800"]]`, 10, isSyntax},
		{"trailing data", `[{}] {}`, 10, isSyntax},
		{"trailing comma", `[{},]`, 10, isSyntax},
		{"missing comma", `[{} {}]`, 10, isSyntax},
		{"item too deep", `[` + nest(MaxDepth, `{"a":`, `}`) + `]`, 10, isSyntax},
		{"too many", `[{},{},{}]`, 2, func(err error) bool {
			var tm *post.TooManyError
			return errors.As(err, &tm) && tm.N == 3 && tm.Max == 2
		}},
		{"too many, and malformed after the limit", `[{},{},{"a":"\ud800"}]`, 2, isSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, errs, err := ParseBatch([]byte(tt.in), tt.max)
			if !tt.is(err) || items != nil || errs != nil {
				t.Errorf("%d items, error %T %v", len(items), err, err)
			}
		})
	}
	if items, errs, err := ParseBatch([]byte(`[]`), 10); err != nil || len(items) != 0 || len(errs) != 0 {
		t.Errorf("[]: %v %v %v, want no items", items, errs, err)
	}
}

func isEOF(err error) bool {
	var se *post.SyntaxError
	return errors.As(err, &se) && se.EOF
}

func isSyntax(err error) bool {
	var se *post.SyntaxError
	return errors.As(err, &se) && !se.EOF
}

// TestCheckNumber: the number rule alone, accepted and refused.
func TestCheckNumber(t *testing.T) {
	for lit, ok := range map[string]bool{
		"0": true, "-0": true, "0.0": true, "-0.0": true, "0e-999999999999": true, "1": true, "-1": true,
		"9223372036854775807": true, "-9223372036854775808": true, "9223372036854775808": false, "-9223372036854775809": false,
		"0.1": true, "1.50": true, "1e3": true, "1E+3": true, "1e-7": true, "123456789012345678e-10": false,
		"1.5e300": true, "1.7976931348623157e308": true, "1.7976931348623159e308": false, "2e308": false,
		"5e-324": true, "4.9e-324": false, "2.2250738585072014e-308": true, "1e-400": false,
		"0.30000000000000004": true, "0.3000000000000000444": false, "100000000000000000000000.0": true,
		"12345678901234567.0": false, "1234567890123456.0": true, "0.12345678901234567890123": false,
		"123.456": true, "1.0000000000000000000000000000000000000000000000": true,
	} {
		integer := !strings.ContainsAny(lit, ".eE")
		if msg := checkNumber(lit, integer); (msg == "") != ok {
			t.Errorf("%s: %q, want ok=%v", lit, msg, ok)
		}
	}
}
