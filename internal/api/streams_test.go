package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/postpipe/postpipe/internal/api"
	"github.com/postpipe/postpipe/internal/apikey"
	"github.com/postpipe/postpipe/internal/doc"
	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/stream"
)

// fakeDocs is a declared stream's store and publisher in memory: the
// publisher stores what it is given at once (unless fail says otherwise),
// as if the sink were instant.
type fakeDocs struct {
	mu        sync.Mutex
	docs      map[string]doc.Document
	published []doc.Document
	topics    []string
	fail      error
	queries   []doc.Query
}

func newFakeDocs() *fakeDocs { return &fakeDocs{docs: map[string]doc.Document{}} }

func (f *fakeDocs) PublishDocs(_ context.Context, st *stream.Stream, docs []doc.Document) []error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := make([]error, len(docs))
	for i, d := range docs {
		if f.fail != nil {
			errs[i] = f.fail
			continue
		}
		f.published = append(f.published, d)
		f.topics = append(f.topics, st.Topic)
		if _, ok := f.docs[d.ID]; !ok {
			d.IngestedAt = d.CreatedAt.Add(time.Millisecond)
			f.docs[d.ID] = d
		}
	}
	return errs
}

func (f *fakeDocs) PublishDoc(ctx context.Context, st *stream.Stream, d doc.Document) error {
	return f.PublishDocs(ctx, st, []doc.Document{d})[0]
}

