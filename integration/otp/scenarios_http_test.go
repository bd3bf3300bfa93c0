package otp_test

import (
	"github.com/usertcp/usertcp/gentcp"
)

// Ports of scenarios_http.hrl: the HTTP packet types, {packet, http |
// httph | http_bin | httph_bin}. HTTP packets are printed as the terms
// erl prints (httpTerm), strings as byte lists or binaries by the packet's
// Bin, so they go through the same normalization as every other result.

var httpTypes = []string{"http", "httph", "http_bin", "httph_bin"}

// httpTerm is the Erlang term of an HttpPacket, built from the harness's
// term types.
func httpTerm(p gentcp.HTTPPacket) any {
	switch p := p.(type) {
	case gentcp.HTTPRequest:
		method := httpStr(p.Method, p.Bin)
		if p.KnownMethod() {
			method = A(p.Method)
		}
		return Tup{A("http_request"), method, httpURITerm(p.URI, p.Bin), httpVersion(p.Version)}
	case gentcp.HTTPResponse:
		return Tup{A("http_response"), httpVersion(p.Version), p.Status, httpStr(p.Reason, p.Bin)}
	case gentcp.HTTPHeader:
		field := httpStr(p.Field, p.Bin)
		if p.Index() > 0 {
			field = A(p.Field)
		}
		return Tup{A("http_header"), p.Index(), field, httpStr(p.UnmodifiedField, p.Bin), httpStr(p.Value, p.Bin)}
	case gentcp.HTTPEOH:
		return A("http_eoh")
	case gentcp.HTTPError:
		return Tup{A("http_error"), httpStr(p.Line, p.Bin)}
	}
	return A("go_unknown_http_packet")
}

// httpStr is an HttpString: a byte list (http, httph) or a binary
// (http_bin, httph_bin), printed and summarized as erl's norm/1 does.
func httpStr(s string, bin bool) any { return gentcp.Data{Bytes: []byte(s), List: !bin} }

func httpVersion(v gentcp.HTTPVersion) any { return Tup{v.Major, v.Minor} }

func httpURITerm(u gentcp.HTTPURI, bin bool) any {
	switch u.Kind {
	case gentcp.URIStar:
		return A("*")
	case gentcp.URIAbsPath:
		return Tup{A("abs_path"), httpStr(u.Path, bin)}
	case gentcp.URIAbsolute:
		var port any = A("undefined")
		if u.Port != 0 {
			port = u.Port
		}
		return Tup{A("absoluteURI"), A(u.Scheme), httpStr(u.Host, bin), port, httpStr(u.Path, bin)}
	case gentcp.URIScheme:
		return Tup{A("scheme"), httpStr(u.Scheme, bin), httpStr(u.Path, bin)}
	}
	return httpStr(u.Path, bin)
}

// RH prints {ok,HttpPacket} or {error,Reason} for recv on an HTTP type.
func RH(p gentcp.HTTPPacket, err error) any {
	if err != nil {
		return ErrT(err)
	}
	return Tup{A("ok"), httpTerm(p)}
}

// httpRecvAll is http_recv_all/1,2: recv until http_eoh, an error, or max
// packets.
func httpRecvAll(c *gentcp.Socket, max ...int) Lst {
	n := 12
	if len(max) > 0 {
		n = max[0]
	}
	out := Lst{}
	for range n {
		p, err := c.RecvHTTP(Ms(500))
		out = append(out, RH(p, err))
		if _, eoh := p.(gentcp.HTTPEOH); err != nil || eoh {
			return out
		}
	}
	return append(out, A("too_many"))
}

// httpClose is http_close/3.
func httpClose(l, c, a *gentcp.Socket) {
	c.Close()
	a.Close()
	l.Close()
}

// modeName prints binary or list, as the scenarios print the mode option.
func modeName(o gentcp.Option) A { return A(o.Value.(string)) }

