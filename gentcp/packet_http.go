// packet_http.go frames and parses the HTTP packet types, {packet,http},
// httph, http_bin and httph_bin, as OTP's driver does (inet_drv.c and
// packet_parser.c, behaviour checked against erlang:decode_packet/3 and
// sockets on OTP 25): one line per packet (a header line with the lines
// that continue it), parsed into an HTTPPacket (packet_http_terms.go).
//
// Locks: the …Locked helpers expect s.mu held, as recv.go's do.

package gentcp

import (
	"bytes"
	"context"
	"time"
)

// isHTTP reports whether t is one of the HTTP types.
func (t packetType) isHTTP() bool {
	switch t {
	case packetHTTP, packetHTTPH, packetHTTPBin, packetHTTPHBin:
		return true
	}
	return false
}

// httpBin reports whether t gives its strings as binaries.
func (t packetType) httpBin() bool { return t == packetHTTPBin || t == packetHTTPHBin }

// httpHeadersOnly reports whether t reads header lines only (httph,
// httph_bin): OTP's driver puts the socket in its header state each time
// it frames with these types, so a request line is an http_error.
func (t packetType) httpHeadersOnly() bool { return t == packetHTTPH || t == packetHTTPHBin }

// decodeHTTPLine takes the next line of an HTTP type from buf, with
// decodePacket's results. A start line (request or status) ends at its
// first LF. A header line ends at an LF that is not followed by a space
// or a tab (such a line continues the header, RFC 7230 §3.2.4's obs-fold),
// so a header line is whole only once the byte after its LF is known; an
// empty line is whole at once. The line is bounded by packet_size, or by
// the buffer option when packet_size is 0 (a longer line is emsgsize,
// where {packet,line} would split it): a line without its LF is refused
// once buf holds the limit, a line with it once it is longer.
func decodeHTTPLine(buf []byte, f framing) (payload []byte, used, need int, err error) {
	n := len(buf)
	switch {
	case n == 0:
		return nil, 0, 1, nil
	case n == 1 && buf[0] == '\n', n == 2 && buf[0] == '\r' && buf[1] == '\n':
		// All there is is an empty line: whole, whatever follows.
		return buf, n, 0, nil
	}
	limit := f.packetSize
	if limit == 0 {
		limit = f.buffer
	}
	if limit <= 0 {
		limit = maxImplicitPacket
	}
	headers := f.httpHeaders || f.packet.httpHeadersOnly()
	from := 0
	for {
		i := bytes.IndexByte(buf[from:], '\n')
		if i < 0 {
			if n >= limit {
				return nil, 0, 0, Emsgsize
			}
			return nil, 0, n + 1, nil
		}
		end := from + i + 1
		if end > limit {
			return nil, 0, 0, Emsgsize
		}
		if !headers {
			return buf[:end], end, 0, nil
		}
		if end == n {
			return nil, 0, n + 1, nil // the next byte says whether the header goes on
		}
		if end > 2 && isHTTPSpace(buf[end]) {
			from = end
			continue
		}
		return buf[:end], end, 0, nil
	}
}

// isHTTPSpace is the blank of HTTP's grammar (SP and HT).
func isHTTPSpace(c byte) bool { return c == ' ' || c == '\t' }

// isHTTPSeparator reports whether c ends a method or a header name: a
// control byte, a space, a byte above 126 or one of RFC 2616's
// separators. DEL (127) is not one in OTP and neither are the token
// characters of RFC 7230 (!#$%&'*+-.^_`|~).
func isHTTPSeparator(c byte) bool {
	if c <= ' ' || c >= 128 {
		return true
	}
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return true
	}
	return false
}

// parseHTTP parses one line that decodeHTTPLine framed. headers is the
// parse state (true: a header line is expected); the result says the state
// after it: a request or status line starts the headers, http_eoh ends
// them, and a header or an http_error leaves the state as it was. A line
// OTP cannot parse is an HTTPError holding the whole line.
func parseHTTP(line []byte, headers, bin bool) (HTTPPacket, bool) {
	// The line without its CRLF (or LF).
	n := len(line)
	if n >= 2 && line[n-2] == '\r' {
		n -= 2
	} else if n >= 1 && line[n-1] == '\n' {
		n--
	}
	body := line[:n]
	var p HTTPPacket
	var ok bool
	switch {
	case headers:
		if len(body) == 0 {
			return HTTPEOH{}, false
		}
		p, ok = parseHTTPHeader(body, bin)
	case bytes.HasPrefix(body, []byte("HTTP/")):
		p, ok = parseHTTPStatus(body, bin)
	default:
		p, ok = parseHTTPRequest(body, bin)
	}
	if !ok {
		return HTTPError{Line: string(line), Bin: bin}, headers
	}
	return p, true
}

