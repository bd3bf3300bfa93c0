package stack

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ackSegment is a received segment of the stale-ACK tests.
type ackSegment struct {
	v6         bool
	remotePort uint16
	flags      header.TCPFlags
	ack        uint32
	window     uint16
	payload    int
}

var (
	ackLocal4, ackRemote4 = tcpip.AddrFrom4([4]byte{10, 1, 0, 1}), tcpip.AddrFrom4([4]byte{10, 1, 0, 2})
	ackLocal6             = tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 1})
	ackRemote6            = tcpip.AddrFrom16([16]byte{0: 0xfd, 15: 2})
)

// frame builds the segment as the link receives it: IP and TCP headers
// with a right checksum, and two bytes of link padding after it.
func (a ackSegment) frame() []byte {
	tcpLen := header.TCPMinimumSize + a.payload
	src, dst := ackRemote4, ackLocal4
	ipLen := header.IPv4MinimumSize
	if a.v6 {
		src, dst, ipLen = ackRemote6, ackLocal6, header.IPv6MinimumSize
	}
	b := make([]byte, ipLen+tcpLen+2)
	if a.v6 {
		header.IPv6(b).Encode(&header.IPv6Fields{PayloadLength: uint16(tcpLen), TransportProtocol: header.TCPProtocolNumber,
			HopLimit: 64, SrcAddr: src, DstAddr: dst})
	} else {
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(ipLen + tcpLen), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
			SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	th := header.TCP(b[ipLen : ipLen+tcpLen])
	th.Encode(&header.TCPFields{SrcPort: a.remotePort, DstPort: 80, SeqNum: 1000, AckNum: a.ack,
		DataOffset: header.TCPMinimumSize, Flags: a.flags, WindowSize: a.window})
	for i := range a.payload {
		th[header.TCPMinimumSize+i] = byte(i*7 + 3)
	}
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(tcpLen))
	th.SetChecksum(^checksum.Checksum(th, xsum))
	return b
}

// receive passes the segment through s and returns the frame netstack gets
// and whether s replaced it.
func receive(t *testing.T, s *staleACKs, a ackSegment) (header.TCP, bool) {
	t.Helper()
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(a.frame())})
	defer pkt.DecRef()
	proto := header.IPv4ProtocolNumber
	if a.v6 {
		proto = header.IPv6ProtocolNumber
	}
	in, ok := parseInboundTCP(proto, pkt)
	require.True(t, ok)
	got := pkt
	replaced := s.received(pkt, in)
	if replaced != nil {
		defer replaced.DecRef()
		got = replaced
	}
	frame := got.Data().AsRange().ToSlice()
	src, dst := ackRemote4, ackLocal4
	end := int(header.IPv4(frame).TotalLength())
	if a.v6 {
		src, dst = ackRemote6, ackLocal6
		end = header.IPv6MinimumSize + int(header.IPv6(frame).PayloadLength())
	}
	th := header.TCP(frame[in.ipLen:end])
	assert.True(t, th.IsChecksumValid(src, dst, checksum.Checksum(th.Payload(), 0), uint16(len(th.Payload()))),
		"the TCP checksum of the frame netstack gets")
	assert.Equal(t, a.payload, len(th.Payload()), "payload length")
	return th, replaced != nil
}

// TestStaleACKGetsNewerWindow: a segment acknowledging less than one
// received before it on the same connection reaches netstack with that
// one's window and a right checksum, its data intact; an equal or higher
// acknowledgment passes unchanged and sets the window the next stale one
// gets; other connections, IP versions and sequence wrap are kept apart.
func TestStaleACKGetsNewerWindow(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		s := newStaleACKs()
		ack := func(ack uint32, window uint16, payload int) (uint16, bool) {
			th, replaced := receive(t, s, ackSegment{v6: v6, remotePort: 5000, flags: header.TCPFlagAck, ack: ack, window: window, payload: payload})
			return th.WindowSize(), replaced
		}
		w, replaced := ack(10_000, 100, 0)
		assert.Equal(t, uint16(100), w)
		assert.False(t, replaced, "a connection's first ACK")
		w, replaced = ack(20_000, 50, 0)
		assert.Equal(t, uint16(50), w)
		assert.False(t, replaced, "a newer ACK")
		w, replaced = ack(15_000, 90, 1400)
		assert.Equal(t, uint16(50), w, "an older ACK, with data, gets the newer one's window")
		assert.True(t, replaced)
		w, replaced = ack(20_000, 70, 0)
		assert.Equal(t, uint16(70), w, "the same ACK with a window update passes")
		assert.False(t, replaced)
		w, _ = ack(19_999, 200, 0)
		assert.Equal(t, uint16(70), w, "the window of the latest segment that was not older")
		w, replaced = ack(19_000, 70, 0)
		assert.Equal(t, uint16(70), w)
		assert.False(t, replaced, "an older ACK with the same window needs no copy")

		// Another connection has its own state.
		th, replaced := receive(t, s, ackSegment{v6: v6, remotePort: 5001, flags: header.TCPFlagAck, ack: 1, window: 300})
		assert.Equal(t, uint16(300), th.WindowSize())
		assert.False(t, replaced, "another connection's first ACK")

		// Acknowledgment numbers wrap.
		wrap := func(ack uint32, window uint16) (uint16, bool) {
			th, replaced := receive(t, s, ackSegment{v6: v6, remotePort: 5002, flags: header.TCPFlagAck, ack: ack, window: window})
			return th.WindowSize(), replaced
		}
		wrap(0xffff_ff00, 10)
		w, replaced = wrap(0x100, 20)
		assert.Equal(t, uint16(20), w, "an ACK past the wrap is newer")
		assert.False(t, replaced)
		w, _ = wrap(0xffff_fff0, 99)
		assert.Equal(t, uint16(20), w, "an ACK before the wrap is older")
		assert.Equal(t, uint64(3), s.rewritten.Load(), "segments given another window")
	}
}