func init() {
	register("http_request_each_type", func(h *H) any {
		w := []byte("GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Trace: abc \r\n" +
			"content-length: 0\r\n\r\n")
		out := Lst{}
		for _, t := range httpTypes {
			for _, mode := range []gentcp.Option{gentcp.Binary, gentcp.List} {
				l, c, a := h.MkPair(nil, activeOpts(mode, packetType(t)))
				OK(a.Send(w))
				h.Sl()
				out = append(out, Tup{A(t), modeName(mode), httpRecvAll(c), RO(c.Getopts("packet"))})
				httpClose(l, c, a)
			}
		}
		return out
	})

	register("http_response_each_type", func(h *H) any {
		w := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" +
			"HTTP/1.0 404 Not  Found \r\nServer: x\r\n\r\n" +
			"HTTP/1.1 204\r\n\r\n")
		out := Lst{}
		for _, t := range httpTypes {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send(w))
			h.Sl()
			out = append(out, Tup{A(t), httpRecvAll(c), httpRecvAll(c), httpRecvAll(c)})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_request_forms", func(h *H) any {
		lines := []string{"OPTIONS * HTTP/1.1\r\n", "PATCH /x HTTP/1.1\r\n",
			"get /lower HTTP/1.0\r\n", "POST http://Example.com:8080/p?x HTTP/1.1\r\n",
			"PUT HTTPS://h HTTP/1.1\r\n", "DELETE http://h:abc/ HTTP/1.1\r\n",
			"HEAD mailto:x@y HTTP/1.1\r\n", "TRACE foo HTTP/1.1\r\n",
			"GET /old\r\n"}
		out := Lst{}
		for _, t := range []string{"http", "http_bin"} {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			rs := Lst{}
			for _, line := range lines {
				OK(a.Send([]byte(line + "\r\n")))
				rs = append(rs, Tup{RH(c.RecvHTTP(Ms(500))), RH(c.RecvHTTP(Ms(500)))})
			}
			out = append(out, Tup{A(t), rs})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_header_continuation", func(h *H) any {
		w := []byte("GET / HTTP/1.1\r\nX-Long: a\r\n b\r\n\tc\r\nHost: h\r\nX-Lf: 1\n 2\nAccept: */*\r\n\r\n")
		out := Lst{}
		for _, t := range httpTypes {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send(w))
			h.Sl()
			out = append(out, Tup{A(t), httpRecvAll(c)})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_header_fields", func(h *H) any {
		w := []byte("GET / HTTP/1.1\r\ncontent-TYPE: a\r\nHOST: b\r\nX-Foo: c\r\nx--y: d\r\n" +
			"Set-Cookie2: e\r\nProxy-Connection: f\r\nCache-Control: g\r\nwww-authenticate: h\r\n" +
			"Content-MD5: i\r\nX-Forwarded-For: j\r\nKeep-Alive: k\r\nEmpty:\r\n\r\n")
		out := Lst{}
		for _, t := range []string{"http", "http_bin"} {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send(w))
			h.Sl()
			out = append(out, Tup{A(t), httpRecvAll(c, 20)})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_error_lines", func(h *H) any {
		w := []byte("garbage\r\nGET / HTTP/1.1\r\nBad Header\r\n: x\r\nHost: h\r\n\r\n" +
			"HTTP/1.1 abc\r\nGET /x HTTP/1.1 junk\r\nGET /y HTTP/x.1\r\n")
		out := Lst{}
		for _, t := range httpTypes {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send(w))
			h.Sl()
			rs := Lst{}
			for range 9 {
				rs = append(rs, RH(c.RecvHTTP(Ms(500))))
			}
			out = append(out, Tup{A(t), rs})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_switch_to_httph", func(h *H) any {
		w := []byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nX-B: 1\r\n\r\n")
		out := Lst{}
		for _, th := range [][2]string{{"http", "httph"}, {"http_bin", "httph_bin"}, {"http", "httph_bin"}} {
			t, hh := th[0], th[1]
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send(w))
			h.Sl()
			r1 := RH(c.RecvHTTP(Ms(500)))
			OK(c.Setopts(packetType(hh)))
			r2 := httpRecvAll(c)
			OK(c.Setopts(packetType(t)))
			r3 := RH(c.RecvHTTP(Ms(500)))
			OK(c.Setopts(packetType(hh)))
			r4 := httpRecvAll(c)
			out = append(out, Tup{A(t), A(hh), r1, r2, r3, r4})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_httph_after_eoh", func(h *H) any {
		out := Lst{}
		for _, t := range []string{"httph", "httph_bin"} {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send([]byte("Host: h\r\n\r\nGET / HTTP/1.1\r\nX: 1\r\n\r\n")))
			h.Sl()
			r1 := httpRecvAll(c)
			r2 := httpRecvAll(c)
			OK(a.Send([]byte("GET / HTTP/1.1\r\nHost: h\r\n")))
			h.Sl()
			OK(c.Setopts(gentcp.PacketHTTP))
			r3 := RH(c.RecvHTTP(Ms(500)))
			OK(c.Setopts(packetType(t)))
			r4 := RH(c.RecvHTTP(Ms(500)))
			OK(c.Setopts(gentcp.PacketHTTP))
			OK(a.Send([]byte("X: 2\r\n\r\n")))
			h.Sl()
			r5 := httpRecvAll(c)
			out = append(out, Tup{A(t), r1, r2, r3, r4, r5})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_keep_alive", func(h *H) any {
		out := Lst{}
		for _, t := range []string{"http", "http_bin"} {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t)))
			OK(a.Send([]byte("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n")))
			h.Sl()
			r1 := httpRecvAll(c)
			r2 := RH(c.RecvHTTP(Ms(500)))
			r3 := RH(c.RecvHTTP(Ms(100)))
			OK(a.Send([]byte("Connection: close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")))
			h.Sl()
			r4 := httpRecvAll(c)
			r5 := httpRecvAll(c)
			out = append(out, Tup{A(t), r1, r2, r3, r4, r5})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_body_raw", func(h *H) any {
		w := []byte("POST /f HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n")
		out := Lst{}
		for _, t := range []string{"http", "http_bin"} {
			for _, mode := range []gentcp.Option{gentcp.Binary, gentcp.List} {
				l, c, a := h.MkPair(nil, activeOpts(mode, packetType(t)))
				OK(a.Send(w))
				h.Sl()
				r1 := httpRecvAll(c)
				OK(c.Setopts(gentcp.PacketRaw))
				r2 := RD(c.Recv(5, Ms(500)))
				OK(c.Setopts(packetType(t)))
				r3 := httpRecvAll(c)
				OK(a.Send([]byte("PUT /g HTTP/1.1\r\n\r\nab")))
				h.Sl()
				r4 := httpRecvAll(c)
				OK(c.Setopts(gentcp.Packet(0)))
				r5 := RD(c.Recv(0, Ms(500)))
				out = append(out, Tup{A(t), modeName(mode), r1, r2, r3, r4, r5})
				httpClose(l, c, a)
			}
		}
		return out
	})

	register("http_packet_size", func(h *H) any {
		w := []byte("GET /0123 HTTP/1.1\r\nX-Aa: 0123456789ab\r\nX-Bb: 0123456789abc\r\n\r\n")
		out := Lst{}
		for _, t := range httpTypes {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t), gentcp.PacketSize(20)))
			OK(a.Send(w))
			h.Sl()
			rs := Lst{}
			for range 4 {
				rs = append(rs, RH(c.RecvHTTP(Ms(500))))
			}
			out = append(out, Tup{A(t), rs, R(c.Send([]byte("x")))})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_start_line_size", func(h *H) any {
		out := Lst{}
		for _, tl := range [][2]string{{"http", "GET /01234 HTTP/1.1\r\n"}, {"http_bin", "HTTP/1.1 200 OKOKOK\r\n\r\n"}} {
			l, c, a := h.MkPair(nil, activeOpts(packetType(tl[0]), gentcp.PacketSize(20)))
			OK(a.Send([]byte(tl[1])))
			h.Sl()
			out = append(out, Tup{A(tl[0]), RH(c.RecvHTTP(Ms(500))), RH(c.RecvHTTP(Ms(500)))})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_line_no_lf_limit", func(h *H) any {
		out := Lst{}
		for _, active := range []bool{false, true} {
			opts := activeOpts(gentcp.PacketHTTP, gentcp.PacketSize(10))
			act := Lst{}
			if active {
				opts = append(opts, gentcp.Active(true))
				act = Lst{Tup{A("active"), A("true")}}
			}
			l, c, a := h.MkPair(nil, opts)
			next := func() any {
				if active {
					return h.Msgs()
				}
				return RH(c.RecvHTTP(Ms(200)))
			}
			OK(a.Send([]byte("GET /abc")))
			h.Sl()
			r1 := next()
			OK(a.Send([]byte("de")))
			h.Sl()
			out = append(out, Tup{act, r1, next()})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_buffer_limit", func(h *H) any {
		long := activeCat([]byte("X-Long: "), Bytes(100), []byte("\r\n"))
		out := Lst{}
		for _, t := range []string{"http", "http_bin"} {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t), gentcp.Buffer(64)))
			OK(a.Send([]byte("GET / HTTP/1.1\r\nHost: h\r\n")))
			h.Sl()
			r1 := Lst{RH(c.RecvHTTP(Ms(500))), RH(c.RecvHTTP(Ms(500)))}
			OK(a.Send(long))
			h.Sl()
			out = append(out, Tup{A(t), r1, RH(c.RecvHTTP(Ms(500))), RH(c.RecvHTTP(Ms(500)))})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_active_modes", func(h *H) any {
		w := []byte("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n")
		modes := []struct {
			name any
			opt  gentcp.Option
		}{{A("true"), gentcp.Active(true)}, {A("once"), gentcp.ActiveOnce}, {2, gentcp.ActiveN(2)}}
		out := Lst{}
		for _, t := range httpTypes {
			for _, m := range modes {
				l, c, a := h.MkPair(nil, activeOpts(packetType(t), m.opt))
				OK(a.Send(w))
				h.Sl()
				m1 := h.Msgs()
				m2 := Lst{}
				switch m.name {
				case A("once"):
					for range 3 {
						OK(c.Setopts(gentcp.ActiveOnce))
						m2 = append(m2, h.Next())
					}
				case 2:
					OK(c.Setopts(gentcp.ActiveN(2)))
					m2 = Lst{h.Next(), h.Next(), h.Next()}
				}
				OK(c.Setopts(gentcp.Active(true)))
				OK(a.Close())
				out = append(out, Tup{A(t), m.name, m1, m2, h.Msgs()})
				c.Close()
				l.Close()
			}
		}
		return out
	})

	register("http_active_error_and_size", func(h *H) any {
		out := Lst{}
		for _, t := range httpTypes {
			l, c, a := h.MkPair(nil, activeOpts(packetType(t), gentcp.PacketSize(30), gentcp.Active(true)))
			OK(a.Send([]byte("bad\r\nGET / HTTP/1.1\r\nBad Header\r\nHost: h\r\n")))
			h.Sl()
			m1 := h.Msgs()
			OK(a.Send(activeCat([]byte("X-Long: "), Bytes(40), []byte("\r\n"))))
			h.Sl()
			m2 := h.Msgs()
			a.Send([]byte("more"))
			h.Sl()
			out = append(out, Tup{A(t), m1, m2, h.Msgs()})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_active_switch", func(h *H) any {
		out := Lst{}
		for _, th := range [][2]string{{"http", "httph"}, {"http_bin", "httph_bin"}} {
			t, hh := th[0], th[1]
			l, c, a := h.MkPair(nil, activeOpts(packetType(t), gentcp.ActiveOnce))
			OK(a.Send([]byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\n\r\n")))
			m1 := h.Next()
			OK(c.Setopts(packetType(hh), gentcp.ActiveOnce))
			m2 := h.Next()
			OK(c.Setopts(gentcp.ActiveOnce))
			m3 := h.Next()
			OK(c.Setopts(packetType(t), gentcp.ActiveOnce))
			m4 := h.Next()
			out = append(out, Tup{A(t), A(hh), Lst{m1, m2, m3, m4}, h.Msgs()})
			httpClose(l, c, a)
		}
		return out
	})

	register("http_deliver_port_active", func(h *H) any {
		w := []byte("GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\nHost: h\r\n\r\nHTTP/1.1 200 OK\r\n")
		out := Lst{}
		for _, t := range httpTypes {
			for _, mode := range []gentcp.Option{gentcp.Binary, gentcp.List} {
				l, c, a := h.MkPair(nil, activeOpts(mode, packetType(t), gentcp.Active(true), gentcp.DeliverPort))
				OK(a.Send(w))
				h.Sl()
				out = append(out, Tup{A(t), modeName(mode), h.Msgs()})
				httpClose(l, c, a)
			}
		}
		return out
	})

	register("http_peer_close_partial", func(h *H) any {
		out := Lst{}
		for _, t := range []string{"http", "httph_bin"} {
			for _, active := range []bool{false, true} {
				opts := activeOpts(packetType(t))
				if active {
					opts = append(opts, gentcp.Active(true))
				}
				l, c, a := h.MkPair(nil, opts)
				OK(a.Send([]byte("GET / HTTP/1.1\r\nHost: h\r\nX-Part")))
				h.Sl()
				OK(a.Close())
				h.Sl()
				if active {
					out = append(out, Tup{A(t), A("active"), h.Msgs()})
				} else {
					rs := Lst{}
					for range 4 {
						rs = append(rs, RH(c.RecvHTTP(Ms(500))))
					}
					out = append(out, Tup{A(t), A("passive"), rs})
				}
				c.Close()
				l.Close()
			}
		}
		return out
	})

	notApplicable["deliver_port_passive_recv"] = "OTP 25's recv on a passive {deliver,port} socket sends the packet " +
		"to the owner and never returns (past its timeout, until the socket closes; later recvs are ealready); " +
		"gentcp's Recv and RecvHTTP return the packet instead (doc.go, Differences from OTP; TestRecvDeliverPortPassive)"
}
