package stack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/seqnum"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// staleACKs keeps netstack's TCP sender from taking its send window from an
// ACK older than one it has already seen.
//
// netstack's sender sets its send window from every acceptable segment
// it receives (transport/tcp/snd.go, handleRcvdSegment: `s.SndWnd =
// rcvdSeg.window`), with none of RFC 9293's checks of SND.WL1 and SND.WL2
// (section 3.10.7.4) and without Linux's rule that an ACK below SND.UNA
// changes nothing but the SACK scoreboard (tcp_input.c, tcp_ack: old_ack).
// The window's right edge is SND.UNA plus that window, so when a path
// reorders, an ACK sent before a later one arrives after it and moves the
// edge forward by the difference of their acknowledgment numbers, past
// anything the receiver offered. The sender then sends data the receiver
// drops (it is beyond its window), and its pure ACKs carry that SND.NXT as
// their sequence number (netstack has no tcp_acceptable_seq). A receiver
// whose window is zero accepts only a segment at RCV.NXT (rcv.go
// acceptable, header.Acceptable), so it drops those ACKs whole: when its own
// application waits to send (an echo whose peer reads the echo), neither
// side ever learns the other's progress, and the connection stalls for good
// (sim's TestReorderedACKWidensSendWindow: usertcp demo --sim --seed 3
// --latency 5ms --jitter 2ms --jitter-reorders --rack stalled 30 s into the
// echo, at 2.75 of 8 MiB, and never recovered).
//
// staleACKs remembers, per connection, the highest acknowledgment number
// received and the window of the latest segment that was not older. A
// segment acknowledging less is given that window, so netstack's window
// stays what the newer segment set, as Linux's would; everything else in
// it (data, SACK blocks, timestamps) reaches netstack unchanged. A SYN or
// RST forgets the connection, so a new one on the same ports starts afresh.
//
// The table is bounded: it keeps two generations of at most
// staleACKGeneration connections each, and a connection not heard from
// during a whole generation is forgotten (it starts afresh on its next
// segment, which only costs the check of that one segment).
type staleACKs struct {
	mu sync.Mutex
	// cur holds the connections heard from in this generation, prev those
	// of the last one that were not heard from since.
	// +checklocks:mu
	cur, prev map[flowKey]*ackedWindow

	rewritten atomic.Uint64
}

// flowKey names a connection, seen from this stack.
type flowKey struct {
	local, remote         tcpip.Address
	localPort, remotePort uint16
}

// ackedWindow is the highest acknowledgment number received on a
// connection and the window field of the latest segment that carried it
// or a higher one.
type ackedWindow struct {
	ack    seqnum.Value
	window uint16
}

// staleACKGeneration bounds the connections of one generation (some 100
// bytes each).
const staleACKGeneration = 1 << 14

func newStaleACKs() *staleACKs {
	return &staleACKs{cur: map[flowKey]*ackedWindow{}, prev: map[flowKey]*ackedWindow{}}
}

// received looks at a TCP segment that is not a fragment, received by
// the stack, and returns the frame to deliver instead, if any: a copy of
// pkt whose window is that of the newer segment it trails.
func (s *staleACKs) received(pkt *netstack.PacketBuffer, in inboundTCP) *netstack.PacketBuffer {
	b, ok := pkt.Data().PullUp(in.ipLen + header.TCPMinimumSize)
	if !ok {
		return nil
	}
	th := header.TCP(b[in.ipLen:])
	src, dst := inboundAddrs(pkt, in)
	key := flowKey{local: dst, remote: src, localPort: th.DestinationPort(), remotePort: th.SourcePort()}
	ack, window := seqnum.Value(th.AckNumber()), th.WindowSize()

	s.mu.Lock()
	if in.flags&(header.TCPFlagSyn|header.TCPFlagRst) != 0 || in.flags&header.TCPFlagAck == 0 {
		delete(s.cur, key)
		delete(s.prev, key)
		s.mu.Unlock()
		return nil
	}
	last := s.cur[key]
	if last == nil {
		last = s.prev[key]
		if last != nil {
			delete(s.prev, key)
		} else {
			last = &ackedWindow{ack: ack, window: window}
		}
		s.storeLocked(key, last)
	}
	if !ack.LessThan(last.ack) {
		last.ack, last.window = ack, window
		s.mu.Unlock()
		return nil
	}
	newer := last.window
	s.mu.Unlock()
	if window == newer {
		return nil
	}
	s.rewritten.Add(1)
	return withWindow(pkt, in, window, newer)
}

// storeLocked records a connection in the current generation, starting a
// new one when it is full.
//
// +checklocks:s.mu
func (s *staleACKs) storeLocked(key flowKey, w *ackedWindow) {
	if len(s.cur) >= staleACKGeneration {
		s.prev, s.cur = s.cur, make(map[flowKey]*ackedWindow, len(s.cur))
	}
	s.cur[key] = w
}

// withWindow returns a copy of the received segment in pkt with its window
// field set from old to window and its checksum updated to match
// (RFC 1624), so a segment that arrived corrupted stays so.
func withWindow(pkt *netstack.PacketBuffer, in inboundTCP, old, window uint16) *netstack.PacketBuffer {
	frame, th, ok := copySegment(pkt, in)
	if !ok {
		return nil
	}
	th.SetWindowSize(window)
	th.SetChecksum(^checksum.Combine(checksum.Combine(^th.Checksum(), ^old), window))
	return packetOf(frame, pkt)
}

// copySegment copies the frame of a received TCP segment, without any
// link padding, and returns the copy and its TCP header.
func copySegment(pkt *netstack.PacketBuffer, in inboundTCP) (frame []byte, th header.TCP, ok bool) {
	frame = pkt.Data().AsRange().ToSlice()
	end := len(frame)
	if in.v6 {
		end = min(end, header.IPv6MinimumSize+int(header.IPv6(frame).PayloadLength()))
	} else {
		end = min(end, int(header.IPv4(frame).TotalLength()))
	}
	if end < in.ipLen+header.TCPMinimumSize {
		return nil, nil, false
	}
	return frame, header.TCP(frame[in.ipLen:end]), true
}

// packetOf returns a packet holding frame, to be delivered in place of
// pkt.
func packetOf(frame []byte, pkt *netstack.PacketBuffer) *netstack.PacketBuffer {
	out := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
	out.NetworkProtocolNumber = pkt.NetworkProtocolNumber
	out.RXChecksumValidated = pkt.RXChecksumValidated
	return out
}
