package gentcp

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecodeHTTPPackets checks the HTTP types against
// erlang:decode_packet/3 on OTP 25 (without erl; TestDecodeHTTPAgainstErl
// compares many more inputs with erl itself): each row is its input and
// result, {ok,Packet,Rest} as the packet in Erlang syntax and the bytes
// left, {more,_} as more and {error,invalid} as invalid (emsgsize, what a
// socket reports). decode_packet's http reads a start line, httph a
// header line.
func TestDecodeHTTPPackets(t *testing.T) {
	const more, invalid = "more", "invalid"
	cases := []struct {
		t          packetType
		in         string
		packetSize int
		want       string
		rest       int
	}{
		{packetHTTP, "GET /index.html HTTP/1.1\r\nHost: x\r\n", 0, "{http_request,'GET',{abs_path,\"/index.html\"},{1,1}}", 9},
		{packetHTTPBin, "GET /index.html HTTP/1.1\r\nHost: x\r\n", 0, "{http_request,'GET',{abs_path,<<\"/index.html\">>},{1,1}}", 9},
		{packetHTTPH, "GET /index.html HTTP/1.1\r\nHost: x\r\n", 0, "{http_error,\"GET /index.html HTTP/1.1\\r\\n\"}", 9},
		{packetHTTP, "GET / HTTP/1.1\n", 0, "{http_request,'GET',{abs_path,\"/\"},{1,1}}", 0},
		{packetHTTP, "GET / HTTP/1.1", 0, "more", 14},
		{packetHTTP, "PATCH / HTTP/1.1\r\n", 0, "{http_request,\"PATCH\",{abs_path,\"/\"},{1,1}}", 0},
		{packetHTTPBin, "PATCH / HTTP/1.1\r\n", 0, "{http_request,<<\"PATCH\">>,{abs_path,<<\"/\">>},{1,1}}", 0},
		{packetHTTP, "OPTIONS * HTTP/1.1\r\n", 0, "{http_request,'OPTIONS','*',{1,1}}", 0},
		{packetHTTP, "GET http://host:8080/p?q HTTP/1.0\r\n", 0, "{http_request,'GET',{absoluteURI,http,\"host\",8080,\"/p?q\"},{1,0}}", 0},
		{packetHTTP, "GET HTTPS://host/p HTTP/1.0\r\n", 0, "{http_request,'GET',{absoluteURI,https,\"host\",undefined,\"/p\"},{1,0}}", 0},
		{packetHTTP, "GET http://host:12x HTTP/1.0\r\n", 0, "{http_request,'GET',{absoluteURI,http,\"host\",undefined,\"/\"},{1,0}}", 0},
		{packetHTTP, "GET mailto:x@y HTTP/1.0\r\n", 0, "{http_request,'GET',{scheme,\"mailto\",\"x@y\"},{1,0}}", 0},
		{packetHTTP, "GET foo HTTP/1.0\r\n", 0, "{http_request,'GET',\"foo\",{1,0}}", 0},
		{packetHTTP, "GET /\r\n", 0, "{http_request,'GET',{abs_path,\"/\"},{0,9}}", 0},
		{packetHTTP, "GET / HTTP/11\r\n", 0, "{http_error,\"GET / HTTP/11\\r\\n\"}", 0},
		{packetHTTP, "GE(T / HTTP/1.1\r\n", 0, "{http_error,\"GE(T / HTTP/1.1\\r\\n\"}", 0},
		{packetHTTP, "HTTP/1.1 200 OK\r\n", 0, "{http_response,{1,1},200,\"OK\"}", 0},
		{packetHTTPBin, "HTTP/1.1  404  Not  Found \r\n", 0, "{http_response,{1,1},404,<<\"Not  Found \">>}", 0},
		{packetHTTP, "HTTP/1.1 200\r\n", 0, "{http_response,{1,1},200,[]}", 0},
		{packetHTTP, "HTTP/1.1 OK\r\n", 0, "{http_error,\"HTTP/1.1 OK\\r\\n\"}", 0},
		{packetHTTP, "HTTP/1.1 99999999999 OK\r\n", 0, "{http_response,{1,1},1215752191,\"OK\"}", 0},
		{packetHTTP, "\r\nGET", 0, "{http_error,\"\\r\\n\"}", 3},
		{packetHTTPH, "\r\nGET", 0, "http_eoh", 3},
		{packetHTTPH, "content-length: 5\r\n\r\n", 0, "{http_header,38,'Content-Length',\"content-length\",\"5\"}", 2},
		{packetHTTPHBin, "x-custom-thing: a b \r\n\r\n", 0, "{http_header,0,<<\"X-Custom-Thing\">>,<<\"x-custom-thing\">>,<<\"a b \">>}", 2},
		{packetHTTPH, "Host: x\r\n", 0, "more", 9},
		{packetHTTPH, "Host: x\r\n y\r\n\r\n", 0, "{http_header,14,'Host',\"Host\",\"x\\r\\n y\"}", 2},
		{packetHTTPH, "Host : x\r\n\r\n", 0, "{http_error,\"Host : x\\r\\n\"}", 2},
		{packetHTTPH, "WWW-Authenticate: v\r\n\r\n", 0, "{http_header,33,'Www-Authenticate',\"WWW-Authenticate\",\"v\"}", 2},
		{packetHTTPH, "X--yY-: v\r\n\r\n", 0, "{http_header,0,\"X--yy-\",\"X--yY-\",\"v\"}", 2},
		{packetHTTPH, "a\n b\r\n\r\n", 0, "{http_error,\"a\\n\"}", 6},
		{packetHTTPH, "\r\n b\r\n\r\n", 0, "http_eoh", 6},
		{packetHTTP, "GET / HTTP/1.1\r\n", 15, "invalid", 16},
		{packetHTTP, "GET / HTTP/1.1\r\n", 16, "{http_request,'GET',{abs_path,\"/\"},{1,1}}", 0},
		{packetHTTP, "GET / HTTP/1.1", 14, "invalid", 14},
		{packetHTTP, "GET / HTTP/1.1", 15, "more", 14},
		{packetHTTPH, "Host: x\r\n y\r\n\r\n", 12, "invalid", 15},
		{packetHTTPH, "Host: x\r\n y\r\n\r\n", 13, "{http_header,14,'Host',\"Host\",\"x\\r\\n y\"}", 2},
	}
	for _, c := range cases {
		name := packetAtoms[c.t]
		line, used, need, err := decodePacket([]byte(c.in), framing{packet: c.t, packetSize: c.packetSize})
		switch c.want {
		case invalid:
			assert.Equal(t, Emsgsize, err, "%s %q packet_size %d", name, c.in, c.packetSize)
		case more:
			if assert.NoError(t, err, "%s %q", name, c.in) {
				assert.Zero(t, used, "%s %q", name, c.in)
				assert.Greater(t, need, len(c.in), "%s %q", name, c.in)
			}
		default:
			if assert.NoError(t, err, "%s %q", name, c.in) && assert.NotZero(t, used, "%s %q", name, c.in) {
				p, _ := parseHTTP(line, c.t.httpHeadersOnly(), c.t.httpBin())
				assert.Equal(t, c.want, p.String(), "%s %q", name, c.in)
				assert.Equal(t, c.rest, len(c.in)-used, "%s %q", name, c.in)
			}
		}
	}
}

