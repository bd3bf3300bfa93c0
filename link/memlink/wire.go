package memlink

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"
)

// frame is one packet in flight: its bytes (link header included, if any)
// and the network protocol the sender gave it.
type frame struct {
	proto tcpip.NetworkProtocolNumber
	buf   buffer.Buffer
}

// queue carries frames in one direction. It is bounded: a writer that finds
// it full waits, so a fast sender is slowed down instead of losing frames.
// A link that drops on overflow turns every burst into retransmission
// timeouts; TCP collapses to a fraction of the link's speed.
//
// One exception prevents a deadlock: while the opposite direction's pump is
// inside the peer stack's DeliverNetworkPacket, netstack may answer inline
// (ARP replies, ICMP, a RST for an unknown port) into this queue. If that
// write waited for this queue, and this queue's pump waited in the same way
// on the other queue, both pumps would stop forever. Those writes may
// overflow the bound instead; they are few and small.
type queue struct {
	mu      sync.Mutex
	notFull sync.Cond
	ready   sync.Cond
	frames  []frame
	limit   int
	closed  bool

	// held stops delivery in this direction (End.Hold): the pump waits,
	// and a lock-step link skips this direction's frames.
	held atomic.Bool

	// reverseDelivering counts pump calls into the stack that writes into
	// this queue; see the type comment.
	reverseDelivering atomic.Int32

	// Counters of frames and bytes that crossed the wire.
	frameCount, byteCount atomic.Uint64
}

func newQueue(limit int) *queue {
	q := &queue{limit: limit}
	q.notFull.L = &q.mu
	q.ready.L = &q.mu
	return q
}

// push appends frames, waiting while the queue is full. It returns how many
// it took: all of them unless the queue closed.
func (q *queue) push(fs []frame) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range fs {
		for len(q.frames) >= q.limit && !q.closed && q.reverseDelivering.Load() == 0 {
			q.notFull.Wait()
		}
		if q.closed {
			for _, f := range fs[i:] {
				f.buf.Release()
			}
			return i
		}
		q.frames = append(q.frames, f)
		if len(q.frames) == 1 {
			q.ready.Signal()
		}
	}
	return len(fs)
}

