package otp_test

import (
	"github.com/usertcp/usertcp/gentcp"
)

// Ports of scenarios.erl's issue-20 packet types: the types framed by a
// protocol header (asn1, cdr, sunrm, fcgi, tpkt).

// packetWire is protocol_wire/0: two whole packets and the start of a
// third, for each type framed by its own header.
var packetWire = []struct {
	t    string
	wire []byte
}{
	{"asn1", []byte{48, 3, 1, 2, 3, 0x1f, 0x81, 1, 2, 9, 9, 48}},
	{"cdr", activeCat([]byte("GIOP"), []byte{1, 0, 0, 0, 0, 0, 0, 2}, []byte("ab"),
		[]byte("GIOP"), []byte{1, 2, 1, 0, 1, 0, 0, 0}, []byte("c"), []byte("GI"))},
	{"sunrm", activeCat([]byte{128, 0, 0, 2}, []byte("ab"), []byte{0, 0, 0, 0, 0})},
	{"fcgi", activeCat([]byte{1, 1, 0, 1, 0, 2, 3, 0}, []byte("ab"), []byte{0, 0, 0, 1, 5, 0, 1, 0, 0, 0, 0, 1})},
	{"tpkt", activeCat([]byte{3, 0, 0, 6}, []byte("ab"), []byte{3, 0, 0, 4, 3})},
}

// packetInvalid is protocol_invalid/0: a packet whose body is packet_size
// (4), then a header OTP refuses or one over it.
var packetInvalid = []struct {
	t         string
	good, bad []byte
}{
	{"asn1", []byte{48, 4, 1, 2, 3, 4}, []byte{48, 5, 1, 2, 3, 4, 5}},
	{"cdr", activeCat([]byte("GIOP"), []byte{1, 0, 0, 0, 0, 0, 0, 4}, []byte("abcd")),
		activeCat([]byte("GIOX"), []byte{1, 0, 0, 0, 0, 0, 0, 0})},
	{"sunrm", activeCat([]byte{0, 0, 0, 4}, []byte("abcd")), activeCat([]byte{0, 0, 0, 5}, []byte("abcde"))},
	{"fcgi", activeCat([]byte{1, 1, 0, 1, 0, 2, 2, 0}, []byte("ab"), []byte{0, 0}), []byte{2, 1, 0, 1, 0, 0, 0, 0}},
	{"tpkt", activeCat([]byte{3, 0, 0, 8}, []byte("abcd")), []byte{3, 0, 0, 3}},
}

func packetType(t string) gentcp.Option { return gentcp.Option{Name: "packet", Value: t} }

func init() {
	register("packet_protocol_passive", func(h *H) any {
		out := Lst{}
		for _, c := range packetWire {
			l, cs, a := h.MkPair(nil, activeOpts(packetType(c.t)))
			OK(a.Send(c.wire))
			h.Sl()
			r := Tup{A(c.t), RD(cs.Recv(0, Ms(500))), RD(cs.Recv(0, Ms(500))), RD(cs.Recv(0, Ms(100))),
				RO(cs.Getopts("packet"))}
			cs.Close()
			a.Close()
			l.Close()
			out = append(out, r)
		}
		return out
	})

	register("packet_protocol_active", func(h *H) any {
		out := Lst{}
		for _, c := range packetWire {
			l, cs, a := h.MkPair(nil, activeOpts(packetType(c.t), gentcp.Active(true)))
			OK(a.Send(c.wire))
			h.Sl()
			OK(a.Close())
			r := Tup{A(c.t), h.Msgs()}
			cs.Close()
			l.Close()
			out = append(out, r)
		}
		return out
	})

	register("packet_protocol_invalid", func(h *H) any {
		out := Lst{}
		for _, c := range packetInvalid {
			l, cs, a := h.MkPair(nil, activeOpts(packetType(c.t), gentcp.PacketSize(4)))
			OK(a.Send(c.good))
			h.Sl()
			OK(a.Send(c.bad))
			h.Sl()
			r := Tup{A(c.t), RD(cs.Recv(0, Ms(500))), RD(cs.Recv(0, Ms(500))), RD(cs.Recv(0, Ms(500)))}
			cs.Close()
			a.Close()
			l.Close()
			out = append(out, r)
		}
		return out
	})

	register("packet_protocol_invalid_active", func(h *H) any {
		out := Lst{}
		for _, c := range packetInvalid {
			l, cs, a := h.MkPair(nil, activeOpts(packetType(c.t), gentcp.PacketSize(4), gentcp.Active(true)))
			OK(a.Send(c.good))
			m1 := h.Next()
			OK(a.Send(c.bad))
			h.Sl()
			r := Tup{A(c.t), append(Lst{m1}, h.Msgs()...)}
			cs.Close()
			a.Close()
			l.Close()
			out = append(out, r)
		}
		return out
	})
}