// TestParseHTTPState follows the driver's state through a keep-alive
// exchange: a request line starts the headers, a bad header line and a
// header keep them, http_eoh ends them, and a bad start line leaves the
// socket reading start lines.
func TestParseHTTPState(t *testing.T) {
	wire := "garbage\r\nGET /a HTTP/1.1\r\nbad header\r\nHost: x\r\n\r\nHTTP/1.0 200 OK\r\nServer: y\r\n\r\n"
	want := []string{
		`{http_error,"garbage\r\n"}`,
		`{http_request,'GET',{abs_path,"/a"},{1,1}}`,
		`{http_error,"bad header\r\n"}`,
		`{http_header,14,'Host',"Host","x"}`,
		`http_eoh`,
		`{http_response,{1,0},200,"OK"}`,
		`{http_header,30,'Server',"Server","y"}`,
		`http_eoh`,
	}
	buf, headers := []byte(wire), false
	var got []string
	for len(buf) > 0 {
		line, used, _, err := decodePacket(buf, framing{packet: packetHTTP, buffer: 1460, httpHeaders: headers})
		require.NoError(t, err)
		require.NotZero(t, used, "stuck at %q", buf)
		var p HTTPPacket
		p, headers = parseHTTP(line, headers, false)
		got = append(got, p.String())
		buf = buf[used:]
	}
	assert.Equal(t, want, got)
	assert.False(t, headers, "after http_eoh the socket reads a start line")
}