// httpScanner reads a line from left to right.
type httpScanner struct {
	b []byte
	i int
}

func (s *httpScanner) done() bool { return s.i >= len(s.b) }

// spaces skips blanks and reports whether there were any.
func (s *httpScanner) spaces() bool {
	from := s.i
	for s.i < len(s.b) && isHTTPSpace(s.b[s.i]) {
		s.i++
	}
	return s.i > from
}

// number reads decimal digits, wrapping as the C int OTP's driver reads
// them into does, and reports whether there were any.
func (s *httpScanner) number() (int, bool) {
	from := s.i
	var v int32
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int32(s.b[s.i]-'0')
		s.i++
	}
	return int(v), s.i > from
}

// version reads Major.Minor after "HTTP/": digits, a dot, digits.
func (s *httpScanner) version() (HTTPVersion, bool) {
	major, ok := s.number()
	if !ok || s.done() || s.b[s.i] != '.' {
		return HTTPVersion{}, false
	}
	s.i++
	minor, ok := s.number()
	return HTTPVersion{major, minor}, ok
}

// parseHTTPStatus parses HTTP/Major.Minor SP Status [SP Reason]. Status
// may be empty (0) at the end of the line; the reason is the rest of the
// line as sent, blanks inside and after it kept.
func parseHTTPStatus(body []byte, bin bool) (HTTPPacket, bool) {
	s := httpScanner{b: body, i: len("HTTP/")}
	v, ok := s.version()
	if !ok || !s.spaces() {
		return nil, false
	}
	code, _ := s.number()
	if !s.spaces() && !s.done() {
		return nil, false
	}
	return HTTPResponse{Version: v, Status: code, Reason: string(body[s.i:]), Bin: bin}, true
}

// parseHTTPRequest parses Method SP URI [SP HTTP/Major.Minor]: without a
// version the request is HTTP/0.9's; after the version's digits anything
// goes.
func parseHTTPRequest(body []byte, bin bool) (HTTPPacket, bool) {
	s := httpScanner{b: body}
	for !s.done() && !isHTTPSeparator(s.b[s.i]) {
		s.i++
	}
	method := string(body[:s.i])
	if s.done() || method == "" || !isHTTPSpace(s.b[s.i]) {
		return nil, false
	}
	s.spaces()
	from := s.i
	for !s.done() && !isHTTPSpace(s.b[s.i]) {
		s.i++
	}
	uri := body[from:s.i]
	if len(uri) == 0 {
		return nil, false
	}
	s.spaces()
	r := HTTPRequest{Method: method, URI: parseHTTPURI(uri), Version: HTTPVersion{0, 9}, Bin: bin}
	if s.done() {
		return r, true
	}
	rest := body[s.i:]
	if len(rest) < len("HTTP/x.y") || !bytes.HasPrefix(rest, []byte("HTTP/")) {
		return nil, false
	}
	s.i += len("HTTP/")
	v, ok := s.version()
	if !ok {
		return nil, false
	}
	r.Version = v
	return r, true
}

// parseHTTPURI sorts a request URI as OTP does: '*'; an abs_path (a URI
// starting with / or of at most one byte); an absoluteURI for http:// and
// https:// in any case (host, an optional port, the path, / if none); a
// {scheme, Scheme, Rest} for anything else with a colon; else the string.
func parseHTTPURI(uri []byte) HTTPURI {
	switch {
	case len(uri) == 1 && uri[0] == '*':
		return HTTPURI{Kind: URIStar}
	case len(uri) <= 1 || uri[0] == '/':
		return HTTPURI{Kind: URIAbsPath, Path: string(uri)}
	}
	for _, scheme := range []string{"http", "https"} {
		prefix := scheme + "://"
		if len(uri) >= len(prefix) && bytes.EqualFold(uri[:len(prefix)], []byte(prefix)) {
			return parseAbsoluteURI(scheme, uri[len(prefix):])
		}
	}
	if i := bytes.IndexByte(uri, ':'); i >= 0 {
		return HTTPURI{Kind: URIScheme, Scheme: string(uri[:i]), Path: string(uri[i+1:])}
	}
	return HTTPURI{Kind: URIString, Path: string(uri)}
}

