package post

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// validInput returns an input that passes every rule; tests change one thing.
func validInput() Input {
	return Input{
		Author:   "Ada Lovelace",
		Title:    "Notes on the Analytical Engine",
		Subtitle: "Sketch of the engine invented by Charles Babbage",
		Content:  "The engine can arrange and combine its numerical quantities.",
		Tags:     []string{"history", "computing"},
	}
}

// fieldsOf returns the field names listed by a *ValidationError, in order.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	names := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		if f.Message == "" {
			t.Errorf("field %s has an empty message", f.Field)
		}
		names[i] = f.Field
	}
	return names
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Input)
	}{
		{"all fields", func(*Input) {}},
		{"no subtitle", func(in *Input) { in.Subtitle = "" }},
		{"whitespace subtitle is optional", func(in *Input) { in.Subtitle = "  \t" }},
		{"no tags", func(in *Input) { in.Tags = nil }},
		{"author at limit in multibyte runes", func(in *Input) { in.Author = strings.Repeat("é", MaxAuthorLen) }},
		{"title at limit in multibyte runes", func(in *Input) { in.Title = strings.Repeat("字", MaxTitleLen) }},
		{"subtitle at limit", func(in *Input) { in.Subtitle = strings.Repeat("s", MaxSubtitleLen) }},
		{"content at limit in 4-byte runes", func(in *Input) { in.Content = strings.Repeat("😀", MaxContentLen) }},
		{"max tags", func(in *Input) { in.Tags = slices.Repeat([]string{"t"}, MaxTags) }},
		{"tag at limit in multibyte runes", func(in *Input) { in.Tags = []string{strings.Repeat("ß", MaxTagLen)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.modify(&in)
			if err := in.Validate(); err != nil {
				t.Fatalf("Validate() = %v, want nil", err)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name       string
		modify     func(*Input)
		wantFields []string
		wantInMsg  string
	}{
		{"missing author", func(in *Input) { in.Author = "" }, []string{"author"}, "author: is required"},
		{"whitespace author", func(in *Input) { in.Author = " \t\n " }, []string{"author"}, "author: is required"},
		{"missing title", func(in *Input) { in.Title = "" }, []string{"title"}, "title: is required"},
		{"whitespace title", func(in *Input) { in.Title = "\u00a0 " }, []string{"title"}, "title: is required"},
		{"missing content", func(in *Input) { in.Content = "" }, []string{"content"}, "content: is required"},
		{"whitespace content", func(in *Input) { in.Content = "\r\n" }, []string{"content"}, "content: is required"},
		{"author too long", func(in *Input) { in.Author = strings.Repeat("é", MaxAuthorLen+1) }, []string{"author"}, "at most 200 characters"},
		{"title too long", func(in *Input) { in.Title = strings.Repeat("t", MaxTitleLen+1) }, []string{"title"}, "at most 300 characters"},
		{"subtitle too long", func(in *Input) { in.Subtitle = strings.Repeat("字", MaxSubtitleLen+1) }, []string{"subtitle"}, "at most 500 characters"},
		{"content too long", func(in *Input) { in.Content = strings.Repeat("c", MaxContentLen+1) }, []string{"content"}, "at most 262144 characters"},
		{"author invalid UTF-8", func(in *Input) { in.Author = "Ada \xff" }, []string{"author"}, "author: must be valid UTF-8"},
		{"title invalid UTF-8", func(in *Input) { in.Title = "\xc3\x28" }, []string{"title"}, "valid UTF-8"},
		{"subtitle invalid UTF-8", func(in *Input) { in.Subtitle = "\xed\xa0\x80" }, []string{"subtitle"}, "valid UTF-8"},
		{"content invalid UTF-8", func(in *Input) { in.Content = "ok\xfe" }, []string{"content"}, "valid UTF-8"},
		{"too many tags", func(in *Input) { in.Tags = slices.Repeat([]string{"t"}, MaxTags+1) }, []string{"tags"}, "at most 20 tags, got 21"},
		{"empty tag", func(in *Input) { in.Tags = []string{"go", ""} }, []string{"tags[1]"}, "tags[1]: is required"},
		{"whitespace tag", func(in *Input) { in.Tags = []string{" "} }, []string{"tags[0]"}, "tags[0]: is required"},
		{"long tag", func(in *Input) { in.Tags = []string{"a", "b", strings.Repeat("x", MaxTagLen+1)} }, []string{"tags[2]"}, "tags[2]: must be at most 50 characters"},
		{"invalid UTF-8 tag", func(in *Input) { in.Tags = []string{"\x80"} }, []string{"tags[0]"}, "valid UTF-8"},
		{
			"every problem at once",
			func(in *Input) {
				*in = Input{Author: " ", Subtitle: "\xff", Content: strings.Repeat("c", MaxContentLen+1), Tags: append(slices.Repeat([]string{"t"}, MaxTags), "")}
			},
			[]string{"author", "title", "subtitle", "content", "tags", "tags[20]"},
			"author: is required; title: is required; subtitle: must be valid UTF-8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.modify(&in)
			err := in.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			if got := fieldsOf(t, err); !slices.Equal(got, tt.wantFields) {
				t.Errorf("fields = %q, want %q", got, tt.wantFields)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "invalid post: ") || !strings.Contains(msg, tt.wantInMsg) {
				t.Errorf("Error() = %q, want it to start with %q and contain %q", msg, "invalid post: ", tt.wantInMsg)
			}
		})
	}
}

func TestNewKeepsInputAndCutsTimeToMilliseconds(t *testing.T) {
	in := validInput()
	now := mustTime(t, "2025-03-04T05:06:07.123456789+02:00")
	p := New("some-id", in, now)

	if p.ID != "some-id" {
		t.Errorf("ID = %q, want %q", p.ID, "some-id")
	}
	want := mustTime(t, "2025-03-04T03:06:07.123Z")
	if !p.CreatedAt.Equal(want) || p.CreatedAt.Location() != want.Location() {
		t.Errorf("CreatedAt = %v, want %v in UTC", p.CreatedAt, want)
	}
	if !p.IngestedAt.IsZero() {
		t.Errorf("IngestedAt = %v, want zero", p.IngestedAt)
	}
	got := p.Input()
	if got.Author != in.Author || got.Title != in.Title || got.Subtitle != in.Subtitle || got.Content != in.Content || !slices.Equal(got.Tags, in.Tags) {
		t.Errorf("Input() = %+v, want %+v", got, in)
	}
}
