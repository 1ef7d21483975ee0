package doc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

func TestMarshal(t *testing.T) {
	d := Document{
		ID:          "o-1",
		Body:        []byte(`{"orderId":"o-1","n":1.50}`),
		CreatedAt:   time.Date(2026, 12, 4, 20, 0, 1, 987000000, time.FixedZone("CET", 3600)),
		Fingerprint: "0123456789abcdef0123456789abcdef",
	}
	const want = `{"id":"o-1","createdAt":"2026-12-04T19:00:01.987Z","fp":"0123456789abcdef0123456789abcdef","doc":{"orderId":"o-1","n":1.50}}`
	if got := string(Marshal(d)); got != want {
		t.Errorf("Marshal = %s\nwant      %s", got, want)
	}
}

func TestEncodedLen(t *testing.T) {
	for _, d := range []Document{
		{},
		{ID: "x", Body: []byte(`{}`), CreatedAt: now},
		{ID: "a\"b\\c\x01\u2028é\xff", Body: []byte(`{"a":"\u2028"}`), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Fingerprint: "f"},
		{ID: "0193a1b2-0000-7000-8000-000000000001", Body: []byte(`{"page":"/"}`), CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC), Fingerprint: strings.Repeat("a", 32)},
	} {
		if n, m := EncodedLen(d), len(Marshal(d)); n != m {
			t.Errorf("%+v: EncodedLen %d, Marshal %d bytes", d, n, m)
		}
	}
}

// accepted returns a document of st accepted from body, its record and key.
func accepted(t *testing.T, st *stream.Stream, body string) (Document, []byte) {
	t.Helper()
	d, err := Accept(st, mustParse(t, body), now, func() string { return "0193a1b2-0000-7000-8000-000000000001" })
	if err != nil {
		t.Fatal(err)
	}
	return d, Marshal(d)
}

func sameDocument(t *testing.T, got, want Document) {
	t.Helper()
	if got.ID != want.ID || string(got.Body) != string(want.Body) || got.CreatedAt != want.CreatedAt ||
		got.Fingerprint != want.Fingerprint || !got.IngestedAt.IsZero() {
		t.Errorf("%+v\nwant %+v", got, want)
	}
}

