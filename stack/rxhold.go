package stack

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// receiveHold keeps the data segments netstack refuses for want of receive
// buffer memory and hands them to netstack again once it has room, so a
// segment inside the window netstack offered is delayed, not lost.
//
// netstack offers a window in payload bytes but charges each queued
// segment its memory: transport/tcp/segment.go segMemSize is the segment
// struct and the packet buffer's (248 and 328 bytes in the pinned version)
// plus the frame, some 700 bytes for a 68-byte {packet,4} message. The
// window it offers is half the space left (endpoint.go selectWindowLocked:
// the lesser of (rcvbuf - memory used)/2 and rcvbuf/2 - bytes queued), so
// with an empty queue it promises rcvbuf/2 bytes, which in 68-byte
// segments need five times rcvbuf. segment_queue.go enqueue admits a
// segment with payload only while the memory used is at most rcvbuf
// (dispatcher.queuePacket → Endpoint.enqueueSegment, counted in the
// stack's DroppedPackets and the endpoint's SegmentQueueDropped): a reader
// that falls behind by rcvbuf/700 messages (1,500 at netstack's 1 MiB
// default) has every segment after those dropped, although each is in the
// window. The sender then recovers only by a retransmission timeout where
// its MSS is large: RFC 6675's IsLost (sack_scoreboard.go IsRangeLost)
// counts a hole lost once 2·SMSS bytes above it are SACKed, 131 KB at MTU
// 65520, so with small segments above the hole its pipe stays above its
// window and it retransmits nothing until the timer fires (200 ms at
// least, doubling while the reader still lags). That was the message-rate
// collapse at MTU 65520 (sim's TestLaggingReaderLosesNoSegments).
//
// The hold is opt-in (TCPOptions.HoldReceiveBufferDrops): on a quiet
// machine it nearly halved a small-message stream's rate at MTU 65520, as
// a sender never cut back by a loss stops coalescing its writes
// (BENCHMARKS.md). It sits in the link path New builds (nicLink). When a
// data segment of an established connection leaves netstack's
// DroppedPackets higher than before its delivery, the hold copies the
// frame; later data segments of that connection queue behind it, in order,
// and segments without payload (ACKs, FIN, RST) pass, as netstack would
// have admitted them. While segments wait, the connection's outgoing
// segments advertise a zero window (see sent), so the peer stops instead
// of sending what would only wait too. The queue is delivered again,
// through the stale-ACK repair, when netstack sends a segment on the
// connection (it does after a read frees enough room for a window update)
// and on a timer that backs off from holdRetryMin to holdRetryMax while
// netstack still refuses; it stops at the first segment refused again. A
// connection holds at most twice its receive buffer in frames and the
// stack holdLimit: beyond that, netstack's drop stands. A SYN or RST,
// received or sent, forgets the connection's queue.
//
// The hold compares no sequence numbers (the queue is in arrival order,
// and netstack sorts out duplicates and reordering as it would have), so
// it has no wrap-around to get wrong. What it cannot mend: held segments
// are not acknowledged, so a reader that stops for longer than the
// peer's retransmission timeout still costs the peer a timeout (its
// retransmissions queue behind the originals), where a kernel would have
// acknowledged the data in its buffer.
type receiveHold struct {
	ns      *netstack.Stack
	clock   tcpip.Clock
	dropped *tcpip.StatCounter
	// oneAtATime makes each delivery again a timer of its own (see
	// drain).
	oneAtATime bool

	mu sync.Mutex
	// +checklocks:mu
	flows map[flowKey]*heldFlow
	// queueDrops is, per connection that had one, its endpoint's count of
	// segments its queue refused, as last seen (see refused).
	// +checklocks:mu
	queueDrops map[flowKey]queueDrops
	// bytes is the frame bytes held, all connections.
	// +checklocks:mu
	bytes int
	// +checklocks:mu
	closed bool
	// active is len(flows), for the paths that look without the lock.
	active atomic.Int32
	// running counts the timer callbacks and deliveries in progress, for
	// close.
	running sync.WaitGroup

	held, overflowed, closedWindows atomic.Uint64
}

