package tap

import (
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// tcpFrame builds an Ethernet frame holding an IPv4 TCP segment with
// payload, its TCP checksum left as Linux leaves a CHECKSUM_PARTIAL one:
// the pseudo-header's sum, not complemented.
func tcpFrame(payload []byte) (frame []byte, src, dst tcpip.Address) {
	src = tcpip.AddrFrom4([4]byte{10, 0, 0, 1})
	dst = tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
	frame = make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.TCPMinimumSize+len(payload))
	header.Ethernet(frame).Encode(&header.EthernetFields{Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
		SrcAddr: src, DstAddr: dst,
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	tcp := header.TCP(ip[header.IPv4MinimumSize:])
	tcp.Encode(&header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 7, DataOffset: header.TCPMinimumSize,
		Flags: header.TCPFlagAck | header.TCPFlagPsh, WindowSize: 1000})
	copy(tcp[header.TCPMinimumSize:], payload)
	tcp.SetChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp))))
	return frame, src, dst
}

func TestFinishChecksumMakesAValidSegment(t *testing.T) {
	for _, n := range []int{0, 1, 1460, 65000} {
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = byte(i*7 + 3)
		}
		frame, src, dst := tcpFrame(payload)
		tcp := header.TCP(frame[header.EthernetMinimumSize+header.IPv4MinimumSize:])
		if tcp.IsChecksumValid(src, dst, checksum.Checksum(payload, 0), uint16(n)) {
			t.Fatalf("payload %d: the partial checksum already verifies; the test proves nothing", n)
		}
		if !finishChecksum(frame, header.EthernetMinimumSize+header.IPv4MinimumSize, header.TCPChecksumOffset) {
			t.Fatalf("payload %d: finishChecksum refused a well-formed frame", n)
		}
		if !tcp.IsChecksumValid(src, dst, checksum.Checksum(payload, 0), uint16(n)) {
			t.Errorf("payload %d: checksum %#04x does not verify after finishing", n, tcp.Checksum())
		}
	}
}

func TestFinishChecksumRejectsOffsetsOutsideTheFrame(t *testing.T) {
	frame, _, _ := tcpFrame(nil)
	for _, c := range []struct{ start, off uint16 }{
		{uint16(len(frame)) + 1, 0},
		{uint16(len(frame)) - 1, 0},
		{34, 65535},
	} {
		if finishChecksum(frame, c.start, c.off) {
			t.Errorf("finishChecksum(start %d, offset %d) on a %d-byte frame = true", c.start, c.off, len(frame))
		}
	}
}

func TestVnetHdrEncodeDecode(t *testing.T) {
	h := vnetHdr{flags: vnetNeedsCsum, gsoType: vnetGSOTCPv6, hdrLen: 86, gsoSize: 1440, csumStart: 54, csumOffset: 16}
	var b [vnetHdrSize]byte
	h.encode(b[:])
	// Little-endian, in struct virtio_net_hdr's order.
	want := [vnetHdrSize]byte{1, 4, 86, 0, 0xa0, 0x05, 54, 0, 16, 0}
	if b != want {
		t.Errorf("encode = % x, want % x", b, want)
	}
	if got := decodeVnetHdr(b[:]); got != h {
		t.Errorf("decode(encode(h)) = %+v, want %+v", got, h)
	}
}

