package tap

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// The virtio-net header (linux/virtio_net.h, struct virtio_net_hdr) that a
// TAP device opened with IFF_VNET_HDR puts before every frame in both
// directions. It is how the kernel and the stack hand each other TCP
// segments larger than the MTU (segmentation offload) and frames whose
// checksum is still to be finished. Its fields are little-endian (virtio
// 1.0; TUNSETVNETLE is the default on little-endian machines, which are
// the only ones Go's netstack runs on here).
const (
	vnetHdrSize = 10

	vnetNeedsCsum = 1 // flags: checksum from CsumStart to the end is still to be done
	vnetDataValid = 2 // flags: the sender has checked the checksum

	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOTCPv6 = 4
	vnetGSOECN   = 0x80
)

// gsoMaxSize is the largest segment netstack hands the device. netstack
// keeps a segment's payload to GSOMaxSize less 61 bytes; a TCP header with
// the most options (60) and an IPv4 header with options (60) must still
// fit IPv4's 16-bit total length.
const gsoMaxSize = 1<<16 - 1 - header.IPv4MaximumHeaderSize

// vnetHdr is the decoded header.
type vnetHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func (h *vnetHdr) encode(b []byte) {
	b[0] = h.flags
	b[1] = h.gsoType
	le := binary.LittleEndian
	le.PutUint16(b[2:], h.hdrLen)
	le.PutUint16(b[4:], h.gsoSize)
	le.PutUint16(b[6:], h.csumStart)
	le.PutUint16(b[8:], h.csumOffset)
}

func decodeVnetHdr(b []byte) vnetHdr {
	le := binary.LittleEndian
	return vnetHdr{
		flags: b[0], gsoType: b[1],
		hdrLen: le.Uint16(b[2:]), gsoSize: le.Uint16(b[4:]),
		csumStart: le.Uint16(b[6:]), csumOffset: le.Uint16(b[8:]),
	}
}

// vnetHdrFor says what the kernel must do with pkt, an Ethernet frame:
// nothing for a frame netstack finished itself; for a TCP segment of a
// connection on a host-GSO route, finish its checksum (netstack left the
// pseudo-header's sum in it, CHECKSUM_PARTIAL in Linux's terms) and, if it
// carries more than one MSS, cut it into MSS-sized segments.
func vnetHdrFor(pkt *netstack.PacketBuffer) vnetHdr {
	g := pkt.GSOOptions
	var h vnetHdr
	if g.Type != netstack.GSOTCPv4 && g.Type != netstack.GSOTCPv6 {
		return h
	}
	h.hdrLen = uint16(pkt.HeaderSize())
	if g.NeedsCsum {
		h.flags = vnetNeedsCsum
		h.csumStart = header.EthernetMinimumSize + g.L3HdrLen
		h.csumOffset = g.CsumOffset
	}
	if pkt.Data().Size() > int(g.MSS) {
		h.gsoType = vnetGSOTCPv4
		if g.Type == netstack.GSOTCPv6 {
			h.gsoType = vnetGSOTCPv6
		}
		h.gsoSize = g.MSS
	}
	return h
}

// finishChecksum does for frame what a NIC does for a CHECKSUM_PARTIAL
// packet: the ones'-complement sum from csumStart to the end (the field at
// csumStart+csumOffset holds the pseudo-header's sum and is part of it),
// complemented, goes into that field. It reports false for offsets outside
// the frame, which only a broken sender produces.
func finishChecksum(frame []byte, csumStart, csumOffset uint16) bool {
	start, field := int(csumStart), int(csumStart)+int(csumOffset)
	if start > len(frame) || field+2 > len(frame) {
		return false
	}
	sum := ^checksum.Checksum(frame[start:], 0)
	if sum == 0 {
		// The sum of a UDP datagram is never sent as zero (RFC 768),
		// and 0xffff is the same number to ones'-complement arithmetic.
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(frame[field:], sum)
	return true
}
