package api

import (
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
const (
	keyCacheSize = 1 << 16
	keyCacheTTL  = 24 * time.Hour
	keyShards    = 16
)

// errKeyConflict answers a reused Idempotency-Key whose body differs from
// the post first sent with it.
type keyConflictError struct{ id string }

func (e *keyConflictError) Error() string {
	return fmt.Sprintf("the Idempotency-Key was already used for a different post (id %s); send a new key for a new post, or the same body to retry", e.id)
}

// keyCache maps the ids of recently accepted keyed posts to the
// fingerprints of their input. Requests without a key never touch it. It is
// sharded by id (a hash, so evenly spread) so 100 concurrent requests rarely
// wait on one lock; each shard forgets its oldest entry when full.
type keyCache struct {
	shards [keyShards]keyShard
}

type keyShard struct {
	mu   sync.Mutex
	m    map[string]keyEntry
	ring []string // ids by age, for eviction
	next int
}

type keyEntry struct {
	fp   string
	at   time.Time
	slot int
}

func newKeyCache(size int) *keyCache {
	c := &keyCache{}
	per := max(1, size/keyShards)
	for i := range c.shards {
		c.shards[i] = keyShard{m: make(map[string]keyEntry), ring: make([]string, per)}
	}
	return c
}

// claim binds id to fingerprint fp unless it is bound to another one within
// the window; it reports false on such a conflict. A conflict-free claim
// stands even if the publish that follows fails: that post may still land,
// so a different body under its key must not be accepted meanwhile.
func (c *keyCache) claim(id, fp string, now time.Time) bool {
	sh := &c.shards[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[id]; ok {
		if now.Sub(e.at) < keyCacheTTL {
			return e.fp == fp
		}
		sh.m[id] = keyEntry{fp: fp, at: now, slot: e.slot}
		return true
	}
	if old := sh.ring[sh.next]; old != "" {
		if e, ok := sh.m[old]; ok && e.slot == sh.next {
			delete(sh.m, old)
		}
	}
	sh.ring[sh.next] = id
	sh.m[id] = keyEntry{fp: fp, at: now, slot: sh.next}
	sh.next = (sh.next + 1) % len(sh.ring)
	return true
}

// set binds id to fp whatever it was bound to.
func (c *keyCache) set(id, fp string, now time.Time) {
	sh := &c.shards[shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[id]; ok {
		sh.m[id] = keyEntry{fp: fp, at: now, slot: e.slot}
	}
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