// queueDrops is an endpoint's count of segments its queue refused. The
// endpoint is held weakly: the record must not keep a closed one alive.
type queueDrops struct {
	ep weak.Pointer[tcp.Endpoint]
	n  uint64
}

// queueDropsLimit bounds the connections queueDrops remembers; it is
// emptied when full (a connection forgotten there can at worst have one
// segment held that netstack took, which it then gets twice).
const queueDropsLimit = 1 << 14

// segmentQueueDropped returns the count of segments ep's queue refused.
func segmentQueueDropped(ep *tcp.Endpoint) uint64 {
	st, ok := ep.Stats().(*tcp.Stats)
	if !ok {
		return 0
	}
	return st.ReceiveErrors.SegmentQueueDropped.Value()
}

// heldFlow is one connection's queue of refused segments.
type heldFlow struct {
	key   flowKey
	ep    *tcp.Endpoint
	link  *nicLink
	proto tcpip.NetworkProtocolNumber
	// frames[head:] wait, oldest first; the slots before head were
	// delivered (or are being delivered by drain) and are reused once the
	// queue is compacted (appendLocked).
	frames []heldFrame
	head   int
	// bytes is the length of the frames waiting and the one drain may be
	// delivering.
	bytes int
	// limit bounds bytes: twice the socket's receive buffer.
	limit int
	// draining is set while one goroutine delivers the queue; frames that
	// arrive meanwhile queue behind.
	draining bool
	retry    tcpip.Timer
	backoff  time.Duration
}

// heldFrame is a copy of a refused segment's IP packet and whether the
// link had vouched for its checksum (RXChecksumValidated), which a
// redelivery must say again: a TAP frame the kernel marked valid may
// carry a partial checksum.
type heldFrame struct {
	b         []byte
	validated bool
}

// waiting returns how many of f's frames wait.
func (f *heldFlow) waiting() int { return len(f.frames) - f.head }

const (
	// holdRetryMin and holdRetryMax bound the wait between deliveries of a
	// queue netstack keeps refusing. Most deliveries do not wait for the
	// timer: netstack sends a window update when a read frees room, and
	// sent starts one then; the timer covers reads that free less, and
	// its cap is what a reader that stopped for good costs (a hundred
	// refused deliveries a second).
	holdRetryMin = 100 * time.Microsecond
	holdRetryMax = 10 * time.Millisecond
	// holdLimit bounds the frames a stack holds.
	holdLimit = 64 << 20
	// holdMinFlowLimit is the least a connection may hold, whatever its
	// receive buffer.
	holdMinFlowLimit = 64 << 10
	// holdMinMTU is the least MTU of a NIC whose connections have their
	// refused segments held (newNICLink). Below it the sender's SACK
	// recovery finds the hole quickly (IsLost needs 2·SMSS SACKed above
	// it: 2,920 bytes, 43 small segments, at MTU 1500; sim's
	// TestLaggingReaderLosesNoSegments takes the same 12 ms with and
	// without the hold), and the drop is the cheaper repair: the sender,
	// its congestion window cut, queues its writes and sends them
	// coalesced, where a held stream goes on arriving one small segment
	// at a time, each netstack's work (BENCHMARKS.md, "The message rate:
	// held segments": 0.73-0.75x the message rate at MTU 1500). At 16 KiB
	// 2·SMSS is 32 KiB, some 480 segments of 68 bytes, within the ~1,500
	// netstack takes.
	holdMinMTU = 16 << 10
)

func newReceiveHold(ns *netstack.Stack, oneAtATime bool) *receiveHold {
	return &receiveHold{ns: ns, clock: ns.Clock(), dropped: ns.Stats().DroppedPackets, oneAtATime: oneAtATime,
		flows: map[flowKey]*heldFlow{}, queueDrops: map[flowKey]queueDrops{}}
}

