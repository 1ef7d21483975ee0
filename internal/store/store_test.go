package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/postpipe/postpipe/internal/post"
	"github.com/postpipe/postpipe/internal/testkit"
)

// ingestTime is what the stores made by newStore stamp as ingestedAt.
var ingestTime = time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

// openStore opens a store on uri with indexes in place. It is closed before
// the server it talks to (cleanups run last in, first out).
func openStore(t *testing.T, uri string) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, uri, "postpipe_test", "posts")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	s.now = func() time.Time { return ingestTime }
	return s
}

// newStore is a store on a fresh, empty server.
func newStore(t *testing.T) *Store {
	t.Helper()
	return openStore(t, testkit.Store(t).URI())
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// makePosts returns n valid posts created at base, base-1ms, base-2ms, …
func makePosts(n int, author string, base time.Time) []post.Post {
	ps := make([]post.Post, n)
	for i := range ps {
		at := base.Add(-time.Duration(i) * time.Millisecond)
		ps[i] = post.New(post.NewID(at), post.Input{
			Author:  author,
			Title:   fmt.Sprintf("title %d", i),
			Content: fmt.Sprintf("content %d", i),
		}, at)
	}
	return ps
}

func ids(ps []post.Post) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func count(t *testing.T, s *Store) int64 {
	t.Helper()
	n, err := s.coll.CountDocuments(testCtx(t), bson.D{})
	if err != nil {
		t.Fatalf("CountDocuments: %v", err)
	}
	return n
}

// assertSamePost compares every field; times must be equal instants.
func assertSamePost(t *testing.T, got, want post.Post) {
	t.Helper()
	if got.ID != want.ID || got.Author != want.Author || got.Title != want.Title ||
		got.Subtitle != want.Subtitle || got.Content != want.Content {
		t.Errorf("post fields differ:\n got  %+v\n want %+v", got, want)
	}
	if !slices.Equal(got.Tags, want.Tags) {
		t.Errorf("post %s tags = %q, want %q", want.ID, got.Tags, want.Tags)
	}
	if !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("post %s createdAt = %v, want %v", want.ID, got.CreatedAt, want.CreatedAt)
	}
	if !got.IngestedAt.Equal(want.IngestedAt) {
		t.Errorf("post %s ingestedAt = %v, want %v", want.ID, got.IngestedAt, want.IngestedAt)
	}
	if got.CreatedAt.Location() != time.UTC || got.IngestedAt.Location() != time.UTC {
		t.Errorf("post %s times not in UTC: createdAt %v, ingestedAt %v", want.ID, got.CreatedAt, got.IngestedAt)
	}
}

func TestEnsureIndexesIsIdempotent(t *testing.T) {
	m := testkit.Store(t)
	s := openStore(t, m.URI()) // first EnsureIndexes creates them
	ctx := testCtx(t)

	for i := range 3 {
		if err := s.EnsureIndexes(ctx); err != nil {
			t.Fatalf("EnsureIndexes call %d: %v", i+2, err)
		}
	}
	// A restarted process opens the same collection and ensures again.
	s2 := openStore(t, m.URI())

	// The connection must still work after the repeated calls.
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after repeated EnsureIndexes: %v", err)
	}
	if _, _, err := s2.WriteBatch(ctx, makePosts(1, "ann", time.Now())); err != nil {
		t.Fatalf("WriteBatch after repeated EnsureIndexes: %v", err)
	}

	specs, err := s.coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatalf("ListSpecifications: %v", err)
	}
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name)
	}
	slices.Sort(names)
	want := []string{"_id_", "author_createdAt_id", "createdAt_id"}
	if !slices.Equal(names, want) {
		t.Errorf("indexes = %q, want %q", names, want)
	}
}

