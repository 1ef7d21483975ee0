package api_test

// Regression tests for issue 10: what a hostile or careless client could do
// with idempotency keys, oversize posts, slow bodies and odd JSON.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	apispec "github.com/postpipe/postpipe/api"
	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

const (
	aliceKey = "pp_alice-secret-key-0001"
	bobKey   = "pp_bob-secret-key-000002"
)

// twoClientAPI is the test API behind API keys named alice and bob.
func twoClientAPI(t *testing.T) (http.Handler, *testAPI) {
	t.Helper()
	pub, store := &fakePublisher{}, newFakeStore()
	a := api.New(testLimits, pub, store, nil, slog.New(slog.DiscardHandler))
	keys, err := apikey.Parse(strings.NewReader(apikey.Line("alice", aliceKey) + "\n" + apikey.Line("bob", bobKey)))
	if err != nil {
		t.Fatal(err)
	}
	return a.Guarded(api.Guard{Keys: keys}), &testAPI{h: a, pub: pub, store: store}
}

func TestIdempotencyKeyScopedByAPIKey(t *testing.T) {
	h, ta := twoClientAPI(t)
	alice := decodeJSON[acceptedBody](t, do(t, h, http.MethodPost, "/v1/posts", postJSON("alice's"),
		"Authorization", "Bearer "+aliceKey, "Idempotency-Key", "order-1"), http.StatusAccepted)
	bob := decodeJSON[acceptedBody](t, do(t, h, http.MethodPost, "/v1/posts", postJSON("bob's"),
		"Authorization", "Bearer "+bobKey, "Idempotency-Key", "order-1"), http.StatusAccepted)
	if alice.ID == bob.ID {
		t.Fatalf("alice and bob got the same id %s for their own order-1", alice.ID)
	}
	titles := map[string]string{}
	for _, p := range ta.pub.published() {
		titles[p.ID] = p.Title
	}
	if titles[alice.ID] != "alice's" || titles[bob.ID] != "bob's" {
		t.Errorf("published %v, want alice's post under %s and bob's under %s", titles, alice.ID, bob.ID)
	}
	if alice.ID == post.KeyedID("order-1") {
		t.Errorf("alice's id %s is the anonymous id of the key", alice.ID)
	}

	// The direct path: bob never gets alice's document.
	do(t, h, http.MethodPost, "/v1/posts:direct", postJSON("alice direct"), "Authorization", "Bearer "+aliceKey, "Idempotency-Key", "order-2")
	rec := do(t, h, http.MethodPost, "/v1/posts:direct", postJSON("bob direct"), "Authorization", "Bearer "+bobKey, "Idempotency-Key", "order-2")
	got := decodeJSON[post.Post](t, rec, http.StatusCreated)
	if got.Title != "bob direct" || rec.Header().Get("Idempotent-Replayed") != "" {
		t.Errorf("bob's direct post answered %q (replayed %q), want his own new post", got.Title, rec.Header().Get("Idempotent-Replayed"))
	}

	// Batches: (identity, key, index).
	batch := "[" + postJSON("b0") + "]"
	ia := decodeJSON[[]itemBody](t, do(t, h, http.MethodPost, "/v1/posts:batch", batch, "Authorization", "Bearer "+aliceKey, "Idempotency-Key", "b"), http.StatusMultiStatus)
	ib := decodeJSON[[]itemBody](t, do(t, h, http.MethodPost, "/v1/posts:batch", batch, "Authorization", "Bearer "+bobKey, "Idempotency-Key", "b"), http.StatusMultiStatus)
	if ia[0].ID == ib[0].ID || ia[0].Status != http.StatusAccepted || ib[0].Status != http.StatusAccepted {
		t.Errorf("batch items: alice %+v, bob %+v; want two accepted posts with their own ids", ia[0], ib[0])
	}
}

// reordered is postJSON(title) with other spacing and field order: the same
// post.
func reordered(title string) string {
	return fmt.Sprintf(`{ "tags" : ["go","kafka"], "content":"Text","subtitle":"Notes", "title": %q, "author":"Ada" }`, title)
}

func checkConflict(t *testing.T, rec interface {
	Result() *http.Response
}, body string) {
	t.Helper()
	if rec.Result().StatusCode != http.StatusConflict {
		t.Fatalf("status %d, want 409: %s", rec.Result().StatusCode, body)
	}
	var p struct{ Type, Title, Detail string }
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Type, "idempotency-key-conflict") || p.Title != "Idempotency-Key conflict" || !strings.Contains(p.Detail, "Idempotency-Key") {
		t.Errorf("problem %+v does not name the Idempotency-Key conflict", p)
	}
}

