package delay

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ErrInvalidConfig is wrapped by every error New and SetConfig return for a
// Config they reject; test with errors.Is.
var ErrInvalidConfig = errors.New("delay: invalid config")

// DefaultQueueFrames is the queue limit used when Config.QueueFrames is
// zero: deep enough that a TCP window of full-sized segments never waits
// for room, small enough to bound memory.
const DefaultQueueFrames = 4096

// minReorderDelay is the smallest default ReorderDelay. With zero latency,
// 2*Latency would be zero and hold nothing back.
const minReorderDelay = time.Millisecond

// pcgStream is the second PCG seed word. It is fixed so that Config.Seed
// alone selects the random stream.
const pcgStream = 0x6a09e667f3bcc908

// Config describes the delay line. The zero Config delays nothing.
type Config struct {
	// Seed seeds the generator behind jitter and reordering. New uses
	// it; SetConfig ignores it, so that the stream carries on.
	Seed uint64

	// Clock provides every timestamp and the timer. Nil means
	// tcpip.NewStdClock(). Pass the stack's clock (for example a
	// faketime.ManualClock) so that the wire and the stack share one
	// notion of time. New uses it; SetConfig ignores it.
	Clock tcpip.Clock

	// Latency is the fixed one-way delay added to every frame.
	Latency time.Duration

	// Jitter is the upper bound of a uniformly distributed extra delay,
	// drawn per frame from [0, Jitter).
	//
	// By default jitter keeps the order of the direction, as the varying
	// depth of a FIFO queue on a real path does: a frame is delivered at
	// its own draw, or with the frame written before it if that one is
	// due later, never before it. A frame's delay therefore stays in
	// [Latency, Latency+Jitter) (plus the Rate's serialization), and a
	// burst rides behind the slowest frame ahead of it. Only Reorder,
	// or JitterReorders, makes frames overtake one another.
	Jitter time.Duration

	// JitterReorders draws each frame's jitter independently, as Linux
	// netem does: a frame whose draw is smaller than the previous frame's
	// by more than the time between them overtakes it. This models a
	// path that spreads one flow over parallel routes or queues (link
	// aggregation, multipath, a switch fabric), not one queue. Once
	// Jitter exceeds the time between consecutive frames (12µs for
	// 1500-byte frames at 1 Gbit/s), most frames of a bulk transfer
	// overtake or are overtaken, and TCP takes much of it for loss (see
	// BENCHMARKS.md, "Jitter and reordering").
	JitterReorders bool

	// Reorder is the probability, in [0, 1], that a frame is held back
	// by an extra ReorderDelay, so that frames written after it overtake
	// it.
	Reorder float64

	// ReorderDelay is the extra delay of a reordered frame. Zero means
	// max(2*Latency, 1ms), enough for the next frames to overtake.
	ReorderDelay time.Duration

	// Rate is the bandwidth in bytes per second; zero means unlimited.
	// A frame of n bytes occupies the wire for n/Rate, after the frames
	// written before it.
	Rate int64

	// QueueFrames is the most frames held at once; zero means
	// DefaultQueueFrames. When the queue is full, WritePackets blocks
	// until there is room.
	QueueFrames int
}

// validate reports the first field of c that is out of range.
func (c Config) validate() error {
	switch {
	case c.Latency < 0:
		return fmt.Errorf("%w: Latency = %v, want >= 0", ErrInvalidConfig, c.Latency)
	case c.Jitter < 0:
		return fmt.Errorf("%w: Jitter = %v, want >= 0", ErrInvalidConfig, c.Jitter)
	// The negated comparison also rejects NaN.
	case !(c.Reorder >= 0 && c.Reorder <= 1):
		return fmt.Errorf("%w: Reorder = %v, want a probability in [0, 1]", ErrInvalidConfig, c.Reorder)
	case c.ReorderDelay < 0:
		return fmt.Errorf("%w: ReorderDelay = %v, want >= 0", ErrInvalidConfig, c.ReorderDelay)
	case c.Rate < 0:
		return fmt.Errorf("%w: Rate = %d, want >= 0", ErrInvalidConfig, c.Rate)
	case c.QueueFrames < 0:
		return fmt.Errorf("%w: QueueFrames = %d, want >= 0", ErrInvalidConfig, c.QueueFrames)
	}
	return nil
}

