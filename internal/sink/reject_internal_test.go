package sink

import (
	"errors"
	"fmt"
	"maps"
	"testing"
)

// refusals is a writer's Rejections.
type refusals map[int]error

func (r refusals) Error() string           { return fmt.Sprintf("%d refused", len(r)) }
func (r refusals) Rejected() map[int]error { return r }

// TestRejectionsAreTakenOnlyWhenTheyNameTheBatch: a writer's rejection of
// documents of the batch is a write that succeeded; any other error,
// including a rejection that does not name documents of the batch, is a
// failure, and the batch is written again.
func TestRejectionsAreTakenOnlyWhenTheyNameTheBatch(t *testing.T) {
	reason := errors.New("nested arrays are not supported")
	tests := []struct {
		name string
		err  error
		want map[int]error // nil: a failure
	}{
		{"a rejection", refusals{1: reason, 2: reason}, refusals{1: reason, 2: reason}},
		{"a wrapped rejection", fmt.Errorf("write batch of 3: %w", refusals{0: reason}), refusals{0: reason}},
		{"a plain error", errors.New("connection reset"), nil},
		{"a rejection of nothing", refusals{}, nil},
		{"an index past the batch", refusals{3: reason}, nil},
		{"a negative index", refusals{-1: reason}, nil},
		{"no reason", refusals{1: nil}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rejections(tt.err, 3)
			if tt.want == nil {
				if err == nil || got != nil {
					t.Errorf("rejections(%v) = (%v, %v), want a failure", tt.err, got, err)
				}
				return
			}
			if err != nil || !maps.Equal(got, tt.want) {
				t.Errorf("rejections(%v) = (%v, %v), want (%v, nil)", tt.err, got, err, tt.want)
			}
		})
	}
	if got, err := rejections(nil, 3); got != nil || err != nil {
		t.Errorf("rejections(nil) = (%v, %v), want nothing", got, err)
	}
}