func TestIdempotencyKeyConflict(t *testing.T) {
	for _, path := range []string{"/v1/posts", "/api/create-post-with-kafka", "/v1/posts:direct", "/api/create-post-without-kafka"} {
		t.Run(path, func(t *testing.T) {
			a := newTestAPI(t)
			first := do(t, a.h, http.MethodPost, path, postJSON("first"), "Idempotency-Key", "k")
			if first.Code >= 300 {
				t.Fatalf("first post: %d %s", first.Code, first.Body)
			}
			same := do(t, a.h, http.MethodPost, path, reordered("first"), "Idempotency-Key", "k")
			if same.Code != first.Code {
				t.Errorf("the same post, spaced and ordered differently: %d %s, want %d", same.Code, same.Body, first.Code)
			}
			other := do(t, a.h, http.MethodPost, path, postJSON("second"), "Idempotency-Key", "k")
			checkConflict(t, other, other.Body.String())
			for _, p := range a.pub.published() {
				if p.Title != "first" {
					t.Errorf("published %q under the key", p.Title)
				}
			}
		})
	}
	t.Run("batch", func(t *testing.T) {
		a := newTestAPI(t)
		decodeJSON[[]itemBody](t, do(t, a.h, http.MethodPost, "/v1/posts:batch", "["+postJSON("a")+","+postJSON("b")+"]", "Idempotency-Key", "k"), http.StatusMultiStatus)
		items := decodeJSON[[]itemBody](t, do(t, a.h, http.MethodPost, "/v1/posts:batch", "["+reordered("a")+","+postJSON("c")+"]", "Idempotency-Key", "k"), http.StatusMultiStatus)
		if items[0].Status != http.StatusAccepted || items[1].Status != http.StatusConflict || !strings.Contains(items[1].Detail, "Idempotency-Key") {
			t.Errorf("items %+v, want 202 for the retried item and 409 for the changed one", items)
		}
		if n := len(a.pub.published()); n != 3 {
			t.Errorf("published %d posts, want 3 (two, then the retried one)", n)
		}
	})
}

// TestIdempotencyKeyConflictFromStore is the direct path on an instance that
// did not see the first post: the stored fingerprint decides.
func TestIdempotencyKeyConflictFromStore(t *testing.T) {
	store := newFakeStore()
	log := slog.New(slog.DiscardHandler)
	one := api.New(testLimits, &fakePublisher{}, store, nil, log)
	two := api.New(testLimits, &fakePublisher{}, store, nil, log)
	decodeJSON[post.Post](t, do(t, one, http.MethodPost, "/v1/posts:direct", postJSON("first"), "Idempotency-Key", "k"), http.StatusCreated)
	rec := do(t, two, http.MethodPost, "/v1/posts:direct", postJSON("second"), "Idempotency-Key", "k")
	checkConflict(t, rec, rec.Body.String())
	again := do(t, two, http.MethodPost, "/v1/posts:direct", reordered("first"), "Idempotency-Key", "k")
	if got := decodeJSON[post.Post](t, again, http.StatusCreated); got.Title != "first" || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Errorf("the retry answered %q (replayed %q), want the stored post replayed", got.Title, again.Header().Get("Idempotent-Replayed"))
	}
}

