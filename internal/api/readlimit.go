package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/postpipe/postpipe/internal/post"
)

// DefaultReadTimeout bounds a store read when Limits.ReadTimeout is 0: a
// read an index serves takes milliseconds, so 5 s is far beyond a healthy
// one.
const DefaultReadTimeout = 5 * time.Second

// errReadsOverloaded refuses a read beyond Limits.MaxReadsInFlight.
var errReadsOverloaded = errors.New("too many reads in flight")

// readWait is how long a read beyond Limits.MaxReadsInFlight waits for its
// turn before it is refused: a burst of reads of a few milliseconds each
// (an index's) passes, a flood's clients are not kept.
const readWait = 100 * time.Millisecond

// read runs one store read for r, within the read bounds:
//
//   - When Limits.MaxReadsInFlight reads are running it waits up to
//     readWait for a turn, then is refused with errReadsOverloaded. Reads
//     have a bound of their own, apart from MaxInFlight, so a flood of them
//     cannot take the store's CPU and connections the writes need; a longer
//     queue would only keep the flood's clients here longer.
//   - Its context is the request's, so it ends when the client leaves, with
//     a deadline of Limits.ReadTimeout: the driver sends the time left as
//     maxTimeMS, so the store itself stops a query that runs out instead of
//     finishing it for nobody.
//
// A store error other than post.ErrNotFound comes back as the store being
// unavailable (a 503), so the read handlers map none themselves.
//
// A read whose client left gives its place back at once. The driver closes
// the connection of an operation whose context is cancelled, and MongoDB
// kills an operation whose client disconnected at its next interrupt check.
// FerretDB 1.24 seems to run such a query on (64 reads abandoned at once
// held lists up for 6 s before the bound), but only until its maxTimeMS:
// there, reads abandoned within the last read timeout may run on top of the
// bound.
// Keeping their places until their deadline instead would lock reads out
// for the whole timeout whenever a few clients gave up, on MongoDB for
// nothing.
func (a *API) read(r *http.Request, fn func(ctx context.Context) error) error {
	timeout := a.limits.ReadTimeout
	if timeout <= 0 {
		timeout = DefaultReadTimeout
	}
	if a.reads != nil {
		select {
		case a.reads <- struct{}{}:
		default:
			wait := time.NewTimer(readWait)
			select {
			case a.reads <- struct{}{}:
				wait.Stop()
			case <-wait.C:
				return errReadsOverloaded
			case <-r.Context().Done(): // nobody reads the answer
				wait.Stop()
				return errReadsOverloaded
			}
		}
		defer func() { <-a.reads }()
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err := fn(ctx)
	if err != nil && !errors.Is(err, post.ErrNotFound) {
		return &unavailableError{dependency: "mongodb", err: err}
	}
	return err
}
