package stack

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// synStamps gives a retransmitted SYN or SYN-ACK a fresh timestamp, as
// Linux does.
//
// netstack fills a handshake's SYN options once, TSVal included
// (transport/tcp/connect.go start(), line 587: `TSVal: h.ep.tsValNow()`),
// for an active open's SYN and a listener's SYN-ACK alike, and its
// retransmit timer resends those very options (retransmitHandlerLocked,
// lines 643-654) while it sets sampleRTTWithTSOnly. When the answer
// arrives, transitionToStateEstablishedLocked (lines 684-692) takes
// `h.ep.elapsed(rcvd, s.parsedOptions.TSEcr)` as the first RTT sample: the
// time since the first SYN, retransmission timeout included. One lost SYN
// (or SYN-ACK, for the server) so starts the connection at an SRTT of a
// second and an RTO of three, which the few samples of a quiet connection
// take long to bring down.
//
// synStamps remembers the timestamp of each SYN and SYN-ACK the stack
// sends (by addresses, ports and initial sequence number). When netstack
// sends the same segment again with the same timestamp, it advances the
// timestamp by the milliseconds elapsed since the first (netstack's
// timestamp clock counts milliseconds of the stack's monotonic clock,
// internal/tcp/tcp.go:41-43), which is the value netstack would have
// stamped, and fixes the TCP checksum where netstack computed one. The
// echo then measures the last transmission's round trip. Timestamps still
// only grow, so the peer's PAWS check (RFC 7323 section 5) passes, and the
// later segments of the connection, stamped by netstack from the same
// clock, carry timestamps no smaller than the restamped one.
//
// An entry lives while its connection is in SYN-SENT or SYN-RCVD: a
// SYN-ACK or RST for our SYN ends it, and so does the time netstack spends
// on a handshake before it gives up (a SYN-RCVD entry ends only so: the
// ACK that completes a passive open is an ordinary segment, which the link
// path does not look at). At most maxSYNStamps entries are kept; when a
// new one would exceed that, the oldest goes, so a SYN flood answered with
// cookies costs the restamping of handshakes it outlasts, not memory.
type synStamps struct {
	clock tcpip.Clock
	// lifetime is how long netstack retransmits a SYN before it gives up.
	lifetime time.Duration

	mu sync.Mutex
	// +checklocks:mu
	syns map[synKey]firstSYN
	// order holds the entries from the oldest, some already gone from
	// syns; order[head:] are live.
	// +checklocks:mu
	order []orderedSYN
	// +checklocks:mu
	head int
	// tracked is len(syns), read without mu on the receive path.
	tracked atomic.Int32

	restamped atomic.Uint64
}

// synKey names a connection's SYN, seen from this stack.
type synKey struct {
	local, remote         tcpip.Address
	localPort, remotePort uint16
	isn                   uint32
}

type firstSYN struct {
	// tsVal is the first transmission's timestamp, last the latest's.
	tsVal, last uint32
	at          tcpip.MonotonicTime
}

type orderedSYN struct {
	key synKey
	at  tcpip.MonotonicTime
}

// maxSYNStamps bounds the handshakes tracked at once (some 150 bytes
// each).
const maxSYNStamps = 4096

// newSYNStamps returns a tracker for a stack that retransmits a SYN
// synRetries times (netstack's default: 6). netstack doubles the timeout
// from tcp.InitialRTO up to tcp.MaxRTO (connect.go:181).
func newSYNStamps(clock tcpip.Clock, synRetries uint8) *synStamps {
	if synRetries == 0 {
		synRetries = tcp.DefaultSynRetries
	}
	var life time.Duration
	for i, rto := 0, tcp.InitialRTO; i <= int(synRetries); i, rto = i+1, min(2*rto, tcp.MaxRTO) {
		life += rto
	}
	return &synStamps{clock: clock, lifetime: life, syns: map[synKey]firstSYN{}}
}

// sent looks at a SYN or SYN-ACK netstack is about to write: it records
// a first one and restamps a retransmitted one. fixChecksum says netstack computed the
// segment's checksum, which must then follow the change.
func (s *synStamps) sent(pkt *netstack.PacketBuffer, th header.TCP, fixChecksum bool) {
	ts := timestampOption(th)
	if ts == nil {
		return
	}
	local, remote, ok := outboundAddrs(pkt)
	if !ok {
		return
	}
	key := synKey{local: local, remote: remote, localPort: th.SourcePort(), remotePort: th.DestinationPort(), isn: th.SequenceNumber()}
	tsVal := binary.BigEndian.Uint32(ts)
	now := s.clock.NowMonotonic()

	s.mu.Lock()
	first, ok := s.syns[key]
	if ok && now.Sub(first.at) > s.lifetime {
		ok = false // a new connection reusing the ports and, improbably, the ISN
	}
	if !ok {
		s.recordLocked(key, firstSYN{tsVal: tsVal, last: tsVal, at: now})
		s.mu.Unlock()
		return
	}
	if first.tsVal != tsVal {
		s.mu.Unlock()
		return // netstack stamped this one itself
	}
	fresh := first.tsVal + uint32(msSinceZero(now)-msSinceZero(first.at))
	first.last = fresh
	s.syns[key] = first
	s.mu.Unlock()
	if fresh == tsVal {
		return
	}
	binary.BigEndian.PutUint32(ts, fresh)
	if fixChecksum {
		setTCPChecksum(pkt, th, local, remote)
	}
	s.restamped.Add(1)
}

