package otp_test

import (
	"slices"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// Ports of scenarios_switch.hrl: inet:setopts switching {packet,_} while a
// passive recv is pending in another process. The pending call is Recv,
// or RecvHTTP on an HTTP type (Go's two calls for gen_tcp:recv); the
// recvs that follow are the call the type in force takes.

// switchClose, as a post of switchCase, is the peer's close.
var switchClose []byte

// switchType is the {packet,T} option for the name the .hrl writes.
func switchType(t string) gentcp.Option {
	switch t {
	case "raw":
		return gentcp.PacketRaw
	case "4":
		return gentcp.Packet(4)
	}
	return packetType(t)
}

// switchRecv is recv(C, Length, Timeout) on a socket of type t.
func switchRecv(c *gentcp.Socket, t string, length int, tmo time.Duration) any {
	if slices.Contains(httpTypes, t) {
		return RH(c.RecvHTTP(tmo))
	}
	return RD(c.Recv(length, tmo))
}

// switchCase is switch_case/6; a nil post is the peer's close.
func (h *H) switchCase(t0 string, pre []byte, length int, tmo time.Duration, t1 string, posts ...[]byte) any {
	l, c, a := h.MkPair(nil, activeOpts(switchType(t0)))
	if len(pre) > 0 {
		OK(a.Send(pre))
	}
	h.Sl()
	p := h.Async(func() any { return switchRecv(c, t0, length, tmo) })
	h.Sl()
	done := Lst{p.DoneYet()}
	OK(c.Setopts(switchType(t1)))
	h.Sl()
	done = append(done, p.DoneYet())
	for _, d := range posts {
		if d == nil {
			a.Close()
		} else {
			OK(a.Send(d))
		}
		h.Sl()
		done = append(done, p.DoneYet())
	}
	r := p.Await(3000)
	f := Lst{switchRecv(c, t1, 0, Ms(200)), switchRecv(c, t1, 0, Ms(200))}
	c.Close()
	a.Close()
	l.Close()
	return Tup{done, r, f}
}

func init() {
	inf := gentcp.Infinity
	register("switch_raw_to_packet4", func(h *H) any {
		w := []byte("\x00\x00\x00\x03abc\x00\x00\x00\x01d")
		return Lst{
			Tup{A("infinity"), h.switchCase("raw", nil, 0, inf, "4", w)},
			Tup{A("t2000"), h.switchCase("raw", nil, 0, Ms(2000), "4", w)},
			Tup{A("split"), h.switchCase("raw", nil, 0, inf, "4", []byte{0, 0}, []byte("\x00\x03ab"), []byte("c"))},
			Tup{A("none"), h.switchCase("raw", nil, 0, Ms(1000), "4")},
		}
	})

	register("switch_packet4_to_raw", func(h *H) any {
		half := []byte("\x00\x00\x00\x05ab")
		return Lst{
			Tup{A("empty"), h.switchCase("4", nil, 0, inf, "raw", []byte("hello"))},
			Tup{A("rest"), h.switchCase("4", half, 0, inf, "raw", []byte("cde"))},
			Tup{A("rest_t2000"), h.switchCase("4", half, 0, Ms(2000), "raw", []byte("cde"))},
			Tup{A("more"), h.switchCase("4", half, 0, inf, "raw", []byte("cdefg"))},
			Tup{A("close"), h.switchCase("4", half, 0, inf, "raw", switchClose)},
			Tup{A("none"), h.switchCase("4", half, 0, Ms(1000), "raw")},
			Tup{A("header_half"), h.switchCase("4", []byte{0, 0}, 0, inf, "raw", []byte("xy"))},
		}
	})

	register("switch_line_to_raw", func(h *H) any {
		ab := []byte("ab")
		return Lst{
			Tup{A("empty"), h.switchCase("line", nil, 0, inf, "raw", []byte("cd"))},
			Tup{A("partial"), h.switchCase("line", ab, 0, inf, "raw", []byte("cd\nef"))},
			Tup{A("partial_t2000"), h.switchCase("line", ab, 0, Ms(2000), "raw", []byte("cd\nef"))},
			Tup{A("close"), h.switchCase("line", ab, 0, inf, "raw", switchClose)},
			Tup{A("none"), h.switchCase("line", ab, 0, Ms(1000), "raw")},
		}
	})

	register("switch_line_to_packet4", func(h *H) any {
		whole := []byte("\x00\x00\x00\x02ab")
		return Lst{
			Tup{A("arrival"), h.switchCase("line", whole, 0, inf, "4", []byte("x"))},
			Tup{A("none"), h.switchCase("line", whole, 0, Ms(1000), "4")},
		}
	})

	register("switch_raw_len_to_line", func(h *H) any {
		return Lst{
			Tup{A("partial"), h.switchCase("raw", []byte("ab"), 5, inf, "line", []byte("cd\nef"))},
			Tup{A("newline"), h.switchCase("raw", []byte("a\n"), 5, Ms(2000), "line", []byte("cdef"))},
		}
	})

	register("switch_http_to_httph", func(h *H) any {
		return Lst{
			Tup{A("header"), h.switchCase("http", nil, 0, inf, "httph", []byte("Host: h\r\n\r\n"))},
			Tup{A("header_t2000"), h.switchCase("http", nil, 0, Ms(2000), "httph", []byte("Host: h\r\n\r\n"))},
			Tup{A("request_line"), h.switchCase("http", nil, 0, inf, "httph", []byte("GET / HTTP/1.1\r\n\r\n"))},
			Tup{A("header_half"), h.switchCase("http", []byte("Host: h"), 0, inf, "httph", []byte("\r\n\r\n"))},
			Tup{A("back"), h.switchCase("httph", []byte("GET / HTTP/1.1"), 0, inf, "http", []byte("\r\n\r\n"))},
		}
	})

	notApplicable["switch_raw_len_to_packet4"] = "OTP strips a {packet,4} header from the N bytes a pending recv(N) " +
		"reads after raw -> 4 (its VM aborts when N < 4); gentcp's Recv(N) returns the N bytes as read " +
		"(gentcp/doc.go, TestRecvLengthPendingAcrossSwitch)"
	notApplicable["switch_packet4_to_line"] = "OTP returns the rest of a half-read {packet,4} packet with what is " +
		"buffered as one line, newline or not; gentcp frames the buffer as lines (gentcp/doc.go)"
	notApplicable["switch_raw_to_http_bin"] = "OTP's pending recv returns the HTTP packet; Go's Recv cannot carry " +
		"one: it returns einval when the packet is there, which stays buffered for RecvHTTP " +
		"(gentcp/doc.go, TestRecvPendingAcrossHTTPSwitch)"
	notApplicable["switch_http_bin_to_raw"] = "OTP's pending recv returns raw data; Go's RecvHTTP cannot carry " +
		"it: it returns einval when the data is there, which stays buffered for Recv " +
		"(gentcp/doc.go, TestRecvPendingAcrossHTTPSwitch)"
}
