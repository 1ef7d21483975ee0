package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/postpipe/postpipe/internal/post"
)

// longErrors are n field errors of the longest name and message an answer
// keeps, '<' throughout: six bytes a character once encoded.
func longErrors(n int) []post.FieldError {
	long := strings.Repeat("<", post.MaxFieldErrorText)
	fs := make([]post.FieldError, n)
	for i := range fs {
		fs[i] = post.FieldError{Field: long, Message: long}
	}
	return fs
}

// TestFailBoundsAnyErrorList: an error list made outside internal/post (a
// future validator's) is bounded where it becomes HTTP, single or in a
// batch.
func TestFailBoundsAnyErrorList(t *testing.T) {
	huge := strings.Repeat("ü", 10_000)
	tests := []struct {
		name     string
		err      error
		wantLen  int
		wantMore int
	}{
		{"10,000 long errors", &requestError{status: http.StatusUnprocessableEntity, detail: huge,
			fields: append([]post.FieldError{{Field: huge, Message: huge}}, longErrors(9_999)...)}, post.MaxFieldErrors, 10_000 - post.MaxFieldErrors},
		{"counted more", &requestError{status: http.StatusUnprocessableEntity, detail: "x", fields: longErrors(25), more: 5}, post.MaxFieldErrors, 10},
		{"a validation error of long fields", &post.ValidationError{Fields: longErrors(post.MaxFieldErrors + 3)}, post.MaxFieldErrors, 3},
		{"within bounds", &requestError{status: http.StatusRequestEntityTooLarge, detail: "too large", fields: longErrors(1)}, 1, 0},
	}
	a := New(Limits{}, nil, nil, nil, slog.New(slog.DiscardHandler))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			a.fail(rec, httptest.NewRequest(http.MethodPost, "/v1/posts", nil), tt.err)
			var p problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatal(err)
			}
			check := func(what, detail string, errs []post.FieldError, more int) {
				t.Helper()
				if len(errs) != tt.wantLen || more != tt.wantMore {
					t.Errorf("%s: %d errors and %d more, want %d and %d", what, len(errs), more, tt.wantLen, tt.wantMore)
				}
				for _, e := range errs {
					if len(e.Field) > post.MaxFieldErrorText || len(e.Message) > post.MaxFieldErrorText {
						t.Errorf("%s: error of %d/%d bytes, over %d", what, len(e.Field), len(e.Message), post.MaxFieldErrorText)
					}
				}
				if len(detail) > post.MaxDetailBytes {
					t.Errorf("%s: detail of %d bytes, over %d", what, len(detail), post.MaxDetailBytes)
				}
			}
			check("problem", p.Detail, p.Errors, p.MoreErrors)
			it := itemFailure(tt.err)
			check("batch item", it.Detail, it.Errors, it.MoreErrors)
		})
	}
}

// TestBoundBatch holds batch answers to maxBatchAnswerBytes, the worst
// case included: every item with the most errors of the longest names and
// messages, escaped to six bytes a character.
func TestBoundBatch(t *testing.T) {
	id := post.KeyedID("k")
	worst := batchItem{ID: id, Status: http.StatusUnprocessableEntity, Detail: strings.Repeat("<", post.MaxDetailBytes),
		Errors: longErrors(post.MaxFieldErrors), MoreErrors: 7}
	refused := itemFailure(&post.ValidationError{Fields: []post.FieldError{
		{Field: "author", Message: "is required"}, {Field: "tags[3]", Message: "must be a string, not number"}}})
	accepted := batchItem{ID: id, Status: http.StatusAccepted}
	unacked := batchItem{ID: id, Status: http.StatusServiceUnavailable, Detail: "kafka did not acknowledge this post in time; it may still be stored once under this id; retry it (with the same Idempotency-Key to be safe)"}
	items := func(n int, pattern ...batchItem) []batchItem {
		out := make([]batchItem, n)
		for i := range out {
			out[i] = pattern[i%len(pattern)]
		}
		return out
	}
	tests := []struct {
		name    string
		items   []batchItem
		wantCut bool
	}{
		{"500 of the worst", items(500, worst), true},
		{"the worst between small ones", items(500, accepted, worst, unacked), true},
		{"500 small refusals fit whole", items(500, refused), false},
		{"500 accepted", items(500, accepted), false},
		{"one of the worst", items(1, worst), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.items
			got := make([]batchItem, len(orig))
			copy(got, orig)
			boundBatch(got)
			body, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > maxBatchAnswerBytes {
				t.Errorf("%d items answer %d bytes, over %d", len(got), len(body), maxBatchAnswerBytes)
			}
			firstCut := -1
			for i, it := range got {
				if it.ID != orig[i].ID || it.Status != orig[i].Status {
					t.Fatalf("item %d: id %q status %d, want %q and %d", i, it.ID, it.Status, orig[i].ID, orig[i].Status)
				}
				if it.Detail == detailLeftOut {
					if firstCut < 0 {
						firstCut = i
					}
					if it.Errors != nil || it.MoreErrors != len(orig[i].Errors)+orig[i].MoreErrors {
						t.Errorf("item %d: cut to %d errors and %d more, want none and %d", i, len(it.Errors), it.MoreErrors, len(orig[i].Errors)+orig[i].MoreErrors)
					}
					continue
				}
				if it.Detail != orig[i].Detail || len(it.Errors) != len(orig[i].Errors) || it.MoreErrors != orig[i].MoreErrors {
					t.Errorf("item %d changed, though not cut", i)
				}
				if firstCut >= 0 && len(orig[i].Errors) > 0 {
					t.Errorf("item %d with errors is whole after item %d was cut", i, firstCut)
				}
			}
			if (firstCut >= 0) != tt.wantCut {
				t.Errorf("first item cut %d; want items cut: %v", firstCut, tt.wantCut)
			}
		})
	}
}

// TestItemLenIsAnUpperBound: boundBatch counts items by itemLen, so it
// must never be below an item's encoded length.
func TestItemLenIsAnUpperBound(t *testing.T) {
	for i, it := range []batchItem{
		{},
		{ID: post.KeyedID("k"), Status: http.StatusAccepted},
		{Status: http.StatusBadRequest, Detail: "a post must be a JSON object, not array"},
		{Status: http.StatusUnprocessableEntity, Detail: "\x00\u2028<>&\"\\\xff", Errors: []post.FieldError{{Field: "<\x01", Message: "\xff"}}, MoreErrors: 1 << 40},
		{Status: http.StatusUnprocessableEntity, Detail: strings.Repeat("<", 100), Errors: longErrors(post.MaxFieldErrors), MoreErrors: 3},
	} {
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		if n := itemLen(&it); n < len(b) {
			t.Errorf("item %d: itemLen %d, encoded %d bytes: %s", i, n, len(b), strconv.Quote(string(b[:min(len(b), 200)])))
		}
	}
}