// parseAbsoluteURI reads host[:port][/path] after scheme://. The port is
// kept only if it is all digits and not 0; otherwise it is undefined (0)
// and still not part of the host.
func parseAbsoluteURI(scheme string, rest []byte) HTTPURI {
	u := HTTPURI{Kind: URIAbsolute, Scheme: scheme, Path: "/"}
	hostPort := rest
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		hostPort, u.Path = rest[:i], string(rest[i:])
	}
	host := hostPort
	if i := bytes.IndexByte(hostPort, ':'); i >= 0 {
		host = hostPort[:i]
		s := httpScanner{b: hostPort, i: i + 1}
		if port, _ := s.number(); s.done() && port != 0 {
			u.Port = port
		}
	}
	u.Host = string(host)
	return u
}

// parseHTTPHeader parses Name: Value. The name is a token that ends at
// the colon (no blank before it); the value is what follows the colon and
// its blanks, continuation lines and trailing blanks included.
func parseHTTPHeader(body []byte, bin bool) (HTTPPacket, bool) {
	i := 0
	for i < len(body) && !isHTTPSeparator(body[i]) {
		i++
	}
	if i >= len(body) || body[i] != ':' {
		return nil, false
	}
	name := body[:i]
	s := httpScanner{b: body, i: i + 1}
	s.spaces()
	return HTTPHeader{
		Field: normalizeHTTPField(name), UnmodifiedField: string(name),
		Value: string(body[s.i:]), Bin: bin,
	}, true
}

// normalizeHTTPField gives a header name OTP's case: the first letter and
// each letter after a hyphen in upper case, the others in lower case
// (content-TYPE: Content-Type). A hyphen right after a hyphen is the
// character that would have been raised, so the letter after it stays
// lower (x--y: X--y), as in OTP.
func normalizeHTTPField(name []byte) string {
	out := make([]byte, len(name))
	up := true
	for i, c := range name {
		switch {
		case up:
			if c >= 'a' && c <= 'z' {
				c -= 'a' - 'A'
			}
			up = false
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '-':
			up = true
		}
		out[i] = c
	}
	return string(out)
}

// takeHTTPLocked takes the next line of an HTTP type off rbuf, parsed,
// and moves the parse state on; ok and err are takePacketLocked's. The
// packet holds copies of its strings, not the line.
func (s *Socket) takeHTTPLocked(judgeSize bool) (HTTPPacket, error, bool) {
	line, used, err, ok := s.frameLocked(0, judgeSize)
	if !ok {
		return nil, err, false
	}
	p, next := parseHTTP(line, s.o.httpHeaders, s.o.packet.httpBin())
	s.o.httpHeaders = next
	s.consumeLocked(used)
	return p, nil, true
}

// RecvHTTP receives one packet of an HTTP packet type in passive mode, as
// gen_tcp:recv(Socket, 0, Timeout) does on a socket with {packet,http},
// httph, http_bin or httph_bin: an HTTPRequest or HTTPResponse, then its
// HTTPHeaders, then HTTPEOH, after which the socket reads a start line
// again (keep-alive); a line that does not parse is an HTTPError and the
// socket reads on. To read a body, switch the socket to another type
// after HTTPEOH (Setopts(PacketRaw)) and Recv: what follows the empty
// line is still buffered.
//
// A Setopts that changes the type while RecvHTTP waits is Recv's case: the
// peer's next bytes are framed with the new type (http to httph: a
// header); where OTP's recv would return raw data or another non-HTTP
// packet, RecvHTTP returns einval once it is whole and leaves it for Recv.
//
// Reasons are Recv's: timeout, closed, enotconn, econnreset
// (show_econnreset), einval (an active socket, or a packet type that is
// not HTTP), ealready, and emsgsize for a line longer than packet_size, or
// than the buffer option when packet_size is 0 (the socket is closed).
func (s *Socket) RecvHTTP(timeout time.Duration) (HTTPPacket, error) {
	return s.RecvHTTPContext(context.Background(), timeout)
}

// RecvHTTPContext is RecvHTTP that also gives up when ctx is done.
func (s *Socket) RecvHTTPContext(ctx context.Context, timeout time.Duration) (HTTPPacket, error) {
	var p HTTPPacket
	if _, _, err := s.recv(ctx, 0, timeout, nil, &p); err != nil {
		return nil, s.failed("recv", err)
	}
	return p, nil
}
