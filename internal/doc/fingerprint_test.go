package doc

import (
	"encoding/json"
	"testing"
)

func fp(t *testing.T, body string) string {
	t.Helper()
	return Fingerprint(mustParse(t, body).Tree)
}

// TestFingerprintSame: what a retry may change (member order, spacing,
// escapes, how a double is written) keeps the fingerprint.
func TestFingerprintSame(t *testing.T) {
	for _, pair := range [][2]string{
		{`{"a":1,"b":2}`, `{"b":2,"a":1}`},
		{`{"x":{"a":[1,{"c":3,"d":4}],"b":2}}`, `{ "x" : { "b" : 2 , "a" : [ 1 , { "d" : 4 , "c" : 3 } ] } }`},
		{`{"a":1.5}`, `{"a":1.50}`},
		{`{"a":1.5}`, `{"a":15e-1}`},
		{`{"a":1e3}`, `{"a":1000.0}`},
		{`{"a":1e3}`, `{"a":1E+3}`},
		{`{"a":0.0}`, `{"a":-0.0}`},
		{`{"a":0.1}`, `{"a":0.10000000000000000}`},
		{`{"a":"é"}`, `{"a":"\u00e9"}`},
		{`{"é":"\/"}`, `{"\u00e9":"/"}`},
		{`{"a":-0}`, `{"a":0}`}, // one int64
	} {
		if a, b := fp(t, pair[0]), fp(t, pair[1]); a != b {
			t.Errorf("%s and %s: %s and %s, want the same", pair[0], pair[1], a, b)
		}
	}
}

// TestFingerprintDiffers: any change of a value, a name, a type or an
// array's order changes it. An integer and a double of one value differ:
// the store keeps an int64 and a double.
func TestFingerprintDiffers(t *testing.T) {
	for _, pair := range [][2]string{
		{`{"a":"x"}`, `{"a":"y"}`},
		{`{"a":1}`, `{"a":2}`},
		{`{"a":1000}`, `{"a":1e3}`},
		{`{"a":1}`, `{"a":1.0}`},
		{`{"a":1}`, `{"a":"1"}`},
		{`{"a":true}`, `{"a":false}`},
		{`{"a":null}`, `{}`},
		{`{"a":null}`, `{"a":false}`},
		{`{"a":[1,2]}`, `{"a":[2,1]}`},
		{`{"a":{}}`, `{"a":[]}`},
		{`{"a":1}`, `{"b":1}`},
		{`{"a":"b"}`, `{"ab":""}`},
		{`{"a":["ab"]}`, `{"a":["a","b"]}`},
		{`{"a":[[1],[]]}`, `{"a":[[],[1]]}`},
		{`{"a":{"b":1},"c":2}`, `{"a":{"b":1,"c":2}}`},
		{`{"a":0.1}`, `{"a":0.30000000000000004}`},
		{`{"a":9007199254740993}`, `{"a":9007199254740992}`},
		{`{"a":"x","b":"y"}`, `{"a":"y","b":"x"}`},
	} {
		if a, b := fp(t, pair[0]), fp(t, pair[1]); a == b {
			t.Errorf("%s and %s: both %s, want them to differ", pair[0], pair[1], a)
		}
	}
}

// TestFingerprintStable: the canonical form is a contract with the
// documents already stored (a retry after a deploy compares against the
// stored fp): a change of it must be deliberate, and this value updated.
// The value was also computed apart from this package, by a few lines of
// Python writing the canonical form Fingerprint's comment describes.
func TestFingerprintStable(t *testing.T) {
	got := fp(t, `{"s":"é","n":[1,1.5,-0.0],"o":{"t":true,"f":false,"z":null}}`)
	const want = "c80212ee5bd626dcb4344653d815836b"
	if len(got) != 32 {
		t.Fatalf("%q: want 32 hex digits", got)
	}
	for _, c := range got {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			t.Fatalf("%q: want lowercase hex", got)
		}
	}
	if got != want {
		t.Errorf("Fingerprint = %s, was %s: the canonical form changed", got, want)
	}
}

// TestFingerprintOtherTrees: a tree decoded otherwise (float64 numbers)
// fingerprints a double as Parse's tree does.
func TestFingerprintOtherTrees(t *testing.T) {
	var m map[string]any
	if err := json.Unmarshal([]byte(`{"a":1.5,"b":[0.25]}`), &m); err != nil {
		t.Fatal(err)
	}
	if Fingerprint(m) != fp(t, `{"b":[0.25],"a":1.50}`) {
		t.Error("a float64 tree and a json.Number tree of the same doubles differ")
	}
}
