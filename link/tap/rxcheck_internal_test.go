package tap

import (
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// finishedTCPv4 is tcpFrame with its checksum finished: a valid frame.
func finishedTCPv4(payload []byte) []byte {
	f, _, _ := tcpFrame(payload)
	finishChecksum(f, header.EthernetMinimumSize+header.IPv4MinimumSize, 16)
	return f
}

// udpV4 is a valid Ethernet frame holding an IPv4 UDP datagram; with
// noSum its checksum is zero ("none").
func udpV4(payload []byte, noSum bool) []byte {
	src, dst := tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
	f := make([]byte, header.EthernetMinimumSize+header.IPv4MinimumSize+header.UDPMinimumSize+len(payload))
	header.Ethernet(f).Encode(&header.EthernetFields{Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(ip)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber), SrcAddr: src, DstAddr: dst})
	ip.SetChecksum(^ip.CalculateChecksum())
	u := header.UDP(ip[header.IPv4MinimumSize:])
	u.Encode(&header.UDPFields{SrcPort: 1, DstPort: 2, Length: uint16(len(u))})
	copy(u[header.UDPMinimumSize:], payload)
	if !noSum {
		sum := header.PseudoHeaderChecksum(header.UDPProtocolNumber, src, dst, uint16(len(u)))
		u.SetChecksum(^checksum.Checksum(u, sum))
	}
	return f
}

// tcpV6 is a valid Ethernet frame holding an IPv6 TCP segment, after a
// hop-by-hop options header when hopByHop.
func tcpV6(payload []byte, hopByHop bool) []byte {
	src := tcpip.AddrFrom16([16]byte{0xfd, 15: 1})
	dst := tcpip.AddrFrom16([16]byte{0xfd, 15: 2})
	ext := 0
	if hopByHop {
		ext = 8
	}
	f := make([]byte, header.EthernetMinimumSize+header.IPv6MinimumSize+ext+header.TCPMinimumSize+len(payload))
	header.Ethernet(f).Encode(&header.EthernetFields{Type: header.IPv6ProtocolNumber})
	ip := header.IPv6(f[header.EthernetMinimumSize:])
	next := header.TCPProtocolNumber
	if hopByHop {
		next = tcpip.TransportProtocolNumber(header.IPv6HopByHopOptionsExtHdrIdentifier)
	}
	ip.Encode(&header.IPv6Fields{PayloadLength: uint16(len(ip) - header.IPv6MinimumSize), TransportProtocol: next, HopLimit: 64, SrcAddr: src, DstAddr: dst})
	if hopByHop {
		// Next header TCP, length 0 (8 bytes), then a PadN option of 4.
		copy(ip[header.IPv6MinimumSize:], []byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0})
	}
	tcp := header.TCP(ip[header.IPv6MinimumSize+ext:])
	tcp.Encode(&header.TCPFields{SrcPort: 1, DstPort: 2, SeqNum: 7, DataOffset: header.TCPMinimumSize, Flags: header.TCPFlagAck, WindowSize: 1000})
	copy(tcp[header.TCPMinimumSize:], payload)
	sum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(tcp)))
	tcp.SetChecksum(^checksum.Checksum(tcp, sum))
	return f
}

// flip returns a copy of f with one bit of byte i flipped.
func flip(f []byte, i int) []byte {
	g := append([]byte(nil), f...)
	g[i] ^= 0x10
	return g
}

