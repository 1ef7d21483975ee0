package api

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// The idempotency window: how many keyed posts each API instance remembers,
// and for how long, to answer a reused Idempotency-Key with a different body
// 409 at once. Past the window (or on another instance) the conflict is
// still caught, later: the direct path compares with the stored post, and
// the sink dead-letters a keyed post whose id is stored with another
// fingerprint (docs/api-input.md).
//
// The window is shared fairly: each entry belongs to an owner (the API
// key's name, else the client's address unit: clientOf), and when the
// window is full the owner holding the most entries gives up its oldest.
// One client sending keyed posts without end so evicts only its own keys,
// never those of a client holding fewer, while an owner alone (every
// client behind a proxy without keys) still has the whole window. A fixed
// quota per owner would give the same protection and take that away.
const (
	keyCacheSize = 1 << 16
	keyCacheTTL  = 24 * time.Hour
	keyShards    = 16
)

// errKeyConflict answers a reused Idempotency-Key whose body differs from
// the post first sent with it.
type keyConflictError struct {
	id string
	// what says what was sent before, for a document of a declared
	// stream; "" is the Idempotency-Key's story.
	what string
	// detail, when set, is the whole story (an op of a stream with
	// changes, a create the sink refused).
	detail string
}

func (e *keyConflictError) Error() string {
	if e.detail != "" {
		return e.detail
	}
	if e.what != "" {
		return fmt.Sprintf("%s (id %s); send the same document to retry, or use a new id for a new document", e.what, e.id)
	}
	return fmt.Sprintf("the Idempotency-Key was already used for a different post (id %s); send a new key for a new post, or the same body to retry", e.id)
}

// keyCache maps the ids of recently accepted keyed posts to the
// fingerprints of their input. Requests without a key never touch it. It is
// sharded by id (a hash, so evenly spread) so 100 concurrent requests rarely
// wait on one lock. Each shard holds a sixteenth of the window and keeps
// its owners' counts itself: an owner's keys spread evenly over the shards
// too, so the owner holding the most in a shard is, give or take the
// spread of a hash, the one holding the most overall.
type keyCache struct {
	shards [keyShards]keyShard
}

type keyShard struct {
	mu  sync.Mutex
	ids map[string]int32 // id → its entry
	// entries grows to the shard's room and no further: from then on a
	// new entry takes the place of the one it evicts, so entries are never
	// freed, and nothing is allocated per claim but the owner of a new
	// client.
	entries []keyEntry
	owners  map[string]*keyOwner // only owners holding entries
	byCount ownerHeap            // the same owners, the one holding the most first
}

// keyEntry is one id's binding. 56 bytes; with the map's slot and the id's
// and fingerprint's bytes (kept from the post) about 170 bytes an entry.
type keyEntry struct {
	id, fp     string
	at         int64 // when bound, in Unix nanoseconds
	owner      *keyOwner
	prev, next int32 // the owner's entries, oldest first; -1 ends the list
}

// keyOwner is whose entries they are, and their list.
type keyOwner struct {
	name        string
	n           int   // entries held
	first, last int32 // oldest and newest entry
	firstAt     int64 // the oldest entry's at: the heap's tie-break
	index       int   // in byCount
}

func newKeyCache(size int) *keyCache {
	c := &keyCache{}
	per := max(1, size/keyShards)
	for i := range c.shards {
		c.shards[i] = keyShard{ids: make(map[string]int32), entries: make([]keyEntry, 0, per),
			owners: make(map[string]*keyOwner)}
	}
	return c
}