// flowOf returns the connection, seen from this stack, of a received TCP
// segment parseInboundTCP accepted, before or after netstack parsed it.
func flowOf(pkt *netstack.PacketBuffer, in inboundTCP) (flowKey, bool) {
	var th header.TCP
	var src, dst tcpip.Address
	if nh := pkt.NetworkHeader().Slice(); len(nh) > 0 {
		th = pkt.TransportHeader().Slice()
		net := pkt.Network()
		src, dst = net.SourceAddress(), net.DestinationAddress()
	} else {
		b, ok := pkt.Data().PullUp(in.ipLen + header.TCPMinimumSize)
		if !ok {
			return flowKey{}, false
		}
		th = header.TCP(b[in.ipLen:])
		src, dst = inboundAddrs(pkt, in)
	}
	if len(th) < header.TCPMinimumSize {
		return flowKey{}, false
	}
	return flowKey{local: dst, remote: src, localPort: th.DestinationPort(), remotePort: th.SourcePort()}, true
}

// receive delivers a received TCP segment that is no fragment and no SYN
// or RST, and holds it if netstack refuses it for want of buffer. Only a
// segment with payload can be refused, so one without passes even a queue.
func (h *receiveHold) receive(l *nicLink, proto tcpip.NetworkProtocolNumber, pkt *netstack.PacketBuffer, in inboundTCP) {
	if h.active.Load() > 0 && hasPayload(pkt, in) {
		if key, ok := flowOf(pkt, in); ok {
			h.mu.Lock()
			if f := h.flows[key]; f != nil {
				h.appendLocked(f, pkt)
				h.mu.Unlock()
				return
			}
			h.mu.Unlock()
		}
	}
	before := h.dropped.Value()
	l.deliverTCP(proto, pkt, in)
	if h.dropped.Value() == before {
		return
	}
	if key, ok := flowOf(pkt, in); ok {
		h.refused(l, proto, pkt, key)
	}
}

// hasPayload reports whether a segment netstack has not parsed yet
// carries data.
func hasPayload(pkt *netstack.PacketBuffer, in inboundTCP) bool {
	b, ok := pkt.Data().PullUp(in.ipLen + header.TCPMinimumSize)
	if !ok {
		return false
	}
	end := 0
	if in.v6 {
		end = header.IPv6MinimumSize + int(header.IPv6(b).PayloadLength())
	} else {
		end = int(header.IPv4(b).TotalLength())
	}
	return end > in.ipLen+int(header.TCP(b[in.ipLen:]).DataOffset())
}

// refused holds pkt, whose delivery left netstack's DroppedPackets
// higher, if its connection's queue refused it. netstack's TCP processor
// counts its own drops there too (a handshake's, a listener's), while the
// delivery may still be on its way, so the count of the endpoint's queue
// says whose drop it was: only segmentQueue.enqueue, inside the delivery,
// raises that, and a connection's deliveries come one at a time (from
// the link, or from drain while it holds segments).
func (h *receiveHold) refused(l *nicLink, proto tcpip.NetworkProtocolNumber, pkt *netstack.PacketBuffer, key flowKey) {
	ep, ok := h.ns.FindTransportEndpoint(proto, header.TCPProtocolNumber, netstack.TransportEndpointID{
		LocalPort: key.localPort, LocalAddress: key.local, RemotePort: key.remotePort, RemoteAddress: key.remote,
	}, l.nic).(*tcp.Endpoint)
	if !ok {
		return
	}
	n := segmentQueueDropped(ep)
	limit := max(2*int(ep.SocketOptions().GetReceiveBufferSize()), holdMinFlowLimit)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	id := weak.Make(ep)
	if last := h.queueDrops[key]; n == 0 || last.ep == id && n <= last.n {
		return
	}
	if len(h.queueDrops) >= queueDropsLimit {
		clear(h.queueDrops)
	}
	h.queueDrops[key] = queueDrops{ep: id, n: n}
	f := h.flows[key]
	if f == nil {
		f = &heldFlow{key: key, ep: ep, link: l, proto: proto, limit: limit, backoff: holdRetryMin}
		h.flows[key] = f
		h.active.Add(1)
	}
	if !h.appendLocked(f, pkt) && f.waiting() == 0 {
		h.forgetLocked(f)
		return
	}
	h.armLocked(f, f.backoff)
}