func TestChecksumsValid(t *testing.T) {
	const eth, v4, v6 = header.EthernetMinimumSize, header.IPv4MinimumSize, header.IPv6MinimumSize
	payload := []byte("the kernel did not vouch for this frame")
	fragment := flip(finishedTCPv4(payload), len(finishedTCPv4(payload))-1)
	{
		// More fragments: the TCP checksum covers a whole datagram.
		ip := header.IPv4(fragment[eth:])
		ip.SetFlagsFragmentOffset(header.IPv4FlagMoreFragments, 0)
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
	}
	arp := make([]byte, eth+header.ARPSize)
	header.Ethernet(arp).Encode(&header.EthernetFields{Type: header.ARPProtocolNumber})
	for _, c := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		{"IPv4 TCP", finishedTCPv4(payload), true},
		{"IPv4 TCP, a payload bit flipped", flip(finishedTCPv4(payload), eth+v4+header.TCPMinimumSize+3), false},
		{"IPv4 TCP, a port bit flipped", flip(finishedTCPv4(payload), eth+v4+1), false},
		{"IPv4 header bit flipped", flip(finishedTCPv4(payload), eth+8), false},
		{"IPv4 TCP as a kernel leaves it partial", func() []byte { f, _, _ := tcpFrame(payload); return f }(), false},
		{"IPv4 UDP", udpV4(payload, false), true},
		{"IPv4 UDP, a payload bit flipped", flip(udpV4(payload, false), eth+v4+header.UDPMinimumSize), false},
		{"IPv4 UDP without a checksum", flip(udpV4(payload, true), eth+v4+header.UDPMinimumSize), true},
		{"IPv6 TCP", tcpV6(payload, false), true},
		{"IPv6 TCP, a payload bit flipped", flip(tcpV6(payload, false), eth+v6+header.TCPMinimumSize+5), false},
		{"IPv6 TCP after hop-by-hop options", tcpV6(payload, true), true},
		{"IPv6 TCP after hop-by-hop options, bit flipped", flip(tcpV6(payload, true), eth+v6+8+header.TCPMinimumSize), false},
		{"IPv4 fragment: header checked only", fragment, true},
		{"ARP", arp, true},
		{"truncated IPv4", finishedTCPv4(payload)[:eth+10], true},
	} {
		if got := checksumsValid(c.frame); got != c.want {
			t.Errorf("%s: checksumsValid = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestUnwrapVerifiesUnmarkedFrames: with offload on, a frame the kernel
// neither left to the stack nor marked as checked is verified by the link,
// and one with a bad checksum is refused as such; a marked one is not
// checked. A device opened so tells netstack it need not check.
func TestUnwrapVerifiesUnmarkedFrames(t *testing.T) {
	d := &device{vnetHdr: true, finishRX: true, verifyRX: true}
	good := finishedTCPv4([]byte("payload"))
	bad := flip(good, len(good)-1)
	if _, v := d.unwrap(wrapVnet(vnetHdr{}, good)); v != frameOK {
		t.Errorf("a valid unmarked frame: verdict %v", v)
	}
	if _, v := d.unwrap(wrapVnet(vnetHdr{}, bad)); v != frameBadChecksum {
		t.Errorf("a corrupted unmarked frame: verdict %v, want frameBadChecksum", v)
	}
	if _, v := d.unwrap(wrapVnet(vnetHdr{flags: vnetDataValid}, bad)); v != frameOK {
		t.Errorf("a frame marked DATA_VALID: verdict %v, want it passed as the kernel vouches", v)
	}
	if _, v := (&device{vnetHdr: true}).unwrap(wrapVnet(vnetHdr{}, bad)); v != frameOK {
		t.Errorf("ChecksumOffload (no verifyRX): verdict %v, want it passed", v)
	}
}

// TestNetstackIgnoresPerPacketChecksumFlag is a canary: netstack's NIC
// sets each received packet's RXChecksumValidated from the link's
// capabilities, overwriting what the link set, so the tap device must
// claim CapabilityRXChecksumOffload and check unmarked frames itself
// (rxcheck.go). If this fails, netstack honours the per-packet flag: the
// device can set it on frames the kernel vouched for and leave the rest to
// netstack.
func TestNetstackIgnoresPerPacketChecksumFlag(t *testing.T) {
	s := netstack.New(netstack.Options{
		NetworkProtocols:   []netstack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []netstack.TransportProtocolFactory{tcp.NewProtocol},
	})
	defer s.Destroy()
	link := channel.New(4, 1500, "")
	defer link.Close()
	if err := s.CreateNIC(1, link); err != nil {
		t.Fatalf("CreateNIC: %v", err)
	}
	frame, _, dst := tcpFrame([]byte("wrong sum")) // TCP checksum left partial: wrong
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: dst.WithPrefix()}, netstack.AddressProperties{}); err != nil {
		t.Fatalf("AddProtocolAddress: %v", err)
	}
	// A listener on the segment's port, so that it reaches the dispatcher
	// that counts checksum errors.
	ep, terr := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &waiter.Queue{})
	if terr != nil {
		t.Fatalf("NewEndpoint: %v", terr)
	}
	defer ep.Close()
	if terr := ep.Bind(tcpip.FullAddress{Port: 2}); terr != nil {
		t.Fatalf("Bind: %v", terr)
	}
	if terr := ep.Listen(1); terr != nil {
		t.Fatalf("Listen: %v", terr)
	}
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{
		Payload: buffer.MakeWithData(frame[header.EthernetMinimumSize:])})
	pkt.RXChecksumValidated = true
	link.InjectInbound(ipv4.ProtocolNumber, pkt)
	pkt.DecRef()
	if n := s.Stats().TCP.ChecksumErrors.Value(); n != 1 {
		t.Errorf("netstack counted %d TCP checksum errors for a segment with a wrong checksum flagged "+
			"RXChecksumValidated on a link without RX checksum offload, want 1: netstack now honours "+
			"the per-packet flag, so link/tap can set it instead of claiming the capability", n)
	}
}

// BenchmarkReceiveChecksums: what the link spends on a 64 KiB segment
// from the kernel, finishing one left to the stack (NEEDS_CSUM, as every
// segment of a local kernel sender is) and verifying an unmarked one (as
// netstack did, once more, after the finish before RX checksum offload
// was claimed).
func BenchmarkReceiveChecksums(b *testing.B) {
	payload := make([]byte, 65000)
	for i := range payload {
		payload[i] = byte(i)
	}
	partial, _, _ := tcpFrame(payload)
	finished := finishedTCPv4(payload)
	b.Run("finish", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for i := 0; i < b.N; i++ {
			finishChecksum(partial, header.EthernetMinimumSize+header.IPv4MinimumSize, 16)
		}
	})
	b.Run("verify", func(b *testing.B) {
		b.SetBytes(int64(len(payload)))
		for i := 0; i < b.N; i++ {
			if !checksumsValid(finished) {
				b.Fatal("invalid")
			}
		}
	})
}