// PublishChange takes a create as PublishDoc does (a stream with changes
// creates through it); any other op is refused: these tests send none
// (changes_test.go's fakeChanges applies them).
func (f *fakeDocs) PublishChange(ctx context.Context, st *stream.Stream, c doc.Change) (doc.Version, error) {
	if c.Op != doc.OpCreate {
		return doc.None, errors.New("fakeDocs publishes creates only")
	}
	if err := f.PublishDoc(ctx, st, c.Document()); err != nil {
		return doc.None, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return doc.Version{Partition: 0, Offset: int64(len(f.published) - 1)}, nil
}

func (f *fakeDocs) Insert(_ context.Context, d doc.Document) (doc.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.docs[d.ID]; ok {
		return doc.Document{}, post.ErrExists
	}
	d.IngestedAt = d.CreatedAt
	f.docs[d.ID] = d
	return d, nil
}

func (f *fakeDocs) Get(_ context.Context, id string) (doc.Document, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.docs[id]
	if !ok {
		return doc.Document{}, post.ErrNotFound
	}
	return d, nil
}

// List filters by a string field only (what the tests ask for), newest
// first by (createdAt, id).
func (f *fakeDocs) List(_ context.Context, q doc.Query, each func(doc.Document) bool) error {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	var all []doc.Document
	for _, d := range f.docs {
		if q.Field != "" {
			var m map[string]any
			if err := json.Unmarshal(d.Body, &m); err != nil || m[q.Field] != q.Value {
				continue
			}
		}
		if q.After != nil && !(d.CreatedAt.Before(q.After.CreatedAt) || d.CreatedAt.Equal(q.After.CreatedAt) && d.ID < q.After.ID) {
			continue
		}
		all = append(all, d)
	}
	f.mu.Unlock()
	slices.SortFunc(all, func(a, b doc.Document) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	for i, d := range all {
		if i == q.Limit || !each(d) {
			break
		}
	}
	return nil
}

// decodeLoose decodes an answer of status, unknown members allowed.
func decodeLoose[T any](t *testing.T, rec *httptest.ResponseRecorder, status int) T {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body: %s", rec.Code, status, rec.Body)
	}
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	return v
}

// exampleStreams are examples/streams.yaml's streams by name.
func exampleStreams(t *testing.T) map[string]*stream.Stream {
	t.Helper()
	set, err := stream.Load("../../examples/streams.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*stream.Stream{}
	for _, st := range set.Streams {
		m[st.Name] = st
	}
	return m
}

type streamsAPI struct {
	h              http.Handler
	a              *api.API
	orders, clicks *fakeDocs
}

// newStreamsAPI serves posts, orders and clicks (the example file's) with
// fakes, the clock moving a millisecond a request.
func newStreamsAPI(t *testing.T) *streamsAPI {
	t.Helper()
	ex := exampleStreams(t)
	a := api.New(testLimits, &fakePublisher{}, newFakeStore(), nil, slog.New(slog.DiscardHandler))
	s := &streamsAPI{a: a, h: a, orders: newFakeDocs(), clicks: newFakeDocs()}
	a.AddStream(api.Stream{Stream: ex["orders"], Store: s.orders, Publisher: s.orders})
	a.AddStream(api.Stream{Stream: ex["clicks"], Store: s.clicks, Publisher: s.clicks})
	return s
}

const testOrder = `{"orderId":"ord-1","customer":"c-1","status":"paid","placedAt":"2026-12-04T19:59:21.123Z",` +
	`"total":9007199254740993,"items":[{"sku":"A","quantity":2,"amount":19.99}]}`

func TestStreamCreateGetAndConflicts(t *testing.T) {
	s := newStreamsAPI(t)
	rec := do(t, s.h, http.MethodPost, "/v1/orders", testOrder)
	got := decodeLoose[struct{ ID, Status string }](t, rec, http.StatusAccepted)
	if got.ID != "ord-1" || got.Status != "accepted" || rec.Header().Get("Location") != "/v1/orders/ord-1" {
		t.Fatalf("202 = %+v, Location %q", got, rec.Header().Get("Location"))
	}
	if len(s.orders.topics) != 1 || s.orders.topics[0] != "orders" {
		t.Fatalf("published to %v, want orders", s.orders.topics)
	}

	// Read back: the document as sent (the integer beyond 2^53 exact),
	// with its id and times.
	rec = do(t, s.h, http.MethodGet, "/v1/orders/ord-1", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{`"id":"ord-1"`, `"total":9007199254740993`, `"amount":19.99`, `"createdAt":"`, `"ingestedAt":"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET answer %s lacks %s", body, want)
		}
	}

	// The same order again is a retry; another one under its id a 409.
	if rec := do(t, s.h, http.MethodPost, "/v1/orders", testOrder); rec.Code != http.StatusAccepted {
		t.Fatalf("the same order again: %d %s", rec.Code, rec.Body)
	}
	other := strings.Replace(testOrder, `"paid"`, `"shipped"`, 1)
	p := decodeLoose[problemBody](t, do(t, s.h, http.MethodPost, "/v1/orders", other), http.StatusConflict)
	if p.ID != "ord-1" || !strings.Contains(p.Detail, "/orderId") {
		t.Errorf("409 = %+v, want the id and what names it", p)
	}
	// The same members in another order and 19.990 for 19.99 are the
	// same order.
	reordered := `{"customer":"c-1","orderId":"ord-1","status":"paid","placedAt":"2026-12-04T19:59:21.123Z",` +
		`"items":[{"amount":19.990,"sku":"A","quantity":2}],"total":9007199254740993}`
	if rec := do(t, s.h, http.MethodPost, "/v1/orders", reordered); rec.Code != http.StatusAccepted {
		t.Errorf("the same order, members reordered: %d %s", rec.Code, rec.Body)
	}

	// Unknown ids and streams.
	problemOf(t, do(t, s.h, http.MethodGet, "/v1/orders/ord-2", ""), http.StatusNotFound)
	p = problemOf(t, do(t, s.h, http.MethodPost, "/v1/invoices", testOrder), http.StatusNotFound)
	if !strings.Contains(p.Detail, "posts, orders, clicks") {
		t.Errorf("unknown stream: %q does not name the streams", p.Detail)
	}
}

func TestStreamRefusals(t *testing.T) {
	s := newStreamsAPI(t)
	for name, tt := range map[string]struct {
		body   string
		status int
		field  string // a field error expected at this pointer
	}{
		"schema: fractional quantity": {strings.Replace(testOrder, `"quantity":2`, `"quantity":2.5`, 1), 422, "/items/0/quantity"},
		"schema: unknown member":      {strings.Replace(testOrder, `"customer"`, `"colour":"red","customer"`, 1), 422, "/colour"},
		"reserved member":             {strings.Replace(testOrder, `"customer"`, `"createdAt":"x","customer"`, 1), 422, "/createdAt"},
		"integer beyond 64 bits":      {strings.Replace(testOrder, `9007199254740993`, `99999999999999999999`, 1), 422, "/total"},
		"rounded fraction":            {strings.Replace(testOrder, `19.99`, `0.12345678901234567890123`, 1), 422, "/items/0/amount"},
		"duplicate member":            {strings.Replace(testOrder, `"customer":"c-1"`, `"customer":"c-1","customer":"c-2"`, 1), 422, "/customer"},
		"not an object":               {`[1]`, 400, ""},
		"malformed":                   {`{"orderId":`, 400, ""},
		"empty":                       {` `, 400, ""},
		"invalid UTF-8":               {"{\"orderId\":\"\xff\"}", 400, ""},
	} {
		t.Run(name, func(t *testing.T) {
			p := problemOf(t, do(t, s.h, http.MethodPost, "/v1/orders", tt.body), tt.status)
			if tt.field != "" && !slices.Contains(fieldNames(p.Errors), tt.field) {
				t.Errorf("errors %+v do not name %s", p.Errors, tt.field)
			}
		})
	}
	if len(s.orders.published) != 0 {
		t.Errorf("refused documents were published: %d", len(s.orders.published))
	}
	big := `{"page":"` + strings.Repeat("a", 3000) + `","at":"2026-12-04T10:00:00Z"}`
	problemOf(t, do(t, s.h, http.MethodPost, "/v1/clicks", big), http.StatusRequestEntityTooLarge) // over testLimits.MaxBodyBytes

	// A broker that does not acknowledge: 503 with the id, as for posts.
	s.orders.fail = errors.New("no ack")
	p := problemOf(t, do(t, s.h, http.MethodPost, "/v1/orders", testOrder), http.StatusServiceUnavailable)
	if p.ID != "ord-1" {
		t.Errorf("503 without the id: %+v", p)
	}
}

func TestStreamGeneratedIDsAndIdempotencyKey(t *testing.T) {
	s := newStreamsAPI(t)
	click := `{"page":"/a","at":"2026-12-04T10:00:00Z"}`
	a := decodeLoose[struct{ ID string }](t, do(t, s.h, http.MethodPost, "/v1/clicks", click), http.StatusAccepted)
	b := decodeLoose[struct{ ID string }](t, do(t, s.h, http.MethodPost, "/v1/clicks", click), http.StatusAccepted)
	if a.ID == b.ID || !post.ValidID(a.ID) {
		t.Fatalf("two clicks without a key: ids %q and %q, want two fresh UUIDs", a.ID, b.ID)
	}
	k1 := decodeLoose[struct{ ID string }](t, do(t, s.h, http.MethodPost, "/v1/clicks", click, "Idempotency-Key", "k"), http.StatusAccepted)
	k2 := decodeLoose[struct{ ID string }](t, do(t, s.h, http.MethodPost, "/v1/clicks", click, "Idempotency-Key", "k"), http.StatusAccepted)
	if k1.ID != k2.ID {
		t.Fatalf("a retry with the same key got ids %q and %q", k1.ID, k2.ID)
	}
	decodeLoose[problemBody](t, do(t, s.h, http.MethodPost, "/v1/clicks", `{"page":"/b","at":"2026-12-04T10:00:00Z"}`, "Idempotency-Key", "k"), http.StatusConflict)
}

func TestStreamBatchAndDirect(t *testing.T) {
	s := newStreamsAPI(t)
	batch := `[` + testOrder + `,` + strings.Replace(testOrder, `"quantity":2`, `"quantity":0`, 1) + `,` +
		strings.Replace(testOrder, `ord-1`, `ord-2`, 1) + `,{"oops":1}]`
	items := decodeLoose[[]struct {
		ID     string
		Status int
		Errors []post.FieldError
	}](t, do(t, s.h, http.MethodPost, "/v1/orders:batch", batch), http.StatusMultiStatus)
	if len(items) != 4 || items[0].Status != 202 || items[0].ID != "ord-1" || items[1].Status != 422 ||
		items[2].Status != 202 || items[2].ID != "ord-2" || items[3].Status != 422 {
		t.Fatalf("batch items = %+v", items)
	}
	if !slices.Contains(fieldNames(items[1].Errors), "/items/0/quantity") {
		t.Errorf("item 1's errors %+v do not name /items/0/quantity", items[1].Errors)
	}
	if len(s.orders.published) != 2 {
		t.Errorf("published %d, want the 2 valid orders", len(s.orders.published))
	}

	// :direct stores and answers the stored document; a repeat replays it.
	o3 := strings.Replace(testOrder, `ord-1`, `ord-3`, 1)
	rec := do(t, s.h, http.MethodPost, "/v1/orders:direct", o3)
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), `"orderId":"ord-3"`) || !strings.Contains(rec.Body.String(), `"ingestedAt"`) {
		t.Fatalf("direct: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, s.h, http.MethodPost, "/v1/orders:direct", o3)
	if rec.Code != http.StatusCreated || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("direct repeat: %d, replayed %q", rec.Code, rec.Header().Get("Idempotent-Replayed"))
	}
	// Another order under a stored id: 409, whichever path stored it.
	decodeLoose[problemBody](t, do(t, s.h, http.MethodPost, "/v1/orders:direct", strings.Replace(o3, `"paid"`, `"shipped"`, 1)), http.StatusConflict)
}

func TestStreamListing(t *testing.T) {
	s := newStreamsAPI(t)
	for i, c := range []string{"c-1", "c-2", "c-1", "c-1"} {
		o := strings.Replace(strings.Replace(testOrder, `"c-1"`, `"`+c+`"`, 1), `ord-1`, "ord-"+string(rune('a'+i)), 1)
		if rec := do(t, s.h, http.MethodPost, "/v1/orders", o); rec.Code != http.StatusAccepted {
			t.Fatalf("POST: %d %s", rec.Code, rec.Body)
		}
		time.Sleep(2 * time.Millisecond) // distinct createdAt
	}
	var ids []string
	next := "/v1/orders?customer=c-1&limit=2"
	for next != "" {
		page := decodeLoose[struct {
			Orders []struct {
				ID       string `json:"id"`
				Customer string `json:"customer"`
			} `json:"orders"`
			NextCursor string `json:"nextCursor"`
		}](t, do(t, s.h, http.MethodGet, next, ""), http.StatusOK)
		for _, o := range page.Orders {
			if o.Customer != "c-1" {
				t.Errorf("listing customer c-1 gave %+v", o)
			}
			ids = append(ids, o.ID)
		}
		next = ""
		if page.NextCursor != "" {
			next = "/v1/orders?customer=c-1&limit=2&cursor=" + page.NextCursor
		}
	}
	if strings.Join(ids, ",") != "ord-d,ord-c,ord-a" {
		t.Errorf("customer c-1's orders, newest first across pages: %v", ids)
	}
	for target, want := range map[string]string{
		"/v1/orders?colour=red":                 "unknown query parameter",
		"/v1/orders?customer=c-1&status=paid":   "one field at a time",
		"/v1/orders?customer=a&customer=b":      "one field at a time",
		"/v1/orders?limit=0":                    "limit",
		"/v1/orders?cursor=nope":                "cursor",
		"/v1/clicks?page=%2Fa":                  "unknown query parameter",
		"/v1/orders?status=paid&limit=101":      "limit",
		"/v1/orders?customer=c-1&cursor=e30":    "cursor",
		"/v1/orders?customer=c-1&limit=1&limit": "limit",
	} {
		p := problemOf(t, do(t, s.h, http.MethodGet, target, ""), http.StatusBadRequest)
		if !strings.Contains(p.Detail, want) {
			t.Errorf("GET %s: %q does not say %q", target, p.Detail, want)
		}
	}
}

func TestKeyLimitedToStreams(t *testing.T) {
	s := newStreamsAPI(t)
	keys, err := apikey.Parse(strings.NewReader(apikey.Line("shop", "k-shop") + " streams=orders\n" + apikey.Line("all", "k-all") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var refused forbiddenLog
	h := s.a.Guarded(api.Guard{Keys: keys, Exempt: []string{"/healthz"}, Forbidden: &refused})
	if rec := do(t, h, http.MethodPost, "/v1/orders", testOrder, "Authorization", "Bearer k-shop"); rec.Code != http.StatusAccepted {
		t.Fatalf("shop key on orders: %d %s", rec.Code, rec.Body)
	}
	for _, target := range []string{"/v1/clicks", "/v1/posts", "/api/create-post-with-kafka"} {
		p := problemOf(t, do(t, h, http.MethodPost, target, `{}`, "Authorization", "Bearer k-shop"), http.StatusForbidden)
		if !strings.Contains(p.Detail, "shop") || !strings.Contains(p.Detail, "orders") {
			t.Errorf("403 on %s: %q does not name the key and what it holds", target, p.Detail)
		}
	}
	if rec := do(t, h, http.MethodGet, "/v1/orders/ord-1", "", "Authorization", "Bearer k-shop"); rec.Code != http.StatusOK {
		t.Errorf("shop key reading orders: %d", rec.Code)
	}
	if rec := do(t, h, http.MethodPost, "/v1/clicks", `{"page":"/","at":"2026-12-04T10:00:00Z"}`, "Authorization", "Bearer k-all"); rec.Code != http.StatusAccepted {
		t.Errorf("an unlimited key on clicks: %d %s", rec.Code, rec.Body)
	}
	if got := strings.Join(refused.list, " "); got != "shop/clicks shop/posts shop/posts" {
		t.Errorf("refusals observed: %q", got)
	}
}

type forbiddenLog struct {
	mu   sync.Mutex
	list []string
}

func (f *forbiddenLog) Forbidden(key, st string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, key+"/"+st)
}

// TestSpecDescribesStreams: /openapi.yaml describes every route served,
// the declared streams' too, each with its own schema as the body.
func TestSpecDescribesStreams(t *testing.T) {
	s := newStreamsAPI(t)
	rec := do(t, s.h, http.MethodGet, "/openapi.yaml", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.yaml: %d", rec.Code)
	}
	var spec struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(rec.Body.Bytes(), &spec); err != nil {
		t.Fatal(err)
	}
	for _, route := range s.a.Routes() {
		method, path, _ := strings.Cut(route, " ")
		if path == "/metrics" || strings.HasPrefix(path, "/ui") || path == "/" {
			continue
		}
		if _, ok := spec.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is served but not described", route)
		}
	}
	orders := spec.Components.Schemas["StreamOrdersInput"]
	if orders == nil || orders["$schema"] != nil {
		t.Fatalf("StreamOrdersInput = %v, want the orders schema without $schema", orders)
	}
	money := orders["$defs"].(map[string]any)["money"].(map[string]any)
	if money["minimum"] != 0 || money["multipleOf"] != 0.01 {
		t.Errorf("the schema's numbers are not numbers in the description: %#v", money)
	}
	items := orders["properties"].(map[string]any)["items"].(map[string]any)["items"].(map[string]any)
	if items["$ref"] != "#/components/schemas/StreamOrdersInput/$defs/item" {
		t.Errorf("the item $ref points at %v", items["$ref"])
	}
}

// TestPostsByAnotherSchema: a streams file that gives posts its own schema
// makes every posts route, the seed's included, serve that schema's
// documents.
func TestPostsByAnotherSchema(t *testing.T) {
	set, err := stream.Parse(filepath.Join(t.TempDir(), "streams.yaml"), []byte("streams:\n  - name: posts\n    changes: false\n    list: [section]\n    schema: {type: object, required: [headline, section], additionalProperties: false, properties: {headline: {type: string}, section: {type: string}}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	typed, store := &fakePublisher{}, newFakeStore()
	a := api.New(testLimits, typed, store, nil, slog.New(slog.DiscardHandler))
	posts := newFakeDocs()
	a.AddStream(api.Stream{Stream: set.Lookup("posts"), Store: posts, Publisher: posts})

	got := decodeLoose[struct{ ID string }](t, do(t, a, http.MethodPost, "/v1/posts", `{"headline":"h","section":"news"}`), http.StatusAccepted)
	if len(posts.published) != 1 || typed.callCount() != 0 {
		t.Fatalf("published %d by the schema, %d typed; want 1 and 0", len(posts.published), typed.callCount())
	}
	if rec := do(t, a, http.MethodGet, "/v1/posts/"+got.ID, ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"headline":"h"`) {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, a, http.MethodGet, "/v1/posts?section=news", ""); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `{"posts":[{"id":"`+got.ID) {
		t.Fatalf("list: %d %s", rec.Code, rec.Body)
	}
	p := problemOf(t, do(t, a, http.MethodPost, "/v1/posts", `{"author":"a","title":"t","content":"c"}`), http.StatusUnprocessableEntity)
	if !slices.Contains(fieldNames(p.Errors), "/author") {
		t.Errorf("a built-in post against the new schema: %+v", p.Errors)
	}
	if rec := do(t, a, http.MethodPost, "/api/create-post-with-kafka", `{"headline":"h2","section":"x"}`); rec.Code != http.StatusOK {
		t.Errorf("the seed's route: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, a, http.MethodPost, "/v1/posts:direct", `{"headline":"h3","section":"x"}`); rec.Code != http.StatusCreated {
		t.Errorf(":direct: %d %s", rec.Code, rec.Body)
	}
	if store.count() != 0 {
		t.Errorf("the typed store got %d posts", store.count())
	}
	spec := do(t, a, http.MethodGet, "/openapi.yaml", "").Body.String()
	if !strings.Contains(spec, "headline") || !strings.Contains(spec, "name: section") {
		t.Errorf("the description does not describe posts by its schema")
	}
}