// appendLocked queues a copy of pkt's frame on f, unless the limits say
// netstack's drop stands. It reports whether it queued.
//
// +checklocks:h.mu
func (h *receiveHold) appendLocked(f *heldFlow, pkt *netstack.PacketBuffer) bool {
	frame, ok := receivedFrame(pkt)
	if !ok || f.bytes+len(frame) > f.limit || h.bytes+len(frame) > holdLimit {
		h.overflowed.Add(1)
		return false
	}
	if f.head > 0 && f.head >= len(f.frames)/2 {
		n := copy(f.frames, f.frames[f.head:])
		clear(f.frames[n:])
		f.frames, f.head = f.frames[:n], 0
	}
	f.frames = append(f.frames, heldFrame{b: frame, validated: pkt.RXChecksumValidated})
	f.bytes += len(frame)
	h.bytes += len(frame)
	h.held.Add(1)
	return true
}

// receivedFrame returns a copy of the frame of a received segment. Once
// netstack has parsed it (a refused one), its IP and TCP headers are no
// longer in pkt.Data(), so they are put back in front of the payload; an
// IPv6 header with extension headers cannot be, and is not held.
func receivedFrame(pkt *netstack.PacketBuffer) ([]byte, bool) {
	nh, th := pkt.NetworkHeader().Slice(), pkt.TransportHeader().Slice()
	if len(nh) == 0 {
		return pkt.Data().AsRange().ToSlice(), true
	}
	if len(th) < header.TCPMinimumSize {
		return nil, false
	}
	if v6 := header.IPv6(nh); len(nh) == header.IPv6MinimumSize && header.IPVersion(nh) == header.IPv6Version &&
		v6.NextHeader() != uint8(header.TCPProtocolNumber) {
		return nil, false
	}
	w := bytes.NewBuffer(make([]byte, 0, len(nh)+len(th)+pkt.Data().Size()))
	w.Write(nh)
	w.Write(th)
	if _, err := pkt.Data().ReadTo(w, true); err != nil {
		return nil, false
	}
	return w.Bytes(), true
}

// armLocked makes f's queue be delivered again after d.
//
// +checklocks:h.mu
func (h *receiveHold) armLocked(f *heldFlow, d time.Duration) {
	if f.retry == nil {
		f.retry = h.clock.AfterFunc(d, func() { h.drain(f) })
		return
	}
	f.retry.Reset(d)
}

// forgetLocked drops f's queue.
//
// +checklocks:h.mu
func (h *receiveHold) forgetLocked(f *heldFlow) {
	if h.flows[f.key] != f {
		return
	}
	delete(h.flows, f.key)
	h.active.Add(-1)
	h.bytes -= f.bytes
	f.frames, f.head, f.bytes = nil, 0, 0
	if f.retry != nil {
		f.retry.Stop()
	}
}

// forget drops the queue of the connection a SYN or RST was received on.
func (h *receiveHold) forget(pkt *netstack.PacketBuffer, in inboundTCP) {
	if h.active.Load() == 0 {
		return
	}
	key, ok := flowOf(pkt, in)
	if !ok {
		return
	}
	h.mu.Lock()
	if f := h.flows[key]; f != nil {
		h.forgetLocked(f)
	}
	delete(h.queueDrops, key)
	h.mu.Unlock()
}

// sent is called for each TCP segment the stack sends, with whether
// netstack computed its checksum. On a connection with segments waiting it
// advertises a zero window: netstack's memory for the connection is used
// up, so zero is the window it would offer if it could shrink one (it
// keeps the right edge it offered, which is what let the peer overrun it),
// and without it the peer goes on sending what would only wait here. The
// segments that wait are inside the window offered before, and are
// delivered; the first segment sent once none waits carries netstack's
// window again. It also has the queue delivered at once: netstack sends a
// window update when a read frees room. A RST or SYN netstack sends ends
// the connection the queue was for (an abort, or a new one on its ports),
// and the queue is dropped: its segments would only draw RSTs.
//
// WritePackets calls it only while holding() says something is held, so
// a stack that holds nothing pays one atomic load a sent segment.
func (h *receiveHold) sent(pkt *netstack.PacketBuffer, th header.TCP, fixChecksum bool) {
	net := pkt.Network()
	key := flowKey{local: net.SourceAddress(), remote: net.DestinationAddress(), localPort: th.SourcePort(), remotePort: th.DestinationPort()}
	h.mu.Lock()
	f := h.flows[key]
	if f == nil {
		h.mu.Unlock()
		return
	}
	if th.Flags()&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		h.forgetLocked(f)
		delete(h.queueDrops, key)
		h.mu.Unlock()
		return
	}
	if f.waiting() == 0 {
		h.mu.Unlock()
		return
	}
	if !f.draining {
		h.armLocked(f, 0)
	}
	h.mu.Unlock()
	if old := th.WindowSize(); old != 0 {
		th.SetWindowSize(0)
		if fixChecksum {
			th.SetChecksum(^checksum.Combine(checksum.Combine(^th.Checksum(), ^old), 0))
		}
		h.closedWindows.Add(1)
	}
}