// TestRecordRoundTrip: Accept, Marshal, Unmarshal gives the document back,
// for each example stream, with and without a key.
func TestRecordRoundTrip(t *testing.T) {
	tests := []struct{ stream, body string }{
		{"orders", string(readFile(t, "order.json"))},
		{"clicks", string(readFile(t, "click.json"))},
		{"things", `{"n":[1,1.50,1e3,-0.0],"id":"t-1","s":"é\u2028\"","o":{"deep":[{}]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.stream, func(t *testing.T) {
			st := streamNamed(t, tt.stream)
			d, value := accepted(t, st, tt.body)
			for _, key := range [][]byte{[]byte(d.ID), nil} {
				got, err := Unmarshal(st, key, value)
				if err != nil {
					t.Fatalf("key %q: %v\n%s", key, err, value)
				}
				sameDocument(t, got, d)
			}
			// The record is JSON to anyone else, with the doc as sent.
			var m map[string]json.RawMessage
			if err := json.Unmarshal(value, &m); err != nil || string(m["doc"]) != string(d.Body) {
				t.Errorf("%v: doc %s, want %s", err, m["doc"], d.Body)
			}
		})
	}
}

// TestUnmarshalSpacedRecord: a record written by another encoder (spaced,
// members reordered, escapes) is read as the same document.
func TestUnmarshalSpacedRecord(t *testing.T) {
	orders := streamNamed(t, "orders")
	d, _ := accepted(t, orders, `{"orderId":"o-1","customer":"c","status":"paid","placedAt":"2026-12-04T20:00:00Z","items":[{"sku":"é","quantity":1,"amount":1.5}]}`)
	value := ` { "doc" : { "orderId" : "o-1" , "customer" : "c" , "status" : "paid" , "placedAt" : "2026-12-04T20:00:00Z" , "items" : [ { "sku" : "\u00e9" , "quantity" : 1 , "amount" : 1.5 } ] } ,
		"fp" : "` + d.Fingerprint + `" , "createdAt" : "2026-12-04T20:00:01.987+01:00" , "id" : "o-1" } `
	got, err := Unmarshal(orders, []byte("o-1"), []byte(value))
	if err != nil {
		t.Fatal(err)
	}
	sameDocument(t, got, d)
}

// TestUnmarshalRefuses: every tampering is post.ErrBadRecord saying why.
func TestUnmarshalRefuses(t *testing.T) {
	orders, clicks := streamNamed(t, "orders"), streamNamed(t, "clicks")
	const order = `{"orderId":"o-1","customer":"c","status":"paid","placedAt":"2026-12-04T20:00:00Z","items":[{"sku":"s","quantity":1,"amount":1.5}]}`
	od, ovalue := accepted(t, orders, order)
	cd, _ := accepted(t, clicks, `{"page":"/","at":"2026-12-04T20:00:00Z"}`)
	record := func(id, createdAt, fp, doc string) []byte {
		return []byte(`{"id":` + id + `,"createdAt":` + createdAt + `,"fp":` + fp + `,"doc":` + doc + `}`)
	}
	// fpOf is the fingerprint of doc, so a record of it fails on
	// something other than its fp.
	fpOf := func(doc string) string { return quote(Fingerprint(mustParse(t, doc).Tree)) }
	const at = `"2026-12-04T19:00:01.987Z"`
	tooDeep := strings.Repeat(`{"a":`, MaxDepth) + `{}` + strings.Repeat(`}`, MaxDepth)
	tests := []struct {
		name  string
		st    *stream.Stream
		key   string
		value []byte
		why   string
	}{
		{"not JSON", orders, "o-1", []byte(`{"id":`), "not a record in JSON"},
		{"trailing data", orders, "o-1", append(ovalue, " {}"...), "not a record in JSON"},
		{"not an object", orders, "o-1", []byte(`["o-1"]`), "not a record in JSON"},
		{"bad UTF-8", orders, "o-1", []byte("{\"id\":\"o-1\xff\"}"), "not a record in JSON"},
		{"wrong key", orders, "o-2", ovalue, `key "o-2"`},
		{"fp of another doc", orders, "o-1", record(`"o-1"`, at, fpOf(`{}`), order), "not the doc's fingerprint"},
		{"fp not a fingerprint", orders, "o-1", record(`"o-1"`, at, `"xyz"`, order), "not a fingerprint"},
		{"fp upper case", orders, "o-1", record(`"o-1"`, at, strings.ToUpper(quote(od.Fingerprint)), order), "not a fingerprint"},
		{"schema-invalid doc", orders, "o-1", record(`"o-1"`, at, fpOf(strings.Replace(order, "paid", "lost", 1)), strings.Replace(order, "paid", "lost", 1)), "/status"},
		{"reserved member in the doc", clicks, "", record(quote(cd.ID), at, fpOf(`{"page":"/","at":"2026-12-04T20:00:00Z","ingestedAt":"x"}`), `{"page":"/","at":"2026-12-04T20:00:00Z","ingestedAt":"x"}`), "/ingestedAt"},
		{"duplicate member in the doc", clicks, "", record(quote(cd.ID), at, fpOf(`{"page":"/","at":"2026-12-04T20:00:00Z"}`), `{"page":"/","page":"/x","at":"2026-12-04T20:00:00Z"}`), "/doc/page"},
		{"doc too deep", clicks, "", record(quote(cd.ID), at, fpOf(`{}`), tooDeep), "nested too deeply"},
		{"id not the doc's", orders, "", record(`"o-2"`, at, quote(od.Fingerprint), order), `id "o-2" is not the doc's /orderId, "o-1"`},
		{"generated id not an id", clicks, "", record(`"a/b"`, at, quote(cd.Fingerprint), `{"page":"/","at":"2026-12-04T20:00:00Z"}`), "is not an id"},
		{"extra member", orders, "o-1", []byte(strings.Replace(string(ovalue), `{"id"`, `{"ingestedAt":"2026-12-04T20:00:00Z","id"`, 1)), `unexpected member "ingestedAt"`},
		{"member twice", orders, "o-1", []byte(strings.Replace(string(ovalue), `{"id":"o-1"`, `{"id":"o-1","id":"o-1"`, 1)), "more than once"},
		{"no fp", orders, "o-1", []byte(`{"id":"o-1","createdAt":` + at + `,"doc":` + order + `}`), "no fp"},
		{"no doc", orders, "o-1", []byte(`{"id":"o-1","createdAt":` + at + `,"fp":` + quote(od.Fingerprint) + `}`), "no doc"},
		{"id a number", orders, "", record(`1`, at, quote(od.Fingerprint), order), "id must be a string"},
		{"createdAt a number", orders, "o-1", record(`"o-1"`, `1`, quote(od.Fingerprint), order), "createdAt must be a string"},
		{"createdAt not a time", orders, "o-1", record(`"o-1"`, `"yesterday"`, quote(od.Fingerprint), order), "not an RFC 3339 time"},
		{"createdAt zero", orders, "o-1", record(`"o-1"`, `"0001-01-01T00:00:00Z"`, quote(od.Fingerprint), order), "zero time"},
		{"doc not an object", orders, "o-1", record(`"o-1"`, at, quote(od.Fingerprint), `"x"`), "doc must be an object"},
		{"doc null", orders, "o-1", record(`"o-1"`, at, quote(od.Fingerprint), `null`), "doc must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var key []byte
			if tt.key != "" {
				key = []byte(tt.key)
			}
			_, err := Unmarshal(tt.st, key, tt.value)
			if !errors.Is(err, post.ErrBadRecord) || !strings.Contains(err.Error(), tt.why) {
				t.Errorf("%v, want post.ErrBadRecord saying %q", err, tt.why)
			}
		})
	}
}

// TestUnmarshalTooLarge: a record of a document the API would refuse as
// too large is refused too.
func TestUnmarshalTooLarge(t *testing.T) {
	things := streamNamed(t, "things")
	doc := `{"id":"big","s":"` + strings.Repeat("x", post.MaxEncodedBytes) + `"}`
	d := Document{ID: "big", Body: mustParse(t, doc).Body, CreatedAt: now, Fingerprint: Fingerprint(mustParse(t, doc).Tree)}
	_, err := Unmarshal(things, nil, Marshal(d))
	if !errors.Is(err, post.ErrBadRecord) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("%v, want a bad record over the limit", err)
	}
}

