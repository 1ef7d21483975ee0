package post

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// badTags is a post body of about n bytes whose tags are all numbers: each
// one a field error, and nothing malformed.
func badTags(n int) (body string, tags int) {
	const head, tail = `{"author":"a","title":"t","content":"c","tags":[1`, `]}`
	tags = (n-len(head)-len(tail))/2 + 1
	return head + strings.Repeat(",1", tags-1) + tail, tags
}

var moreProblems = regexp.MustCompile(`and (\d+) more problems?$`)

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkBounded checks that err is a *ValidationError within every bound,
// listing want problems in all.
func checkBounded(t *testing.T, err error, want int) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if n := min(want, MaxFieldErrors); len(ve.Fields) != n {
		t.Errorf("%d field errors listed, want %d", len(ve.Fields), n)
	}
	if got := len(ve.Fields) + ve.More; got != want {
		t.Errorf("%d listed + %d more = %d problems, want %d", len(ve.Fields), ve.More, got, want)
	}
	for _, f := range ve.Fields {
		if len(f.Field) > MaxFieldErrorText || len(f.Message) > MaxFieldErrorText || !utf8.ValidString(f.Message) {
			t.Errorf("field error %.80q… (%d bytes) / %.80q… (%d bytes) is over %d bytes or not UTF-8",
				f.Field, len(f.Field), f.Message, len(f.Message), MaxFieldErrorText)
			break // one says it; a million would drown the rest
		}
	}
	msg := ve.Error()
	if len(msg) > MaxDetailBytes {
		t.Errorf("Error() takes %d bytes, over %d", len(msg), MaxDetailBytes)
	}
	if !utf8.ValidString(msg) {
		t.Errorf("Error() %q is not valid UTF-8", msg)
	}
	// The detail counts what it leaves out: at least those not listed.
	if m := moreProblems.FindStringSubmatch(msg); ve.More > 0 && (m == nil || atoi(t, m[1]) < ve.More || atoi(t, m[1]) > ve.More+len(ve.Fields)) {
		t.Errorf("Error() %q does not count the %d problems left out", msg, ve.More)
	}
	return ve
}

func TestDecodeBoundsFieldErrors(t *testing.T) {
	oneMiB, tags := badTags(1 << 20)
	tests := []struct {
		name  string
		data  string
		want  int // problems in all
		first FieldError
	}{
		{"1 MiB of bad tags", oneMiB, tags, FieldError{"tags[0]", "must be a string, not number"}},
		{"21 bad tags", `{"tags":[` + strings.TrimSuffix(strings.Repeat("true,", 21), ",") + `]}`, 21, FieldError{"tags[0]", "must be a string, not bool"}},
		{"20 bad tags", `{"tags":[` + strings.TrimSuffix(strings.Repeat("{},", 20), ",") + `]}`, 20, FieldError{"tags[0]", "must be a string, not object"}},
		{"many unknown fields", `{` + strings.TrimSuffix(strings.Repeat(`"x":1,`, 5000), ",") + `}`, 5000, FieldError{"x", MsgUnknownField}},
		{"many repeated fields", `{"author":"a"` + strings.Repeat(`,"author":"a"`, 300) + `}`, 300, FieldError{"author", msgDuplicate}},
		{"a 1 MiB field name", `{"` + strings.Repeat("n", 1<<20) + `":1}`, 1, FieldError{strings.Repeat("n", MaxFieldErrorText-len("…")) + "…", MsgUnknownField}},
		{"a long field name of 2-byte runes", `{"` + strings.Repeat("é", 500) + `":1}`, 1, FieldError{strings.Repeat("é", (MaxFieldErrorText-len("…"))/2) + "…", MsgUnknownField}},
		{"a long field name of invalid UTF-8", `{"` + strings.Repeat("\xff", 500) + `":1}`, 1, FieldError{Message: MsgUnknownField}},
		{"bad strings everywhere", `{"author":"\ud800","title":1,"tags":["` + "\xff" + `"` + strings.Repeat(`,"\udc00"`, 40) + `]}`, 43, FieldError{"author", msgSurrogate}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeInput([]byte(tt.data))
			ve := checkBounded(t, err, tt.want)
			got := ve.Fields[0]
			if tt.first.Field == "" { // only the shape of the name is known
				got.Field = ""
			}
			if got != tt.first {
				t.Errorf("first field error %.100q, want %.100q", got, tt.first)
			}

			// The same post in a batch, and as a record, is bounded the same.
			_, itemErrs, err := DecodeBatch([]byte("["+tt.data+","+tt.data+"]"), 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range itemErrs {
				checkBounded(t, err, tt.want)
			}
			_, err = decodeRecord([]byte(tt.data))
			checkBounded(t, err, tt.want)
		})
	}
}

// TestDecodeDoesNotBuildLongLists checks the decoder stops making field
// errors (and keeping the tags of a refused post) once the list is full:
// a 1 MiB body of bad tags costs a few allocations, not one a tag.
func TestDecodeDoesNotBuildLongLists(t *testing.T) {
	data, tags := badTags(1 << 20)
	allocs := testing.AllocsPerRun(5, func() {
		if _, err := DecodeInput([]byte(data)); err == nil {
			t.Fatal("DecodeInput accepted bad tags")
		}
	})
	// The list (and its growth), twenty names and messages, the error.
	if limit := float64(4 * MaxFieldErrors); allocs > limit {
		t.Errorf("decoding %d bad tags took %.0f allocations, want at most %.0f", tags, allocs, limit)
	}
}

func TestValidateBoundsFieldErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Input)
		want   int
		last   string // the last field listed
	}{
		{"100,000 empty tags", func(in *Input) { in.Tags = make([]string, 100_000) }, 1 + 100_000, "tags[18]"},
		{"every field and 30 tags", func(in *Input) {
			*in = Input{Author: "\x00", Title: "\xff", Subtitle: strings.Repeat("s", MaxSubtitleLen+1), Tags: slices.Repeat([]string{"\t"}, 30)}
		}, 4 + 1 + 30, "tags[14]"},
		{"exactly the limit", func(in *Input) { in.Tags = []string{"", "", ""}; in.Author, in.Title, in.Content = "", "", "" }, 6, "tags[2]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.modify(&in)
			ve := checkBounded(t, in.Validate(), tt.want)
			if got := ve.Fields[len(ve.Fields)-1].Field; got != tt.last {
				t.Errorf("last field listed %q, want %q", got, tt.last)
			}
		})
	}
}

func TestValidateOfManyBadTagsAllocatesLittle(t *testing.T) {
	in := validInput()
	in.Tags = make([]string, 100_000)
	allocs := testing.AllocsPerRun(5, func() { _ = in.Validate() })
	if limit := float64(6 * MaxFieldErrors); allocs > limit {
		t.Errorf("validating %d empty tags took %.0f allocations, want at most %.0f", len(in.Tags), allocs, limit)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven byte", 10, "eleven …"},
		{"ééééé", 8, "éé…"}, // 5 bytes would split the third é
		{"ééééé", 9, "ééé…"},
		{"€€€", 7, "€…"},
		{"abcdef", 3, "…"},
		{"abcdef", 2, ""},
		{"", 0, ""},
	}
	for _, tt := range tests {
		got := Truncate(tt.s, tt.max)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
		}
		if len(got) > tt.max || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q: over the limit or not UTF-8", tt.s, tt.max, got)
		}
	}
}

func TestLimitFieldErrors(t *testing.T) {
	many := func(n int) []FieldError {
		fs := make([]FieldError, n)
		for i := range fs {
			fs[i] = FieldError{Field: fmt.Sprintf("f%d", i), Message: "is wrong"}
		}
		return fs
	}
	long := strings.Repeat("ü", MaxFieldErrorText)
	tests := []struct {
		name     string
		fs       []FieldError
		more     int
		wantLen  int
		wantMore int
	}{
		{"none", nil, 0, 0, 0},
		{"within bounds", many(MaxFieldErrors), 0, MaxFieldErrors, 0},
		{"within bounds, counted more", many(3), 7, 3, 7},
		{"over by one", many(MaxFieldErrors + 1), 0, MaxFieldErrors, 1},
		{"far over, counted more", many(10_000), 5, MaxFieldErrors, 10_000 - MaxFieldErrors + 5},
		{"long name and message", []FieldError{{"ok", "fine"}, {long, long}}, 0, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := slices.Clone(tt.fs)
			got, more := LimitFieldErrors(tt.fs, tt.more)
			if len(got) != tt.wantLen || more != tt.wantMore {
				t.Errorf("got %d errors and %d more, want %d and %d", len(got), more, tt.wantLen, tt.wantMore)
			}
			for i, f := range got {
				if len(f.Field) > MaxFieldErrorText || len(f.Message) > MaxFieldErrorText {
					t.Errorf("error %d is %d/%d bytes, over %d", i, len(f.Field), len(f.Message), MaxFieldErrorText)
				}
				if want := tt.fs[i]; f.Field != Truncate(want.Field, MaxFieldErrorText) || f.Message != Truncate(want.Message, MaxFieldErrorText) {
					t.Errorf("error %d = %.40q, want %.40q truncated", i, f, want)
				}
			}
			if !slices.Equal(tt.fs, orig) {
				t.Error("LimitFieldErrors changed its argument")
			}
		})
	}
}

func TestValidationErrorDetail(t *testing.T) {
	long := strings.Repeat("<", MaxFieldErrorText)
	tests := []struct {
		name       string
		err        ValidationError
		wantSuffix string
	}{
		{"one problem", ValidationError{Fields: []FieldError{{"author", "is required"}}}, "invalid post: author: is required"},
		{"one more", ValidationError{Fields: []FieldError{{"author", "is required"}}, More: 1}, "author: is required; and 1 more problem"},
		{"long parts", ValidationError{Fields: slices.Repeat([]FieldError{{long, long}}, MaxFieldErrors), More: 3}, "; and 21 more problems"},
		{"long unknown names", ValidationError{Fields: slices.Repeat([]FieldError{{strings.Repeat("\x01", MaxFieldErrorText), MsgUnknownField}}, 2)}, "…; and 1 more problem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.err.Error()
			if len(msg) > MaxDetailBytes || !strings.HasSuffix(msg, tt.wantSuffix) {
				t.Errorf("Error() = %q (%d bytes), want at most %d bytes ending in %q", msg, len(msg), MaxDetailBytes, tt.wantSuffix)
			}
		})
	}
}