// holding reports whether any connection has segments held.
func (h *receiveHold) holding() bool { return h.active.Load() > 0 }

// drain delivers f's queue until netstack refuses a segment again. With
// oneAtATime (a clock of the caller's: New's Options.Clock) it delivers
// one segment and arms its timer again at once: a driver that runs one
// timer at a time and then waits for netstack to be idle, as package
// sim's does, then sees one delivery a step, as it does for frames from
// the link, and netstack handles each before the next arrives. Several in
// one step would race with netstack's processing of the first (how many
// it takes a wake-up, the window of each ACK), and runs of the same seed
// would differ.
func (h *receiveHold) drain(f *heldFlow) {
	h.mu.Lock()
	if h.closed || h.flows[f.key] != f || f.draining {
		h.mu.Unlock()
		return
	}
	h.running.Add(1)
	defer h.running.Done()
	f.draining = true
	progress := false
	for f.waiting() > 0 && !h.closed && h.flows[f.key] == f {
		// The frame leaves the queue before netstack has it, so the ACK
		// netstack sends for the last one is not given a zero window.
		// Its bytes still count: it is still held.
		frame := f.frames[f.head]
		f.frames[f.head] = heldFrame{}
		f.head++
		h.mu.Unlock()
		refused := h.redeliver(f, frame)
		h.mu.Lock()
		if h.flows[f.key] != f {
			break
		}
		if refused {
			// Back to the front (appendLocked may have compacted the
			// queue meanwhile, and then the slot before head is gone).
			if f.head > 0 {
				f.head--
				f.frames[f.head] = frame
			} else {
				f.frames = append([]heldFrame{frame}, f.frames...)
			}
			break
		}
		f.bytes -= len(frame.b)
		h.bytes -= len(frame.b)
		progress = true
		if h.oneAtATime {
			break
		}
	}
	f.draining = false
	switch {
	case h.flows[f.key] != f || h.closed:
	case f.waiting() == 0:
		h.forgetLocked(f)
	default:
		next := time.Duration(0)
		switch {
		case progress && h.oneAtATime:
			f.backoff = holdRetryMin
		case progress:
			f.backoff = holdRetryMin
			next = f.backoff
		default:
			f.backoff = min(2*f.backoff, holdRetryMax)
			next = f.backoff
		}
		h.armLocked(f, next)
	}
	h.mu.Unlock()
}

// redeliver gives netstack a held frame again and reports whether its
// queue refused it.
func (h *receiveHold) redeliver(f *heldFlow, frame heldFrame) (refused bool) {
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame.b)})
	defer pkt.DecRef()
	pkt.NetworkProtocolNumber = f.proto
	pkt.RXChecksumValidated = frame.validated
	in, ok := parseInboundTCP(f.proto, pkt)
	if !ok {
		return false
	}
	before := segmentQueueDropped(f.ep)
	f.link.deliverTCP(f.proto, pkt, in)
	after := segmentQueueDropped(f.ep)
	if after == before {
		return false
	}
	h.mu.Lock()
	if id := weak.Make(f.ep); h.queueDrops[f.key].ep == id {
		h.queueDrops[f.key] = queueDrops{ep: id, n: after}
	}
	h.mu.Unlock()
	return true
}

// close drops every queue and waits for deliveries in progress.
func (h *receiveHold) close() {
	h.mu.Lock()
	h.closed = true
	for _, f := range h.flows {
		h.forgetLocked(f)
	}
	h.mu.Unlock()
	h.running.Wait()
}
