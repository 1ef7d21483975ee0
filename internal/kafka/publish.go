package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/postpipe/postpipe/internal/post"
)

// ErrNotAcknowledged means the broker did not acknowledge a record in time.
// The record may still land later (it was possibly in flight); a retry with
// the same Idempotency-Key cannot duplicate it.
var ErrNotAcknowledged = errors.New("broker did not acknowledge in time")

// Publisher produces posts to one topic and waits for the acknowledgement.
type Publisher struct {
	cl      *kgo.Client
	topic   string
	timeout time.Duration
}

// NewPublisher publishes to topic through cl, giving each call at most
// timeout to be acknowledged.
func NewPublisher(cl *kgo.Client, topic string, timeout time.Duration) *Publisher {
	return &Publisher{cl: cl, topic: topic, timeout: timeout}
}

// errPending marks a record whose acknowledgement has not come back.
var errPending = errors.New("pending")

// Publish produces one record per post (key = id, value = the post as JSON)
// and returns when every one is acknowledged or failed, or the timeout has
// passed. errs[i] is nil exactly when the broker acknowledged posts[i].
func (p *Publisher) Publish(ctx context.Context, posts []post.Post) []error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	var (
		mu   sync.Mutex
		errs = make([]error, len(posts))
		left = len(posts)
		done = make(chan struct{})
	)
	finish := func(i int, err error) {
		mu.Lock()
		defer mu.Unlock()
		if errs[i] != errPending {
			return
		}
		errs[i] = err
		if left--; left == 0 {
			close(done)
		}
	}
	for i := range errs {
		errs[i] = errPending
	}
	for i, pst := range posts {
		value, err := post.Marshal(pst)
		if err != nil {
			finish(i, err)
			continue
		}
		r := &kgo.Record{Topic: p.topic, Key: []byte(pst.ID), Value: value}
		// TryProduce fails a record at once when the client's buffer is
		// full (kgo.ErrMaxBuffered) instead of blocking the request: with
		// the broker down, memory stays bounded and clients hear 503 now.
		p.cl.TryProduce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				err = fmt.Errorf("produce %s: %w", pst.ID, err)
			}
			finish(i, err)
		})
	}

	select {
	case <-done:
	case <-ctx.Done():
		// Answer promptly: callbacks that come later find their slot
		// already settled and change nothing.
		mu.Lock()
		for i, err := range errs {
			if err == errPending {
				errs[i] = fmt.Errorf("produce %s: %w (%v)", posts[i].ID, ErrNotAcknowledged, ctx.Err())
			}
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]error(nil), errs...)
}

// Flush waits until every buffered record is acknowledged or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush producer: %w", err)
	}
	return nil
}