// passThrough reports whether c delays nothing.
func (c Config) passThrough() bool {
	return c.Latency == 0 && c.Jitter == 0 && c.Rate == 0 && c.Reorder == 0
}

// Counters is a snapshot of what an Endpoint has done since New.
type Counters struct {
	// Frames is the number of frames handed to the lower endpoint.
	Frames uint64

	// Bytes is the number of bytes handed to the lower endpoint.
	Bytes uint64

	// Reordered is the number of frames held back by Reorder.
	Reordered uint64

	// OutOfOrder is the number of frames that left the delay line after
	// a frame written after them, whatever the cause (Reorder, or
	// JitterReorders): what a receiver sees arrive out of order.
	OutOfOrder uint64

	// Queued is the number of frames waiting now.
	Queued int
}

// frame is a packet waiting for its delivery time.
type frame struct {
	pkt       *stack.PacketBuffer // a reference owned by the queue
	size      int
	deliverAt tcpip.MonotonicTime
	// seq is the frame's position in the write order; it breaks ties
	// between equal delivery times, so that the order is deterministic.
	seq uint64
}

// frameHeap is a min-heap of frames keyed by (deliverAt, seq).
type frameHeap []frame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if h[i].deliverAt != h[j].deliverAt {
		return h[i].deliverAt.Before(h[j].deliverAt)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(frame)) }
func (h *frameHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	old[len(old)-1] = frame{} // drop the reference for the GC
	*h = old[:len(old)-1]
	return f
}

// Endpoint is a stack.LinkEndpoint that delays the frames written through
// it before passing them to the endpoint it wraps. All its methods are safe
// for concurrent use.
type Endpoint struct {
	nested.Endpoint

	clock tcpip.Clock

	// writeMu serializes the timer's writes to the lower endpoint. Two
	// timer callbacks can overlap (a callback already running when the
	// timer is re-armed); without writeMu, the later batch could reach
	// the lower endpoint first. Lock order: writeMu, then mu.
	writeMu sync.Mutex

	mu sync.Mutex

	// room is signalled (with mu) when frames leave the queue, when the
	// limit grows, and on Close.
	room sync.Cond

	// +checklocks:mu
	cfg Config

	// +checklocks:mu
	rng *rand.Rand

	// +checklocks:mu
	queue frameHeap

	// +checklocks:mu
	seq uint64

	// lastDeparture is when the last rate-limited frame finishes
	// leaving; the next one starts no earlier.
	//
	// +checklocks:mu
	lastDeparture tcpip.MonotonicTime

	// lastDelivery is the latest delivery time given to a frame before
	// any Reorder hold: with order-keeping jitter, the next frame is
	// delivered no earlier.
	//
	// +checklocks:mu
	lastDelivery tcpip.MonotonicTime

	// leftHigh is one more than the highest seq of a frame that has
	// left the queue (0 before the first): a frame leaving with a lower
	// seq has been overtaken.
	//
	// +checklocks:mu
	leftHigh uint64

	// timer is made on first use and re-armed after; nil until then.
	//
	// +checklocks:mu
	timer tcpip.Timer

	// armed says the timer will fire at armedAt.
	//
	// +checklocks:mu
	armed bool
	// +checklocks:mu
	armedAt tcpip.MonotonicTime

	// writing is true while the timer callback writes a batch to the
	// lower endpoint. A pass-through write must not overtake that batch.
	//
	// +checklocks:mu
	writing bool

	// +checklocks:mu
	closed bool

	// +checklocks:mu
	counters Counters
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns an Endpoint that delays the frames written to lower as cfg
// describes. It returns an error wrapping ErrInvalidConfig if cfg is
// invalid.
func New(lower stack.LinkEndpoint, cfg Config) (*Endpoint, error) {
	if lower == nil {
		return nil, fmt.Errorf("%w: nil lower endpoint", ErrInvalidConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = tcpip.NewStdClock()
	}
	e := &Endpoint{
		clock: cfg.Clock,
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, pcgStream)),
	}
	e.room.L = &e.mu
	// Frames coming up from lower go through nested.Endpoint's dispatcher
	// undelayed: delay only impairs the outbound direction.
	e.Endpoint.Init(lower, &e.Endpoint)
	return e, nil
}