func TestWriteBatch(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	const n = 40
	first := makePosts(n, "ann", time.Now())

	// A mix: 15 already stored posts interleaved with 25 new ones.
	fresh := makePosts(25, "bob", time.Now().Add(time.Hour))
	var mixed []post.Post
	for i := range 25 {
		mixed = append(mixed, fresh[i])
		if i < 15 {
			mixed = append(mixed, first[i*2])
		}
	}

	steps := []struct {
		name             string
		batch            []post.Post
		wantIns, wantDup int
		wantCount        int64
	}{
		{name: "empty batch", batch: nil, wantIns: 0, wantDup: 0, wantCount: 0},
		{name: "new posts", batch: first, wantIns: n, wantDup: 0, wantCount: n},
		{name: "same batch again", batch: first, wantIns: 0, wantDup: n, wantCount: n},
		{name: "one duplicate", batch: first[7:8], wantIns: 0, wantDup: 1, wantCount: n},
		{name: "mixed new and stored", batch: mixed, wantIns: 25, wantDup: 15, wantCount: n + 25},
	}
	for _, st := range steps {
		// Each step stamps a different time, so a duplicate that
		// overwrote its document would show.
		stamp := ingestTime.Add(time.Duration(len(st.name)) * time.Minute)
		s.now = func() time.Time { return stamp }
		ins, dup, err := s.WriteBatch(ctx, st.batch)
		if err != nil {
			t.Fatalf("%s: WriteBatch: %v", st.name, err)
		}
		if ins != st.wantIns || dup != st.wantDup {
			t.Errorf("%s: WriteBatch = (inserted %d, duplicates %d), want (%d, %d)", st.name, ins, dup, st.wantIns, st.wantDup)
		}
		if got := count(t, s); got != st.wantCount {
			t.Errorf("%s: %d documents stored, want %d", st.name, got, st.wantCount)
		}
	}

	// Every post is stored once, as first written, stamped by the write
	// that inserted it.
	firstStamp := ingestTime.Add(time.Duration(len("new posts")) * time.Minute)
	mixedStamp := ingestTime.Add(time.Duration(len("mixed new and stored")) * time.Minute)
	check := func(ps []post.Post, stamp time.Time) {
		t.Helper()
		for _, p := range ps {
			got, err := s.Get(ctx, p.ID)
			if err != nil {
				t.Fatalf("Get %s: %v", p.ID, err)
			}
			want := p
			want.IngestedAt = stamp
			assertSamePost(t, got, want)
		}
	}
	check(first, firstStamp)
	check(fresh, mixedStamp)
}

func TestInsert(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	p := makePosts(1, "ann", time.Now())[0]

	got, err := s.Insert(ctx, p)
	if err != nil {
		t.Fatalf("first Insert: %v", err)
	}
	want := p
	want.IngestedAt = ingestTime
	assertSamePost(t, got, want)

	again := p
	again.Title = "another title"
	if _, err := s.Insert(ctx, again); !errors.Is(err, post.ErrExists) {
		t.Fatalf("second Insert of %s: err = %v, want post.ErrExists", p.ID, err)
	}
	stored, err := s.Get(ctx, p.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	assertSamePost(t, stored, want) // the first write stays
	if n := count(t, s); n != 1 {
		t.Errorf("%d documents stored, want 1", n)
	}
}

func TestGet(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	created := time.Date(2024, 11, 5, 23, 59, 58, 123_456_789, time.FixedZone("X", 5*3600))

	full := post.New(post.NewID(created), post.Input{
		Author: "Zoë", Title: "Everything", Subtitle: "with a subtitle", Content: "body ✓",
		Tags: []string{"go", "kafka", "ünïcode"},
	}, created)
	bare := post.New(post.NewID(created), post.Input{Author: "ann", Title: "Bare", Content: "c"}, created)
	// A post whose createdAt was not cut to milliseconds (written by some
	// other producer) comes back cut to milliseconds.
	fine := bare
	fine.ID = post.NewID(created)
	fine.CreatedAt = created
	if _, _, err := s.WriteBatch(ctx, []post.Post{full, bare, fine}); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}

	tests := []struct {
		name    string
		id      string
		want    post.Post
		wantErr error
	}{
		{name: "all fields", id: full.ID, want: full},
		{name: "no subtitle, no tags", id: bare.ID, want: bare},
		{name: "sub-millisecond createdAt", id: fine.ID, want: func() post.Post {
			p := fine
			p.CreatedAt = created.UTC().Truncate(time.Millisecond)
			return p
		}()},
		{name: "unknown id", id: post.NewID(created), wantErr: post.ErrNotFound},
		{name: "empty id", id: "", wantErr: post.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get(ctx, tt.id)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get(%q) err = %v, want %v", tt.id, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get(%q): %v", tt.id, err)
			}
			want := tt.want
			want.IngestedAt = ingestTime
			assertSamePost(t, got, want)
			if tt.want.Tags == nil && got.Tags != nil {
				t.Errorf("tags = %#v, want nil", got.Tags)
			}
		})
	}
}

