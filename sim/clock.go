package sim

import (
	"container/heap"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Epoch is the wall time at which every simulation starts: Now, and with
// it every pcap timestamp, reads Epoch plus the virtual time elapsed.
var Epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// monoBase is the monotonic reading at virtual time 0. It is not 0,
// because netstack takes a zero MonotonicTime to mean "never set".
const monoBase = time.Hour

// Clock is a deterministic tcpip.Clock for simulation. Time moves only
// when AdvanceTo moves it; timers fire only when FireDue fires them, one
// at a time, on the caller's goroutine. Timers due at the same instant
// fire in the order they were armed (AfterFunc or Reset), never in map or
// goroutine order, and the clock starts no goroutine.
//
// faketime.ManualClock is not used because it fires timers that share a
// deadline in map order and runs zero-delay timers on fresh goroutines
// (netstack-notes, "Determinism").
//
// Its methods are safe for concurrent use.
type Clock struct {
	mu     sync.Mutex
	now    time.Duration // since the start
	seq    uint64        // arming order
	timers timerHeap
}

var _ tcpip.Clock = (*Clock)(nil)

// NewClock returns a clock at virtual time 0.
func NewClock() *Clock { return &Clock{} }

// Now implements tcpip.Clock: Epoch plus the virtual time elapsed.
func (c *Clock) Now() time.Time { return Epoch.Add(c.Elapsed()) }

// NowMonotonic implements tcpip.Clock.
func (c *Clock) NowMonotonic() tcpip.MonotonicTime {
	return tcpip.MonotonicTime{}.Add(monoBase + c.Elapsed())
}

// Elapsed returns the virtual time since the clock was made.
func (c *Clock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements tcpip.Clock: f runs in the goroutine that calls
// FireDue once the clock reaches now+d.
func (c *Clock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	return c.afterFunc(nil, d, f)
}

func (c *Clock) afterFunc(v *hostClock, d time.Duration, f func()) tcpip.Timer {
	t := &timer{c: c, view: v, f: f, index: -1}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked(t, d)
	return t
}

func (c *Clock) armLocked(t *timer, d time.Duration) {
	t.when = c.now + max(d, 0)
	t.seq = c.seq
	c.seq++
	heap.Push(&c.timers, t)
}

// Next returns the time of the earliest armed timer; ok is false if none
// is armed.
func (c *Clock) Next() (at time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return 0, false
	}
	return c.timers[0].when, true
}

// Pending returns how many timers are armed.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// FireDue runs the earliest timer if it is due, and reports whether it
// did. The timer is disarmed before its function runs, so the function
// may arm, reset or stop any timer.
func (c *Clock) FireDue() bool {
	_, ok := c.fireDue()
	return ok
}

// fireDue is FireDue that also returns the host whose view armed the
// timer, -1 for a timer armed on the Clock itself.
func (c *Clock) fireDue() (host int, ok bool) {
	c.mu.Lock()
	if len(c.timers) == 0 || c.timers[0].when > c.now {
		c.mu.Unlock()
		return -1, false
	}
	t := heap.Pop(&c.timers).(*timer)
	c.mu.Unlock()
	host = -1
	if t.view != nil {
		host = t.view.host
	}
	t.f()
	return host, true
}

// AdvanceTo moves the clock to t, which must not be past the earliest
// timer (time never jumps over an event). A t in the past is ignored.
func (c *Clock) AdvanceTo(t time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) > 0 && t > c.timers[0].when {
		panic("sim: clock advanced past a timer")
	}
	if t > c.now {
		c.now = t
	}
}

// hostClock is one host's view of the Clock: the same time, but every
// timer armed through it is tagged with the host, so that the simulation
// knows which stack a timer touches and settles only that one.
type hostClock struct {
	*Clock
	host int
}

var _ tcpip.Clock = (*hostClock)(nil)

func (c *Clock) view(host int) *hostClock { return &hostClock{Clock: c, host: host} }

// AfterFunc implements tcpip.Clock, tagging the timer with the host.
func (v *hostClock) AfterFunc(d time.Duration, f func()) tcpip.Timer {
	return v.Clock.afterFunc(v, d, f)
}

// timer is one AfterFunc. index is its place in the heap, -1 when it is
// not armed.
type timer struct {
	c     *Clock
	view  *hostClock // nil when armed on the Clock itself
	f     func()
	when  time.Duration
	seq   uint64
	index int
}

// Stop implements tcpip.Timer.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.c.timers, t.index)
	return true
}

// Reset implements tcpip.Timer: the timer fires d from now, after every
// timer armed before it for the same instant.
func (t *timer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.index >= 0 {
		heap.Remove(&t.c.timers, t.index)
	}
	t.c.armLocked(t, d)
}

// timerHeap orders timers by deadline, then by arming order.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].when != h[j].when {
		return h[i].when < h[j].when
	}
	return h[i].seq < h[j].seq
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