// SetConfig replaces the delay parameters for frames written from now on;
// frames already queued keep their delivery times, and unless
// cfg.JitterReorders is set a new frame still waits for them (a shorter
// Latency does not let new frames overtake old ones). cfg.Seed and cfg.Clock
// are ignored: the generator keeps its stream and the clock stays the one
// given to New. It returns an error wrapping ErrInvalidConfig, and changes
// nothing, if cfg is invalid.
func (e *Endpoint) SetConfig(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg.Seed = e.cfg.Seed
	cfg.Clock = e.clock
	e.cfg = cfg
	// The limit may have grown.
	e.room.Broadcast()
	return nil
}

// Config returns the configuration in force, with the Seed and Clock New
// used.
func (e *Endpoint) Config() Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Counters returns a snapshot of the counters.
func (e *Endpoint) Counters() Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.counters
	c.Queued = len(e.queue)
	return c
}

// limitLocked returns the queue limit in force.
//
// +checklocks:e.mu
func (e *Endpoint) limitLocked() int {
	if e.cfg.QueueFrames == 0 {
		return DefaultQueueFrames
	}
	return e.cfg.QueueFrames
}

// WritePackets implements stack.LinkEndpoint. It queues each frame of pkts
// for delivery at its delivery time, taking its own reference; the caller
// keeps (and releases) its references, as for every stack.LinkWriter.
//
// When the queue is full it blocks until the timer makes room; it never
// drops a frame. The timer makes room before it writes the due frames to
// the lower endpoint, so a lower endpoint that synchronously loops back into
// this WritePackets (as link/pipe can, through the peer stack) does not
// deadlock while there is room.
//
// After Close, or if Close interrupts the wait, it returns the number of
// frames queued so far and *tcpip.ErrClosedForSend.
//
// When nothing is configured and nothing is queued, the frames go straight
// to the lower endpoint and its result is returned.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return 0, &tcpip.ErrClosedForSend{}
	}
	if e.cfg.passThrough() && len(e.queue) == 0 && !e.writing {
		e.mu.Unlock()
		// Sizes first: the list is the lower endpoint's once written.
		sizes := make([]uint64, pkts.Len()+1)
		for i, p := range pkts.AsSlice() {
			sizes[i+1] = sizes[i] + uint64(p.Size())
		}
		n, err := e.Endpoint.WritePackets(pkts)
		e.mu.Lock()
		e.counters.Frames += uint64(n)
		e.counters.Bytes += sizes[min(max(n, 0), len(sizes)-1)]
		e.mu.Unlock()
		return n, err
	}
	defer e.mu.Unlock()
	for i, pkt := range pkts.AsSlice() {
		for !e.closed && len(e.queue) >= e.limitLocked() {
			e.room.Wait()
		}
		if e.closed {
			return i, &tcpip.ErrClosedForSend{}
		}
		e.enqueueLocked(pkt)
	}
	return pkts.Len(), nil
}

// enqueueLocked gives pkt its delivery time, queues a reference to it and
// makes sure the timer fires for the earliest frame.
//
// +checklocks:e.mu
func (e *Endpoint) enqueueLocked(pkt *stack.PacketBuffer) {
	now := e.clock.NowMonotonic()
	size := pkt.Size()

	// Always draw both numbers, whatever the configuration, so that a
	// frame's fate depends only on the seed and its position in the
	// sequence, and turning jitter on does not shift reordering.
	uJitter := e.rng.Float64()
	uReorder := e.rng.Float64()

	departure := now
	if e.cfg.Rate > 0 {
		if e.lastDeparture.After(departure) {
			departure = e.lastDeparture
		}
		departure = departure.Add(time.Duration(int64(size) * int64(time.Second) / e.cfg.Rate))
		e.lastDeparture = departure
	}
	at := departure.Add(e.cfg.Latency)
	if e.cfg.Jitter > 0 {
		at = at.Add(time.Duration(uJitter * float64(e.cfg.Jitter)))
	}
	// Even with JitterReorders, lastDelivery follows the latest frame, so
	// that turning it off with SetConfig keeps new frames behind old ones.
	if !e.cfg.JitterReorders && e.lastDelivery.After(at) {
		at = e.lastDelivery
	}
	if at.After(e.lastDelivery) {
		e.lastDelivery = at
	}
	if uReorder < e.cfg.Reorder {
		at = at.Add(e.reorderDelayLocked())
		e.counters.Reordered++
	}

	heap.Push(&e.queue, frame{pkt: pkt.IncRef(), size: size, deliverAt: at, seq: e.seq})
	e.seq++
	e.armLocked(now)
}

