package api

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll sizes its buffer from the declared length but must return the
// body as io.ReadAll(io.LimitReader(body, limit)) would, whatever the
// declared length says.
func TestReadAllMatchesLimitedReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 30) // 300 bytes
	for _, tc := range []struct {
		name            string
		declared, limit int64
	}{
		{"declared exactly", 300, 1001},
		{"declared unknown", -1, 1001},
		{"declared zero", 0, 1001},
		{"declared short", 100, 1001},
		{"declared long", 500, 1001},
		{"limit cuts", 300, 120},
		{"limit one over", 300, 301},
		{"limit exact", 300, 300},
		{"declared over limit", 2000, 1001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, _ := io.ReadAll(io.LimitReader(strings.NewReader(body), tc.limit))
			for _, r := range []io.Reader{strings.NewReader(body), iotest.OneByteReader(strings.NewReader(body)), iotest.DataErrReader(strings.NewReader(body))} {
				got, err := readAll(r, tc.declared, tc.limit, nil)
				if err != nil {
					t.Fatalf("readAll: %v", err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("readAll gave %d bytes %q, want %d bytes", len(got), got, len(want))
				}
			}
		})
	}
	boom := errors.New("boom")
	if _, err := readAll(iotest.ErrReader(boom), 10, 100, nil); !errors.Is(err, boom) {
		t.Fatalf("readAll on a failing body: %v, want boom", err)
	}
}

// The declared length sizes the buffer: a post read whole takes one
// allocation.
func TestReadAllOneAllocation(t *testing.T) {
	body := strings.Repeat("x", 300)
	r := strings.NewReader(body)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(body)
		if _, err := readAll(r, 300, 1001, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 1 {
		t.Fatalf("readAll took %v allocations, want 1", allocs)
	}
}
