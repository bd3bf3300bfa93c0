package gentcp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDecodeProtocolPackets checks asn1, cdr, sunrm, fcgi and tpkt against
// erlang:decode_packet/3 on OTP 25: each row is its input and result, where
// {ok,Packet,Rest} is want (used = len(buf)-len(Rest)), {more,_} is
// incomplete and {error,invalid} is emsgsize (what a socket reports).
func TestDecodeProtocolPackets(t *testing.T) {
	const more, invalid = "more", "invalid"
	cases := []struct {
		t          packetType
		in         []byte
		packetSize int
		want       string // the packet, or more or invalid
		rest       int    // bytes left after the packet
	}{
		{packetASN1, []byte{0x30, 3, 1, 2, 3, 9}, 0, "\x30\x03\x01\x02\x03", 1},
		{packetASN1, []byte{0x30, 3, 1, 2}, 0, more, 0},
		{packetASN1, []byte{0x30}, 0, more, 0},
		{packetASN1, []byte{0x30, 0x80, 1, 2}, 0, "\x30\x80", 2}, // indefinite: the header alone
		{packetASN1, []byte{0x30, 0x81, 3, 1, 2, 3}, 0, "\x30\x81\x03\x01\x02\x03", 0},
		{packetASN1, []byte{0x30, 0x85, 0, 0, 0, 0, 3, 1, 2, 3}, 0, invalid, 0}, // 5 length bytes
		{packetASN1, []byte{0x30, 0x85, 0}, 0, more, 0},
		{packetASN1, []byte{0x30, 0x84, 0, 0, 0, 3, 1, 2, 3}, 0, "\x30\x84\x00\x00\x00\x03\x01\x02\x03", 0},
		{packetASN1, []byte{0x30, 0x84, 0, 0}, 0, more, 0},
		{packetASN1, []byte{0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, 0, invalid, 0},
		{packetASN1, []byte{0x1f, 0x81, 0x82, 5, 2, 1, 2}, 0, "\x1f\x81\x82\x05\x02\x01\x02", 0}, // long tag
		{packetASN1, []byte{0x1f, 0x81}, 0, more, 0},
		{packetASN1, []byte{0x1f, 0x81, 1}, 0, more, 0},
		{packetASN1, []byte{0x30, 3, 1, 2, 3}, 2, invalid, 0},
		{packetASN1, []byte{0x30, 3, 1, 2, 3}, 3, "\x30\x03\x01\x02\x03", 0},
		{packetSunRM, []byte{0, 0, 0, 2, 1, 2, 3}, 0, "\x00\x00\x00\x02\x01\x02", 1},
		{packetSunRM, []byte{128, 0, 0, 2, 1, 2, 3}, 0, "\x80\x00\x00\x02\x01\x02", 1},
		{packetSunRM, []byte{128, 0, 0, 2, 1, 2}, 2, "\x80\x00\x00\x02\x01\x02", 0},
		{packetSunRM, []byte{128, 0, 0, 3, 1, 2}, 2, invalid, 0},
		{packetSunRM, []byte{128, 0, 0, 3, 1, 2}, 6, more, 0},
		{packetSunRM, []byte{128, 0}, 0, more, 0},
		{packetSunRM, []byte{127, 255, 255, 255}, 0, invalid, 0},
		{packetCDR, []byte("GIOP\x01\x00\x00\x00\x00\x00\x00\x02\x01\x02\x03"), 0, "GIOP\x01\x00\x00\x00\x00\x00\x00\x02\x01\x02", 1},
		{packetCDR, []byte("GIOP\x01\x00\x01\x00\x02\x00\x00\x00\x01\x02\x03"), 0, "GIOP\x01\x00\x01\x00\x02\x00\x00\x00\x01\x02", 1}, // little-endian size
		{packetCDR, []byte("GIOX\x01\x00\x01\x00\x02\x00\x00\x00\x01\x02\x03"), 0, invalid, 0},
		{packetCDR, []byte("GIOX"), 0, more, 0}, // the magic is judged once the header is whole
		{packetCDR, []byte("GIOP\x01\x00\x01\x00\x02\x00\x00\x00\x01\x02\x03"), 1, invalid, 0},
		{packetFCGI, []byte{1, 1, 0, 1, 0, 2, 3, 0, 'a', 'b', 0, 0, 0, 9}, 0, "\x01\x01\x00\x01\x00\x02\x03\x00ab", 1}, // padding dropped
		{packetFCGI, []byte{2, 1, 0, 1, 0, 2, 3, 0, 'a', 'b', 0, 0, 0, 9}, 0, invalid, 0},
		{packetFCGI, []byte{1, 1, 0, 1, 0, 2, 3, 0, 'a', 'b', 0, 0, 0, 9}, 4, invalid, 0}, // padding counts
		{packetFCGI, []byte{1, 1, 0, 1, 0, 2, 3, 0, 'a', 'b', 0, 0, 0, 9}, 5, "\x01\x01\x00\x01\x00\x02\x03\x00ab", 1},
		{packetFCGI, []byte{1, 1, 0, 1, 0, 2, 3, 0, 'a', 'b', 0}, 0, more, 0},
		{packetTPKT, []byte{3, 0, 0, 6, 1, 2, 9}, 0, "\x03\x00\x00\x06\x01\x02", 1},
		{packetTPKT, []byte{3, 0, 0, 3, 1, 2, 9}, 0, invalid, 0}, // length below the header's
		{packetTPKT, []byte{3, 0, 0, 4, 1, 2, 9}, 0, "\x03\x00\x00\x04", 3},
		{packetTPKT, []byte{2, 0, 0, 6, 1, 2, 9}, 0, invalid, 0},
		{packetTPKT, []byte{3, 0, 0, 6, 1, 2, 9}, 2, "\x03\x00\x00\x06\x01\x02", 1},
		{packetTPKT, []byte{3, 0, 0, 6, 1, 2, 9}, 1, invalid, 0},
		{packetTPKT, []byte{3, 0}, 0, more, 0},
	}
	for _, c := range cases {
		name := packetAtoms[c.t]
		got, used, need, err := decodePacket(c.in, framing{packet: c.t, packetSize: c.packetSize, buffer: 1460})
		switch c.want {
		case invalid:
			assert.Equal(t, Emsgsize, err, "%s %v packet_size %d", name, c.in, c.packetSize)
		case more:
			if assert.NoError(t, err, "%s %v", name, c.in) {
				assert.Zero(t, used, "%s %v", name, c.in)
				assert.Greater(t, need, len(c.in), "%s %v", name, c.in)
			}
		default:
			if assert.NoError(t, err, "%s %v", name, c.in) {
				assert.Equal(t, []byte(c.want), got, "%s %v", name, c.in)
				assert.Equal(t, len(c.in)-c.rest, used, "%s %v", name, c.in)
			}
		}
	}
}
