package store

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// roundTrip is body through toBSON, the BSON wire form and fromBSON: what a
// stored body reads back as, without a server.
func roundTrip(t testing.TB, body string) (bson.D, string) {
	t.Helper()
	d, err := toBSON([]byte(body))
	if err != nil {
		t.Fatalf("toBSON(%s): %v", body, err)
	}
	raw, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("bson.Marshal(%v): %v", d, err)
	}
	out, err := fromBSON(raw)
	if err != nil {
		t.Fatalf("fromBSON of %s: %v", body, err)
	}
	return d, string(out)
}

// TestBSONValues: each kind of JSON value becomes the BSON value that holds
// it exactly, and reads back as the same bytes.
func TestBSONValues(t *testing.T) {
	tests := []struct {
		name string
		json string // a normalized value: it reads back as written
		want any    // what toBSON makes of it
	}{
		{"zero", `0`, int32(0)},
		{"small integer", `42`, int32(42)},
		{"negative integer", `-7`, int32(-7)},
		{"int32 max", `2147483647`, int32(math.MaxInt32)},
		{"int32 min", `-2147483648`, int32(math.MinInt32)},
		{"just past int32 max", `2147483648`, int64(math.MaxInt32 + 1)},
		{"just past int32 min", `-2147483649`, int64(math.MinInt32 - 1)},
		{"beyond 2^53", `9007199254740993`, int64(1<<53 + 1)},
		{"int64 max", `9223372036854775807`, int64(math.MaxInt64)},
		{"int64 min", `-9223372036854775808`, int64(math.MinInt64)},
		{"0.1", `0.1`, 0.1},
		{"19.99", `19.99`, 19.99},
		{"1e-7", `1e-7`, 1e-7},
		{"1.5e300", `1.5e300`, 1.5e300},
		{"negative fraction", `-2.5`, -2.5},
		{"integral double", `2.0`, 2.0},
		{"negative zero double", `-0.0`, math.Copysign(0, -1)},
		{"large integral double", `1e21`, 1e21},
		{"smallest denormal", `5e-324`, 5e-324},
		{"largest double", `1.7976931348623157e308`, math.MaxFloat64},
		{"string", `"plain"`, "plain"},
		{"empty string", `""`, ""},
		{"escapes", `"q\"b\\n\nt\tc\u0001"`, "q\"b\\n\nt\tc\x01"},
		{"unicode", `"Zoë ✓ 日本 😀"`, "Zoë ✓ 日本 😀"},
		{"line separators", `"a\u2028b\u2029c"`, "a\u2028b\u2029c"},
		{"true", `true`, true},
		{"false", `false`, false},
		{"null", `null`, nil},
		{"empty object", `{}`, bson.D{}},
		{"empty array", `[]`, bson.A{}},
		{"object in order", `{"z":1,"a":{"y":[],"b":null},"m":"x"}`, bson.D{
			{Key: "z", Value: int32(1)},
			{Key: "a", Value: bson.D{{Key: "y", Value: bson.A{}}, {Key: "b", Value: nil}}},
			{Key: "m", Value: "x"},
		}},
		{"array of everything", `[1,9007199254740993,0.5,"s",true,null,[[]],{"k":[{}]}]`, bson.A{
			int32(1), int64(1<<53 + 1), 0.5, "s", true, nil, bson.A{bson.A{}},
			bson.D{{Key: "k", Value: bson.A{bson.D{}}}},
		}},
		{"nested store names", `{"_id":1,"createdAt":2,"ingestedAt":3,"_fp":4}`, bson.D{
			{Key: "_id", Value: int32(1)}, {Key: "createdAt", Value: int32(2)},
			{Key: "ingestedAt", Value: int32(3)}, {Key: "_fp", Value: int32(4)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"before":0,"v":` + tt.json + `,"after":1}`
			d, out := roundTrip(t, body)
			if len(d) != 3 || d[0].Key != "before" || d[1].Key != "v" || d[2].Key != "after" {
				t.Fatalf("toBSON(%s) = %v, want the three members in order", body, d)
			}
			if !reflect.DeepEqual(d[1].Value, tt.want) {
				t.Errorf("toBSON(%s) gives v = %#v (%T), want %#v (%T)", body, d[1].Value, d[1].Value, tt.want, tt.want)
			}
			if f, ok := tt.want.(float64); ok && math.Signbit(f) != math.Signbit(d[1].Value.(float64)) {
				t.Errorf("the sign of %s is lost", tt.json)
			}
			if out != body {
				t.Errorf("round trip of %s\n gave %s", body, out)
			}
		})
	}
}

// TestBSONNormalizes: a body reads back in one canonical form: compact,
// strings as post.AppendQuoted writes them, numbers in their shortest
// form (an integral double keeps a fraction so it stays a double).
func TestBSONNormalizes(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a":1.50}`, `{"a":1.5}`},
		{`{"a":1.0}`, `{"a":1.0}`},
		{`{"a":2e0}`, `{"a":2.0}`},
		{`{"a":1E2}`, `{"a":100.0}`},
		{`{"a":-0}`, `{"a":0}`},
		{`{"a":0.0000001}`, `{"a":1e-7}`},
		{`{"a":0.000001}`, `{"a":0.000001}`},
		{`{"a":1e+21}`, `{"a":1e21}`},
		{`{"a":123456789e20}`, `{"a":1.23456789e28}`},
		{`{"a":1e20}`, `{"a":100000000000000000000.0}`},
		{`{"a":1.5E-300}`, `{"a":1.5e-300}`},
		{`{"a":1e-10}`, `{"a":1e-10}`},
		{`{"a":0.30000000000000004}`, `{"a":0.30000000000000004}`},
		{`{"a":-0.0}`, `{"a":-0.0}`},
		{` { "a" : [ 1 , { "b" : true } ] } `, `{"a":[1,{"b":true}]}`},
		{`{"s":"\u00e9\/\u0041"}`, `{"s":"é/A"}`},
		{`{"s":"\ud83d\ude00"}`, `{"s":"😀"}`},
		{`{"s":"<&>"}`, `{"s":"<&>"}`},
		{"{\"s\":\"\u2028\"}", `{"s":"\u2028"}`},
		{`{"s":"\u007f"}`, "{\"s\":\"\x7f\"}"},
		{`{"s":"\u001f"}`, `{"s":"\u001f"}`},
	}
	for _, tt := range tests {
		_, got := roundTrip(t, tt.in)
		if got != tt.want {
			t.Errorf("%s reads back as %s, want %s", tt.in, got, tt.want)
		}
		// The canonical form is a fixed point.
		if _, again := roundTrip(t, got); again != got {
			t.Errorf("%s reads back as %s, then as %s", tt.in, got, again)
		}
	}
}

// TestToBSONRefuses: a body that breaks a rule the store relies on is an
// error naming where, never a panic or a document stored differently.
func TestToBSONRefuses(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxNesting+1) + `1` + strings.Repeat(`}`, maxNesting+1)
	deepArray := `{"a":` + strings.Repeat(`[`, maxNesting) + strings.Repeat(`]`, maxNesting) + `}`
	var many strings.Builder
	many.WriteString(`{"x":{`)
	for i := range 40 {
		many.WriteString(`"k` + strconv.Itoa(i) + `":1,`)
	}
	many.WriteString(`"k17":2}}`)
	tests := []struct {
		name, body string
		want       string // in the error
	}{
		{"invalid UTF-8", "{\"a\":\"\xff\"}", "UTF-8"},
		{"invalid UTF-8 in a name", "{\"\xc3\":1}", "UTF-8"},
		{"empty", ``, "not JSON"},
		{"array", `[1]`, "not a JSON object"},
		{"string", `"a"`, "not a JSON object"},
		{"two objects", `{}{}`, "more than one"},
		{"trailing garbage", `{"a":1} x`, "more than one"},
		{"unterminated", `{"a":1`, "not JSON"},
		{"bad literal", `{"a":tru}`, "not JSON"},
		{"empty name", `{"":1}`, `field "/": an empty member name`},
		{"dollar name", `{"a":{"$set":1}}`, `field "/a/$set"`},
		{"dotted name", `{"a":[{"b.c":1}]}`, `field "/a/0/b.c"`},
		{"NUL in a name", `{"a\u0000b":1}`, "U+0000"},
		{"_id", `{"_id":"x"}`, `field "/_id": the store keeps`},
		{"createdAt", `{"a":1,"createdAt":"x"}`, `field "/createdAt"`},
		{"ingestedAt", `{"ingestedAt":0}`, `field "/ingestedAt"`},
		{"_fp", `{"_fp":"x"}`, `field "/_fp"`},
		{"duplicate", `{"a":1,"b":2,"a":3}`, `field "/a": the member appears more than once`},
		{"duplicate in a large object", many.String(), `field "/x/k17": the member appears more than once`},
		{"integer beyond int64", `{"n":9223372036854775808}`, `field "/n": the integer 9223372036854775808 does not fit`},
		{"integer below int64", `{"n":[-9223372036854775809]}`, `field "/n/0"`},
		{"double overflow", `{"n":1e400}`, `field "/n": the number 1e400 is not a finite double`},
		{"too deep", deep, "nested more than"},
		{"too deep in arrays", deepArray, "nested more than"},
		{"pointer escapes", `{"a/b":{"c~d":{"e":1e999}}}`, `field "/a~1b/c~0d/e"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := toBSON([]byte(tt.body))
			if err == nil {
				t.Fatalf("toBSON(%.80s) = %v, want an error", tt.body, d)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("toBSON(%.80s) error %q, want it to say %q", tt.body, err, tt.want)
			}
		})
	}
	// Just within the nesting bound is fine: the bound is MongoDB's.
	within := strings.Repeat(`{"a":`, maxNesting) + `1` + strings.Repeat(`}`, maxNesting)
	if _, err := toBSON([]byte(within)); err != nil {
		t.Errorf("a body nested %d levels: %v", maxNesting, err)
	}
}

// TestFromBSONRefuses: a stored document with a value toBSON never makes
// (written by something else) is an error naming the field.
func TestFromBSONRefuses(t *testing.T) {
	oid := bson.NewObjectID()
	dec, err := bson.ParseDecimal128("1.50")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		doc  bson.D
		want string
	}{
		{"decimal", bson.D{{Key: "price", Value: dec}}, `field "/price": BSON type 128-bit decimal`},
		{"ObjectID", bson.D{{Key: "a", Value: bson.D{{Key: "ref", Value: oid}}}}, `field "/a/ref": BSON type objectID`},
		{"date in an array", bson.D{{Key: "a", Value: bson.A{1, "x", bson.NewDateTimeFromTime(ingestTime)}}}, `field "/a/2": BSON type UTC datetime`},
		{"binary", bson.D{{Key: "b", Value: bson.Binary{Data: []byte{1}}}}, `field "/b"`},
		{"regex", bson.D{{Key: "r", Value: bson.Regex{Pattern: "x"}}}, `field "/r"`},
		{"timestamp", bson.D{{Key: "t", Value: bson.Timestamp{T: 1}}}, `field "/t"`},
		{"undefined", bson.D{{Key: "u", Value: bson.Undefined{}}}, `field "/u"`},
		{"NaN", bson.D{{Key: "x", Value: bson.A{bson.D{{Key: "n", Value: math.NaN()}}}}}, `field "/x/0/n": the double NaN`},
		{"infinity", bson.D{{Key: "n", Value: math.Inf(-1)}}, `field "/n": the double -Inf`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bson.Marshal(append(bson.D{{Key: "ok", Value: 1}}, tt.doc...))
			if err != nil {
				t.Fatal(err)
			}
			out, err := fromBSON(raw)
			if err == nil {
				t.Fatalf("fromBSON(%s) = %s, want an error", raw, out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("fromBSON(%s) error %q, want it to say %q", raw, err, tt.want)
			}
		})
	}
	if _, err := fromBSON(bson.Raw{5, 0, 0}); err == nil {
		t.Error("fromBSON of truncated bytes: no error")
	}
}

// TestFromBSONLeavesOutStoredFields: the members the store adds stay out of
// the body at the top level only.
func TestFromBSONLeavesOutStoredFields(t *testing.T) {
	raw, err := bson.Marshal(bson.D{
		{Key: "_id", Value: "doc-1"},
		{Key: "id", Value: "doc-1"}, // a stream whose id pointer is /id keeps it
		{Key: "n", Value: bson.D{{Key: "_id", Value: int32(1)}, {Key: "createdAt", Value: "x"}}},
		{Key: "createdAt", Value: bson.NewDateTimeFromTime(ingestTime)},
		{Key: "ingestedAt", Value: bson.NewDateTimeFromTime(ingestTime)},
		{Key: "_fp", Value: "00112233445566778899aabbccddeeff"},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := fromBSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":"doc-1","n":{"_id":1,"createdAt":"x"}}`; string(got) != want {
		t.Errorf("fromBSON = %s, want %s", got, want)
	}
}

// TestAppendDouble: every double is written as valid JSON that reads back
// as the same double, and as a double (a '.' or an exponent).
func TestAppendDouble(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []float64{0, 1, -1, 0.1, 1e-6, 1e-7, 9.999999999999999e-7, 1e21, 999999999999999900000,
		1e20, math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 1 << 53, 123.456}
	for range 20000 {
		vals = append(vals, math.Float64frombits(r.Uint64()), r.NormFloat64()*math.Pow(10, float64(r.IntN(40)-20)), float64(r.Int64N(1<<60)))
	}
	for _, f := range vals {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		b := appendDouble([]byte("x"), f)
		s := string(b[1:])
		if b[0] != 'x' {
			t.Fatalf("appendDouble overwrote what came before: %q", b)
		}
		if !json.Valid(b[1:]) {
			t.Errorf("appendDouble(%v) = %s: not JSON", f, s)
		}
		if !strings.ContainsAny(s, ".e") {
			t.Errorf("appendDouble(%v) = %s reads back as an integer", f, s)
		}
		back, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(f) {
			t.Errorf("appendDouble(%v) = %s reads back as %v (%v)", f, s, back, err)
		}
		if strings.Contains(s, "e+") || strings.Contains(s, "e-0") || strings.Contains(s, "e0") {
			t.Errorf("appendDouble(%v) = %s: exponent not in its shortest form", f, s)
		}
	}
}

// FuzzBSONRoundTrip: a body toBSON accepts reads back as valid JSON with
// the same meaning, and its canonical form is a fixed point.
func FuzzBSONRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":1.50,"b":[1e400]}`, `{"a":"\u2028\ud83d\ude00","b":{"c":[null,true,-0.0]}}`,
		`{"n":9223372036854775807,"m":-2147483649,"f":1e-7}`, `{"a":1,"a":2}`, `{"$a":1}`, "{\"a\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := toBSON(body)
		if err != nil {
			return
		}
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatalf("bson.Marshal of toBSON(%q): %v", body, err)
		}
		out, err := fromBSON(raw)
		if err != nil {
			t.Fatalf("fromBSON of toBSON(%q): %v", body, err)
		}
		if !json.Valid(out) {
			t.Fatalf("%q reads back as %q: not JSON", body, out)
		}
		var in, back any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&in); err != nil {
			t.Fatalf("encoding/json refuses %q, which toBSON took: %v", body, err)
		}
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatal(err)
		}
		if !sameJSON(in, back) {
			t.Fatalf("%q reads back as %q: another value", body, out)
		}
		d2, err := toBSON(out)
		if err != nil {
			t.Fatalf("toBSON of its own output %q: %v", out, err)
		}
		raw2, err := bson.Marshal(d2)
		if err != nil || !bytes.Equal(raw, raw2) {
			t.Fatalf("%q reads back as %q, which stores differently (%v)", body, out, err)
		}
	})
}

// sameJSON compares a value decoded with UseNumber (a) with one decoded
// plainly (b), numbers by value.
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		f, ok := b.(float64)
		if !ok {
			return false
		}
		want, err := strconv.ParseFloat(string(a), 64)
		return err == nil && want == f
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			if !sameJSON(v, bm[k]) {
				return false
			}
		}
		return true
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], ba[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}
