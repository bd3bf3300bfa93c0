package stack

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// nicLink is the link endpoint New puts between netstack and the link of
// every NIC it is given, so that TAP, memlink and any library user's link
// get the same repairs of netstack's TCP: synFloodGuard bounds the SYNs
// waiting in netstack's listener queues, synStamps restamps retransmitted
// SYNs and SYN-ACKs, and staleACKs keeps a reordered ACK from widening the
// send window. The first two act only on segments with SYN or RST set;
// every received segment costs the parse of its IP header down to the TCP
// flags and staleACKs' look-up, every sent one a flag test.
type nicLink struct {
	nested.Endpoint
	nic    tcpip.NICID
	flood  *synFloodGuard
	stamps *synStamps
	acks   *staleACKs   // nil with TCPOptions.KeepStaleACKWindows
	hold   *receiveHold // nil without TCPOptions.HoldReceiveBufferDrops
}

var _ netstack.LinkEndpoint = (*nicLink)(nil)

func newNICLink(lower netstack.LinkEndpoint, nic tcpip.NICID, flood *synFloodGuard, stamps *synStamps, acks *staleACKs, hold *receiveHold) *nicLink {
	if lower.MTU() < holdMinMTU {
		hold = nil
	}
	l := &nicLink{nic: nic, flood: flood, stamps: stamps, acks: acks, hold: hold}
	l.Endpoint.Init(lower, l)
	return l
}

// DeliverNetworkPacket implements netstack.NetworkDispatcher: the lower
// link hands it every received frame. A SYN without ACK is admitted or
// dropped by the flood guard; a SYN-ACK or RST ends the handshake synStamps
// was tracking; an ACK older than one received before gets the window of
// that one; a data segment netstack refuses for want of buffer is held
// and delivered again (receiveHold).
func (l *nicLink) DeliverNetworkPacket(proto tcpip.NetworkProtocolNumber, pkt *netstack.PacketBuffer) {
	in, ok := parseInboundTCP(proto, pkt)
	if !ok {
		l.Endpoint.DeliverNetworkPacket(proto, pkt)
		return
	}
	if in.flags&(header.TCPFlagSyn|header.TCPFlagRst) != 0 {
		deliver, replaced := l.handshakeIn(pkt, in)
		if replaced != nil {
			defer replaced.DecRef()
			pkt = replaced
		}
		if !deliver {
			return
		}
		if l.hold != nil && !in.fragmented {
			l.hold.forget(pkt, in)
		}
	} else if l.hold != nil && !in.fragmented {
		l.hold.receive(l, proto, pkt, in)
		return
	}
	l.deliverTCP(proto, pkt, in)
}

// deliverTCP hands netstack a received TCP segment, past staleACKs.
func (l *nicLink) deliverTCP(proto tcpip.NetworkProtocolNumber, pkt *netstack.PacketBuffer, in inboundTCP) {
	if !in.fragmented && l.acks != nil {
		if replaced := l.acks.received(pkt, in); replaced != nil {
			defer replaced.DecRef()
			pkt = replaced
		}
	}
	l.Endpoint.DeliverNetworkPacket(proto, pkt)
}

// handshakeIn is DeliverNetworkPacket's slow path, for segments with SYN
// or RST set. It reports whether the frame goes on to netstack, and the
// frame to deliver instead, if any.
func (l *nicLink) handshakeIn(pkt *netstack.PacketBuffer, in inboundTCP) (deliver bool, replaced *netstack.PacketBuffer) {
	if in.fragmented {
		// No TCP sends a fragmented SYN, and a reassembled one would
		// reach the listener's queue behind the guard's back.
		if in.flags&header.TCPFlagSyn != 0 {
			l.flood.dropped.Add(1)
			return false, nil
		}
		return true, nil
	}
	switch {
	case in.flags&header.TCPFlagSyn != 0 && in.flags&header.TCPFlagAck == 0:
		return l.flood.admit(pkt, in), nil
	case in.flags&header.TCPFlagAck != 0:
		// A SYN-ACK, or a RST refusing our SYN: the handshake our SYN
		// started is over either way.
		return true, l.stamps.answered(pkt, in)
	}
	return true, nil
}

