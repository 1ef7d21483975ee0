package api

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// idFor is a keyed post's id as the API derives it.
func idFor(owner string, n int) string { return post.ScopedKeyedID(owner, strconv.Itoa(n)) }

// TestKeyWindowFloodEvictsOnlyTheFlooder: a client sending 80,000 keyed
// posts (more than the window holds) evicts its own keys, not another
// client's. Before, the window forgot its oldest entries whoever held them,
// and B's reused key with another body was accepted (to land in the DLQ).
func TestKeyWindowFloodEvictsOnlyTheFlooder(t *testing.T) {
	c := newKeyCache(keyCacheSize)
	now := time.Unix(1000, 0)
	bID := idFor("b", 1)
	if !c.claim("b", bID, "fp-b", now) {
		t.Fatal("first claim refused")
	}
	for i := range 80000 {
		now = now.Add(time.Microsecond)
		c.claim("a", idFor("a", i), "fp-a", now)
	}
	checkKeyCache(t, c, keyCacheSize)
	if c.claim("b", bID, "fp-other", now) {
		t.Fatal("after a flood by another client, B's key with another body was accepted")
	}
	if !c.claim("b", bID, "fp-b", now) {
		t.Fatal("B's retry with the same body was refused")
	}
	// A kept its newest keys.
	if !c.claim("a", idFor("a", 79999), "fp-a", now) || c.claim("a", idFor("a", 79999), "fp-x", now) {
		t.Fatal("A's newest key is not in the window")
	}
}

// TestKeyWindowOneOwnerHasItAll: an owner alone (every client behind a
// proxy without keys is one) may fill the window: fairness takes room only
// from the owner holding the most when another needs it.
func TestKeyWindowOneOwnerHasItAll(t *testing.T) {
	c := newKeyCache(keyCacheSize)
	now := time.Unix(1000, 0)
	const n = keyCacheSize / 2 // no shard overflows by the spread of the hash
	for i := range n {
		c.claim("proxy", idFor("", i), "fp", now)
	}
	for i := range n {
		if c.claim("proxy", idFor("", i), "other", now) {
			t.Fatalf("key %d of %d from one owner was forgotten", i, n)
		}
	}
	checkKeyCache(t, c, keyCacheSize)
}

// TestKeyWindowEvictsTheLargestOwner: when a shard is full, the owner
// holding the most entries gives up its oldest, even when another owner's
// entry is older; on a tie the owner whose oldest entry is the oldest; the
// claimant itself when it holds the most.
func TestKeyWindowEvictsTheLargestOwner(t *testing.T) {
	const per = 64 // one shard's room
	c := newKeyCache(per * keyShards)
	now := time.Unix(1000, 0)
	// ids that all land in shard 0 (the last hex digit picks the shard)
	id := func(owner string, n int) string { return fmt.Sprintf("%s-%d-0", owner, n) }
	claim := func(owner string, n int) {
		t.Helper()
		now = now.Add(time.Second)
		if !c.claim(owner, id(owner, n), "fp", now) {
			t.Fatalf("claim %s %d refused", owner, n)
		}
	}
	sh := &c.shards[0]
	in := func(owner string, n int) bool { _, ok := sh.ids[id(owner, n)]; return ok }
	held := func(owner string) int {
		if o := sh.owners[owner]; o != nil {
			return o.n
		}
		return 0
	}
	claim("old", 0) // the oldest entry, of an owner holding one
	for n := range 40 {
		claim("big", n)
	}
	for n := range 20 {
		claim("mid", n)
	}
	for n := range 3 {
		claim("p", n)
	}
	if len(sh.ids) != per {
		t.Fatalf("shard holds %d, want it full (%d)", len(sh.ids), per)
	}
	// 20 new entries: each evicts big's oldest, never old's older one.
	for n := range 20 {
		claim("z", n)
		if in("big", n) || !in("big", n+1) {
			t.Fatalf("new entry %d did not evict big's oldest", n)
		}
	}
	if !in("old", 0) || held("big") != 20 || held("mid") != 20 || held("p") != 3 || held("z") != 20 {
		t.Fatalf("holdings old %d big %d mid %d p %d z %d", held("old"), held("big"), held("mid"), held("p"), held("z"))
	}
	// big, mid and z hold 20 each: big's oldest is the oldest.
	claim("z", 20)
	if in("big", 20) || held("mid") != 20 {
		t.Fatal("on a tie the owner with the oldest entry did not give one up")
	}
	// Now z holds the most (21): it gives up its own oldest.
	claim("z", 21)
	if in("z", 0) || !in("z", 21) || held("z") != 21 || held("mid") != 20 || held("big") != 19 {
		t.Fatal("the claimant holding the most did not give up its own oldest")
	}
	checkKeyCache(t, c, per*keyShards)
}

