package post

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// IDs are UUIDs in their canonical text form, so any tool understands them.
// Fresh ids are version 7: they start with the creation time in milliseconds
// and sort by it. Ids derived from an Idempotency-Key are version 8, a hash of
// the key: the same key always names the same post, on every API instance,
// without any shared state.

var idState struct {
	sync.Mutex
	lastMS uint64
	seq    uint16 // 12 bits used
}

// NewID returns a new version 7 UUID. Within one process ids are strictly
// increasing, even for several created in the same millisecond.
func NewID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)

	ms := uint64(now.UnixMilli())
	idState.Lock()
	if ms <= idState.lastMS {
		idState.seq++
		if idState.seq > 0xfff { // sequence spent: borrow the next millisecond
			idState.lastMS++
			idState.seq = 0
		}
		ms = idState.lastMS
	} else {
		idState.lastMS = ms
		idState.seq = uint16(b[6]&0x03)<<8 | uint16(b[7]) // random start, room to count up
	}
	seq := idState.seq
	idState.Unlock()

	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], ms<<16)
	copy(b[:6], ts[:6])
	b[6] = 0x70 | byte(seq>>8)&0x0f
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

// KeyedID returns the version 8 UUID for an idempotency key.
func KeyedID(key string) string {
	sum := sha256.Sum256([]byte("postpipe/idempotency-key/v1\x00" + key))
	var b [16]byte
	copy(b[:], sum[:16])
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}

func format(b [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ValidID reports whether s has the shape of an id this package makes.
func ValidID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// ScopedKeyedID returns the id of the post an identity (the name of the API
// key a request presented; "" when keys are off or none was presented) creates
// with an Idempotency-Key, so two clients that pick the same key never share a
// post. The anonymous identity keeps KeyedID, so ids of posts sent without API
// keys stay what they were before keys were scoped; named identities hash the
// name's length with it, so no choice of name and key collides with another.
func ScopedKeyedID(identity, key string) string {
	if identity == "" {
		return KeyedID(key)
	}
	h := sha256.New()
	h.Write([]byte("postpipe/idempotency-key/v2\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(identity)))
	h.Write(n[:])
	h.Write([]byte(identity))
	h.Write([]byte(key))
	var b [16]byte
	copy(b[:], h.Sum(nil))
	b[6] = b[6]&0x0f | 0x80
	b[8] = b[8]&0x3f | 0x80
	return format(b)
}