// WritePackets implements netstack.LinkWriter: netstack hands it every
// frame it sends. Outgoing SYNs and SYN-ACKs go past synStamps; SYN-ACKs
// and RSTs answer the SYNs the flood guard let in; any segment on a
// connection with held segments has them delivered again.
func (l *nicLink) WritePackets(pkts netstack.PacketBufferList) (int, tcpip.Error) {
	for _, pkt := range pkts.AsSlice() {
		if pkt.TransportProtocolNumber != header.TCPProtocolNumber {
			continue
		}
		th := header.TCP(pkt.TransportHeader().Slice())
		if len(th) < header.TCPMinimumSize {
			continue
		}
		if l.hold != nil && l.hold.holding() {
			l.hold.sent(pkt, th, l.netstackChecksums(pkt))
		}
		if th.Flags()&(header.TCPFlagSyn|header.TCPFlagRst) == 0 {
			continue
		}
		f := th.Flags()
		if f&header.TCPFlagSyn != 0 {
			l.stamps.sent(pkt, th, l.netstackChecksums(pkt))
		}
		if f&header.TCPFlagAck != 0 {
			l.flood.answered(th.SourcePort())
		}
	}
	return l.Endpoint.WritePackets(pkts)
}

// netstackChecksums reports whether netstack computed pkt's full TCP
// checksum, as it does when the link does not offload it
// (tcp/connect.go buildTCPHdr: RequiresTXTransportChecksum) and the packet
// is no GSO packet whose checksum the link finishes (NeedsCsum, host
// GSO). With netstack's own segmentation (gVisor GSO, as memlink offers by
// default) netstack cuts the segments itself and computes each one's
// checksum (endpoint.go initGSO: NeedsCsum false; connect.go buildTCPHdr).
func (l *nicLink) netstackChecksums(pkt *netstack.PacketBuffer) bool {
	return l.Capabilities()&netstack.CapabilityTXChecksumOffload == 0 &&
		(pkt.GSOOptions.Type == netstack.GSONone || !pkt.GSOOptions.NeedsCsum)
}

// inboundTCP locates the TCP header of a received frame.
type inboundTCP struct {
	v6 bool
	// ipLen is the length of the IP header and its IPv6 extension
	// headers: the TCP header starts there.
	ipLen int
	flags header.TCPFlags
	// fragmented is set for the first fragment of a fragmented
	// datagram, or one too short to hold the TCP flags.
	fragmented bool
}

// parseInboundTCP reads a received frame's IP header down to the TCP
// flags. It reports false for anything but the first fragment of a TCP
// segment, and for frames netstack will drop as malformed.
func parseInboundTCP(proto tcpip.NetworkProtocolNumber, pkt *netstack.PacketBuffer) (inboundTCP, bool) {
	// One pull-up covers the headers of an IPv4 frame without options. It
	// must stay within the headers: a pull-up that reaches into the next
	// view copies that view whole (buffer.Buffer.PullUp), and netstack's
	// own headers are one view, its payload another.
	b, ok := pkt.Data().PullUp(min(pkt.Data().Size(), inboundPrefix))
	if !ok || len(b) == 0 {
		return inboundTCP{}, false
	}
	switch v := header.IPVersion(b); {
	case v == header.IPv4Version && (proto == header.IPv4ProtocolNumber || proto == 0):
		return parseInboundTCP4(pkt, b)
	case v == header.IPv6Version && (proto == header.IPv6ProtocolNumber || proto == 0):
		return parseInboundTCP6(pkt, b)
	}
	return inboundTCP{}, false
}