func TestVnetHdrFor(t *testing.T) {
	mk := func(size int, g netstack.GSO) *netstack.PacketBuffer {
		pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{
			ReserveHeaderBytes: header.EthernetMinimumSize + header.IPv4MinimumSize + header.TCPMinimumSize,
			Payload:            buffer.MakeWithData(make([]byte, size)),
		})
		pkt.TransportHeader().Push(header.TCPMinimumSize)
		pkt.NetworkHeader().Push(header.IPv4MinimumSize)
		pkt.LinkHeader().Push(header.EthernetMinimumSize)
		pkt.GSOOptions = g
		return pkt
	}
	hostGSO := netstack.GSO{Type: netstack.GSOTCPv4, NeedsCsum: true, CsumOffset: header.TCPChecksumOffset,
		MSS: 1460, L3HdrLen: header.IPv4MinimumSize}
	hdrs := uint16(header.EthernetMinimumSize + header.IPv4MinimumSize + header.TCPMinimumSize)
	for name, c := range map[string]struct {
		size int
		g    netstack.GSO
		want vnetHdr
	}{
		"no GSO: nothing to do": {size: 100, want: vnetHdr{}},
		"one MSS: checksum only": {size: 1460, g: hostGSO,
			want: vnetHdr{flags: vnetNeedsCsum, hdrLen: hdrs, csumStart: 34, csumOffset: 16}},
		"more than one MSS: cut": {size: 64000, g: hostGSO,
			want: vnetHdr{flags: vnetNeedsCsum, gsoType: vnetGSOTCPv4, hdrLen: hdrs, gsoSize: 1460, csumStart: 34, csumOffset: 16}},
	} {
		pkt := mk(c.size, c.g)
		if got := vnetHdrFor(pkt); got != c.want {
			t.Errorf("%s: vnetHdrFor = %+v, want %+v", name, got, c.want)
		}
		pkt.DecRef()
	}
}

// TestUnwrap: the device strips the header, finishes partial checksums
// unless netstack trusts the kernel's, and counts a runt or a header
// pointing outside its frame as an error.
func TestUnwrap(t *testing.T) {
	frame, src, dst := tcpFrame([]byte("hello"))
	hdr := vnetHdr{flags: vnetNeedsCsum, csumStart: 34, csumOffset: 16}
	d := &device{vnetHdr: true, finishRX: true, verifyRX: true}
	got, verdict := d.unwrap(wrapVnet(hdr, frame))
	ok := verdict == frameOK
	tcp := header.TCP(got[34:])
	if !ok || len(got) != len(frame) || !tcp.IsChecksumValid(src, dst, checksum.Checksum([]byte("hello"), 0), 5) {
		t.Errorf("unwrap with finishing: verdict %v, %d bytes, checksum valid %v", verdict, len(got), ok && tcp.IsChecksumValid(src, dst, checksum.Checksum([]byte("hello"), 0), 5))
	}
	trusting := &device{vnetHdr: true}
	if got, verdict := trusting.unwrap(wrapVnet(hdr, frame)); verdict != frameOK || header.TCP(got[34:]).Checksum() != header.TCP(frame[34:]).Checksum() {
		t.Errorf("unwrap trusting the kernel changed the checksum or refused the frame (verdict %v)", verdict)
	}
	if _, verdict := d.unwrap(make([]byte, vnetHdrSize-1)); verdict != frameRunt {
		t.Errorf("unwrap of a read shorter than the header: verdict %v, want a runt", verdict)
	}
	if _, verdict := d.unwrap(wrapVnet(vnetHdr{}, make([]byte, 13))); verdict != frameRunt {
		t.Errorf("unwrap of a 13-byte frame: verdict %v, want a runt", verdict)
	}
	if _, verdict := d.unwrap(wrapVnet(vnetHdr{flags: vnetNeedsCsum, csumStart: 60, csumOffset: 16}, frame)); verdict != frameRunt {
		t.Errorf("unwrap of a checksum offset outside the frame: verdict %v, want refused", verdict)
	}
	plain := &device{}
	if got, verdict := plain.unwrap(frame); verdict != frameOK || len(got) != len(frame) {
		t.Errorf("unwrap without headers: verdict %v, %d bytes, want the frame as it is", verdict, len(got))
	}
}

func wrapVnet(h vnetHdr, f []byte) []byte {
	b := make([]byte, vnetHdrSize+len(f))
	h.encode(b)
	copy(b[vnetHdrSize:], f)
	return b
}