// popAll waits for frames and takes all of them, so the pump delivers in
// batches. It returns nil once the queue is closed.
func (q *queue) popAll(spare []frame) []frame {
	q.mu.Lock()
	defer q.mu.Unlock()
	for (len(q.frames) == 0 || q.held.Load()) && !q.closed {
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

// setHeld holds or releases the direction.
func (q *queue) setHeld(held bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held.Store(held)
	q.ready.Broadcast()
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

// wireEnd is one end of the bare wire: a netstack LinkEndpoint whose frames
// go, through its outbound queue and pump goroutine, to the peer's
// dispatcher. It has no link header of its own; memlink.New adds Ethernet
// framing on top when asked.
type wireEnd struct {
	mtu      atomic.Uint32
	caps     netstack.LinkEndpointCapabilities
	linkAddr atomic.Value // tcpip.LinkAddress

	out  *queue // frames this end sends
	in   *queue // frames the peer sends (the peer's out)
	peer *wireEnd

	// ls, on a lock-step link, replaces out's queue and the pump: both
	// ends put their frames on it and DeliverNext delivers them.
	ls *lockstep

	// gro, when enabled, coalesces the in-order TCP segments of one flow
	// that arrive in one batch of the pump into one packet before the
	// peer's stack sees them, as a NIC's receive offload does. Used only
	// by the pump goroutine.
	gro gro.GRO

	mu         sync.RWMutex
	dispatcher netstack.NetworkDispatcher
	onClose    func()

	pumpStarted sync.Once
	pumpDone    chan struct{}
	closeOnce   sync.Once
	closed      atomic.Bool
}

var _ netstack.LinkEndpoint = (*wireEnd)(nil)

func newWire(mtu uint32, caps netstack.LinkEndpointCapabilities, queueFrames int, addrA, addrB tcpip.LinkAddress, groOn bool) (*wireEnd, *wireEnd) {
	ab, ba := newQueue(queueFrames), newQueue(queueFrames)
	a := &wireEnd{caps: caps, out: ab, in: ba, pumpDone: make(chan struct{})}
	b := &wireEnd{caps: caps, out: ba, in: ab, pumpDone: make(chan struct{})}
	a.gro.Init(groOn)
	b.gro.Init(groOn)
	a.peer, b.peer = b, a
	a.mtu.Store(mtu)
	b.mtu.Store(mtu)
	a.linkAddr.Store(addrA)
	b.linkAddr.Store(addrB)
	return a, b
}

// pump delivers this end's outbound frames to the peer's dispatcher until
// the queue closes.
func (e *wireEnd) pump() {
	defer close(e.pumpDone)
	var spare []frame
	for {
		batch := e.out.popAll(spare)
		if batch == nil {
			return
		}
		e.peer.mu.RLock()
		d := e.peer.dispatcher
		e.peer.mu.RUnlock()
		e.in.reverseDelivering.Add(1)
		e.gro.Dispatcher = d
		csumOK := e.caps&netstack.CapabilityRXChecksumOffload != 0
		for i, f := range batch {
			if d != nil {
				// GRO reads both fields; the NIC would set them itself.
				pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: f.buf})
				pkt.NetworkProtocolNumber = f.proto
				pkt.RXChecksumValidated = csumOK
				e.gro.Enqueue(pkt)
				pkt.DecRef()
			} else {
				f.buf.Release()
			}
			batch[i] = frame{}
		}
		if d != nil {
			e.gro.Flush()
		}
		e.gro.Dispatcher = nil
		e.in.reverseDelivering.Add(-1)
		// Writers blocked on the reverse queue may proceed now that
		// inline replies are no longer exempt; nothing to signal, as they
		// only waited if the bound applied.
		spare = batch
	}
}

// WritePackets implements netstack.LinkWriter. It copies nothing: the
// frame's views are shared by reference count until the peer consumes them.
func (e *wireEnd) WritePackets(pkts netstack.PacketBufferList) (int, tcpip.Error) {
	fs := make([]frame, 0, pkts.Len())
	var bytes uint64
	for _, pkt := range pkts.AsSlice() {
		fs = append(fs, frame{proto: protocolOf(pkt), buf: pkt.ToBuffer()})
		bytes += uint64(pkt.Size())
	}
	if e.ls != nil {
		if !e.ls.push(e, fs) {
			return 0, &tcpip.ErrClosedForSend{}
		}
		return len(fs), nil
	}
	n := e.out.push(fs)
	e.out.frameCount.Add(uint64(n))
	if n < len(fs) {
		return n, &tcpip.ErrClosedForSend{}
	}
	e.out.byteCount.Add(bytes)
	return n, nil
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

// Attach implements netstack.NetworkLinkEndpoint. The pump starts with the
// first attach, so an unused link runs no goroutine.
func (e *wireEnd) Attach(d netstack.NetworkDispatcher) {
	e.mu.Lock()
	e.dispatcher = d
	e.mu.Unlock()
	if d != nil && e.ls == nil {
		e.pumpStarted.Do(func() { go e.pump() })
	}
}

func (e *wireEnd) IsAttached() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.dispatcher != nil
}

func (e *wireEnd) MTU() uint32                                     { return e.mtu.Load() }
func (e *wireEnd) SetMTU(mtu uint32)                               { e.mtu.Store(mtu) }
func (e *wireEnd) MaxHeaderLength() uint16                         { return 0 }
func (e *wireEnd) LinkAddress() tcpip.LinkAddress                  { return e.linkAddr.Load().(tcpip.LinkAddress) }
func (e *wireEnd) SetLinkAddress(a tcpip.LinkAddress)              { e.linkAddr.Store(a) }
func (e *wireEnd) Capabilities() netstack.LinkEndpointCapabilities { return e.caps }
func (e *wireEnd) ARPHardwareType() header.ARPHardwareType         { return header.ARPHardwareNone }
func (e *wireEnd) AddHeader(*netstack.PacketBuffer)                {}
func (e *wireEnd) ParseHeader(*netstack.PacketBuffer) bool         { return true }

func (e *wireEnd) SetOnCloseAction(f func()) {
	e.mu.Lock()
	e.onClose = f
	e.mu.Unlock()
}

// Close stops this end's outbound pump, drops the frames still queued and
// detaches from the stack; frames arriving from the peer are dropped from
// then on.
func (e *wireEnd) Close() {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		f := e.onClose
		e.dispatcher = nil
		e.mu.Unlock()
		if f != nil {
			f()
		}
		e.out.close()
		e.closed.Store(true)
		if e.ls != nil {
			e.ls.drop(e)
			close(e.pumpDone) // there is no pump
			return
		}
		// Started here if it never was, so Wait can always wait on it.
		e.pumpStarted.Do(func() { go e.pump() })
	})
}

