package testutil

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// Injector is a link-edge fake: a LinkEndpoint wrapper that hands the stack
// above it frames no well-behaved peer would send (a SYN flood, truncated
// or corrupt packets, packets for other hosts), as if they came from the
// wire, and lets a test watch, or drop, every frame the stack writes.
// Everything else passes through to the link it wraps.
type Injector struct {
	nested.Endpoint

	mu     sync.Mutex
	onSend func(frame []byte) (keep bool)
}

var _ netstack.LinkEndpoint = (*Injector)(nil)

// NewInjector wraps lower.
func NewInjector(lower netstack.LinkEndpoint) *Injector {
	i := &Injector{}
	i.Endpoint.Init(lower, &i.Endpoint)
	return i
}

// Inject delivers frame to the stack as a frame arriving from the link.
// The network protocol is read from the IP version nibble (IPv4 or IPv6);
// use InjectProto for anything else. It returns when the stack's network
// layer has handled the frame (TCP may still be processing it).
func (i *Injector) Inject(frame []byte) {
	proto := header.IPv4ProtocolNumber
	if len(frame) > 0 && header.IPVersion(frame) == header.IPv6Version {
		proto = header.IPv6ProtocolNumber
	}
	i.InjectProto(proto, frame)
}

// InjectProto is Inject with an explicit network protocol.
func (i *Injector) InjectProto(proto tcpip.NetworkProtocolNumber, frame []byte) {
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{
		Payload: buffer.MakeWithData(append([]byte(nil), frame...)),
	})
	defer pkt.DecRef()
	i.Endpoint.DeliverNetworkPacket(proto, pkt)
}

// OnSend sets a function called with a copy of every frame the stack
// writes to the link, before it is written: a frame for which it returns
// false is dropped (the stack is told it was sent). nil stops watching. f
// runs on the stack's goroutines and must not block.
func (i *Injector) OnSend(f func(frame []byte) (keep bool)) {
	i.mu.Lock()
	i.onSend = f
	i.mu.Unlock()
}

// WritePackets implements netstack.LinkEndpoint: it shows each frame to
// the OnSend function and passes on those it keeps.
func (i *Injector) WritePackets(pkts netstack.PacketBufferList) (int, tcpip.Error) {
	i.mu.Lock()
	f := i.onSend
	i.mu.Unlock()
	if f == nil {
		return i.Endpoint.WritePackets(pkts)
	}
	var keep netstack.PacketBufferList
	for _, pkt := range pkts.AsSlice() {
		b := pkt.ToBuffer()
		if f(b.Flatten()) {
			keep.PushBack(pkt.IncRef())
		}
		b.Release()
	}
	defer keep.DecRef()
	if keep.Len() == 0 {
		return pkts.Len(), nil
	}
	n, err := i.Endpoint.WritePackets(keep)
	if err != nil {
		return n, err
	}
	return pkts.Len(), nil
}

// NewInjectedPair is NewPair with stack A's link wrapped in an Injector,
// which it returns.
func NewInjectedPair(tb testing.TB, lo memlink.Options, tcp stack.TCPOptions) (*Pair, *Injector) {
	tb.Helper()
	var inj *Injector
	p := newPair(tb, lo, tcp, func(l netstack.LinkEndpoint) netstack.LinkEndpoint {
		inj = NewInjector(l)
		return inj
	})
	return p, inj
}

// Segment describes one TCP segment for TCPFrame.
type Segment struct {
	Src, Dst netip.AddrPort  // the addresses, both IPv4 or both IPv6
	Seq, Ack uint32          // the sequence and acknowledgment numbers
	Flags    header.TCPFlags // header.TCPFlagSyn, TCPFlagAck, ... or-ed
	Window   uint16          // the window field as sent, unscaled
	// Options are raw TCP options; TCPFrame pads them with zeros (end of
	// option list) to a multiple of 4 bytes.
	Options []byte
	// Payload is the segment's data.
	Payload []byte
	// TTL is the IPv4 TTL or IPv6 hop limit; 0 means 64.
	TTL uint8
}

// TCPFrame returns s as a bare IP packet (IPv4 or IPv6 by the family of
// s.Src, which s.Dst must share) with correct lengths and checksums.
func TCPFrame(s Segment) []byte {
	opts := append([]byte(nil), s.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	tcpLen := header.TCPMinimumSize + len(opts) + len(s.Payload)
	ttl := s.TTL
	if ttl == 0 {
		ttl = 64
	}
	src := tcpip.AddrFromSlice(s.Src.Addr().AsSlice())
	dst := tcpip.AddrFromSlice(s.Dst.Addr().AsSlice())
	var ipHdr []byte
	if s.Src.Addr().Is4() {
		ipHdr = make([]byte, header.IPv4MinimumSize)
		ip := header.IPv4(ipHdr)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(header.IPv4MinimumSize + tcpLen),
			TTL:         ttl,
			Protocol:    uint8(header.TCPProtocolNumber),
			SrcAddr:     src,
			DstAddr:     dst,
		})
		ip.SetChecksum(^ip.CalculateChecksum())
	} else {
		ipHdr = make([]byte, header.IPv6MinimumSize)
		header.IPv6(ipHdr).Encode(&header.IPv6Fields{
			PayloadLength:     uint16(tcpLen),
			TransportProtocol: header.TCPProtocolNumber,
			HopLimit:          ttl,
			SrcAddr:           src,
			DstAddr:           dst,
		})
	}
	seg := make([]byte, tcpLen)
	t := header.TCP(seg)
	t.Encode(&header.TCPFields{
		SrcPort:    s.Src.Port(),
		DstPort:    s.Dst.Port(),
		SeqNum:     s.Seq,
		AckNum:     s.Ack,
		DataOffset: uint8(header.TCPMinimumSize + len(opts)),
		Flags:      s.Flags,
		WindowSize: s.Window,
	})
	copy(seg[header.TCPMinimumSize:], opts)
	copy(seg[header.TCPMinimumSize+len(opts):], s.Payload)
	SetTransportChecksum(header.TCPProtocolNumber, src, dst, seg)
	return append(ipHdr, seg...)
}

// SetTransportChecksum computes the checksum of a TCP, UDP or ICMPv6
// segment seg sent from src to dst (the pseudo-header's addresses) and
// writes it into seg. ICMPv4 has no pseudo-header: pass it with
// header.ICMPv4ProtocolNumber and any addresses.
func SetTransportChecksum(proto tcpip.TransportProtocolNumber, src, dst tcpip.Address, seg []byte) {
	var off int
	switch proto {
	case header.TCPProtocolNumber:
		off = header.TCPChecksumOffset
	case header.UDPProtocolNumber:
		off = 6
	case header.ICMPv4ProtocolNumber, header.ICMPv6ProtocolNumber:
		off = 2
	default:
		return
	}
	if len(seg) < off+2 {
		return
	}
	binary.BigEndian.PutUint16(seg[off:], 0)
	var initial uint16
	if proto != header.ICMPv4ProtocolNumber {
		initial = header.PseudoHeaderChecksum(proto, src, dst, uint16(len(seg)))
	}
	binary.BigEndian.PutUint16(seg[off:], ^checksum.Checksum(seg, initial))
}
