package post

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

// stdDecode is what the API did before the strict decoder: encoding/json
// with unknown fields refused and nothing after the object.
func stdDecode(data []byte) (Input, error) {
	var in Input
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Input{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Input{}, errors.New("trailing data")
	}
	return in, nil
}

func sameInput(a, b Input) bool {
	return a.Author == b.Author && a.Title == b.Title && a.Subtitle == b.Subtitle && a.Content == b.Content &&
		slices.Equal(a.Tags, b.Tags) && (a.Tags == nil) == (b.Tags == nil)
}

var decodeSeeds = []string{
	`{"author":"Ada","title":"T","subtitle":"S","content":"C","tags":["a","b"]}`,
	` { "content" : "x\ty\n\"q\" \\ \/ \u00e9 \ud83d\ude00 \u2028" , "author":"a","title":"t"} `,
	`{"tags":[],"author":null,"title":"","content":"c"}`,
	`{"tags":null}`,
	`{}`,
	`[]`, `null`, `"x"`, `12`, `{"author":1}`, `{"author":"a",}`, `{"author":"a"`, `{"AUTHOR":"a"}`,
	`{"author":"a","author":"b"}`, `{"author":"\ud800"}`, "{\"author\":\"\xff\"}", `{"author":"\u0000"}`,
	`{"tags":["a",1,null,{}]}`, `{"x":{"y":[1,2.5e-3,true,false,null,"s"]}}`, `{"author":"a"} x`,
	`{"author":-0.0e+1}`, `{"author":01}`, `{"author":1.}`, `{"author":tru}`, `{"author":"\x"}`,
}

// FuzzDecodeInput is a differential test against encoding/json: whatever
// the strict decoder accepts, encoding/json accepts with the same result,
// and on input both accept they agree.
func FuzzDecodeInput(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeInput(data)
		want, stdErr := stdDecode(data)
		if err != nil {
			return // stricter is allowed
		}
		if stdErr != nil {
			t.Fatalf("DecodeInput accepted %q, encoding/json refused it: %v", data, stdErr)
		}
		if !sameInput(got, want) {
			t.Fatalf("DecodeInput(%q) = %+v, encoding/json gives %+v", data, got, want)
		}
	})
}

func TestDecodeInputRefuses(t *testing.T) {
	tests := []struct {
		data      string
		wantField string // "" for a *SyntaxError or *NotObjectError
		wantMsg   string
	}{
		{`{"AUTHOR":"a"}`, "AUTHOR", "unknown field"},
		{`{"author":"a","author":"a"}`, "author", "more than once"},
		{`{"author":"\ud800"}`, "author", "surrogate"},
		{`{"author":"\udc00\ud83d"}`, "author", "surrogate"},
		{"{\"title\":\"\xed\xa0\x80\"}", "title", "valid UTF-8"},
		{`{"tags":["a",1]}`, "tags[1]", "must be a string, not number"},
		{`{"tags":{}}`, "tags", "must be an array of strings, not object"},
		{`{"content":true}`, "content", "must be a string, not bool"},
		{`[]`, "", "not array"},
		{`{"author":"a"}{}`, "", "unexpected data after"},
		{`{"author":"a"`, "", "ends too early"},
		{strings.Repeat("[", maxDepth+5), "", "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.data[:min(len(tt.data), 40)], func(t *testing.T) {
			_, err := DecodeInput([]byte(tt.data))
			if err == nil {
				t.Fatal("DecodeInput accepted it")
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			var ve *ValidationError
			if isVE := errors.As(err, &ve); isVE != (tt.wantField != "") {
				t.Fatalf("error %v (%T): field error %v, want %v", err, err, isVE, tt.wantField != "")
			}
			if ve != nil && ve.Fields[0].Field != tt.wantField {
				t.Errorf("field %q, want %q", ve.Fields[0].Field, tt.wantField)
			}
		})
	}
}

