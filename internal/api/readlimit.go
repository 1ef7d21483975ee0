package api

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// DefaultReadTimeout bounds a store read when Limits.ReadTimeout is 0: a
// read an index serves takes milliseconds, so 5 s is far beyond a healthy
// one.
const DefaultReadTimeout = 5 * time.Second

// errReadsOverloaded refuses a read beyond Limits.MaxReadsInFlight.
var errReadsOverloaded = errors.New("too many reads in flight")

// read runs one store read for r, within the read bounds:
//
//   - It is refused with errReadsOverloaded, at once, when
//     Limits.MaxReadsInFlight reads are running. Reads have a bound of
//     their own, below MaxInFlight, so a flood of them cannot take the
//     store's connections and the CPU the writes need; waiting for a turn
//     would only keep the flood's clients and their memory here longer.
//   - Its context is the request's, so it ends when the client leaves, with
//     a deadline of Limits.ReadTimeout: the driver sends the time left as
//     maxTimeMS, so the store itself stops a query that runs out instead of
//     finishing it for nobody.
//
// A read whose client left before it finished keeps its place until its
// deadline: the driver stops waiting at once, but the store may go on with
// the query until maxTimeMS ends it, and the bound is on the store's work,
// not on this handler's.
func (a *API) read(r *http.Request, fn func(ctx context.Context) error) error {
	timeout := a.limits.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	if a.reads != nil {
		select {
		case a.reads <- struct{}{}:
		default:
			return errReadsOverloaded
		}
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	err := fn(ctx)
	cancel()
	if a.reads != nil {
		if left := time.Until(deadline); err != nil && r.Context().Err() != nil && left > 0 {
			time.AfterFunc(left, func() { <-a.reads })
		} else {
			<-a.reads
		}
	}
	return err
}
