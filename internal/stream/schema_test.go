package stream

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

// TestPostsSchemaAgreesWithPost: the built-in schema accepts what
// internal/post accepts and refuses what it refuses, on the rules both can
// say (the decoder's own, invalid UTF-8 and repeated fields, are not here).
func TestPostsSchemaAgreesWithPost(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	v := set.Lookup(Builtin).Validator
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	tags := func(n int) string {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = `"t"`
		}
		return "[" + strings.Join(ts, ",") + "]"
	}
	tests := []struct{ name, doc string }{
		{"valid", `{"author":"a","title":"t","content":"c"}`},
		{"valid, all fields", `{"author":"a","title":"t","subtitle":"s","content":"c","tags":["x","y"]}`},
		{"null subtitle and tags", `{"author":"a","title":"t","subtitle":null,"content":"c","tags":null}`},
		{"author missing", `{"title":"t","content":"c"}`},
		{"author blank", `{"author":" \t\n","title":"t","content":"c"}`},
		{"author blank in Unicode spaces", `{"author":"\u00a0\u3000\u2028\u0085","title":"t","content":"c"}`},
		{"author null", `{"author":null,"title":"t","content":"c"}`},
		{"author at the limit, 4-byte characters", fmt.Sprintf(`{"author":%q,"title":"t","content":"c"}`, long(post.MaxAuthorLen, "😀"))},
		{"author over the limit", fmt.Sprintf(`{"author":%q,"title":"t","content":"c"}`, long(post.MaxAuthorLen+1, "é"))},
		{"title over the limit", fmt.Sprintf(`{"author":"a","title":%q,"content":"c"}`, long(post.MaxTitleLen+1, "x"))},
		{"subtitle over the limit", fmt.Sprintf(`{"author":"a","title":"t","subtitle":%q,"content":"c"}`, long(post.MaxSubtitleLen+1, "x"))},
		{"subtitle blank is fine", `{"author":"a","title":"t","subtitle":"  ","content":"c"}`},
		{"content at the limit", fmt.Sprintf(`{"author":"a","title":"t","content":%q}`, long(post.MaxContentLen, "x"))},
		{"content over the limit", fmt.Sprintf(`{"author":"a","title":"t","content":%q}`, long(post.MaxContentLen+1, "x"))},
		{"control character", `{"author":"a\u0007","title":"t","content":"c"}`},
		{"tab, newline, return allowed", `{"author":"a","title":"t","content":"c\t\n\r"}`},
		{"control character in subtitle", `{"author":"a","title":"t","subtitle":"\u001f","content":"c"}`},
		{"tags at the limit", `{"author":"a","title":"t","content":"c","tags":` + tags(post.MaxTags) + `}`},
		{"too many tags", `{"author":"a","title":"t","content":"c","tags":` + tags(post.MaxTags+1) + `}`},
		{"tag too long", fmt.Sprintf(`{"author":"a","title":"t","content":"c","tags":[%q]}`, long(post.MaxTagLen+1, "x"))},
		{"tag blank", `{"author":"a","title":"t","content":"c","tags":[" "]}`},
		{"tag not a string", `{"author":"a","title":"t","content":"c","tags":[1]}`},
		{"tags not an array", `{"author":"a","title":"t","content":"c","tags":"x"}`},
		{"author not a string", `{"author":1,"title":"t","content":"c"}`},
		{"unknown field", `{"author":"a","title":"t","content":"c","Author":"b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, derr := post.DecodeInput([]byte(tt.doc))
			if derr == nil {
				derr = in.Validate()
			}
			doc, err := DecodeDocument([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := v.Validate(doc)
			if (derr == nil) != (len(vs) == 0) {
				t.Errorf("internal/post says %v; the schema says %+v", derr, vs)
			}
		})
	}
}

// TestBigIntegers: an integer beyond 2^53 is judged as sent, not rounded.
func TestBigIntegers(t *testing.T) {
	path := write(t, map[string]string{"streams.yaml": `streams:
  - name: ids
    schema:
      properties:
        n: {type: integer, maximum: 9007199254740992}
`})
	set, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	v := set.Lookup("ids").Validator
	for doc, valid := range map[string]bool{`{"n":9007199254740992}`: true, `{"n":9007199254740993}`: false} {
		d, err := DecodeDocument([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if vs, _ := v.Validate(d); (len(vs) == 0) != valid {
			t.Errorf("%s: %+v, want valid=%v", doc, vs, valid)
		}
	}
	// The same document through float64 is rounded to 2^53 and passes:
	// the reason DecodeDocument keeps json.Number.
	var rounded any
	if err := json.Unmarshal([]byte(`{"n":9007199254740993}`), &rounded); err != nil {
		t.Fatal(err)
	}
	if vs, _ := v.Validate(rounded); len(vs) != 0 {
		t.Errorf("float64 decoding did not round: %+v (the test no longer shows why json.Number)", vs)
	}
}

// TestViolationsBounded: a document of many bad values lists
// post.MaxFieldErrors of them, each at its JSON Pointer, and counts the rest.
func TestViolationsBounded(t *testing.T) {
	set, err := Load("../../examples/streams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const items, badPerItem = 60, 3 // within the schema's maxItems of 100
	bad := strings.TrimSuffix(strings.Repeat(`{"sku":"","quantity":0,"amount":-1},`, items), ",")
	doc, err := DecodeDocument([]byte(`{"orderId":"o-1","customer":"c","status":"paid","placedAt":"2026-12-04T20:00:00Z","items":[` + bad + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	vs, more := set.Lookup("orders").Validator.Validate(doc)
	if len(vs) != post.MaxFieldErrors || len(vs)+more != items*badPerItem {
		t.Fatalf("%d violations and %d more, want %d and %d in all", len(vs), more, post.MaxFieldErrors, items*badPerItem)
	}
	for _, v := range vs {
		if !strings.HasPrefix(v.Pointer, "/items/") {
			t.Errorf("violation at %q, want under /items/", v.Pointer)
		}
		if v.Message == "" || len(v.Message) > post.MaxFieldErrorText {
			t.Errorf("message %q: want 1 to %d bytes", v.Message, post.MaxFieldErrorText)
		}
	}
}

// TestOverBoundRefusedCheaply: an array beyond its maxItems is refused on
// that alone, before the library builds an error for each of its items
// (500,000 of them cost it 384 MB).
func TestOverBoundRefusedCheaply(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	const n = 500_000
	doc, err := DecodeDocument([]byte(`{"author":"a","title":"t","content":"c","tags":[` + strings.TrimSuffix(strings.Repeat(`1,`, n), ",") + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	v := set.Lookup(Builtin).Validator
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	vs, more := v.Validate(doc)
	runtime.ReadMemStats(&after)
	if len(vs) != 1 || more != 0 || vs[0].Pointer != "/tags" || !strings.Contains(vs[0].Message, fmt.Sprint(post.MaxTags)) {
		t.Errorf("%+v and %d more, want one violation at /tags naming the bound %d", vs, more, post.MaxTags)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Errorf("refusing %d tags allocated %d bytes, want under 1 MiB", n, alloc)
	}
}

// TestOverBoundNested: the bounds are found below the top level too, and
// an object's maxProperties as well as an array's maxItems.
func TestOverBoundNested(t *testing.T) {
	path := write(t, map[string]string{"streams.yaml": `streams:
  - name: nested
    schema:
      properties:
        a:
          type: array
          items:
            properties:
              b: {type: array, maxItems: 1}
        m: {$ref: "#/$defs/small"}
      $defs:
        small: {maxProperties: 1}
`})
	set, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DecodeDocument([]byte(`{"a":[{"b":[1]},{"b":[1,2]}],"m":{"x":1,"y":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := set.Lookup("nested").Validator.Validate(doc)
	got := map[string]bool{}
	for _, v := range vs {
		got[v.Pointer] = true
	}
	if len(vs) != 2 || !got["/a/1/b"] || !got["/m"] {
		t.Errorf("%+v, want violations at /a/1/b and /m", vs)
	}
}

// TestViolationsInOrder: the listed violations are the same, in the same
// order, every time, though the library walks objects in map order.
func TestViolationsInOrder(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	// 26 bad fields, more than are listed: which 20 are listed must not
	// depend on map order.
	var b strings.Builder
	b.WriteString(`{"author":"a","title":"t","content":"c","tags":[1,2,3,4,5,6,7,8,9,10,11,12]`)
	for c := 'a'; c <= 'n'; c++ {
		fmt.Fprintf(&b, `,"x%c":1`, c)
	}
	b.WriteString("}")
	doc, err := DecodeDocument([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	v := set.Lookup(Builtin).Validator
	first, more := v.Validate(doc)
	want := []string{"/tags/0", "/tags/1", "/tags/2", "/tags/3", "/tags/4", "/tags/5", "/tags/6", "/tags/7", "/tags/8", "/tags/9", "/tags/10", "/tags/11",
		"/xa", "/xb", "/xc", "/xd", "/xe", "/xf", "/xg", "/xh"}
	var got []string
	for _, f := range first {
		got = append(got, f.Pointer)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || more != 6 {
		t.Fatalf("listed %v and %d more, want %v and 6 more", got, more, want)
	}
	if first[12].Message != msgNotAllowed {
		t.Errorf("unknown field: %q, want %q", first[12].Message, msgNotAllowed)
	}
	for range 20 {
		again, _ := v.Validate(doc)
		if fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("violations differ between calls:\n%v\n%v", first, again)
		}
	}
}

// TestViolationsInOrderNumericNames: members whose names read as one
// number ("0", "00", "000") or mix with indexes are listed in one order
// too (FuzzFastMatchesLibrary found map order showing through).
func TestViolationsInOrderNumericNames(t *testing.T) {
	set, err := Load("../../examples/streams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := DecodeDocument([]byte(`{"000":1,"00":1,"0":1,"10":1,"1a":1,"2":1,"-1":1,"page":1}`))
	if err != nil {
		t.Fatal(err)
	}
	v := set.Lookup("clicks").Validator
	first, _ := v.Validate(doc)
	var got []string
	for _, f := range first {
		got = append(got, f.Pointer)
	}
	want := []string{"", "/0", "/2", "/10", "/-1", "/00", "/000", "/1a", "/page"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
	for range 50 {
		if again, _ := v.Validate(doc); fmt.Sprint(again) != fmt.Sprint(first) {
			t.Fatalf("violations differ between calls:\n%v\n%v", first, again)
		}
	}
}

func TestPointerEscapes(t *testing.T) {
	if got := pointer([]string{"a/b", "c~d", "0"}); got != "/a~1b/c~0d/0" {
		t.Errorf("pointer %q, want /a~1b/c~0d/0", got)
	}
}

func TestDecodeDocumentRefusesTrailingData(t *testing.T) {
	if _, err := DecodeDocument([]byte(`{} {}`)); err == nil {
		t.Error("two values decoded as one document")
	}
}
