package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	apispec "github.com/postpipe/postpipe/api"
	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/post"
)

// bigLimits take the largest bodies the service may be configured for.
var bigLimits = api.Limits{
	MaxBodyBytes:      1 << 20,
	MaxBatchBodyBytes: 16 << 20,
	MaxBatchPosts:     500,
}

// badTagsPost is a post of at most n bytes whose tags are all numbers:
// nothing malformed, one field error a tag.
func badTagsPost(n int) (body string, problems int) {
	const head, tail = `{"author":"a","title":"t","content":"c","tags":[1`, `]}`
	tags := (n-len(head)-len(tail))/2 + 1
	return head + strings.Repeat(",1", tags-1) + tail, tags
}

// unknownFieldsPost has n unknown fields, each named by 250 '<': a name
// cut to the longest an error keeps, and six bytes a character once
// encoding/json escapes it.
func unknownFieldsPost(n int) (body string, problems int) {
	field := `"` + strings.Repeat("<", 250) + `":1`
	return "{" + strings.TrimSuffix(strings.Repeat(field+",", n), ",") + "}", n
}

var moreProblems = regexp.MustCompile(`and (\d+) more problems?$`)

// checkErrorList checks one post's answer lists at most post.MaxFieldErrors
// bounded errors and counts the rest, want problems in all, and that the
// detail says how many it leaves out.
func checkErrorList(t *testing.T, detail string, errs []post.FieldError, more, want int) {
	t.Helper()
	if n := min(want, post.MaxFieldErrors); len(errs) != n {
		t.Errorf("%d errors listed, want %d", len(errs), n)
	}
	if len(errs)+more != want {
		t.Errorf("%d errors listed and moreErrors %d, want %d problems in all", len(errs), more, want)
	}
	for _, e := range errs {
		if len(e.Field) > post.MaxFieldErrorText || len(e.Message) > post.MaxFieldErrorText || !utf8.ValidString(e.Field) {
			t.Errorf("error %.60q… (%d, %d bytes) is over %d bytes or not UTF-8", e.Field, len(e.Field), len(e.Message), post.MaxFieldErrorText)
			break // one says it; a million would drown the rest
		}
	}
	if len(detail) > post.MaxDetailBytes {
		t.Errorf("detail takes %d bytes, over %d", len(detail), post.MaxDetailBytes)
	}
	if more > 0 {
		k := -1
		if m := moreProblems.FindStringSubmatch(detail); m != nil {
			k, _ = strconv.Atoi(m[1])
		}
		if k < more {
			t.Errorf("detail %.80q… does not count the %d problems left out", detail, more)
		}
	}
}

// TestRefusedPostAnswerIsBounded: a body that is well-formed but all
// errors answers a few KiB, not 55 MB.
func TestRefusedPostAnswerIsBounded(t *testing.T) {
	tags, tagProblems := badTagsPost(1 << 20)
	unknown, unknownProblems := unknownFieldsPost((1 << 20) / 256)
	tests := []struct {
		name     string
		body     string
		problems int
	}{
		{"1 MiB of bad tags", tags, tagProblems},
		{"1 MiB of long unknown names", unknown, unknownProblems},
		{"one over the list", `{"tags":[` + strings.TrimSuffix(strings.Repeat("1,", 21), ",") + `]}`, 21},
	}
	h := api.New(bigLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, http.MethodPost, "/v1/posts", tt.body)
			if n := rec.Body.Len(); n > 64<<10 {
				t.Errorf("the answer takes %d bytes, over 64 KiB", n)
			}
			p := problemOf(t, rec, http.StatusUnprocessableEntity)
			checkErrorList(t, p.Detail, p.Errors, p.MoreErrors, tt.problems)
		})
	}
}

