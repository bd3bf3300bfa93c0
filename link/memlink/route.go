package memlink

import (
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// route returns the port a frame from one port goes to, or everyone for
// a broadcast or multicast frame (every other port), or neither for a
// frame no port owns. See Network for the rules.
func (n *Network) route(rt *routes, from *Port, pkt *netstack.PacketBuffer) (to *Port, everyone bool) {
	if len(rt.ports) == 2 {
		// A cable: every frame reaches the other end, whatever its
		// destination, as it always has on a link.
		return n.onlyOther(rt, from), false
	}
	var scratch [header.IPv6MinimumSize]byte
	if n.opts.Ethernet {
		b := peek(pkt, pkt.LinkHeader().Slice(), header.EthernetMinimumSize, scratch[:])
		if b == nil {
			return nil, false
		}
		dst := tcpip.LinkAddress(b[:6])
		if dst[0]&1 != 0 {
			// Broadcast (ff:ff:ff:ff:ff:ff) and multicast (ARP, NDP).
			return nil, true
		}
		to = rt.byMAC[dst]
		if to == from {
			to = nil
		}
		return to, false
	}
	b := peek(pkt, pkt.NetworkHeader().Slice(), header.IPv4MinimumSize, scratch[:])
	if b == nil {
		return n.onlyOther(rt, from), false
	}
	var dst tcpip.Address
	switch header.IPVersion(b) {
	case header.IPv4Version:
		dst = header.IPv4(b).DestinationAddress()
		if dst == header.IPv4Broadcast || header.IsV4MulticastAddress(dst) {
			return nil, true
		}
	case header.IPv6Version:
		if b = peek(pkt, pkt.NetworkHeader().Slice(), header.IPv6MinimumSize, scratch[:]); b == nil {
			return n.onlyOther(rt, from), false
		}
		dst = header.IPv6(b).DestinationAddress()
		if header.IsV6MulticastAddress(dst) {
			return nil, true
		}
	default:
		return n.onlyOther(rt, from), false
	}
	if to = rt.byAddr[dst]; to != nil && to != from {
		return to, false
	}
	return n.onlyOther(rt, from), false
}

// onlyOther returns the one port other than from, if there is exactly one.
func (n *Network) onlyOther(rt *routes, from *Port) *Port {
	if len(rt.ports) != 2 {
		return nil
	}
	for _, p := range rt.ports {
		if p != from {
			return p
		}
	}
	return nil
}

// peek returns the first size bytes of the frame: hdr, the header the
// stack pushed at the front of the frame (the link header on an Ethernet
// network, the network header on a bare IP one), if it is long enough,
// else a copy gathered into scratch; nil if the frame is shorter.
func peek(pkt *netstack.PacketBuffer, hdr []byte, size int, scratch []byte) []byte {
	if len(hdr) >= size {
		return hdr[:size]
	}
	got := scratch[:0]
	for _, s := range pkt.AsSlices() {
		got = append(got, s[:min(len(s), size-len(got))]...)
		if len(got) == size {
			return got
		}
	}
	return nil
}
