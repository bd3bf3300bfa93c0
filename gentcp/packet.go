package gentcp

import (
	"bytes"
	"encoding/binary"
)

// Framing for {packet,_}: pure functions over bytes, with no endpoint, so
// they can be tested and fuzzed alone. They reproduce OTP's inet driver
// (inet_drv.c, packet_parser.c) for the types gen_tcp supports.

// maxImplicitPacket bounds a packet when packet_size is 0 ("no limit" in
// OTP). OTP would try to buffer a 4 GiB packet that a {packet,4} header
// claims; gentcp reports emsgsize above 64 MiB instead, the same limit OTP
// puts on recv(Length), so a hostile peer cannot make a socket allocate
// without bound.
const maxImplicitPacket = 64 << 20

// headerLen is the length of the length header of t (0 for raw and line).
func (t packetType) headerLen() int {
	switch t {
	case packet1, packet2, packet4:
		return int(t)
	}
	return 0
}

// encodeHeader returns the length header for a payload of n bytes. Like
// OTP it does not refuse an oversize payload for {packet,1} or {packet,2}:
// the length is truncated (n mod 256 or 65536) and the send succeeds, which
// corrupts the stream (reference §7, packet1_oversize_send).
func encodeHeader(dst []byte, t packetType, n int) []byte {
	switch t {
	case packet1:
		return append(dst, byte(n))
	case packet2:
		return binary.BigEndian.AppendUint16(dst, uint16(n))
	case packet4:
		return binary.BigEndian.AppendUint32(dst, uint32(n))
	}
	return dst
}

// framing holds what decodePacket needs to know about the socket.
type framing struct {
	packet     packetType
	packetSize int  // 0: no limit (see maxImplicitPacket)
	delimiter  byte // for line
	buffer     int  // the buffer option: raw chunk and line split size
	// httpHeaders: an HTTP type reads header lines (sockOpts.httpHeaders).
	httpHeaders bool
}

// framing is what decodePacket needs of the socket's options.
func (o *sockOpts) framing() framing {
	return framing{
		packet: o.packet, packetSize: o.packetSize, delimiter: o.lineDelimiter,
		buffer: o.buffer, httpHeaders: o.httpHeaders,
	}
}

// decodePacket takes the next packet from buf. It returns the payload and
// how many bytes of buf it used. used == 0 with a nil error means buf holds
// no complete packet yet; need then says how many bytes buf must hold in
// all before trying again (a lower bound for line mode). err is Emsgsize
// when the packet exceeds packet_size.
//
// It never allocates: payload aliases buf.
func decodePacket(buf []byte, f framing) (payload []byte, used, need int, err error) {
	switch f.packet {
	case packetRaw:
		if len(buf) == 0 {
			return nil, 0, 1, nil
		}
		n := min(len(buf), max(f.buffer, 1))
		return buf[:n], n, 0, nil
	case packet1, packet2, packet4:
		h := f.packet.headerLen()
		if len(buf) < h {
			return nil, 0, h, nil
		}
		var n uint64
		switch f.packet {
		case packet1:
			n = uint64(buf[0])
		case packet2:
			n = uint64(binary.BigEndian.Uint16(buf))
		case packet4:
			n = uint64(binary.BigEndian.Uint32(buf))
		}
		limit := uint64(f.packetSize)
		if limit == 0 {
			limit = maxImplicitPacket
		}
		if n > limit {
			return nil, 0, 0, Emsgsize
		}
		total := h + int(n)
		if len(buf) < total {
			return nil, 0, total, nil
		}
		return buf[h:total], total, 0, nil
	case packetLine:
		split := max(f.buffer, 1)
		window := buf[:min(len(buf), split)]
		i := bytes.IndexByte(window, f.delimiter)
		if i >= 0 {
			n := i + 1
			if f.packetSize > 0 && n > f.packetSize {
				return nil, 0, 0, Emsgsize
			}
			return buf[:n], n, 0, nil
		}
		if f.packetSize > 0 && len(window) > f.packetSize {
			return nil, 0, 0, Emsgsize
		}
		if len(buf) >= split {
			// A line longer than buffer is delivered in buffer-sized
			// pieces, not refused (reference §7 packet_line_*).
			return buf[:split], split, 0, nil
		}
		return nil, 0, len(buf) + 1, nil
	case packetASN1, packetCDR, packetSunRM, packetFCGI, packetTPKT:
		return decodeProtocolPacket(buf, f)
	case packetHTTP, packetHTTPH, packetHTTPBin, packetHTTPHBin:
		return decodeHTTPLine(buf, f)
	}
	return nil, 0, 0, Einval
}