// +checklocks:s.mu
func (s *synStamps) recordLocked(key synKey, f firstSYN) {
	// Forget the handshakes netstack has given up on, and the oldest one
	// if the table is full.
	for s.head < len(s.order) {
		o := s.order[s.head]
		if len(s.order)-s.head < maxSYNStamps && f.at.Sub(o.at) <= s.lifetime {
			break
		}
		if e, ok := s.syns[o.key]; ok && e.at == o.at {
			delete(s.syns, o.key)
		}
		s.order[s.head] = orderedSYN{}
		s.head++
	}
	if s.head > len(s.order)/2 {
		s.order = append(s.order[:0], s.order[s.head:]...)
		s.head = 0
	}
	s.syns[key] = f
	s.order = append(s.order, orderedSYN{key: key, at: f.at})
	s.tracked.Store(int32(len(s.syns)))
}

// answered ends the tracking of our SYN that a received SYN-ACK or RST
// (with ACK) answers. A SYN-ACK that echoes a timestamp other than that of
// our latest SYN is the peer's answer to an earlier one, or its own
// retransmission, answering the SYN it had (the peer echoes TS.Recent,
// RFC 7323 section 4.3): its round trip is ambiguous, as Karn's algorithm
// has it, yet netstack would take it as the first RTT sample (a second
// long when both sides retransmitted at once). answered then returns a
// copy of the frame whose TSecr is 0, from which netstack takes no sample
// (connect.go:685-690), and nil otherwise.
func (s *synStamps) answered(pkt *netstack.PacketBuffer, in inboundTCP) *netstack.PacketBuffer {
	if s.tracked.Load() == 0 {
		return nil
	}
	b, ok := pkt.Data().PullUp(in.ipLen + header.TCPMinimumSize)
	if !ok {
		return nil
	}
	th := header.TCP(b[in.ipLen:])
	src, dst := inboundAddrs(pkt, in)
	key := synKey{local: dst, remote: src, localPort: th.DestinationPort(), remotePort: th.SourcePort(), isn: th.AckNumber() - 1}
	synAck := th.Flags()&header.TCPFlagSyn != 0
	s.mu.Lock()
	first, ok := s.syns[key]
	if ok {
		delete(s.syns, key)
		s.tracked.Store(int32(len(s.syns)))
	}
	s.mu.Unlock()
	if !ok || !synAck || first.last == first.tsVal {
		return nil
	}
	return withoutAmbiguousEcho(pkt, in, first.last)
}

// withoutAmbiguousEcho returns a copy of the received segment in pkt with
// its TSecr set to 0 unless it echoes last, or nil if it does.
func withoutAmbiguousEcho(pkt *netstack.PacketBuffer, in inboundTCP, last uint32) *netstack.PacketBuffer {
	frame, th, ok := copySegment(pkt, in)
	if !ok {
		return nil
	}
	ts := timestampOption(th)
	if ts == nil || binary.BigEndian.Uint32(ts[4:]) == last {
		return nil
	}
	// Update the checksum for the zeroed field (RFC 1624) rather than
	// compute it anew, so a segment that arrived corrupted stays corrupted
	// and netstack still drops it.
	hi, lo := binary.BigEndian.Uint16(ts[4:]), binary.BigEndian.Uint16(ts[6:])
	binary.BigEndian.PutUint32(ts[4:], 0)
	if !pkt.RXChecksumValidated {
		th.SetChecksum(^checksum.Combine(checksum.Combine(^th.Checksum(), ^hi), ^lo))
	}
	return packetOf(frame, pkt)
}

// msSinceZero is the monotonic time t in netstack's timestamp units: whole
// milliseconds (internal/tcp/tcp.go:42).
func msSinceZero(t tcpip.MonotonicTime) int64 {
	return t.Sub(tcpip.MonotonicTime{}).Milliseconds()
}

// timestampOption returns the 8 bytes of th's TSval and TSecr, or nil.
func timestampOption(th header.TCP) []byte {
	off := int(th.DataOffset())
	if off < header.TCPMinimumSize || off > len(th) {
		return nil
	}
	opts := th[header.TCPMinimumSize:off]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case header.TCPOptionEOL:
			return nil
		case header.TCPOptionNOP:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return nil
		}
		if opts[i] == header.TCPOptionTS && opts[i+1] == header.TCPOptionTSLength {
			return opts[i+2 : i+10]
		}
		i += int(opts[i+1])
	}
	return nil
}

// outboundAddrs returns the source and destination of a packet netstack
// is sending.
func outboundAddrs(pkt *netstack.PacketBuffer) (src, dst tcpip.Address, ok bool) {
	nh := pkt.NetworkHeader().Slice()
	switch pkt.NetworkProtocolNumber {
	case header.IPv4ProtocolNumber:
		if len(nh) < header.IPv4MinimumSize {
			return src, dst, false
		}
		ip := header.IPv4(nh)
		return ip.SourceAddress(), ip.DestinationAddress(), true
	case header.IPv6ProtocolNumber:
		if len(nh) < header.IPv6MinimumSize {
			return src, dst, false
		}
		ip := header.IPv6(nh)
		return ip.SourceAddress(), ip.DestinationAddress(), true
	}
	return src, dst, false
}

// setTCPChecksum recomputes the checksum of th, the TCP header of pkt, as
// netstack computes it (tcp/connect.go buildTCPHdr).
func setTCPChecksum(pkt *netstack.PacketBuffer, th header.TCP, src, dst tcpip.Address) {
	n := pkt.Data().Size()
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(th)+n))
	if n > 0 {
		xsum = checksum.Combine(xsum, pkt.Data().Checksum())
	}
	th.SetChecksum(0)
	th.SetChecksum(^th.CalculateChecksum(xsum))
}
