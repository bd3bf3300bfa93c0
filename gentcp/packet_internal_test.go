package gentcp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeHeader(t *testing.T) {
	cases := []struct {
		t    packetType
		n    int
		want []byte
	}{
		{packetRaw, 5, nil},
		{packet1, 3, []byte{3}},
		{packet1, 255, []byte{255}},
		{packet1, 300, []byte{44}}, // OTP: truncated, silently (packet1_oversize_send)
		{packet2, 65535, []byte{0xff, 0xff}},
		{packet2, 65546, []byte{0, 10}}, // packet2_oversize_send
		{packet4, 70000, []byte{0, 1, 0x11, 0x70}},
		{packetLine, 5, nil},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, encodeHeader(nil, c.t, c.n), "type %d n %d", c.t, c.n)
	}
}

func frame(t packetType, payload []byte) []byte {
	return append(encodeHeader(nil, t, len(payload)), payload...)
}

// TestDecodeLengthPrefixedBoundaries crosses the length-prefixed types with
// OTP's boundary sizes (gen_tcp_echo_SUITE: 0-4, 7, 255/256, 65535/65536,
// 70000) and packet_size N-1, N, N+1.
func TestDecodeLengthPrefixedBoundaries(t *testing.T) {
	for _, pt := range []packetType{packet1, packet2, packet4} {
		for _, n := range []int{0, 1, 2, 3, 4, 7, 255, 256, 65535, 65536, 70000} {
			if pt == packet1 && n > 255 || pt == packet2 && n > 65535 {
				continue
			}
			payload := bytes.Repeat([]byte{'z'}, n)
			buf := frame(pt, payload)
			f := framing{packet: pt, buffer: 1460}
			// Every strict prefix is incomplete.
			for _, cut := range []int{0, pt.headerLen() - 1, len(buf) - 1} {
				if cut < 0 || cut >= len(buf) {
					continue
				}
				_, used, need, err := decodePacket(buf[:cut], f)
				require.NoError(t, err)
				assert.Zero(t, used)
				assert.Greater(t, need, cut)
			}
			got, used, _, err := decodePacket(append(buf, 'x'), f)
			require.NoError(t, err)
			assert.Equal(t, len(buf), used)
			assert.Equal(t, payload, got)
			// packet_size N-1 refuses, N and N+1 accept (0 means no limit).
			if n > 1 {
				f.packetSize = n - 1
				_, _, _, err = decodePacket(buf, f)
				assert.Equal(t, Emsgsize, err, "type %d size %d packet_size %d", pt, n, n-1)
			}
			for _, ps := range []int{n, n + 1} {
				f.packetSize = ps
				_, used, _, err = decodePacket(buf, f)
				assert.NoError(t, err)
				assert.Equal(t, len(buf), used)
			}
		}
	}
}

func TestDecodeRawChunksAtBuffer(t *testing.T) {
	buf := bytes.Repeat([]byte{'a'}, 10000)
	got, used, _, err := decodePacket(buf, framing{packet: packetRaw, buffer: 1460})
	require.NoError(t, err)
	assert.Equal(t, 1460, used)
	assert.Len(t, got, 1460)
	_, used, need, _ := decodePacket(nil, framing{packet: packetRaw, buffer: 1460})
	assert.Zero(t, used)
	assert.Equal(t, 1, need)
}

func TestDecodeLine(t *testing.T) {
	f := framing{packet: packetLine, delimiter: '\n', buffer: 10}
	got, used, _, err := decodePacket([]byte("ab\ncd"), f)
	require.NoError(t, err)
	assert.Equal(t, "ab\n", string(got))
	assert.Equal(t, 3, used)
	// Partial line: wait.
	_, used, _, err = decodePacket([]byte("cd"), f)
	require.NoError(t, err)
	assert.Zero(t, used)
	// Longer than buffer: split at buffer bytes.
	got, used, _, err = decodePacket([]byte("0123456789abc\n"), f)
	require.NoError(t, err)
	assert.Equal(t, "0123456789", string(got))
	assert.Equal(t, 10, used)
	// Custom delimiter.
	f.delimiter = ';'
	got, _, _, _ = decodePacket([]byte("x;y"), f)
	assert.Equal(t, "x;", string(got))
	// packet_size counts the delimiter.
	f = framing{packet: packetLine, delimiter: '\n', buffer: 1460, packetSize: 4}
	got, _, _, err = decodePacket([]byte("abc\n"), f)
	require.NoError(t, err)
	assert.Equal(t, "abc\n", string(got))
	_, _, _, err = decodePacket([]byte("abcd\n"), f)
	assert.Equal(t, Emsgsize, err)
	_, _, _, err = decodePacket([]byte("abcde"), f)
	assert.Equal(t, Emsgsize, err, "a line already longer than packet_size fails before its delimiter arrives")
}

