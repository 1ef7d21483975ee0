package doc

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

// Fingerprint identifies a document's content: 32 lowercase hex digits, the
// first 128 bits of a SHA-256 over a canonical form of tree. It is how a
// repeated id (the same Idempotency-Key, or the same id field) tells a retry
// from a different document, so it must not see what a retry may change
// and must see everything else:
//
//   - an object's members are taken sorted by name (by bytes): member order
//     carries no meaning in JSON, and a client's encoder may change it;
//   - strings are their decoded value, so escapes do not count ("\u00e9"
//     is "é");
//   - a number written as an integer is its int64 value, and any other its
//     float64 value, the BSON types the store keeps them as: 1.5 and 1.50,
//     or 1e3 and 1000.0, are the same double and the same fingerprint, but
//     1000 (an int64) and 1e3 (a double) are different stored values, and
//     a query on the type or an exact comparison in a client tells them
//     apart, so they differ here too. -0.0 and 0.0 are one value (MongoDB
//     finds them equal).
//
// Each value is tagged with its type and each string and container
// prefixed with its length, so no two trees have the same canonical form.
// tree is what Parse gives (json.Number numbers); float64, int64 and int
// are read as the BSON types they are, for trees made otherwise.
func Fingerprint(tree map[string]any) string {
	w := fpWriter{h: sha256.New()}
	w.bytes("postpipe/doc/v1")
	w.value(tree)
	w.flush()
	var sum [sha256.Size]byte
	return hex.EncodeToString(w.h.Sum(sum[:0])[:16])
}

// Type tags of the canonical form.
const (
	tagObject = 'o'
	tagArray  = 'a'
	tagString = 's'
	tagInt    = 'i'
	tagDouble = 'd'
	tagTrue   = 't'
	tagFalse  = 'f'
	tagNull   = 'z'
	tagOther  = '?' // a number that is not JSON, or a type a tree does not hold
)

// fpWriter writes the canonical form into h through a small buffer: most
// pieces are a few bytes, and a hash.Hash's Write per piece cost more than
// the hashing.
type fpWriter struct {
	h   hash.Hash
	buf [512]byte
	n   int
	// keys is a stack of the member names being walked, one object's
	// sorted run on top of its parent's.
	keys []string
}

func (w *fpWriter) value(v any) {
	switch v := v.(type) {
	case map[string]any:
		w.tag(tagObject, len(v))
		base := len(w.keys)
		for k := range v {
			w.keys = append(w.keys, k)
		}
		slices.Sort(w.keys[base:])
		for i := base; i < base+len(v); i++ {
			k := w.keys[i] // w.keys may grow below: index it afresh
			w.bytes(k)
			w.value(v[k])
		}
		w.keys = w.keys[:base]
	case []any:
		w.tag(tagArray, len(v))
		for _, item := range v {
			w.value(item)
		}
	case string:
		w.byte(tagString)
		w.bytes(v)
	case json.Number:
		w.number(string(v))
	case bool:
		if v {
			w.byte(tagTrue)
		} else {
			w.byte(tagFalse)
		}
	case nil:
		w.byte(tagNull)
	case float64:
		w.double(v)
	case int64:
		w.tag(tagInt, int(v))
	case int:
		w.tag(tagInt, v)
	default:
		w.byte(tagOther)
	}
}

// number writes a JSON number by the BSON type and value it is stored as.
func (w *fpWriter) number(lit string) {
	if !strings.ContainsAny(lit, ".eE") {
		if i, ok := parseInt64(lit); ok {
			w.tag(tagInt, int(i))
			return
		}
	} else if f, err := strconv.ParseFloat(lit, 64); err == nil {
		w.double(f)
		return
	}
	// Not what Parse keeps: as written.
	w.byte(tagOther)
	w.bytes(lit)
}

func (w *fpWriter) double(f float64) {
	if f == 0 {
		f = 0 // -0.0 is 0.0
	}
	w.byte(tagDouble)
	w.u64(math.Float64bits(f))
}

func (w *fpWriter) tag(t byte, n int) {
	w.byte(t)
	w.u64(uint64(n))
}

func (w *fpWriter) byte(c byte) {
	if w.n == len(w.buf) {
		w.flush()
	}
	w.buf[w.n] = c
	w.n++
}

func (w *fpWriter) u64(u uint64) {
	if len(w.buf)-w.n < 8 {
		w.flush()
	}
	binary.BigEndian.PutUint64(w.buf[w.n:], u)
	w.n += 8
}

// bytes writes s prefixed with its length.
func (w *fpWriter) bytes(s string) {
	w.u64(uint64(len(s)))
	if len(s) <= len(w.buf)-w.n {
		w.n += copy(w.buf[w.n:], s)
		return
	}
	w.flush()
	// Without a copy: a string may be most of a megabyte, and io.Writer's
	// contract forbids Write to modify or keep p.
	w.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (w *fpWriter) flush() {
	w.h.Write(w.buf[:w.n])
	w.n = 0
}

// validFingerprint reports whether s has the shape Fingerprint gives.
func validFingerprint(s string) bool {
	if len(s) != 2*16 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
