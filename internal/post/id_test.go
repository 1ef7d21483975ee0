package post

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// idMillis returns the millisecond timestamp in the first 48 bits of a
// version 7 id.
func idMillis(t *testing.T, id string) int64 {
	t.Helper()
	ms, err := strconv.ParseInt(id[0:8]+id[9:13], 16, 64)
	if err != nil {
		t.Fatalf("id %q: %v", id, err)
	}
	return ms
}

// checkUUID checks the canonical shape, the version nibble and the RFC 9562
// variant bits of id.
func checkUUID(t *testing.T, id string, version byte) {
	t.Helper()
	if !ValidID(id) {
		t.Fatalf("ValidID(%q) = false", id)
	}
	if id[14] != version {
		t.Errorf("id %q has version %c, want %c", id, id[14], version)
	}
	if !strings.ContainsRune("89ab", rune(id[19])) {
		t.Errorf("id %q has variant nibble %c, want one of 8, 9, a, b", id, id[19])
	}
}

// freshTime returns a time in a millisecond NewID has not used yet. NewID
// keeps process-wide state (and may borrow future milliseconds when a
// millisecond's sequence runs out), so tests that care about the timestamp
// start past whatever earlier tests used.
func freshTime(t *testing.T) time.Time {
	t.Helper()
	last := idMillis(t, NewID(time.UnixMilli(0))) // an old time reports the last millisecond used
	return time.UnixMilli(max(last, time.Now().UnixMilli()) + 1000).Add(123 * time.Microsecond)
}

func TestNewIDFormat(t *testing.T) {
	now := freshTime(t)
	id := NewID(now)
	checkUUID(t, id, '7')
	if got, want := idMillis(t, id), now.UnixMilli(); got != want {
		t.Errorf("timestamp of %q = %d, want %d", id, got, want)
	}
	if id != strings.ToLower(id) {
		t.Errorf("id %q is not lower case", id)
	}
}

func TestNewIDStrictlyIncreasingWithinOneMillisecond(t *testing.T) {
	now := freshTime(t)
	// More than the 4096 a 12-bit sequence holds, so the generator must
	// borrow following milliseconds and still keep order.
	const n = 10000
	prev := NewID(now)
	for i := 1; i < n; i++ {
		id := NewID(now)
		checkUUID(t, id, '7')
		if id <= prev {
			t.Fatalf("call %d: id %q is not greater than the previous %q", i, id, prev)
		}
		if ms := idMillis(t, id); ms < now.UnixMilli() || ms > now.UnixMilli()+n/1024 {
			t.Fatalf("call %d: timestamp %d is outside [%d, %d]", i, ms, now.UnixMilli(), now.UnixMilli()+n/1024)
		}
		prev = id
	}
	if last := idMillis(t, prev); last == now.UnixMilli() {
		t.Errorf("%d ids fit in one millisecond; the 12-bit sequence should have run out", n)
	}
}

func TestNewIDAcrossMilliseconds(t *testing.T) {
	start := freshTime(t)
	prev := ""
	for i := range 50 {
		now := start.Add(time.Duration(i) * time.Millisecond)
		for j := range 3 {
			id := NewID(now)
			if got, want := idMillis(t, id), now.UnixMilli(); got != want {
				t.Fatalf("ms %d call %d: timestamp %d, want %d", i, j, got, want)
			}
			if id <= prev {
				t.Fatalf("ms %d call %d: id %q is not greater than the previous %q", i, j, id, prev)
			}
			prev = id
		}
	}
}

func TestNewIDClockGoingBackwardsKeepsOrder(t *testing.T) {
	now := freshTime(t)
	later := NewID(now.Add(time.Second))
	earlier := NewID(now)
	if earlier <= later {
		t.Errorf("id %q made after a clock step back is not greater than %q", earlier, later)
	}
}

func TestNewIDUnique(t *testing.T) {
	const n = 100_000
	seen := make(map[string]struct{}, n)
	for i := range n {
		id := NewID(time.Now())
		if _, dup := seen[id]; dup {
			t.Fatalf("call %d returned the duplicate id %q", i, id)
		}
		seen[id] = struct{}{}
	}
}

func TestNewIDConcurrent(t *testing.T) {
	const goroutines, perG = 8, 5000
	results := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			ids := make([]string, perG)
			for i := range ids {
				ids[i] = NewID(time.Now())
			}
			results[g] = ids
		})
	}
	wg.Wait()

	seen := make(map[string]int, goroutines*perG)
	for g, ids := range results {
		for i, id := range ids {
			checkUUID(t, id, '7')
			if i > 0 && id <= ids[i-1] {
				t.Fatalf("goroutine %d: id %d %q is not greater than %q", g, i, id, ids[i-1])
			}
			if other, dup := seen[id]; dup {
				t.Fatalf("id %q made by goroutines %d and %d", id, other, g)
			}
			seen[id] = g
		}
	}
}

func TestKeyedID(t *testing.T) {
	keys := []string{"", "a", "b", "A", "a#0", "a#1", "order-42", strings.Repeat("k", 255)}
	seen := make(map[string]string)
	for _, key := range keys {
		t.Run(strconv.Quote(key), func(t *testing.T) {
			id := KeyedID(key)
			checkUUID(t, id, '8')
			if again := KeyedID(key); again != id {
				t.Errorf("KeyedID(%q) = %q then %q; want the same id every time", key, id, again)
			}
			if other, dup := seen[id]; dup {
				t.Errorf("KeyedID(%q) = KeyedID(%q) = %q", key, other, id)
			}
			seen[id] = key
		})
	}
}

// TestKeyedIDDerivation pins how an id follows from a key: ids of posts
// already stored depend on it, so changing it breaks idempotent retries
// across a deploy.
func TestKeyedIDDerivation(t *testing.T) {
	for _, key := range []string{"", "retry-me", "ключ"} {
		sum := sha256.Sum256([]byte("postpipe/idempotency-key/v1\x00" + key))
		h := hex.EncodeToString(sum[:16])
		id := KeyedID(key)
		// Apart from the version and variant bits, the id is the hash.
		if got := strings.ReplaceAll(id, "-", ""); got[:12] != h[:12] || got[13:16] != h[13:16] || got[17:] != h[17:] {
			t.Errorf("KeyedID(%q) = %q, want it built from %s", key, id, h)
		}
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"01890a5d-ac96-774b-bcce-b302099a8057", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"ffffffff-ffff-8fff-bfff-ffffffffffff", true},
		{"", false},
		{"01890A5D-AC96-774B-BCCE-B302099A8057", false}, // upper case
		{"01890a5d-ac96-774b-bcce-b302099a805", false},  // short
		{"01890a5d-ac96-774b-bcce-b302099a80577", false},
		{"01890a5dac96-774b-bcce-b302099a8057-", false}, // dashes moved
		{"01890a5d-ac96-774b-bcce_b302099a8057", false},
		{"01890a5d-ac96-774b-bcce-b302099a805g", false},
		{"{1890a5d-ac96-774b-bcce-b302099a8057", false},
		{"01890a5d-ac96-774b-bcce-b302099a80é", false}, // 36 bytes, not hex
	}
	for _, tt := range tests {
		if got := ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if id := NewID(time.Now()); !ValidID(id) {
		t.Errorf("ValidID(NewID()) = false for %q", id)
	}
}
