package gentcp

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestReserveSocketNeverExceedsCap: while a node is at its cap, refused
// reservations do not show in OpenSockets, not even for a moment (a
// sampler running beside them never sees more than the cap).
func TestReserveSocketNeverExceedsCap(t *testing.T) {
	n := &Node{}
	n.SetMaxSockets(1)
	if err := n.reserveSocket(); err != nil {
		t.Fatalf("first reservation: %v", err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := n.reserveSocket(); err == nil {
					t.Error("a reservation beyond the cap succeeded")
					return
				}
			}
		}()
	}
	over := 0
	for range 2_000_000 {
		if n.OpenSockets() > 1 {
			over++
		}
	}
	stop.Store(true)
	wg.Wait()
	if over > 0 {
		t.Errorf("OpenSockets exceeded the cap of 1 in %d of 2,000,000 samples", over)
	}
	if got := n.OpenSockets(); got != 1 {
		t.Errorf("OpenSockets = %d after the refusals, want 1", got)
	}
}
