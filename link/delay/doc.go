// Package delay holds back the frames written to any stack.LinkEndpoint to
// model a wire's latency, jitter, reordering and bandwidth.
//
// An Endpoint wraps a lower endpoint and is itself a stack.LinkEndpoint, so
// it stacks with the other wrappers under link/ (fault, pcap) in any order.
// Only frames written through the Endpoint (the WritePackets path) are
// delayed; frames the lower endpoint delivers upwards pass untouched. So
// wrapping end A of a wire delays the A→B direction only.
//
// Each frame gets a delivery time when it is written:
//
//	departure = max(now, previous departure) + size/Rate   (now, if Rate is 0)
//	deliverAt = max(departure + Latency + U[0, Jitter), previous deliverAt)
//	            + (ReorderDelay with probability Reorder)
//
// where "previous deliverAt" is the latest given so far, before any
// ReorderDelay. Frames reach the lower endpoint in deliverAt order, ties
// broken by the order they were written. So jitter alone keeps each
// direction's order, as a FIFO queue of varying depth on a real path does:
// a frame waits for the one ahead of it rather than overtaking it. Frames
// overtake one another only through Reorder (a frame held back while the
// next ones pass), or with Config.JitterReorders, which drops the max and
// draws every frame's delay independently, as Linux netem does (a path over
// parallel queues). Counters.Reordered counts Reorder's holds;
// Counters.OutOfOrder counts every frame that left after a frame written
// after it, whatever the cause. All frames that are due together reach the
// lower endpoint in one WritePackets batch.
//
// Time comes only from Config.Clock: timestamps from its NowMonotonic and
// wake-ups from one timer made with its AfterFunc, armed for the earliest
// frame. With gVisor's faketime.ManualClock, frames move only when the test
// calls Advance, and every run is the same. There is no goroutine while the
// queue is empty.
//
// A full queue pushes back instead of dropping: WritePackets blocks until
// the timer has delivered enough frames to make room (see
// Config.QueueFrames). Loss is link/fault's job; a delay line that dropped
// frames would mix two impairments into one knob. The flip side is that a
// writer blocked on a full queue waits for the clock: with a ManualClock,
// something else must call Advance.
//
// With Latency, Jitter, Rate and Reorder all zero, and nothing queued,
// frames go straight through to the lower endpoint, in the caller's
// goroutine.
package delay