// TestDecodeHTTPLineLimit: with packet_size 0 a line is bounded by the
// buffer option (OTP: emsgsize, where {packet,line} splits), and
// packet_size, when set, replaces that bound.
func TestDecodeHTTPLineLimit(t *testing.T) {
	line := []byte("GET /" + strings.Repeat("a", 30) + " HTTP/1.1\r\n") // 46 bytes
	_, _, _, err := decodePacket(line, framing{packet: packetHTTP, buffer: 40})
	assert.Equal(t, Emsgsize, err)
	_, used, _, err := decodePacket(line, framing{packet: packetHTTP, buffer: 46})
	assert.NoError(t, err)
	assert.Equal(t, len(line), used)
	_, used, _, err = decodePacket(line, framing{packet: packetHTTP, buffer: 40, packetSize: 100})
	assert.NoError(t, err)
	assert.Equal(t, len(line), used)
	// Without its LF a line is refused once the buffer holds the limit.
	_, _, _, err = decodePacket(line[:40], framing{packet: packetHTTP, buffer: 40})
	assert.Equal(t, Emsgsize, err)
	_, used, need, err := decodePacket(line[:39], framing{packet: packetHTTP, buffer: 40})
	assert.NoError(t, err)
	assert.Zero(t, used)
	assert.Equal(t, 40, need)
}

// FuzzDecodeHTTP frames and parses arbitrary bytes with each HTTP type,
// carrying the parse state from packet to packet as a socket does: no
// panic, progress on every packet, an http_error that is the line itself,
// a header whose field is its name recased, and a printable result.
func FuzzDecodeHTTP(f *testing.F) {
	for _, s := range httpSeeds {
		f.Add([]byte(s), uint8(0), uint16(0), uint16(1460))
	}
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n y\r\n\r\nabc"), uint8(2), uint16(20), uint16(1460))
	f.Fuzz(func(t *testing.T, buf []byte, kind uint8, packetSize, buffer uint16) {
		types := []packetType{packetHTTP, packetHTTPH, packetHTTPBin, packetHTTPHBin}
		pt := types[int(kind)%len(types)]
		headers := false
		rest := buf
		for range 1000 {
			if pt.httpHeadersOnly() {
				headers = true
			}
			line, used, need, err := decodePacket(rest, framing{packet: pt, packetSize: int(packetSize), buffer: int(buffer), httpHeaders: headers})
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
			if used > len(rest) || len(line) != used || line[len(line)-1] != '\n' {
				t.Fatalf("line %q used %d of %d", line, used, len(rest))
			}
			var p HTTPPacket
			p, headers = parseHTTP(line, headers, pt.httpBin())
			switch p := p.(type) {
			case HTTPError:
				if p.Line != string(line) {
					t.Fatalf("http_error %q for line %q", p.Line, line)
				}
			case HTTPHeader:
				if !strings.EqualFold(p.Field, p.UnmodifiedField) || !bytes.HasPrefix(line, []byte(p.UnmodifiedField+":")) {
					t.Fatalf("header %q/%q from line %q", p.Field, p.UnmodifiedField, line)
				}
			case nil:
				t.Fatalf("no packet for line %q", line)
			}
			if p.String() == "" {
				t.Fatal("empty String")
			}
			rest = rest[used:]
		}
	})
}
