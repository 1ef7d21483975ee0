package post

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"unsafe"
)

// Fingerprint identifies the decoded input: two inputs with the same fields
// have the same fingerprint however their JSON was spaced, ordered or
// escaped. It is how a repeated Idempotency-Key tells a retry (same
// fingerprint) from a different post (a conflict). It is the first 128 bits
// of a SHA-256 over every field, each prefixed with its length so no two
// inputs encode alike, as 32 hex digits.
func (in Input) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("postpipe/input/v1"))
	writeField(h, in.Author)
	writeField(h, in.Title)
	writeField(h, in.Subtitle)
	writeField(h, in.Content)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(in.Tags)))
	h.Write(n[:])
	for _, t := range in.Tags {
		writeField(h, t)
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	// Without a copy: content may be a megabyte, and io.Writer's contract
	// forbids Write to modify or keep p.
	h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}