// TestDecodeHugeHeaderIsBounded: a {packet,4} header claiming 4 GiB with
// packet_size 0 is refused, and nothing is allocated for it.
func TestDecodeHugeHeaderIsBounded(t *testing.T) {
	buf := binary.BigEndian.AppendUint32(nil, 0xffffffff)
	allocs := testing.AllocsPerRun(100, func() {
		_, _, _, err := decodePacket(buf, framing{packet: packet4, buffer: 1460})
		if err != Emsgsize {
			t.Fatalf("err = %v, want emsgsize", err)
		}
	})
	assert.Zero(t, allocs)
	// Just under the implicit limit: incomplete, need says how much.
	buf = binary.BigEndian.AppendUint32(nil, maxImplicitPacket)
	_, used, need, err := decodePacket(buf, framing{packet: packet4, buffer: 1460})
	require.NoError(t, err)
	assert.Zero(t, used)
	assert.Equal(t, 4+maxImplicitPacket, need)
}

// FuzzDecodePacket feeds arbitrary bytes to every packet type: the decoder
// must not panic, must make progress or ask for more than it has, must
// never return more than it was given, and must never allocate (the HTTP
// types frame here at a start line; FuzzDecodeHTTP parses them too).
func FuzzDecodePacket(f *testing.F) {
	f.Add([]byte{0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}, uint8(4), uint32(0), uint16(1460), byte('\n'))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(4), uint32(0), uint16(1460), byte('\n'))
	f.Add([]byte{3, 'a', 'b', 'c'}, uint8(1), uint32(2), uint16(1460), byte('\n'))
	f.Add([]byte("line one\nline two"), uint8(5), uint32(0), uint16(4), byte('\n'))
	f.Add([]byte{}, uint8(0), uint32(0), uint16(0), byte(0))
	f.Add([]byte{0x1f, 0x81, 0x82, 5, 2, 1, 2, 0x30, 0x84, 0, 0, 0, 1, 0}, uint8(5), uint32(0), uint16(1460), byte(0))
	f.Add([]byte("GIOP\x01\x00\x01\x00\x02\x00\x00\x00ab"), uint8(6), uint32(0), uint16(1460), byte(0))
	f.Add([]byte{128, 0, 0, 2, 'a', 'b', 0, 0, 0, 0}, uint8(7), uint32(2), uint16(1460), byte(0))
	f.Add([]byte{1, 1, 0, 1, 0, 2, 3, 0, 'a', 'b', 0, 0, 0}, uint8(8), uint32(5), uint16(1460), byte(0))
	f.Add([]byte{3, 0, 0, 6, 'a', 'b', 3, 0, 0, 3}, uint8(9), uint32(0), uint16(1460), byte(0))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\n"), uint8(10), uint32(0), uint16(1460), byte(0))
	f.Add([]byte("Host: x\r\n\r\n"), uint8(13), uint32(8), uint16(1460), byte(0))
	f.Fuzz(func(t *testing.T, buf []byte, kind uint8, packetSize uint32, buffer uint16, delim byte) {
		types := []packetType{packetRaw, packet1, packet2, packet4, packetLine,
			packetASN1, packetCDR, packetSunRM, packetFCGI, packetTPKT,
			packetHTTP, packetHTTPH, packetHTTPBin, packetHTTPHBin}
		fr := framing{packet: types[int(kind)%len(types)], packetSize: int(packetSize), buffer: int(buffer), delimiter: delim}
		rest := buf
		for range 1000 {
			payload, used, need, err := decodePacket(rest, fr)
			if err != nil {
				if err != Emsgsize {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if used == 0 {
				if need <= len(rest) {
					t.Fatalf("no progress: need %d with %d buffered", need, len(rest))
				}
				return
			}
			if used > len(rest) || len(payload) > used {
				t.Fatalf("used %d payload %d of %d", used, len(payload), len(rest))
			}
			rest = rest[used:]
		}
	})
}
