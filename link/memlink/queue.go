package memlink

import (
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// frame is one packet in flight: its bytes (link header included, if any),
// the network protocol the sender gave it, and the pair it crossed.
type frame struct {
	proto tcpip.NetworkProtocolNumber
	buf   buffer.Buffer
	pair  *pair
	// held: a lock-step DeliverNext passed over it (its pair was held).
	held bool
}

// queue holds the frames on their way to one port. It is bounded: a writer
// that finds it full waits, so a fast sender is slowed down instead of
// losing frames. A link that drops on overflow turns every burst into
// retransmission timeouts; TCP collapses to a fraction of the link's speed.
//
// One exception prevents deadlocks: a writer whose own port's pump is
// inside its stack's DeliverNetworkPacket does not wait, because the write
// may be an inline reply (ARP, ICMP, a RST for an unknown port) made in the
// pump's goroutine. If it waited, and the pump of the port it writes to
// waited in the same way for this port's queue (or a longer cycle of ports
// did), every pump of the cycle would stop forever. Those writes may
// overflow the bound instead; they are few and small.
type queue struct {
	mu      sync.Mutex
	notFull sync.Cond
	ready   sync.Cond
	// +checklocks:mu
	frames []frame
	limit  int
	// +checklocks:mu
	closed bool
}

func newQueue(limit int) *queue {
	q := &queue{limit: limit}
	q.notFull.L = &q.mu
	q.ready.L = &q.mu
	return q
}

// push appends frames from src, waiting while the queue is full unless
// src's pump is delivering (see the type comment). Frames the queue does
// not take because it closed are released.
func (q *queue) push(fs []frame, src *portWire) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range fs {
		for len(q.frames) >= q.limit && !q.closed && src.delivering.Load() == 0 {
			q.notFull.Wait()
		}
		if q.closed {
			for _, f := range fs[i:] {
				f.buf.Release()
			}
			return
		}
		q.frames = append(q.frames, f)
		if len(q.frames) == 1 {
			q.ready.Signal()
		}
	}
}

// pushAll appends frames without waiting (a released pair's backlog).
func (q *queue) pushAll(fs []frame) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		for _, f := range fs {
			f.buf.Release()
		}
		return
	}
	q.frames = append(q.frames, fs...)
	q.ready.Signal()
}

// popAll waits for frames and takes all of them, so the pump delivers in
// batches. It returns nil once the queue is closed.
func (q *queue) popAll(spare []frame) []frame {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.frames) == 0 && !q.closed {
		q.ready.Wait()
	}
	if q.closed {
		return nil
	}
	out := q.frames
	q.frames = spare[:0]
	q.notFull.Broadcast()
	return out
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	for _, f := range q.frames {
		f.buf.Release()
	}
	q.frames = nil
	q.ready.Broadcast()
	q.notFull.Broadcast()
}

// protocolOf returns the packet's network protocol; for link layers that
// do not carry one, the IP version nibble decides.
func protocolOf(pkt *netstack.PacketBuffer) tcpip.NetworkProtocolNumber {
	if pkt.NetworkProtocolNumber != 0 {
		return pkt.NetworkProtocolNumber
	}
	for _, s := range pkt.AsSlices() {
		if len(s) > 0 {
			switch header.IPVersion(s) {
			case header.IPv4Version:
				return header.IPv4ProtocolNumber
			case header.IPv6Version:
				return header.IPv6ProtocolNumber
			}
			break
		}
	}
	return 0
}