// TestOversizePosts sends posts at and past the size limit through a real
// producer (kfake): every post that passes validation is acknowledged, and
// one that cannot fit is a 413 naming the limit, never a 503.
func TestOversizePosts(t *testing.T) {
	limits := testLimits
	limits.MaxBodyBytes, limits.MaxBatchBodyBytes = 4<<20, 8<<20
	h, _, _ := kafkaAPIWith(t, limits, 10*time.Second, false)
	body := func(content string) string {
		b, err := json.Marshal(post.Input{Author: "a", Title: "t", Content: content})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name    string
		content string
		want    int
	}{
		{"262,144 '<'", strings.Repeat("<", post.MaxContentLen), http.StatusAccepted},
		{"249,990 emoji", strings.Repeat("😀", 249_990), http.StatusAccepted},
		{"262,144 '\"'", strings.Repeat(`"`, post.MaxContentLen), http.StatusAccepted},
		{"262,144 '\\'", strings.Repeat(`\`, post.MaxContentLen), http.StatusAccepted},
		{"262,144 tabs and newlines", strings.Repeat("\t\n", post.MaxContentLen/2-1) + "xx", http.StatusAccepted},
		{"262,144 emoji", strings.Repeat("😀", post.MaxContentLen), http.StatusRequestEntityTooLarge},
		{"262,144 U+2028", strings.Repeat("\u2028", post.MaxContentLen-1) + "x", http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, h, http.MethodPost, "/v1/posts", body(tt.content))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %.300s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusRequestEntityTooLarge {
				if p := problemOf(t, rec, tt.want); !strings.Contains(p.Detail, "1040000 bytes") {
					t.Errorf("detail %q does not name the limit", p.Detail)
				}
			}
		})
	}
	t.Run("batch", func(t *testing.T) {
		batch := "[" + body("small") + "," + body(strings.Repeat("😀", post.MaxContentLen)) + "," + body(strings.Repeat("<", post.MaxContentLen)) + "]"
		items := decodeJSON[[]itemBody](t, do(t, h, http.MethodPost, "/v1/posts:batch", batch), http.StatusMultiStatus)
		got := []int{items[0].Status, items[1].Status, items[2].Status}
		if want := []int{http.StatusAccepted, http.StatusRequestEntityTooLarge, http.StatusAccepted}; !slices.Equal(got, want) {
			t.Errorf("item statuses %v, want %v", got, want)
		}
	})
}

// TestInputDecisions pins issue 10 item 10: what the API refuses in JSON
// that encoding/json would have taken.
func TestInputDecisions(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		want      int
		wantField string
	}{
		{"invalid UTF-8 in content", "{\"author\":\"a\",\"title\":\"t\",\"content\":\"ok \xff\"}", http.StatusUnprocessableEntity, "content"},
		{"overlong UTF-8", "{\"author\":\"a\",\"title\":\"t\",\"content\":\"\xc0\xaf\"}", http.StatusUnprocessableEntity, "content"},
		{"UTF-8 encoded surrogate", "{\"author\":\"a\",\"title\":\"t\",\"content\":\"\xed\xa0\x80\"}", http.StatusUnprocessableEntity, "content"},
		{"lone high surrogate", `{"author":"\ud800","title":"t","content":"c"}`, http.StatusUnprocessableEntity, "author"},
		{"lone low surrogate", `{"author":"a","title":"\udc00x","content":"c"}`, http.StatusUnprocessableEntity, "title"},
		{"reversed pair", `{"author":"a","title":"t","content":"\udc00\ud800"}`, http.StatusUnprocessableEntity, "content"},
		{"invalid UTF-8 in a field name", "{\"author\":\"a\",\"title\":\"t\",\"content\":\"c\",\"\xff\":1}", http.StatusUnprocessableEntity, fmt.Sprintf("%q", "\ufffd")},
		{"upper-case field name", `{"AUTHOR":"a","title":"t","content":"c"}`, http.StatusUnprocessableEntity, "AUTHOR"},
		{"case-folded field next to the real one", `{"author":"a","Author":"b","title":"t","content":"c"}`, http.StatusUnprocessableEntity, "Author"},
		{"duplicate field", `{"author":"a","title":"t","content":"c","author":"b"}`, http.StatusUnprocessableEntity, "author"},
		{"duplicate tags", `{"author":"a","title":"t","content":"c","tags":[],"tags":["x"]}`, http.StatusUnprocessableEntity, "tags"},
		{"NUL in title", `{"author":"a","title":"t\u0000","content":"c"}`, http.StatusUnprocessableEntity, "title"},
		{"escape char in content", `{"author":"a","title":"t","content":"\u001b[31mred"}`, http.StatusUnprocessableEntity, "content"},
		{"backspace in author", `{"author":"a\b","title":"t","content":"c"}`, http.StatusUnprocessableEntity, "author"},
		{"control char in a tag", `{"author":"a","title":"t","content":"c","tags":["x\u001f"]}`, http.StatusUnprocessableEntity, "tags[0]"},
		{"raw control char", "{\"author\":\"a\",\"title\":\"t\",\"content\":\"c\x01\"}", http.StatusBadRequest, ""},
		{"tab, newline, carriage return", `{"author":"a","title":"t","content":"a\tb\nc\r\n"}`, http.StatusAccepted, ""},
		{"DEL and C1 controls", `{"author":"a","title":"t","content":"\u007f\u0085"}`, http.StatusAccepted, ""},
		{"surrogate pair", `{"author":"a","title":"t","content":"\ud83d\ude00"}`, http.StatusAccepted, ""},
		{"null fields", `{"author":"a","title":"t","content":"c","subtitle":null,"tags":null}`, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestAPI(t)
			rec := do(t, a.h, http.MethodPost, "/v1/posts", tt.body)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.wantField != "" {
				if p := problemOf(t, rec, tt.want); !slices.Contains(fieldNames(p.Errors), tt.wantField) {
					t.Errorf("errors %+v do not name %s", p.Errors, tt.wantField)
				}
			}
			if tt.want == http.StatusAccepted {
				return
			}
			// In a batch the same item fails alone.
			batch := do(t, a.h, http.MethodPost, "/v1/posts:batch", "["+postJSON("ok")+","+tt.body+"]")
			if tt.want == http.StatusBadRequest { // not JSON: the whole batch
				problemOf(t, batch, http.StatusBadRequest)
				return
			}
			items := decodeJSON[[]itemBody](t, batch, http.StatusMultiStatus)
			if items[0].Status != http.StatusAccepted || items[1].Status != tt.want {
				t.Errorf("batch items %+v, want 202 then %d", items, tt.want)
			}
		})
	}
}

// slowBody opens a connection to srv and sends a POST whose body claims
// 1000 bytes but brings one: a client trickling its body in.
func slowBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := fmt.Fprintf(c, "POST /v1/posts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlowBodiesTakeNoSlots: clients sending their bodies slowly must not
// take the request slots a normal post needs.
func TestSlowBodiesTakeNoSlots(t *testing.T) {
	limits := testLimits
	limits.MaxInFlight = 2
	a := api.New(limits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	var entered atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		a.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	for range 5 {
		slowBody(t, srv.Listener.Addr().String())
	}
	testkit.Eventually(t, guard, "the slow requests to be in the handler", func() bool { return entered.Load() == 5 })
	resp, err := srv.Client().Post(srv.URL+"/v1/posts", "application/json", strings.NewReader(postJSON("normal")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("a normal post beside 5 slow bodies got %d, want 202: %s", resp.StatusCode, b)
	}
}

// TestSlowBodyTimesOut: a body that does not arrive within BodyReadTimeout
// is answered 408.
func TestSlowBodyTimesOut(t *testing.T) {
	limits := testLimits
	limits.BodyReadTimeout = 100 * time.Millisecond
	srv := httptest.NewServer(api.New(limits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	c := slowBody(t, srv.Listener.Addr().String())
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a guard against a hang, not a timing assertion
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
}

// TestSpecLimitsMatchCode reads the limits api/openapi.yaml states and
// compares them with the constants the code enforces.
func TestSpecLimitsMatchCode(t *testing.T) {
	type str struct {
		MaxLength int `yaml:"maxLength"`
	}
	var doc struct {
		Components struct {
			Schemas struct {
				PostInput struct {
					MaxEncoded int `yaml:"x-postpipe-max-encoded-bytes"`
					Properties struct {
						Author, Title, Subtitle, Content str
						Tags                             struct {
							MaxItems int `yaml:"maxItems"`
							Items    str `yaml:"items"`
						}
					}
				} `yaml:"PostInput"`
			}
		}
	}
	if err := yaml.Unmarshal(apispec.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	in := doc.Components.Schemas.PostInput
	for _, c := range []struct {
		name       string
		spec, code int
	}{
		{"x-postpipe-max-encoded-bytes", in.MaxEncoded, post.MaxEncodedBytes},
		{"author maxLength", in.Properties.Author.MaxLength, post.MaxAuthorLen},
		{"title maxLength", in.Properties.Title.MaxLength, post.MaxTitleLen},
		{"subtitle maxLength", in.Properties.Subtitle.MaxLength, post.MaxSubtitleLen},
		{"content maxLength", in.Properties.Content.MaxLength, post.MaxContentLen},
		{"tags maxItems", in.Properties.Tags.MaxItems, post.MaxTags},
		{"tag maxLength", in.Properties.Tags.Items.MaxLength, post.MaxTagLen},
	} {
		if c.spec != c.code {
			t.Errorf("openapi.yaml says %s %d, the code %d", c.name, c.spec, c.code)
		}
	}
	spec := string(apispec.OpenAPI)
	for _, want := range []string{
		fmt.Sprintf("%d,%03d,%03d bytes", post.MaxEncodedBytes/1_000_000, post.MaxEncodedBytes/1000%1000, post.MaxEncodedBytes%1000),
		fmt.Sprintf("within %d s", int(api.DefaultBodyReadTimeout.Seconds())),
	} {
		if !strings.Contains(spec, want) {
			t.Errorf("openapi.yaml does not say %q", want)
		}
	}
}