// inboundPrefix is the length of an IPv4 header and a TCP header up to its
// flags.
const inboundPrefix = header.IPv4MinimumSize + 14

// pullUp returns the first n bytes of pkt's data, from b if it holds them.
func pullUp(pkt *netstack.PacketBuffer, b []byte, n int) ([]byte, bool) {
	if n <= len(b) {
		return b, true
	}
	return pkt.Data().PullUp(n)
}

func parseInboundTCP4(pkt *netstack.PacketBuffer, b []byte) (inboundTCP, bool) {
	if len(b) < header.IPv4MinimumSize || b[9] != uint8(header.TCPProtocolNumber) {
		return inboundTCP{}, false
	}
	ip := header.IPv4(b)
	ipLen := int(ip.HeaderLength())
	if ipLen < header.IPv4MinimumSize || ip.FragmentOffset() != 0 {
		return inboundTCP{}, false
	}
	in := inboundTCP{ipLen: ipLen, fragmented: ip.Flags()&header.IPv4FlagMoreFragments != 0}
	return in.readFlags(pkt, b)
}

func parseInboundTCP6(pkt *netstack.PacketBuffer, b []byte) (inboundTCP, bool) {
	b, ok := pullUp(pkt, b, header.IPv6MinimumSize)
	if !ok {
		return inboundTCP{}, false
	}
	in := inboundTCP{v6: true, ipLen: header.IPv6MinimumSize}
	next := b[6]
	// Walk the extension headers netstack walks (ipv6.go,
	// processExtensionHeaders): each is at least 8 bytes, so the walk ends
	// within the frame.
	for next != uint8(header.TCPProtocolNumber) {
		switch header.IPv6ExtensionHeaderIdentifier(next) {
		case header.IPv6HopByHopOptionsExtHdrIdentifier, header.IPv6RoutingExtHdrIdentifier,
			header.IPv6DestinationOptionsExtHdrIdentifier:
			b, ok := pullUp(pkt, b, in.ipLen+2)
			if !ok {
				return inboundTCP{}, false
			}
			next = b[in.ipLen]
			in.ipLen += (int(b[in.ipLen+1]) + 1) * 8
		case header.IPv6FragmentExtHdrIdentifier:
			b, ok := pullUp(pkt, b, in.ipLen+8)
			if !ok {
				return inboundTCP{}, false
			}
			frag := binary.BigEndian.Uint16(b[in.ipLen+2:])
			if frag&^7 != 0 {
				return inboundTCP{}, false // not the first fragment
			}
			in.fragmented = in.fragmented || frag&1 != 0
			next = b[in.ipLen]
			in.ipLen += 8
		default:
			return inboundTCP{}, false
		}
	}
	return in.readFlags(pkt, b)
}

func (in inboundTCP) readFlags(pkt *netstack.PacketBuffer, b []byte) (inboundTCP, bool) {
	b, ok := pullUp(pkt, b, in.ipLen+14)
	if !ok {
		if !in.fragmented {
			return inboundTCP{}, false // truncated: netstack drops it
		}
		// A first fragment that hides the TCP header (RFC 1858's tiny
		// fragment): treated as a SYN, so it is dropped.
		in.flags = header.TCPFlagSyn
		return in, true
	}
	in.flags = header.TCPFlags(b[in.ipLen+13])
	return in, true
}

// inboundAddrs returns the source and destination addresses of a frame
// parseInboundTCP accepted.
func inboundAddrs(pkt *netstack.PacketBuffer, in inboundTCP) (src, dst tcpip.Address) {
	if in.v6 {
		b, _ := pkt.Data().PullUp(header.IPv6MinimumSize)
		ip := header.IPv6(b)
		return ip.SourceAddress(), ip.DestinationAddress()
	}
	b, _ := pkt.Data().PullUp(header.IPv4MinimumSize)
	ip := header.IPv4(b)
	return ip.SourceAddress(), ip.DestinationAddress()
}