func TestList(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	base := time.Now().UTC().Truncate(time.Millisecond)

	// Distinct times for three authors, interleaved.
	var all []post.Post
	for i, author := range []string{"ann", "bob", "cat"} {
		for j := range 6 {
			at := base.Add(-time.Duration(j*3+i) * time.Second)
			all = append(all, post.New(post.NewID(at), post.Input{Author: author, Title: "t", Content: "c"}, at))
		}
	}
	// Many posts sharing one millisecond, in two authors, with ids that
	// do not sort the way they were made (keyed ids are hashes).
	same := base.Add(-500 * time.Millisecond)
	for i := range 23 {
		author := []string{"ann", "dan"}[i%2]
		all = append(all, post.New(post.KeyedID(fmt.Sprint("same-", i)), post.Input{Author: author, Title: "t", Content: "c"}, same))
	}
	// Write in two batches, in an order unrelated to the listing order.
	shuffled := slices.Clone(all)
	slices.SortFunc(shuffled, func(a, b post.Post) int { return strings.Compare(a.Author+a.ID, b.Author+b.ID) })
	if _, _, err := s.WriteBatch(ctx, shuffled[:20]); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if _, _, err := s.WriteBatch(ctx, shuffled[20:]); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}

	// The expected order: createdAt descending, then id descending.
	newestFirst := func(author string) []string {
		var ps []post.Post
		for _, p := range all {
			if author == "" || p.Author == author {
				ps = append(ps, p)
			}
		}
		slices.SortFunc(ps, func(a, b post.Post) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		return ids(ps)
	}

	t.Run("first page", func(t *testing.T) {
		tests := []struct {
			author string
			limit  int
		}{
			{"", 1}, {"", 5}, {"", 100}, {"ann", 4}, {"dan", 3}, {"bob", 50}, {"nobody", 5},
		}
		for _, tt := range tests {
			got, err := collect(ctx, s, post.Query{Author: tt.author, Limit: tt.limit})
			if err != nil {
				t.Fatalf("List(author %q, limit %d): %v", tt.author, tt.limit, err)
			}
			want := newestFirst(tt.author)
			want = want[:min(tt.limit, len(want))]
			if !slices.Equal(ids(got), want) {
				t.Errorf("List(author %q, limit %d) = %q, want %q", tt.author, tt.limit, ids(got), want)
			}
			for _, p := range got {
				if tt.author != "" && p.Author != tt.author {
					t.Errorf("List(author %q) returned a post by %q", tt.author, p.Author)
				}
			}
		}
	})

	t.Run("paging", func(t *testing.T) {
		tests := []struct {
			author string
			limit  int
		}{
			{"", 1}, {"", 4}, {"", 7}, {"", 23}, {"ann", 2}, {"ann", 5}, {"dan", 3},
		}
		for _, tt := range tests {
			want := newestFirst(tt.author)
			var got []string
			var after *post.Position
			for page := 0; ; page++ {
				if page > len(want)+1 {
					t.Fatalf("author %q, limit %d: paging does not end; so far %d posts", tt.author, tt.limit, len(got))
				}
				ps, err := collect(ctx, s, post.Query{Author: tt.author, Limit: tt.limit, After: after})
				if err != nil {
					t.Fatalf("List page %d: %v", page, err)
				}
				if len(ps) > tt.limit {
					t.Fatalf("page %d has %d posts, limit %d", page, len(ps), tt.limit)
				}
				if len(ps) == 0 {
					break
				}
				got = append(got, ids(ps)...)
				last := ps[len(ps)-1]
				after = &post.Position{CreatedAt: last.CreatedAt, ID: last.ID}
			}
			if !slices.Equal(got, want) {
				t.Errorf("author %q, limit %d: pages gave %d posts %q\nwant %d posts %q", tt.author, tt.limit, len(got), got, len(want), want)
			}
		}
	})

	t.Run("stopping early", func(t *testing.T) {
		want := newestFirst("")[:3]
		var got []post.Post
		err := s.List(ctx, post.Query{Limit: 100}, func(p post.Post) bool {
			got = append(got, p)
			return len(got) < 3
		})
		if err != nil || !slices.Equal(ids(got), want) {
			t.Errorf("List stopped after 3: %q, %v; want %q", ids(got), err, want)
		}
	})
}

func TestOpenFailsOnClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s, err := Open(ctx, "mongodb://"+addr+"/?directConnection=true", "db", "posts")
		if err == nil {
			_ = s.Close(context.Background())
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("Open against closed port %s succeeded", addr)
		}
		if !strings.Contains(err.Error(), "ping mongodb") {
			t.Errorf("Open error = %q, want it to say the ping failed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Open did not return although its context ended")
	}
}

// TestFingerprints checks that a keyed post's input fingerprint is stored
// (not overwritten by a duplicate with another) and read back in one query,
// while the post as the API returns it keeps it out of its JSON.
func TestFingerprints(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	in := post.Input{Author: "ann", Title: "t", Content: "c"}
	keyed := post.New(post.KeyedID("k"), in, time.Now())
	keyed.Fingerprint = in.Fingerprint()
	plain := makePosts(1, "bob", time.Now())[0]
	if _, _, err := s.WriteBatch(ctx, []post.Post{keyed, plain}); err != nil {
		t.Fatal(err)
	}
	other := keyed
	other.Title, other.Fingerprint = "other", post.Input{Author: "ann", Title: "other", Content: "c"}.Fingerprint()
	if _, dup, err := s.WriteBatch(ctx, []post.Post{other}); err != nil || dup != 1 {
		t.Fatalf("WriteBatch of a reused id = (dup %d, %v), want 1 duplicate", dup, err)
	}
	fps, err := s.Fingerprints(ctx, []string{keyed.ID, plain.ID, post.KeyedID("not stored")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{keyed.ID: keyed.Fingerprint, plain.ID: ""}
	if len(fps) != len(want) || fps[keyed.ID] != want[keyed.ID] || fps[plain.ID] != "" {
		t.Errorf("Fingerprints = %v, want %v", fps, want)
	}
	got, err := s.Get(ctx, keyed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint != keyed.Fingerprint {
		t.Errorf("Get().Fingerprint = %q, want %q (the direct path compares it)", got.Fingerprint, keyed.Fingerprint)
	}
	if b, _ := json.Marshal(got); strings.Contains(string(b), keyed.Fingerprint) {
		t.Errorf("the public JSON of a post shows its fingerprint: %s", b)
	}
}

// collect is every post List gives for q.
func collect(ctx context.Context, s *Store, q post.Query) ([]post.Post, error) {
	var out []post.Post
	err := s.List(ctx, q, func(p post.Post) bool { out = append(out, p); return true })
	return out, err
}
