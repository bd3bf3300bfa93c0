package gentcp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/usertcp/usertcp/internal/testutil"
)

// httpCase is one input of the HTTP decoder: what erlang:decode_packet/3
// takes (type, packet_size, line_length) and the bytes.
type httpCase struct {
	t          packetType
	packetSize int
	lineLength int
	in         []byte
}

// httpSeeds are lines that reach each rule of the HTTP decoder; the
// differential test mutates them.
var httpSeeds = []string{
	"GET /index.html HTTP/1.1\r\nHost: x\r\n",
	"GET / HTTP/1.1\n", "GET / HTTP/1.1", "PATCH / HTTP/1.1\r\n", "get / HTTP/1.1\r\n",
	"OPTIONS * HTTP/1.1\r\n", "GET http://host:8080/p?q HTTP/1.0\r\n", "GET HTTPS://host/p HTTP/1.0\r\n",
	"GET http://host HTTP/1.0\r\n", "GET http://host:0/ HTTP/1.0\r\n", "GET http://host:12x/ HTTP/1.0\r\n",
	"GET http://h:4294967297/ HTTP/1.1\r\n", "GET http:/x HTTP/1.1\r\n", "GET http:// HTTP/1.1\r\n",
	"GET mailto:x@y HTTP/1.0\r\n", "GET foo HTTP/1.0\r\n", "GET a HTTP/1.0\r\n", "GET /\r\n", "GET / \r\n",
	"GET / HTTP/1.\r\n", "GET / HTTP/11\r\n", "GET / HTTP/1.1x\r\n", "GET  /   HTTP/1.1\r\n",
	"GET\t/ HTTP/1.1\r\n", "GE(T / HTTP/1.1\r\n", "GET / HTTP/1.1\r\r\n", "DELETE /x?y=1 HTTP/2.0\r\n",
	"HTTP/1.1 200 OK\r\n", "HTTP/1.1 200\r\n", "HTTP/1.1 200 \r\n", "HTTP/1.1 200x\r\n", "HTTP/1.1 OK\r\n",
	"HTTP/1.1\r\n", "HTTP/1.1 99999999999 OK\r\n", "HTTP/1.1  404  Not  Found \r\n", "HTTP/x\r\n",
	"HTTP/1.1 \r\n", "HTTP/1.1\t200\tOK\r\n", "HTTP/4294967297.1 2 OK\r\n", "HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n",
	"\r\n", "\n", "\r\nGET", "", "garbage line\r\n", "garbage\r\n",
	"Content-Length: 5\r\n\r\n", "content-length: 5\r\n\r\n", "content-LENGTH:5 \r\n\r\n",
	"X-Custom-thing: a b \r\n\r\n", "Host : x\r\n\r\n", "Host: x\r\n", "Host: x\r\n y\r\n\r\n",
	"Host: x\r\n\ty\r\n\r\n", "Host x\r\n\r\n", ": x\r\n\r\n", "Host:\r\n\r\n", "Host\r\n\r\n",
	"A-very-long-header-name-over-twenty: v\r\n\r\n", "Cache-Control: no-cache\r\n\r\n",
	"WWW-Authenticate: v\r\n\r\n", "Set-Cookie2: v\r\n\r\n", "Content-MD5: v\r\n\r\n", "ETag: v\r\n\r\n",
	"X--yY-: v\r\n\r\n", "a\n b\r\n\r\n", "ab\n b\r\n\r\n", "\r\n b\r\n\r\n", "Proxy-Connection: keep-alive\r\n\r\n",
	"User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
}

// httpAlphabet is what mutations insert: the bytes the decoder treats
// specially and a few it does not.
var httpAlphabet = []byte(" \t\r\n:/.*-?@()<>,;\\\"[]={}|~\x7f\x00\x80\xffHTTP09aZ")

// httpCases are the seeds under every type and a few limits, then
// mutations of them (a fixed seed, so a failure repeats).
func httpCases(n int) []httpCase {
	types := []packetType{packetHTTP, packetHTTPH, packetHTTPBin, packetHTTPHBin}
	var cs []httpCase
	for _, s := range httpSeeds {
		for _, t := range types {
			cs = append(cs, httpCase{t: t, in: []byte(s)})
		}
		for _, lim := range []int{1, 2, 10, len(s) - 1, len(s), len(s) + 1} {
			if lim > 0 {
				cs = append(cs, httpCase{t: packetHTTPH, packetSize: lim, in: []byte(s)},
					httpCase{t: packetHTTP, lineLength: lim, in: []byte(s)})
			}
		}
	}
	r := rand.New(rand.NewPCG(20, 1))
	for range n {
		b := []byte(httpSeeds[r.IntN(len(httpSeeds))])
		for range 1 + r.IntN(4) {
			i := 0
			if len(b) > 0 {
				i = r.IntN(len(b) + 1)
			}
			switch r.IntN(5) {
			case 0, 1: // insert
				b = append(b[:i], append([]byte{httpAlphabet[r.IntN(len(httpAlphabet))]}, b[i:]...)...)
			case 2: // delete
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			case 3: // truncate
				b = b[:i]
			case 4: // append another seed
				b = append(b, httpSeeds[r.IntN(len(httpSeeds))]...)
			}
		}
		c := httpCase{t: types[r.IntN(len(types))], in: b}
		if r.IntN(4) == 0 {
			c.packetSize = 1 + r.IntN(40)
		}
		if r.IntN(8) == 0 {
			c.lineLength = 1 + r.IntN(40)
		}
		cs = append(cs, c)
	}
	return cs
}