// Wait waits for the pump goroutine to stop once Close was called; before
// that it returns at once, as the pump has nothing to finish.
func (e *wireEnd) Wait() {
	if e.closed.Load() {
		<-e.pumpDone
	}
}

// lockstep is the one queue of a lock-step link: the frames of both
// directions in the order they reached the wire. Nothing delivers them but
// deliverNext, so whoever calls it (a simulation) decides what happens
// when, and no goroutine of the link runs.
type lockstep struct {
	mu     sync.Mutex
	frames []lsFrame
}

type lsFrame struct {
	from *wireEnd
	frame
}

// push appends a sender's frames; it never waits, as nobody could drain
// the queue while the sender waits. It reports false if the sender is
// closed.
func (l *lockstep) push(from *wireEnd, fs []frame) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if from.closed.Load() {
		for _, f := range fs {
			f.buf.Release()
		}
		return false
	}
	for _, f := range fs {
		l.frames = append(l.frames, lsFrame{from: from, frame: f})
	}
	return true
}

// len returns how many frames wait, held ones included.
func (l *lockstep) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.frames)
}

// next removes the oldest frame whose direction is not held.
func (l *lockstep) next() (lsFrame, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.frames {
		if f.from.out.held.Load() {
			continue
		}
		copy(l.frames[i:], l.frames[i+1:])
		l.frames[len(l.frames)-1] = lsFrame{}
		l.frames = l.frames[:len(l.frames)-1]
		return f, true
	}
	return lsFrame{}, false
}

// drop releases the frames a closing end sent.
func (l *lockstep) drop(from *wireEnd) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.frames[:0]
	for _, f := range l.frames {
		if f.from == from {
			f.buf.Release()
		} else {
			keep = append(keep, f)
		}
	}
	clear(l.frames[len(keep):])
	l.frames = keep
}

// deliverNext delivers the oldest deliverable frame of a lock-step link
// to the receiving stack, in the caller's goroutine, and returns the end
// that sent it and a copy of its bytes.
func (l *lockstep) deliverNext() (from *wireEnd, b []byte, ok bool) {
	f, ok := l.next()
	if !ok {
		return nil, nil, false
	}
	b = f.buf.Flatten()
	to := f.from.peer
	to.mu.RLock()
	d := to.dispatcher
	to.mu.RUnlock()
	if d == nil {
		f.buf.Release()
		return f.from, b, true
	}
	f.from.out.frameCount.Add(1)
	f.from.out.byteCount.Add(uint64(len(b)))
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: f.buf})
	d.DeliverNetworkPacket(f.proto, pkt)
	pkt.DecRef()
	return f.from, b, true
}
