package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// The API bounds each read with a deadline on its context (api.Limits
// ReadTimeout) and relies on two things these tests hold the store to: the
// driver sends the time left as maxTimeMS, so the server stops a query
// nobody waits for any more, and a read that runs out fails with an error
// the driver calls a timeout (the API answers it 503, never 500).

// TestReadsSendTheirDeadline: Get and List with a deadline send maxTimeMS
// of at most the time left; without one they send none.
func TestReadsSendTheirDeadline(t *testing.T) {
	var (
		mu      sync.Mutex
		maxTime = map[string][]bson.RawValue{} // by command name
	)
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName != "find" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		var v bson.RawValue // the last maxTimeMS; a second one is an error
		elems, _ := e.Command.Elements()
		for _, el := range elems {
			if el.Key() == "maxTimeMS" {
				if v.Type != 0 {
					t.Errorf("maxTimeMS sent twice: %s", e.Command)
				}
				v = el.Value()
			}
		}
		maxTime[e.CommandName] = append(maxTime[e.CommandName], v)
	}}
	m := testkit.Store(t)
	ctx := testCtx(t)
	s, err := Open(ctx, m.URI(), "postpipe_test", "posts", options.Client().SetMonitor(mon))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if _, _, err := s.WriteBatch(ctx, makePosts(3, "ada", time.Now().UTC())); err != nil {
		t.Fatal(err)
	}

	const limit = 3 * time.Second
	read := func(ctx context.Context) {
		if _, err := s.Get(ctx, post.KeyedID("none")); !errors.Is(err, post.ErrNotFound) {
			t.Fatalf("Get: %v, want ErrNotFound", err)
		}
		if err := s.List(ctx, post.Query{Limit: 2}, func(post.Post) bool { return true }); err != nil {
			t.Fatalf("List: %v", err)
		}
	}
	bounded, cancel := context.WithTimeout(ctx, limit)
	read(bounded)
	cancel()
	read(context.Background())

	mu.Lock()
	defer mu.Unlock()
	got := maxTime["find"]
	if len(got) != 4 {
		t.Fatalf("%d find commands seen, want 4 (Get and List, with and without a deadline)", len(got))
	}
	for i, v := range got[:2] {
		ms, ok := v.AsInt64OK()
		if !ok || ms <= 0 || ms > limit.Milliseconds() {
			t.Errorf("read %d with a %s deadline sent maxTimeMS %v, want 1..%d", i, limit, v, limit.Milliseconds())
		}
	}
	for i, v := range got[2:] {
		if v.Type != 0 {
			t.Errorf("read %d without a deadline sent maxTimeMS %v, want none", i, v)
		}
	}
}

// TestReadsTimeOut: a List and a Get whose deadline passes while the store
// works fail with an error the driver calls a timeout. Enough posts are
// stored that FerretDB's list (no index serves its sort) outlasts the
// deadline by far; the Get gets a deadline too short for any round trip.
func TestReadsTimeOut(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	base := time.Now().UTC()
	for i := range 4 {
		if _, _, err := s.WriteBatch(ctx, makePosts(500, "ada", base.Add(-time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}

	lctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	err := s.List(lctx, post.Query{Author: "ada", Limit: 21}, func(post.Post) bool { return true })
	cancel()
	if err == nil || !mongo.IsTimeout(err) {
		t.Errorf("List past its deadline: %v, want a timeout", err)
	}

	gctx, cancel := context.WithTimeout(ctx, time.Microsecond)
	_, err = s.Get(gctx, post.KeyedID("none"))
	cancel()
	if err == nil || !mongo.IsTimeout(err) || errors.Is(err, post.ErrNotFound) {
		t.Errorf("Get past its deadline: %v, want a timeout", err)
	}
}
