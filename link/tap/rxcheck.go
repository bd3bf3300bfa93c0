package tap

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// With the virtio-net header on, the kernel tells the link which frames
// need no checking: those it made itself leave their checksum to the stack
// (NEEDS_CSUM, finished by finishChecksum, right by construction) or come
// marked as checked (DATA_VALID). Netstack cannot be told that per frame:
// its NIC sets every packet's RXChecksumValidated from the link's
// capabilities and overwrites whatever the link put there
// (TestNetstackIgnoresPerPacketChecksumFlag fails when that changes). So the
// device claims CapabilityRXChecksumOffload and verifies here the frames
// the kernel did not vouch for, which netstack would otherwise have
// verified: each 64 KiB segment the kernel sends is summed once (to finish
// it) instead of twice.

// checksumsValid reports whether frame, an Ethernet frame the kernel did not
// mark, has the checksums netstack skips under RX checksum offload: the
// IPv4 header's, and TCP's and UDP's over their pseudo-header. Frames of
// other protocols, and ones too short or malformed to find a checksum in,
// pass: netstack's own parsing drops the malformed ones, and it verifies
// ICMP whatever the capability. A fragment's transport checksum covers the
// whole datagram and cannot be checked from one fragment; only its IPv4
// header is.
func checksumsValid(frame []byte) bool {
	if len(frame) < header.EthernetMinimumSize {
		return true
	}
	pkt := frame[header.EthernetMinimumSize:]
	switch tcpip.NetworkProtocolNumber(binary.BigEndian.Uint16(frame[12:14])) {
	case header.IPv4ProtocolNumber:
		return ipv4ChecksumsValid(pkt)
	case header.IPv6ProtocolNumber:
		return ipv6ChecksumsValid(pkt)
	}
	return true
}

func ipv4ChecksumsValid(pkt []byte) bool {
	if len(pkt) < header.IPv4MinimumSize {
		return true
	}
	h := header.IPv4(pkt)
	hlen, total := int(h.HeaderLength()), int(h.TotalLength())
	if hlen < header.IPv4MinimumSize || hlen > total || total > len(pkt) {
		return true // malformed: netstack drops it
	}
	if !h.IsChecksumValid() {
		return false
	}
	if h.More() || h.FragmentOffset() != 0 {
		return true
	}
	return transportChecksumValid(tcpip.TransportProtocolNumber(h.Protocol()),
		h.SourceAddress(), h.DestinationAddress(), pkt[hlen:total])
}

func ipv6ChecksumsValid(pkt []byte) bool {
	if len(pkt) < header.IPv6MinimumSize {
		return true
	}
	h := header.IPv6(pkt)
	end := header.IPv6MinimumSize + int(h.PayloadLength())
	if end > len(pkt) {
		return true
	}
	next, off := h.NextHeader(), header.IPv6MinimumSize
	// Walk the extension headers that carry their length the common way;
	// a fragment, or a header of another shape, ends the walk unchecked.
	for next == uint8(header.IPv6HopByHopOptionsExtHdrIdentifier) ||
		next == uint8(header.IPv6RoutingExtHdrIdentifier) ||
		next == uint8(header.IPv6DestinationOptionsExtHdrIdentifier) {
		if off+2 > end {
			return true
		}
		next, off = pkt[off], off+(int(pkt[off+1])+1)*8
	}
	if off > end {
		return true
	}
	return transportChecksumValid(tcpip.TransportProtocolNumber(next),
		h.SourceAddress(), h.DestinationAddress(), pkt[off:end])
}

// transportChecksumValid checks seg, a TCP segment or UDP datagram, against
// its pseudo-header. A UDP checksum of zero is "none" (IPv4 only; netstack
// refuses it on IPv6 itself).
func transportChecksumValid(proto tcpip.TransportProtocolNumber, src, dst tcpip.Address, seg []byte) bool {
	switch proto {
	case header.TCPProtocolNumber:
		if len(seg) < header.TCPMinimumSize {
			return true
		}
	case header.UDPProtocolNumber:
		if len(seg) < header.UDPMinimumSize || header.UDP(seg).Checksum() == 0 {
			return true
		}
	default:
		return true
	}
	sum := header.PseudoHeaderChecksum(proto, src, dst, uint16(len(seg)))
	return checksum.Checksum(seg, sum) == 0xffff
}