// TestBatchAnswerIsBounded: 500 items full of errors answer at most 1 MiB;
// every item keeps its status and id, and items are whole up to the first
// one cut.
func TestBatchAnswerIsBounded(t *testing.T) {
	per := (16<<20)/500 - 1 // 500 items and their commas in 16 MiB
	tags, tagProblems := badTagsPost(per)
	unknown, unknownProblems := unknownFieldsPost(25)
	type item struct {
		body     string
		problems int // 0: a valid post
	}
	repeat := func(items ...item) []item {
		var all []item
		for len(all) < 500 {
			all = append(all, items...)
		}
		return all
	}
	tests := []struct {
		name  string
		items []item
	}{
		{"500 items of 32 KiB of bad tags", repeat(item{tags, tagProblems})},
		{"500 items of 25 long unknown names", repeat(item{unknown, unknownProblems})},
		{"long unknown names between valid posts", repeat(item{unknown, unknownProblems}, item{postJSON("ok"), 0})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bodies := make([]string, len(tt.items))
			for i, it := range tt.items {
				bodies[i] = it.body
			}
			pub := &fakePublisher{}
			h := api.New(bigLimits, pub, newFakeStore(), nil, slog.New(slog.DiscardHandler))
			rec := do(t, h, http.MethodPost, "/v1/posts:batch", "["+strings.Join(bodies, ",")+"]")
			if n := rec.Body.Len(); n > 1<<20 {
				t.Errorf("the answer takes %d bytes, over 1 MiB", n)
			}
			got := decodeJSON[[]itemBody](t, rec, http.StatusMultiStatus)
			if len(got) != len(tt.items) {
				t.Fatalf("%d items answered, want %d", len(got), len(tt.items))
			}
			published := pub.published()
			firstCut := -1
			for i, it := range got {
				want := tt.items[i]
				if want.problems == 0 {
					if it.Status != http.StatusAccepted || it.ID != published[0].ID {
						t.Errorf("item %d: status %d id %q, want 202 and id %q", i, it.Status, it.ID, published[0].ID)
					}
					published = published[1:]
					continue
				}
				if it.Status != http.StatusUnprocessableEntity {
					t.Errorf("item %d: status %d, want 422", i, it.Status)
				}
				if len(it.Errors) == 0 { // cut: all its problems counted
					if firstCut < 0 {
						firstCut = i
					}
					if it.MoreErrors != want.problems || !strings.Contains(it.Detail, "size limit") {
						t.Errorf("item %d: cut with moreErrors %d and detail %q, want %d and the size limit named", i, it.MoreErrors, it.Detail, want.problems)
					}
					continue
				}
				if firstCut >= 0 {
					t.Errorf("item %d is whole after item %d was cut", i, firstCut)
				}
				checkErrorList(t, it.Detail, it.Errors, it.MoreErrors, want.problems)
			}
			// Whole, these items would take more than the answer may:
			// some must have been cut.
			if whole, _ := json.Marshal(got[0]); firstCut < 0 && len(whole)*len(got)/2 > 1<<20 {
				t.Errorf("no item was cut, though %d items of %d bytes do not fit 1 MiB", len(got)/2, len(whole))
			}
		})
	}
}

// TestSpecErrorBoundsMatchCode compares the bounds api/openapi.yaml states
// for error answers with the constants the code enforces.
func TestSpecErrorBoundsMatchCode(t *testing.T) {
	type list struct {
		MaxItems int `yaml:"maxItems"`
	}
	type str struct {
		MaxLength int `yaml:"maxLength"`
	}
	type answer struct {
		Properties struct {
			Detail     str
			Errors     list
			MoreErrors struct {
				Ref string `yaml:"$ref"`
			} `yaml:"moreErrors"`
		}
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Problem    answer `yaml:"Problem"`
				BatchItem  answer `yaml:"BatchItem"`
				FieldError struct {
					Properties struct{ Field, Message str }
				} `yaml:"FieldError"`
			}
		}
	}
	if err := yaml.Unmarshal(apispec.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Components.Schemas
	for _, c := range []struct {
		name       string
		spec, code int
	}{
		{"Problem errors maxItems", s.Problem.Properties.Errors.MaxItems, post.MaxFieldErrors},
		{"Problem detail maxLength", s.Problem.Properties.Detail.MaxLength, post.MaxDetailBytes},
		{"BatchItem errors maxItems", s.BatchItem.Properties.Errors.MaxItems, post.MaxFieldErrors},
		{"BatchItem detail maxLength", s.BatchItem.Properties.Detail.MaxLength, post.MaxDetailBytes},
		{"FieldError field maxLength", s.FieldError.Properties.Field.MaxLength, post.MaxFieldErrorText},
		{"FieldError message maxLength", s.FieldError.Properties.Message.MaxLength, post.MaxFieldErrorText},
	} {
		if c.spec != c.code {
			t.Errorf("openapi.yaml says %s %d, the code %d", c.name, c.spec, c.code)
		}
	}
	for name, a := range map[string]answer{"Problem": s.Problem, "BatchItem": s.BatchItem} {
		if a.Properties.MoreErrors.Ref == "" {
			t.Errorf("openapi.yaml's %s has no moreErrors", name)
		}
	}
}
