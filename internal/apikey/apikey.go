// Package apikey is postpipe's API-key scheme: the keys file (one
// "name:sha256-hex" line per key, so the file holds no secret, optionally
// followed by " streams=orders,clicks" to limit the key to those streams),
// minting a new key, and checking a presented key against every entry in
// constant time.
package apikey

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

// validName keeps names safe to log and to use as rate-limit keys.
var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// keyPrefix marks postpipe secrets, so a leaked one is easy to grep for.
const keyPrefix = "pp_"

type entry struct {
	name string
	hash [sha256.Size]byte
	// streams are the streams the key may use; nil: every one.
	streams []string
}

// Set is the keys a server accepts.
type Set struct {
	entries []entry
}

// Len is the number of keys.
func (s *Set) Len() int { return len(s.entries) }

// Check reports the name of the key presented, if it is one of the set. It
// hashes the presented key and compares the hash with every entry, without
// stopping at a match, so the time taken does not tell which entry (or how
// much of one) matched.
func (s *Set) Check(presented string) (name string, ok bool) {
	h := sha256.Sum256([]byte(presented))
	for _, e := range s.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			name, ok = e.name, true
		}
	}
	return name, ok
}

// Streams returns the streams the key named name may use, and whether it
// is limited to them at all (a key without streams= may use every one).
func (s *Set) Streams(name string) (streams []string, limited bool) {
	for _, e := range s.entries {
		if e.name == name {
			return e.streams, e.streams != nil
		}
	}
	return nil, false
}

// Limited lists the names of the keys limited to some streams, with those
// streams, for the wiring to check that each stream named is served.
func (s *Set) Limited() map[string][]string {
	m := map[string][]string{}
	for _, e := range s.entries {
		if e.streams != nil {
			m[e.name] = e.streams
		}
	}
	return m
}

// streamName is a stream's name as the streams file allows it.
var streamName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// Load reads a keys file.
func Load(path string) (*Set, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open api keys file: %w", err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("api keys file %s: %w", path, err)
	}
	return s, nil
}

// Parse reads keys-file lines: "name:sha256-hex-of-key"; blank lines and
// lines starting with # are skipped. An empty set is an error: a server
// configured for keys that accepts none is a mistake, not a lock-down.
func Parse(r io.Reader) (*Set, error) {
	s := &Set{}
	names := map[string]bool{}
	hashes := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Errors name the line, never its content: a secret pasted by
		// mistake in place of its hash must not reach the log.
		name, rest, found := strings.Cut(line, ":")
		if !found || !validName.MatchString(name) {
			return nil, fmt.Errorf("line %d: want name:sha256-hex, with a name of letters, digits, '.', '_' or '-'", n)
		}
		hexHash, scope, scoped := strings.Cut(rest, " ")
		var streams []string
		if scoped {
			list, ok := strings.CutPrefix(strings.TrimSpace(scope), "streams=")
			if !ok {
				return nil, fmt.Errorf("line %d (%s): after the hash, only streams=NAME,NAME may follow", n, name)
			}
			streams = []string{}
			for st := range strings.SplitSeq(list, ",") {
				if !streamName.MatchString(st) {
					return nil, fmt.Errorf("line %d (%s): streams=: %q is not a stream name", n, name, st)
				}
				streams = append(streams, st)
			}
		}
		b, err := hex.DecodeString(hexHash)
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("line %d (%s): the hash must be 64 hex digits (the SHA-256 of the key, as 'postpipe apikey' prints it)", n, name)
		}
		e := entry{name: name, streams: streams}
		copy(e.hash[:], b)
		if names[name] {
			return nil, fmt.Errorf("line %d: name %s is used twice", n, name)
		}
		if hashes[e.hash] {
			return nil, fmt.Errorf("line %d (%s): the same key is listed twice", n, name)
		}
		names[name], hashes[e.hash] = true, true
		s.entries = append(s.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(s.entries) == 0 {
		return nil, errors.New("no keys in the file")
	}
	return s, nil
}

// Mint makes a new random key for name and returns the secret (to hand to
// the client, shown once) and the line for the keys file.
func Mint(name string) (secret, line string, err error) {
	if !validName.MatchString(name) {
		return "", "", fmt.Errorf("key name %q: want 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random key: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, Line(name, secret), nil
}

// Line is the keys-file line for name and secret.
func Line(name, secret string) string {
	h := sha256.Sum256([]byte(secret))
	return name + ":" + hex.EncodeToString(h[:])
}