func TestAppendAnswer(t *testing.T) {
	orders, clicks, things := streamNamed(t, "orders"), streamNamed(t, "clicks"), streamNamed(t, "things")
	created := time.Date(2026, 12, 4, 20, 0, 1, 987000000, time.FixedZone("CET", 3600))
	ingested := time.Date(2026, 12, 4, 19, 0, 2, 5000000, time.UTC)
	tests := []struct {
		name string
		st   *stream.Stream
		d    Document
		want string
	}{
		{"id first, times last", orders, Document{ID: "o-1", Body: []byte(`{"orderId":"o-1","total":1.5}`), CreatedAt: created, IngestedAt: ingested},
			`{"id":"o-1","orderId":"o-1","total":1.5,"createdAt":"2026-12-04T19:00:01.987Z","ingestedAt":"2026-12-04T19:00:02.005Z"}`},
		{"in flight", clicks, Document{ID: "c-1", Body: []byte(`{"page":"/"}`), CreatedAt: created},
			`{"id":"c-1","page":"/","createdAt":"2026-12-04T19:00:01.987Z"}`},
		{"id is the doc's own", things, Document{ID: "t-1", Body: []byte(`{"n":1,"id":"t-1"}`), CreatedAt: created, IngestedAt: ingested},
			`{"n":1,"id":"t-1","createdAt":"2026-12-04T19:00:01.987Z","ingestedAt":"2026-12-04T19:00:02.005Z"}`},
		{"empty body", clicks, Document{ID: "c-1", Body: []byte(`{}`), CreatedAt: created},
			`{"id":"c-1","createdAt":"2026-12-04T19:00:01.987Z"}`},
		{"spaced body from elsewhere", clicks, Document{ID: "c-1", Body: []byte(" { \"a\" : 1 } "), CreatedAt: created},
			`{"id":"c-1","a" : 1,"createdAt":"2026-12-04T19:00:01.987Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendAnswer([]byte("prefix:"), tt.st, tt.d)
			if string(got) != "prefix:"+tt.want {
				t.Errorf("got  %s\nwant prefix:%s", got, tt.want)
			}
			if !json.Valid(got[len("prefix:"):]) {
				t.Errorf("%s is not JSON", got)
			}
		})
	}
}