// TestStaleACKForgetsOnSYNAndRST: a SYN-ACK or a RST forgets the
// connection, so a new one on the same ports, whose acknowledgment numbers
// start anywhere, is not judged by the old one's.
func TestStaleACKForgetsOnSYNAndRST(t *testing.T) {
	for _, end := range []header.TCPFlags{header.TCPFlagSyn | header.TCPFlagAck, header.TCPFlagRst | header.TCPFlagAck, header.TCPFlagRst} {
		s := newStaleACKs()
		receive(t, s, ackSegment{remotePort: 5000, flags: header.TCPFlagAck, ack: 50_000, window: 10})
		receive(t, s, ackSegment{remotePort: 5000, flags: end, ack: 7, window: 20})
		th, replaced := receive(t, s, ackSegment{remotePort: 5000, flags: header.TCPFlagAck, ack: 8, window: 30})
		assert.Equal(t, uint16(30), th.WindowSize(), "after %v", end)
		assert.False(t, replaced, "after %v", end)
	}
}

// TestStaleACKsBounded: the table holds at most two generations of
// staleACKGeneration connections; one heard from in the last generation is
// kept, one silent for two is forgotten.
func TestStaleACKsBounded(t *testing.T) {
	s := newStaleACKs()
	seg := func(port uint16, ack uint32, window uint16) ackSegment {
		return ackSegment{remotePort: port, flags: header.TCPFlagAck, ack: ack, window: window}
	}
	receive(t, s, seg(1, 1000, 10))
	// Fill the first generation and start the second.
	for i := range staleACKGeneration {
		receive(t, s, seg(uint16(2+i%60000), uint32(i/60000+1), 1))
	}
	th, replaced := receive(t, s, seg(1, 500, 20))
	assert.Equal(t, uint16(10), th.WindowSize(), "a connection of the last generation is remembered")
	assert.True(t, replaced)
	for i := range 2 * staleACKGeneration {
		receive(t, s, ackSegment{v6: true, remotePort: uint16(1 + i%60000), flags: header.TCPFlagAck, ack: uint32(i/60000 + 1), window: 1})
	}
	s.mu.Lock()
	n := len(s.cur) + len(s.prev)
	s.mu.Unlock()
	assert.LessOrEqual(t, n, 2*staleACKGeneration, "connections held")
	th, replaced = receive(t, s, seg(1, 400, 30))
	assert.Equal(t, uint16(30), th.WindowSize(), "a connection silent for two generations is forgotten")
	assert.False(t, replaced)
}

// TestStaleACKKeepsCorruption: a corrupted segment whose window is
// replaced still fails its checksum, so netstack drops it as it would have.
func TestStaleACKKeepsCorruption(t *testing.T) {
	s := newStaleACKs()
	receive(t, s, ackSegment{remotePort: 5000, flags: header.TCPFlagAck, ack: 2000, window: 10})
	b := ackSegment{remotePort: 5000, flags: header.TCPFlagAck, ack: 1000, window: 99, payload: 100}.frame()
	b[len(b)-10] ^= 0x40 // a bit of the payload
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	defer pkt.DecRef()
	in, ok := parseInboundTCP(header.IPv4ProtocolNumber, pkt)
	require.True(t, ok)
	replaced := s.received(pkt, in)
	require.NotNil(t, replaced)
	defer replaced.DecRef()
	frame := replaced.Data().AsRange().ToSlice()
	th := header.TCP(frame[in.ipLen:int(header.IPv4(frame).TotalLength())])
	assert.Equal(t, uint16(10), th.WindowSize())
	assert.False(t, th.IsChecksumValid(ackRemote4, ackLocal4, checksum.Checksum(th.Payload(), 0), uint16(len(th.Payload()))),
		"the checksum of a corrupted segment")
}
