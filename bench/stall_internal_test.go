package bench

import (
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestStallWatch: a receiver that stops getting messages is made to fail
// with ErrStalled once the count has stood still for the bound; one that
// keeps receiving is left alone and keeps its own result.
func TestStallWatch(t *testing.T) {
	defer goleak.VerifyNone(t)
	const after = 200 * time.Millisecond

	t.Run("stalled", func(t *testing.T) {
		unblock := make(chan struct{})
		w := watchStall(after, func() { close(unblock) })
		w.received.Add(3)
		<-unblock // the receiver's blocked read, failed by stop
		if err := w.end(errors.New("read on a closed stream")); !errors.Is(err, ErrStalled) {
			t.Fatalf("got %v, want ErrStalled", err)
		}
	})

	t.Run("progressing", func(t *testing.T) {
		stopped := false
		w := watchStall(after, func() { stopped = true })
		for range 12 { // 1.5 x after in all
			time.Sleep(after / 8)
			w.received.Add(1)
		}
		mine := errors.New("the receiver's own error")
		if err := w.end(mine); err != mine || stopped {
			t.Fatalf("got %v (stopped %v), want the receiver's own error and no stop", err, stopped)
		}
	})
}