// TestKeyWindowTTL: an entry older than a day no longer binds its id, and
// its place goes to whoever claims the id next.
func TestKeyWindowTTL(t *testing.T) {
	c := newKeyCache(keyCacheSize)
	now := time.Unix(1000, 0)
	id := idFor("", 1)
	c.claim("a", id, "fp1", now)
	if c.claim("b", id, "fp2", now.Add(keyCacheTTL-time.Nanosecond)) {
		t.Fatal("conflict within the TTL accepted")
	}
	if !c.claim("b", id, "fp2", now.Add(keyCacheTTL)) {
		t.Fatal("an expired binding still refused another body")
	}
	if c.claim("a", id, "fp1", now.Add(keyCacheTTL)) {
		t.Fatal("the new binding did not hold")
	}
	sh := &c.shards[shardOf(id)]
	if sh.owners["a"] != nil || sh.owners["b"].n != 1 {
		t.Fatal("the rebound entry did not move to its new owner")
	}
	c.set(id, "fp3", now.Add(keyCacheTTL))
	if !c.claim("x", id, "fp3", now.Add(keyCacheTTL)) {
		t.Fatal("set did not rebind")
	}
	checkKeyCache(t, c, keyCacheSize)
}

// TestKeyWindowManyOwners: many owners, random claims, the structure stays
// consistent and bounded.
func TestKeyWindowManyOwners(t *testing.T) {
	c := newKeyCache(16 * keyShards)
	now := time.Unix(1000, 0)
	for i := range 20000 {
		now = now.Add(time.Millisecond)
		owner := fmt.Sprint("o", i*7919%37)
		if i%5 == 0 {
			owner = "flood"
		}
		c.claim(owner, idFor(owner, i%3000), "fp", now)
		if i%997 == 0 {
			checkKeyCache(t, c, 16*keyShards)
		}
	}
	checkKeyCache(t, c, 16*keyShards)
}

// checkKeyCache checks every shard's bookkeeping: room, owners' lists and
// counts, and the heap's order.
func checkKeyCache(t *testing.T, c *keyCache, size int) {
	t.Helper()
	total := 0
	for s := range c.shards {
		sh := &c.shards[s]
		total += len(sh.ids)
		if len(sh.entries) > size/keyShards || len(sh.ids) != len(sh.entries) {
			t.Fatalf("shard %d: %d ids, %d entries, room %d", s, len(sh.ids), len(sh.entries), size/keyShards)
		}
		if len(sh.owners) != len(sh.byCount) {
			t.Fatalf("shard %d: %d owners, %d in the heap", s, len(sh.owners), len(sh.byCount))
		}
		sum := 0
		for name, o := range sh.owners {
			if o.n <= 0 || o.name != name || sh.byCount[o.index] != o {
				t.Fatalf("shard %d: owner %q: n %d, index %d", s, name, o.n, o.index)
			}
			n, prev, at := 0, int32(-1), int64(0)
			for i := o.first; i >= 0; i = sh.entries[i].next {
				e := &sh.entries[i]
				if e.owner != o || e.prev != prev || e.at < at || sh.ids[e.id] != i {
					t.Fatalf("shard %d: owner %q: entry %d out of place", s, name, i)
				}
				n, prev, at = n+1, i, e.at
			}
			if n != o.n || prev != o.last || sh.entries[o.first].at != o.firstAt {
				t.Fatalf("shard %d: owner %q: %d listed, n %d", s, name, n, o.n)
			}
			sum += n
		}
		if sum != len(sh.ids) {
			t.Fatalf("shard %d: owners hold %d, %d ids", s, sum, len(sh.ids))
		}
		for i := 1; i < len(sh.byCount); i++ {
			if sh.byCount.Less(i, (i-1)/2) {
				t.Fatalf("shard %d: heap out of order at %d", s, i)
			}
		}
	}
	if total > size {
		t.Fatalf("%d entries, window %d", total, size)
	}
}

// BenchmarkKeyWindowClaim: 100 goroutines claiming new ids in a full
// window (each claim evicts), over 100 owners, as 100 concurrent keyed
// requests would.
func BenchmarkKeyWindowClaim(b *testing.B) {
	const nIDs = 1 << 18
	ids := make([]string, nIDs)
	for i := range ids {
		ids[i] = idFor("bench", i)
	}
	owners := make([]string, 100)
	for i := range owners {
		owners[i] = "addr 2001:db8:" + strconv.Itoa(i) + "::/64"
	}
	c := newKeyCache(keyCacheSize)
	now := time.Unix(1000, 0)
	for i := range keyCacheSize * 2 { // full before timing
		c.claim(owners[i%len(owners)], ids[i%nIDs], "fp", now)
	}
	var next, g atomic.Int64
	b.SetParallelism(max(1, 100/runtimeProcs()))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		owner := owners[int(g.Add(1))%len(owners)]
		for pb.Next() {
			i := next.Add(1)
			c.claim(owner, ids[i%nIDs], "fp", now)
		}
	})
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
