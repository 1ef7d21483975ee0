package post

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// samplePost returns a valid post whose creation time has sub-millisecond
// digits, as time.Now has.
func samplePost(t *testing.T) Post {
	t.Helper()
	now := mustTime(t, "2025-06-07T08:09:10.987654321Z")
	return New(NewID(now), validInput(), now)
}

// assertSamePost compares every field, times by instant.
func assertSamePost(t *testing.T, got, want Post) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	if !got.IngestedAt.Equal(want.IngestedAt) {
		t.Errorf("IngestedAt = %v, want %v", got.IngestedAt, want.IngestedAt)
	}
	if got.ID != want.ID || got.Author != want.Author || got.Title != want.Title ||
		got.Subtitle != want.Subtitle || got.Content != want.Content || !slices.Equal(got.Tags, want.Tags) {
		t.Errorf("post = %+v, want %+v", got, want)
	}
}

// recordJSON is a valid record value for p as a generic map, changed by
// modify, then encoded.
func recordJSON(t *testing.T, p Post, modify func(m map[string]any)) []byte {
	t.Helper()
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if modify != nil {
		modify(m)
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Input)
		key    func(id string) []byte
	}{
		{"with key", func(*Input) {}, func(id string) []byte { return []byte(id) }},
		{"nil key", func(*Input) {}, func(string) []byte { return nil }},
		{"minimal post", func(in *Input) { in.Subtitle, in.Tags = "", nil }, func(id string) []byte { return []byte(id) }},
		{"unicode and escapes", func(in *Input) {
			in.Title = `"quoted" <b>&amp;</b> 😀`
			in.Content = "line\nbreak\ttab \u2028 \\"
		}, func(id string) []byte { return []byte(id) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := mustTime(t, "2025-06-07T08:09:10.987654321+05:30")
			in := validInput()
			tt.modify(&in)
			p := New(KeyedID(tt.name), in, now)

			value, err := Marshal(p)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got, err := Unmarshal(tt.key(p.ID), value)
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", value, err)
			}
			assertSamePost(t, got, p)
			if ns := got.CreatedAt.Nanosecond(); ns%int(time.Millisecond) != 0 {
				t.Errorf("CreatedAt %v has sub-millisecond digits", got.CreatedAt)
			}
			if want := now.Truncate(time.Millisecond); !got.CreatedAt.Equal(want) {
				t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
			}
			if !strings.Contains(string(value), `"createdAt":"2025-06-07T02:39:10.987Z"`) {
				t.Errorf("record %s does not carry createdAt in UTC milliseconds", value)
			}
		})
	}
}

