package doc

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

var now = time.Date(2026, 12, 4, 20, 0, 1, 987654321, time.FixedZone("CET", 3600))

// noID is a newID for streams whose id is the document's: calling it is
// a bug.
func noID(t *testing.T) func() string {
	return func() string {
		t.Error("newID called for a stream whose id is a field")
		return "generated"
	}
}

func TestAcceptOrder(t *testing.T) {
	orders := streamNamed(t, "orders")
	p, err := Parse(readFile(t, "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Accept(orders, p, now, noID(t))
	if err != nil {
		t.Fatal(err)
	}
	want := Document{
		ID:          "ord-2026-12-04-000123",
		Body:        p.Body,
		CreatedAt:   time.Date(2026, 12, 4, 19, 0, 1, 987000000, time.UTC),
		Fingerprint: Fingerprint(p.Tree),
	}
	if d.ID != want.ID || string(d.Body) != string(want.Body) || d.CreatedAt != want.CreatedAt || d.Fingerprint != want.Fingerprint || !d.IngestedAt.IsZero() {
		t.Errorf("%+v\nwant %+v", d, want)
	}
}

func TestAcceptClick(t *testing.T) {
	clicks := streamNamed(t, "clicks")
	calls := 0
	d, err := Accept(clicks, mustParse(t, string(readFile(t, "click.json"))), now, func() string { calls++; return "0193a1b2-0000-7000-8000-000000000001" })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || d.ID != "0193a1b2-0000-7000-8000-000000000001" {
		t.Errorf("id %q after %d calls of newID, want its id after one", d.ID, calls)
	}
}

// TestAcceptRefuses: reserved members, the schema's violations and an id
// against the rule are field errors at their pointers, all in one answer,
// and newID is not called.
func TestAcceptRefuses(t *testing.T) {
	order := func(change string) string {
		return `{"orderId":"o-1","customer":"c","status":"paid","placedAt":"2026-12-04T20:00:00Z","items":[{"sku":"s","quantity":1,"amount":1.5}]` + change + `}`
	}
	tests := []struct {
		name, stream, body string
		want               []string // pointers, in order
		msg                string   // in the first error's message
	}{
		{"createdAt", "orders", order(`,"createdAt":"x"`), []string{"/createdAt", "/createdAt"}, "reserves"},
		{"id beside orderId", "orders", order(`,"id":"x"`), []string{"/id", "/id"}, "reserves"},
		{"_id", "clicks", `{"page":"/","at":"2026-12-04T20:00:00Z","_id":1}`, []string{"/_id", "/_id"}, "reserves"},
		{"every reserved name", "things", `{"id":"a","createdAt":1,"ingestedAt":2,"_id":3,"_fp":4}`, []string{"/createdAt", "/ingestedAt", "/_id", "/_fp"}, "reserves"},
		{"schema enum", "orders", strings.Replace(order(""), `"paid"`, `"lost"`, 1), []string{"/status"}, "one of"},
		{"schema deep", "orders", strings.Replace(order(""), `"quantity":1`, `"quantity":0`, 1), []string{"/items/0/quantity"}, "minimum"},
		{"schema decimal", "orders", strings.Replace(order(""), `"amount":1.5`, `"amount":1.505`, 1), []string{"/items/0/amount"}, "multipleOf"},
		{"schema format", "clicks", `{"page":"/","at":"yesterday"}`, []string{"/at"}, "date-time"},
		{"schema required", "clicks", `{"page":"/"}`, []string{""}, "at"},
		{"no orderId", "orders", strings.Replace(order(""), `"orderId":"o-1",`, ``, 1), []string{""}, "orderId"},
		{"id with a slash", "things", `{"id":"a/b"}`, []string{"/id"}, "must be an id"},
		{"id with a space", "things", `{"id":"a b"}`, []string{"/id"}, "must be an id"},
		{"id percent-encoded", "things", `{"id":"a%20b"}`, []string{"/id"}, "must be an id"},
		{"id dot", "things", `{"id":"."}`, []string{"/id"}, "not . or .."},
		{"id dot dot", "things", `{"id":".."}`, []string{"/id"}, "must be an id"},
		{"id empty", "things", `{"id":""}`, []string{"/id"}, "must be an id"},
		{"id too long", "things", `{"id":"` + strings.Repeat("a", MaxIDBytes+1) + `"}`, []string{"/id"}, "128 bytes"},
		{"id not ASCII", "things", `{"id":"é"}`, []string{"/id"}, "must be an id"},
		{"id and a reserved name", "things", `{"id":"?","_fp":"x"}`, []string{"/_fp", "/id"}, "reserves"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Accept(streamNamed(t, tt.stream), mustParse(t, tt.body), now, func() string {
				t.Error("newID called for a refused document")
				return "x"
			})
			ve := fieldsOf(t, err)
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("%+v, want errors at %q", ve.Fields, tt.want)
			}
			if !strings.Contains(ve.Fields[0].Message, tt.msg) {
				t.Errorf("%q, want %q in it", ve.Fields[0].Message, tt.msg)
			}
		})
	}
}

func TestAcceptIDField(t *testing.T) {
	things := streamNamed(t, "things")
	for _, id := range []string{"a", "0193a1b2-0000-7000-8000-000000000001", "A-z_0.9~!$&'()*+,;=:@", strings.Repeat("x", MaxIDBytes), "..."} {
		d, err := Accept(things, mustParse(t, `{"id":`+quote(id)+`}`), now, noID(t))
		if err != nil || d.ID != id {
			t.Errorf("%q: %v, id %q", id, err, d.ID)
		}
	}
}

// TestAcceptTooLarge: a document whose record would take more than
// post.MaxEncodedBytes is a *TooLargeError; one byte less is accepted.
func TestAcceptTooLarge(t *testing.T) {
	things := streamNamed(t, "things")
	body := func(n int) Parsed { return mustParse(t, `{"id":"big","s":"`+strings.Repeat("x", n)+`"}`) }
	small, err := Accept(things, body(0), now, noID(t))
	if err != nil {
		t.Fatal(err)
	}
	fits := post.MaxEncodedBytes - EncodedLen(small)
	if _, err := Accept(things, body(fits), now, noID(t)); err != nil {
		t.Fatalf("a record of exactly %d bytes: %v", post.MaxEncodedBytes, err)
	}
	_, err = Accept(things, body(fits+1), now, noID(t))
	var tl *TooLargeError
	if !errors.As(err, &tl) || !errors.Is(err, ErrTooLarge) || tl.N != post.MaxEncodedBytes+1 || tl.Max != post.MaxEncodedBytes {
		t.Fatalf("%v, want a *TooLargeError of %d bytes", err, post.MaxEncodedBytes+1)
	}
}

func TestValidID(t *testing.T) {
	for s, ok := range map[string]bool{
		"a": true, "0193a1b2-0000-7000-8000-000000000001": true, "ord-2026_12.04~x": true, "!$&'()*+,;=:@": true,
		"...": true, ".a": true, strings.Repeat("z", MaxIDBytes): true,
		"": false, ".": false, "..": false, strings.Repeat("z", MaxIDBytes+1): false,
		"a/b": false, "a?b": false, "a#b": false, "a%41": false, "a b": false, "a\"b": false, "a<b": false,
		"a[b]": false, "a\\b": false, "a\x00": false, "é": false, "a|b": false, "a^b": false, "`": false, "{}": false,
	} {
		if ValidID(s) != ok {
			t.Errorf("ValidID(%q) = %v, want %v", s, !ok, ok)
		}
	}
}
