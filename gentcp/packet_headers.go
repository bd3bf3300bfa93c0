package gentcp

import "encoding/binary"

// decodeProtocolPacket frames the types whose length is in a protocol
// header: asn1 (BER tag and length), cdr (GIOP 1.x), sunrm (an RPC
// record mark), fcgi (FastCGI) and tpkt (RFC 1006). As in OTP the header
// stays in the payload (an fcgi record's padding is dropped), packet_size
// bounds the length the header declares without the header itself, and
// a header OTP calls invalid is Emsgsize, the reason a socket reports.
// Each header is judged only once it is whole.
func decodeProtocolPacket(buf []byte, f framing) (payload []byte, used, need int, err error) {
	var hlen int    // header bytes
	var body uint64 // the length the header declares after it
	var padding int // fcgi: bytes after the content, consumed but not delivered
	switch f.packet {
	case packetASN1:
		var ok bool
		hlen, body, ok, err = asn1Header(buf)
		if err != nil {
			return nil, 0, 0, err
		}
		if !ok {
			return nil, 0, len(buf) + 1, nil
		}
	case packetSunRM:
		// A record mark: the top bit marks the last fragment, the rest
		// is the fragment's length (RFC 5531 §11).
		hlen = 4
		if len(buf) < hlen {
			return nil, 0, hlen, nil
		}
		body = uint64(binary.BigEndian.Uint32(buf) & 0x7fffffff)
	case packetCDR:
		// "GIOP", version (2), flags (bit 0: little-endian), message
		// type, message size (4).
		hlen = 12
		if len(buf) < hlen {
			return nil, 0, hlen, nil
		}
		if string(buf[:4]) != "GIOP" {
			return nil, 0, 0, Emsgsize
		}
		if buf[6]&1 != 0 {
			body = uint64(binary.LittleEndian.Uint32(buf[8:]))
		} else {
			body = uint64(binary.BigEndian.Uint32(buf[8:]))
		}
	case packetFCGI:
		// version 1, type, request id (2), content length (2), padding
		// length, reserved.
		hlen = 8
		if len(buf) < hlen {
			return nil, 0, hlen, nil
		}
		if buf[0] != 1 {
			return nil, 0, 0, Emsgsize
		}
		padding = int(buf[6])
		body = uint64(binary.BigEndian.Uint16(buf[4:])) + uint64(padding)
	case packetTPKT:
		// version 3, reserved, length (2) counting the header.
		hlen = 4
		if len(buf) < hlen {
			return nil, 0, hlen, nil
		}
		n := int(binary.BigEndian.Uint16(buf[2:]))
		if buf[0] != 3 || n < hlen {
			return nil, 0, 0, Emsgsize
		}
		body = uint64(n - hlen)
	}
	limit := uint64(f.packetSize)
	if limit == 0 {
		limit = maxImplicitPacket
	}
	if body > limit {
		return nil, 0, 0, Emsgsize
	}
	total := hlen + int(body)
	if len(buf) < total {
		return nil, 0, total, nil
	}
	return buf[:total-padding], total, 0, nil
}

// asn1Header reads a BER tag and length (X.690 §8.1): a tag whose low five
// bits are all set continues in the bytes that have the top bit set, up to
// and including the first that has not; a length byte below 0x80 is the
// length, 0x80 (indefinite) counts as 0 as OTP does, 0x8N is followed by N
// length bytes, at most 4. ok is false while the header is incomplete.
func asn1Header(buf []byte) (hlen int, body uint64, ok bool, err error) {
	if len(buf) < 2 {
		return 0, 0, false, nil
	}
	i := 1
	if buf[0]&0x1f == 0x1f {
		for i < len(buf) && buf[i]&0x80 != 0 {
			i++
		}
		i++ // the last tag byte
	}
	if i >= len(buf) {
		return 0, 0, false, nil
	}
	l := buf[i]
	i++
	if l&0x80 == 0 || l == 0x80 {
		return i, uint64(l &^ 0x80), true, nil
	}
	n := int(l & 0x7f)
	if len(buf)-i < n {
		return 0, 0, false, nil
	}
	if n > 4 {
		return 0, 0, false, Emsgsize
	}
	for _, b := range buf[i : i+n] {
		body = body<<8 | uint64(b)
	}
	return i + n, body, true, nil
}