func TestMarshalOmitsUnsetIngestedAt(t *testing.T) {
	value, err := Marshal(samplePost(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(value, &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["ingestedAt"]; ok {
		t.Errorf("record %s carries ingestedAt although it is zero", value)
	}
}

func TestUnmarshalIgnoresIngestedAt(t *testing.T) {
	p := samplePost(t)
	value := recordJSON(t, p, func(m map[string]any) { m["ingestedAt"] = "2025-06-07T08:09:11.000Z" })
	got, err := Unmarshal([]byte(p.ID), value)
	if err != nil {
		t.Fatalf("Unmarshal(%s): %v", value, err)
	}
	if !got.IngestedAt.IsZero() {
		t.Errorf("IngestedAt = %v, want zero: only the sink sets it", got.IngestedAt)
	}
	assertSamePost(t, got, p)
}

func TestUnmarshalRejects(t *testing.T) {
	p := samplePost(t)
	valid, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte(p.ID)
	tests := []struct {
		name    string
		key     []byte
		value   []byte
		wantMsg string
	}{
		{"empty value", key, nil, "not a post in JSON"},
		{"not JSON", key, []byte("author=ada"), "not a post in JSON"},
		{"truncated JSON", key, valid[:len(valid)-1], "not a post in JSON"},
		{"JSON array", key, []byte(`[` + string(valid) + `]`), "not a post in JSON"},
		{"wrong type", key, recordJSON(t, p, func(m map[string]any) { m["tags"] = "go" }), "not a post in JSON"},
		{"unknown field", key, recordJSON(t, p, func(m map[string]any) { m["admin"] = true }), `unknown field "admin"`},
		{"trailing object", key, append(slices.Clone(valid), []byte(` {}`)...), "trailing data"},
		{"trailing garbage", key, append(slices.Clone(valid), []byte(`x`)...), "trailing data"},
		{"trailing closing brace", key, append(slices.Clone(valid), '}'), "trailing data"},
		{"trailing closing bracket", key, append(slices.Clone(valid), []byte("\n]")...), "trailing data"},
		{"bad id", []byte("nope"), recordJSON(t, p, func(m map[string]any) { m["id"] = "nope" }), `id "nope" is not a post id`},
		{"upper-case id", nil, recordJSON(t, p, func(m map[string]any) { m["id"] = strings.ToUpper(p.ID) }), "is not a post id"},
		{"missing id", nil, recordJSON(t, p, func(m map[string]any) { delete(m, "id") }), `id "" is not a post id`},
		{"key differs from id", []byte(KeyedID("other")), valid, "does not match id"},
		{"empty key", []byte{}, valid, "does not match id"},
		{"missing createdAt", key, recordJSON(t, p, func(m map[string]any) { delete(m, "createdAt") }), "createdAt missing"},
		{"zero createdAt", key, recordJSON(t, p, func(m map[string]any) { m["createdAt"] = "0001-01-01T00:00:00Z" }), "createdAt missing"},
		{"empty author", key, recordJSON(t, p, func(m map[string]any) { m["author"] = " " }), "author: is required"},
		{"too many tags", key, recordJSON(t, p, func(m map[string]any) { m["tags"] = slices.Repeat([]any{"t"}, MaxTags+1) }), "at most 20 tags"},
		{"title too long", key, recordJSON(t, p, func(m map[string]any) { m["title"] = strings.Repeat("t", MaxTitleLen+1) }), "title: must be at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal(tt.key, tt.value)
			if err == nil {
				t.Fatalf("Unmarshal(%q, %s) = %+v, nil; want an error", tt.key, tt.value, got)
			}
			if !errors.Is(err, ErrBadRecord) {
				t.Errorf("error %q does not wrap ErrBadRecord", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if got.ID != "" || !got.CreatedAt.IsZero() || got.Author != "" {
				t.Errorf("Unmarshal returned %+v with the error; want the zero post", got)
			}
		})
	}
}

// FuzzUnmarshal feeds arbitrary records to the sink's decoder: it must never
// panic, and whatever it accepts must be a post the API could have accepted.
// Plain `go test` runs only the seeds.
func FuzzUnmarshal(f *testing.F) {
	now := time.Date(2025, 6, 7, 8, 9, 10, 987654321, time.UTC)
	p := New(KeyedID("fuzz"), Input{Author: "a", Title: "t", Content: "c", Tags: []string{"x"}}, now)
	valid, err := Marshal(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(p.ID), valid)
	f.Add([]byte(nil), valid)
	f.Add([]byte("other"), valid)
	f.Add([]byte(p.ID), append(slices.Clone(valid), '}'))
	f.Add([]byte(p.ID), []byte(`{"id":"`+p.ID+`","author":" ","title":"t","content":"c","createdAt":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(p.ID), []byte(`{"id":"`+p.ID+`","author":"a","title":"t","content":"c","createdAt":"2025-01-01T00:00:00+14:00","ingestedAt":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte{}, []byte(`null`))
	f.Add([]byte{}, []byte("\xff\xfe"))

	f.Fuzz(func(t *testing.T, key, value []byte) {
		got, err := Unmarshal(key, value)
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %q does not wrap ErrBadRecord", err)
			}
			return
		}
		if err := got.Input().Validate(); err != nil {
			t.Fatalf("accepted post does not validate: %v", err)
		}
		if !ValidID(got.ID) || (key != nil && string(key) != got.ID) {
			t.Fatalf("accepted id %q with key %q", got.ID, key)
		}
		if got.CreatedAt.IsZero() || !got.IngestedAt.IsZero() {
			t.Fatalf("accepted createdAt %v, ingestedAt %v", got.CreatedAt, got.IngestedAt)
		}
		// What the sink accepts, it can pass on unchanged.
		again, err := Marshal(got)
		if err != nil {
			t.Fatalf("Marshal of an accepted post: %v", err)
		}
		back, err := Unmarshal(key, again)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", again, err)
		}
		assertSamePost(t, back, got)
	})
}
