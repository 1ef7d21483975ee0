package post

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// marshalReference is what Marshal must produce: encoding/json's encoding
// of the record, HTML escaping off, without the trailing newline.
func marshalReference(p Post) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(record{Post: p, Fingerprint: p.Fingerprint}); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// TestMarshalMatchesEncodingJSON holds the hand-written encoder to the
// encoding/json bytes it replaced, for every kind of escape and every
// optional field.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2025, 6, 7, 8, 9, 10, 987000000, time.UTC)
	tricky := "\"\\\x00\x01\x08\x0c\n\r\t\x1f\x7f <>& é 😀 \xff \xc3 \u2028\u2029 \ufffd"
	for _, tc := range []struct {
		name string
		p    Post
	}{
		{"minimal", Post{ID: "01J0", Author: "a", Title: "t", Content: "c", CreatedAt: at}},
		{"escapes everywhere", Post{ID: tricky, Author: tricky, Title: tricky, Subtitle: tricky, Content: tricky, Tags: []string{tricky, ""}, CreatedAt: at}},
		{"all fields", Post{ID: "x", Author: "a", Title: "t", Subtitle: "s", Content: "c", Tags: []string{"go", "kafka"},
			CreatedAt: at, IngestedAt: at.Add(time.Second), Fingerprint: "0123456789abcdef0123456789abcdef"}},
		{"empty tags omitted", Post{ID: "x", Tags: []string{}, CreatedAt: at}},
		{"whole second, zone offset", Post{ID: "x", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(5*3600+30*60+7)))}},
		{"zero times", Post{ID: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := marshalReference(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Marshal:\n got %s\nwant %s", got, want)
			}
			if n := EncodedLen(tc.p); n != len(got) && !tc.p.CreatedAt.IsZero() {
				t.Errorf("EncodedLen = %d, Marshal gives %d bytes", n, len(got))
			}
		})
	}
}

// TestMarshalRefusesWhatEncodingJSONRefuses: a time encoding/json cannot
// write is an error, not a record the sink would refuse.
func TestMarshalRefusesWhatEncodingJSONRefuses(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2025, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600)),
	} {
		p := Post{ID: "x", CreatedAt: at}
		if _, err := marshalReference(p); err == nil {
			t.Fatalf("encoding/json accepts %v: the case is wrong", at)
		}
		if b, err := Marshal(p); err == nil {
			t.Errorf("Marshal(%v) = %s, want an error", at, b)
		}
	}
}

func FuzzMarshalMatchesEncodingJSON(f *testing.F) {
	f.Add("Ada", "<b>&amp;</b>", "\u2028\u2029", "\"\\\x00\x01\x1f\x7f é 😀 \xff", "tag", "fp", int64(1e9), int64(123456789))
	f.Fuzz(func(t *testing.T, author, title, subtitle, content, tag, fp string, sec, nsec int64) {
		p := Post{ID: author + title, Author: author, Title: title, Subtitle: subtitle, Content: content,
			Tags: []string{tag}, CreatedAt: time.Unix(sec%(1<<35), nsec).UTC(), Fingerprint: fp}
		want, werr := marshalReference(p)
		got, err := Marshal(p)
		if (werr == nil) != (err == nil) || !bytes.Equal(got, want) {
			t.Fatalf("Marshal = %s, %v; encoding/json gives %s, %v", got, err, want, werr)
		}
	})
}