// reorderDelayLocked returns the extra delay of a reordered frame.
//
// +checklocks:e.mu
func (e *Endpoint) reorderDelayLocked() time.Duration {
	if e.cfg.ReorderDelay > 0 {
		return e.cfg.ReorderDelay
	}
	return max(2*e.cfg.Latency, minReorderDelay)
}

// armLocked makes sure the timer fires no later than the earliest frame's
// delivery time. One timer serves the whole queue: a timer per frame would
// cost a goroutine each with the standard clock.
//
// +checklocks:e.mu
func (e *Endpoint) armLocked(now tcpip.MonotonicTime) {
	if len(e.queue) == 0 || e.closed {
		return
	}
	head := e.queue[0].deliverAt
	if e.armed && !e.armedAt.After(head) {
		// It fires in time; the callback re-arms for what is left.
		return
	}
	d := head.Sub(now)
	if e.timer == nil {
		e.timer = e.clock.AfterFunc(d, e.fire)
	} else {
		e.timer.Stop()
		e.timer.Reset(d)
	}
	e.armed = true
	e.armedAt = head
}

// fire runs on the timer. It takes every due frame off the queue, re-arms
// for the next one and writes the due frames to the lower endpoint in one
// batch.
func (e *Endpoint) fire() {
	e.writeMu.Lock()
	defer e.writeMu.Unlock()

	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.armed = false
	now := e.clock.NowMonotonic()
	var batch stack.PacketBufferList
	var size, late uint64
	for len(e.queue) > 0 && !e.queue[0].deliverAt.After(now) {
		f := heap.Pop(&e.queue).(frame)
		batch.PushBack(f.pkt)
		size += uint64(f.size)
		if f.seq+1 < e.leftHigh {
			late++
		} else {
			e.leftHigh = f.seq + 1
		}
	}
	e.armLocked(now)
	if batch.Len() == 0 {
		// Early or stale: another callback got there first.
		e.mu.Unlock()
		return
	}
	e.writing = true
	e.room.Broadcast()
	e.mu.Unlock()

	// Errors are ignored: frames the lower endpoint refuses are lost, as
	// on a wire whose far end is gone or whose NIC queue overflowed.
	n := batch.Len()
	_, _ = e.Endpoint.WritePackets(batch)
	// The lower endpoint keeps its own references; release the queue's.
	batch.Reset()

	// Count only now, so that a Counters call that sees the frames
	// counted also finds them in the lower endpoint.
	e.mu.Lock()
	e.writing = false
	e.counters.Frames += uint64(n)
	e.counters.Bytes += size
	e.counters.OutOfOrder += late
	e.mu.Unlock()
}

// Close implements stack.LinkEndpoint. It stops the timer, drops the
// queued frames (a cable pulled out loses what is on it), wakes blocked
// writers, which then fail with *tcpip.ErrClosedForSend, and closes the
// lower endpoint. Calling it more than once is safe.
func (e *Endpoint) Close() {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		if e.timer != nil {
			e.timer.Stop()
		}
		e.armed = false
		for _, f := range e.queue {
			f.pkt.DecRef()
		}
		e.queue = nil
		e.room.Broadcast()
	}
	e.mu.Unlock()
	e.Endpoint.Close()
}

// Wait implements stack.LinkEndpoint. It waits for a batch being written to
// the lower endpoint, then for the lower endpoint itself.
func (e *Endpoint) Wait() {
	// The empty critical section is the point: it waits for a running
	// fire to finish its batch.
	e.writeMu.Lock()
	e.writeMu.Unlock()
	e.Endpoint.Wait()
}
