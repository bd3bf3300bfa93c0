package memlink

import (
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Sent is one frame a port sent, as it entered the network: where it was
// going and what its pair's impairments did with it at once. Frames that
// pass go on to the delay line and are delivered later (DeliverNext on a
// lock-step network), once, or twice if Duplicated.
type Sent struct {
	// From is the sending port; To the port the frame was routed to,
	// empty for a frame no port owns (Unroutable). A broadcast frame is
	// one Sent per receiving port.
	From, To string
	// Bytes is the frame as the stack wrote it, before any impairment.
	// It is the observer's to keep.
	Bytes []byte
	// Dropped: lost to the pair's Loss. Cut: dropped by a partition or
	// a cut. Duplicated: passed, and a copy follows it. Corrupted:
	// passed with one bit flipped (both copies, if duplicated).
	Dropped, Cut, Duplicated, Corrupted bool
	// Unroutable: no port owns the frame's destination.
	Unroutable bool
}

// Observe makes the network call f for every frame a port sends from now
// on (nil stops it), after the frame entered its pair, in the sending
// stack's goroutine. f must not call the network. With an observer the
// frames of one write enter their pair one at a time, so that each one's
// fate is known; the pairs' random decisions are the same.
func (n *Network) Observe(f func(Sent)) {
	if f == nil {
		n.observer.Store(nil)
		return
	}
	n.observer.Store(&f)
}

// observedWrite writes frames to the pair one at a time, each followed by
// a call of f with its fate, read from the difference of the fault
// counters around its write. obsMu keeps the writes of two senders from
// mixing their differences.
func (p *pair) observedWrite(pkts netstack.PacketBufferList, f func(Sent)) {
	for _, pkt := range pkts.AsSlice() {
		b := make([]byte, 0, pkt.Size())
		for _, s := range pkt.AsSlices() {
			b = append(b, s...)
		}
		var one netstack.PacketBufferList
		one.PushBack(pkt)
		p.obsMu.Lock()
		before := p.fault.Counters()
		// Errors are a closed link, as in portWire.send.
		_, _ = p.fault.WritePackets(one)
		after := p.fault.Counters()
		p.obsMu.Unlock()
		cut := after.Partitioned > before.Partitioned
		f(Sent{
			From: p.from.name, To: p.to.name, Bytes: b,
			Cut:        cut,
			Dropped:    after.Dropped > before.Dropped && !cut,
			Duplicated: after.Duplicated > before.Duplicated,
			Corrupted:  after.Corrupted > before.Corrupted,
		})
	}
}

// observeUnroutable tells the observer, if any, of a frame no port owns.
func (n *Network) observeUnroutable(from *Port, pkt *netstack.PacketBuffer) {
	f := n.observer.Load()
	if f == nil {
		return
	}
	b := make([]byte, 0, pkt.Size())
	for _, s := range pkt.AsSlices() {
		b = append(b, s...)
	}
	(*f)(Sent{From: from.name, Bytes: b, Unroutable: true})
}