// decodeHTTPForErl decodes c as erlang:decode_packet/3 would and prints the
// result in the oracle's format (testdata/decode_http.escript).
// decode_packet's http starts at a start line, httph at a header line; its
// line_length is what the buffer option is to a socket.
func decodeHTTPForErl(c httpCase) string {
	f := framing{packet: c.t, packetSize: c.packetSize, buffer: c.lineLength}
	line, used, _, err := decodePacket(c.in, f)
	switch {
	case err != nil:
		return "error"
	case used == 0:
		return "more"
	}
	p, _ := parseHTTP(line, c.t.httpHeadersOnly(), c.t.httpBin())
	return "{ok," + wTerm(p) + "," + strconv.Itoa(len(c.in)-used) + "}"
}

// wTerm prints p as the oracle does: ~w, with a binary as {bin,Bytes}.
func wTerm(p HTTPPacket) string {
	str := func(s string, bin bool) string {
		parts := make([]string, len(s))
		for i := range len(s) {
			parts[i] = strconv.Itoa(int(s[i]))
		}
		l := "[" + strings.Join(parts, ",") + "]"
		if bin {
			return "{bin," + l + "}"
		}
		return l
	}
	ver := func(v HTTPVersion) string { return fmt.Sprintf("{%d,%d}", v.Major, v.Minor) }
	switch p := p.(type) {
	case HTTPRequest:
		m := str(p.Method, p.Bin)
		if p.KnownMethod() {
			m = "'" + p.Method + "'"
		}
		var u string
		switch p.URI.Kind {
		case URIStar:
			u = "'*'"
		case URIAbsPath:
			u = "{abs_path," + str(p.URI.Path, p.Bin) + "}"
		case URIAbsolute:
			port := "undefined"
			if p.URI.Port != 0 {
				port = strconv.Itoa(p.URI.Port)
			}
			u = "{absoluteURI," + p.URI.Scheme + "," + str(p.URI.Host, p.Bin) + "," + port + "," + str(p.URI.Path, p.Bin) + "}"
		case URIScheme:
			u = "{scheme," + str(p.URI.Scheme, p.Bin) + "," + str(p.URI.Path, p.Bin) + "}"
		case URIString:
			u = str(p.URI.Path, p.Bin)
		}
		return "{http_request," + m + "," + u + "," + ver(p.Version) + "}"
	case HTTPResponse:
		return "{http_response," + ver(p.Version) + "," + strconv.Itoa(p.Status) + "," + str(p.Reason, p.Bin) + "}"
	case HTTPHeader:
		f := str(p.Field, p.Bin)
		if p.Index() > 0 {
			f = "'" + p.Field + "'"
		}
		return "{http_header," + strconv.Itoa(p.Index()) + "," + f + "," + str(p.UnmodifiedField, p.Bin) + "," + str(p.Value, p.Bin) + "}"
	case HTTPEOH:
		return "http_eoh"
	case HTTPError:
		return "{http_error," + str(p.Line, p.Bin) + "}"
	}
	return fmt.Sprintf("unexpected_%T", p)
}

// TestDecodeHTTPAgainstErl runs the HTTP decoder and erlang:decode_packet/3
// on real erl over the same inputs (the seeds under each type and limit,
// and 20,000 mutations of them) and compares every result: the framing
// (more, error, what is left), the packet, its atoms and strings.
func TestDecodeHTTPAgainstErl(t *testing.T) {
	escript := testutil.Escript(t, "the comparison of the HTTP decoder with erlang:decode_packet")
	cases := httpCases(20000)
	var in bytes.Buffer
	for _, c := range cases {
		fmt.Fprintf(&in, "%s %d %d %s\n", packetAtoms[c.t], c.packetSize, c.lineLength, hex.EncodeToString(c.in))
	}
	file := filepath.Join(t.TempDir(), "cases.txt")
	if err := os.WriteFile(file, in.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, escript, "testdata/decode_http.escript", file).Output()
	if err != nil {
		t.Fatalf("escript decode_http.escript: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	i, bad := 0, 0
	for sc.Scan() {
		if i >= len(cases) {
			t.Fatalf("erl printed more lines than the %d cases", len(cases))
		}
		c := cases[i]
		if got, want := decodeHTTPForErl(c), sc.Text(); got != want {
			bad++
			if bad <= 20 {
				t.Errorf("decode_packet(%s, %q, [{packet_size,%d},{line_length,%d}]):\n  erl:    %s\n  gentcp: %s",
					packetAtoms[c.t], c.in, c.packetSize, c.lineLength, want, got)
			}
		}
		i++
	}
	if i != len(cases) {
		t.Fatalf("erl printed %d lines for %d cases", i, len(cases))
	}
	if bad > 0 {
		t.Fatalf("%d of %d cases differ from erl", bad, len(cases))
	}
}