func TestDecodeBatchKeepsItemErrors(t *testing.T) {
	items, errs, err := DecodeBatch([]byte(`[{"author":"a"}, 5, {"Author":"b"}, {"author":"a","author":"b"}, {"title":"\ud800"}, {}]`), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 6 || items[0].Author != "a" {
		t.Fatalf("items %+v", items)
	}
	for i, want := range []bool{false, true, true, true, true, false} {
		if (errs[i] != nil) != want {
			t.Errorf("item %d: error %v, want an error: %v", i, errs[i], want)
		}
	}
	if _, _, err := DecodeBatch([]byte(`[{},{},{}]`), 2); err == nil || !strings.Contains(err.Error(), "3 posts; the limit is 2") {
		t.Errorf("over the limit: %v", err)
	}
	if _, _, err := DecodeBatch([]byte(`[{}, {"a":]`), 10); err == nil {
		t.Error("a syntax error in an item did not fail the batch")
	}
}

// FuzzEncodedLen checks EncodedLen against Marshal, and that every record
// Marshal makes of a valid post is accepted back unchanged.
func FuzzEncodedLen(f *testing.F) {
	f.Add("Ada", "<b>&amp;</b>", "\u2028\u2029", "\"\\\x00\x01\x1f\x7f é 😀 \xff", "tag", "0123456789abcdef0123456789abcdef")
	f.Add("a", "t", "", "c", "", "")
	f.Fuzz(func(t *testing.T, author, title, subtitle, content, tag, fp string) {
		p := New(KeyedID(author), Input{Author: author, Title: title, Subtitle: subtitle, Content: content, Tags: []string{tag}}, time.Unix(1e9, 123456789))
		p.Fingerprint = fp
		b, err := Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if n := EncodedLen(p); n != len(b) {
			t.Fatalf("EncodedLen = %d, Marshal gives %d bytes: %s", n, len(b), b)
		}
		if p.Input().Validate() != nil || (fp != "" && !validFingerprint(fp)) {
			return
		}
		got, err := Unmarshal([]byte(p.ID), b)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%+v)): %v", p, err)
		}
		if !sameInput(got.Input(), p.Input()) && !(len(p.Tags) == 0 && got.Tags == nil) || got.Fingerprint != fp || !got.CreatedAt.Equal(p.CreatedAt) {
			t.Fatalf("round trip gave %+v, want %+v", got, p)
		}
	})
}

func TestMarshalDoesNotEscapeHTML(t *testing.T) {
	p := New(NewID(time.Now()), Input{Author: "a", Title: "t", Content: strings.Repeat("<", MaxContentLen)}, time.Now())
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`\u003c`)) || len(b) > MaxContentLen+200 {
		t.Errorf("262,144 '<' encode to %d bytes", len(b))
	}
}

func TestUnmarshalAppliesInputRules(t *testing.T) {
	p := New(KeyedID("k"), Input{Author: "a", Title: "t", Content: "c"}, time.Now())
	good, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{
		"lone surrogate":    strings.Replace(string(good), `"content":"c"`, `"content":"\ud800"`, 1),
		"NUL":               strings.Replace(string(good), `"content":"c"`, `"content":"c\u0000"`, 1),
		"invalid UTF-8":     strings.Replace(string(good), `"content":"c"`, "\"content\":\"c\xff\"", 1),
		"duplicate field":   strings.Replace(string(good), `"content":"c"`, `"content":"c","content":"d"`, 1),
		"case-folded field": strings.Replace(string(good), `"content":"c"`, `"Content":"c"`, 1),
		"bad fingerprint":   strings.Replace(string(good), `}`, `,"fp":"XYZ"}`, 1),
	} {
		if value == string(good) {
			t.Fatalf("%s: the replacement did not apply to %s", name, good)
		}
		if _, err := Unmarshal([]byte(p.ID), []byte(value)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: Unmarshal(%s) = %v, want ErrBadRecord", name, value, err)
		}
	}
}

func TestScopedKeyedID(t *testing.T) {
	if ScopedKeyedID("", "k") != KeyedID("k") {
		t.Error("the anonymous identity changed the id of a key")
	}
	ids := map[string]string{}
	for _, c := range [][2]string{{"", "k"}, {"alice", "k"}, {"bob", "k"}, {"alice", "k2"}, {"alicek", ""}, {"alice", "k\x000"}, {"a", "lice"}} {
		id := ScopedKeyedID(c[0], c[1])
		checkUUID(t, id, '8')
		if other, dup := ids[id]; dup {
			t.Errorf("%q and %s share id %s", c, other, id)
		}
		ids[id] = fmt.Sprint(c)
		if ScopedKeyedID(c[0], c[1]) != id {
			t.Errorf("%q: id not stable", c)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := Input{Author: "a", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"x", "y"}}
	fp := base.Fingerprint()
	if !validFingerprint(fp) {
		t.Fatalf("fingerprint %q is not 32 hex digits", fp)
	}
	for name, in := range map[string]Input{
		"author":             {Author: "b", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"x", "y"}},
		"fields shifted":     {Author: "at", Title: "", Subtitle: "s", Content: "c", Tags: []string{"x", "y"}},
		"tag order":          {Author: "a", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"y", "x"}},
		"tags joined":        {Author: "a", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"xy"}},
		"one tag fewer":      {Author: "a", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"x"}},
		"content whitespace": {Author: "a", Title: "t", Subtitle: "s", Content: "c ", Tags: []string{"x", "y"}},
	} {
		if in.Fingerprint() == fp {
			t.Errorf("%s: a different input has the same fingerprint", name)
		}
	}
	same := base
	same.Tags = append([]string(nil), base.Tags...)
	if same.Fingerprint() != fp {
		t.Error("the same input gave another fingerprint")
	}
}