// claim binds id to fingerprint fp, for owner, unless it is bound to another
// one within the window; it reports false on such a conflict. A
// conflict-free claim stands even if the publish that follows fails: that
// post may still land, so a different body under its key must not be
// accepted meanwhile.
//
// A full shard makes room by evicting the oldest entry of the owner holding
// the most entries there (on a tie, of the one whose oldest is the oldest),
// which may be the claimant.
func (c *keyCache) claim(owner, id, fp string, now time.Time) bool {
	sh := &c.shards[shardOf(id)]
	at := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.ids[id]; ok {
		e := &sh.entries[i]
		if at-e.at < int64(keyCacheTTL) {
			return e.fp == fp
		}
		// Expired: bound anew, the claimant's newest entry.
		sh.unlink(i)
		e.fp, e.at = fp, at
		sh.link(i, sh.owner(owner))
		return true
	}
	o := sh.owner(owner)
	var i int32
	if len(sh.entries) < cap(sh.entries) {
		sh.entries = append(sh.entries, keyEntry{})
		i = int32(len(sh.entries) - 1)
	} else {
		i = sh.byCount[0].first
	}
	if e := &sh.entries[i]; e.owner != nil { // evicted
		delete(sh.ids, e.id)
		sh.unlink(i)
	}
	sh.entries[i] = keyEntry{id: id, fp: fp, at: at}
	sh.ids[id] = i
	sh.link(i, o)
	return true
}

// set binds id to fp whatever it was bound to, if it is in the window.
func (c *keyCache) set(id, fp string, now time.Time) {
	sh := &c.shards[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if i, ok := sh.ids[id]; ok {
		e := &sh.entries[i]
		o := e.owner
		sh.unlink(i) // to the end of its owner's list: entries stay in order of at
		e.fp, e.at = fp, now.UnixNano()
		sh.link(i, o)
	}
}

// owner returns the owner named name, a new one (holding nothing, in
// neither owners nor byCount yet) if it holds no entry.
func (sh *keyShard) owner(name string) *keyOwner {
	if o, ok := sh.owners[name]; ok {
		return o
	}
	return &keyOwner{name: name, first: -1, last: -1}
}

// link appends entry i to o's list as its newest.
func (sh *keyShard) link(i int32, o *keyOwner) {
	e := &sh.entries[i]
	e.owner, e.prev, e.next = o, o.last, -1
	if o.last >= 0 {
		sh.entries[o.last].next = i
	} else {
		o.first, o.firstAt = i, e.at
	}
	o.last = i
	o.n++
	if o.n == 1 {
		sh.owners[o.name] = o
		heap.Push(&sh.byCount, o)
		return
	}
	heap.Fix(&sh.byCount, o.index)
}

// unlink takes entry i out of its owner's list; an owner left with none is
// forgotten.
func (sh *keyShard) unlink(i int32) {
	e := &sh.entries[i]
	o := e.owner
	if e.prev >= 0 {
		sh.entries[e.prev].next = e.next
	} else {
		o.first = e.next
		if o.first >= 0 {
			o.firstAt = sh.entries[o.first].at
		}
	}
	if e.next >= 0 {
		sh.entries[e.next].prev = e.prev
	} else {
		o.last = e.prev
	}
	e.owner, e.prev, e.next = nil, -1, -1
	o.n--
	if o.n == 0 {
		delete(sh.owners, o.name)
		heap.Remove(&sh.byCount, o.index)
		return
	}
	heap.Fix(&sh.byCount, o.index)
}

// ownerHeap orders owners by the entries they hold, most first, and on a
// tie by their oldest entry, oldest first.
type ownerHeap []*keyOwner

func (h ownerHeap) Len() int { return len(h) }
func (h ownerHeap) Less(i, j int) bool {
	if h[i].n != h[j].n {
		return h[i].n > h[j].n
	}
	return h[i].firstAt < h[j].firstAt
}
func (h ownerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *ownerHeap) Push(x any) {
	o := x.(*keyOwner)
	o.index = len(*h)
	*h = append(*h, o)
}
func (h *ownerHeap) Pop() any {
	old := *h
	o := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return o
}

func shardOf(id string) int {
	if id == "" {
		return 0
	}
	c := id[len(id)-1] // the last hex digit: hash bits in every id version
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return int(c) % keyShards
}
