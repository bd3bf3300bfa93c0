package otp_test

import (
	"encoding/binary"

	"github.com/usertcp/usertcp/gentcp"
)

// Ports of scenarios.erl §5 (active modes and messages) and §7 (packet
// framing). Each function follows its Erlang twin step by step, with the
// same sleeps and timeouts.

// ---------------------------------------------------------------------------
// Helpers of this file only, prefixed "active" (the shared ones: harness_test.go).

// activeB is a binary/string literal.
func activeB(s string) []byte { return []byte(s) }

// activeCat builds a binary from parts, as <<P1/binary, P2/binary>> or an
// iolist [P1, P2] flattened by gen_tcp:send.
func activeCat(parts ...[]byte) []byte {
	out := []byte{}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// activeSetAndLook is the S fun of the active_n_* scenarios:
// {V, inet:setopts(S,[{active,V}]), opt(S,active), msgs(50)}. v is true,
// false, "once" or an integer.
func activeSetAndLook(h *H, s *gentcp.Socket, v any) any {
	r := R(s.Setopts(gentcp.Option{Name: "active", Value: v}))
	return Tup{Val(v), r, Get(s, "active"), h.Msgs(50)}
}

func activeOpts(o ...gentcp.Option) []gentcp.Option { return o }

func init() {
	// §5 ---------------------------------------------------------------

	register("active_true_data_then_closed", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true)))
		OK(a.Send(activeB("ab")))
		m1 := h.Next()
		OK(a.Send(activeB("cd")))
		m2 := h.Next()
		OK(a.Close())
		return Lst{append(Lst{m1, m2}, h.Msgs()...)}
	})

	register("active_chunk_is_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send(Bytes(10000)))
		h.Sl()
		OK(c.Setopts(gentcp.Active(true)))
		// [{T, S, byte_size(D)} || {T, S, D} <- msgs()]
		out := Lst{}
		for _, m := range h.Msgs() {
			t, ok := m.(Tup)
			if !ok || len(t) != 3 {
				continue
			}
			d, ok := t[2].(gentcp.Data)
			if !ok {
				panic(crash{Tup{A("scenario_crashed"), A("error"), A("badarg")}}) // byte_size of a non-binary
			}
			out = append(out, Tup{t[0], t[1], len(d.Bytes)})
		}
		return Lst{out}
	})

	register("active_once_rearm", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.ActiveOnce))
		OK(a.Send(activeB("ab")))
		m1 := h.Next()
		OK(a.Send(activeB("cd")))
		h.Sl()
		r1 := append(Lst{m1}, h.Msgs()...)
		r2 := Get(c, "active")
		OK(c.Setopts(gentcp.ActiveOnce))
		r3 := h.Msgs()
		OK(a.Close())
		h.Sl()
		r4 := h.Msgs()
		OK(c.Setopts(gentcp.ActiveOnce))
		r5 := h.Msgs()
		return Lst{r1, r2, r3, r4, r5, R(c.Send(activeB("x"))), RO(c.Getopts("active"))}
	})

	register("active_once_close_seen_while_passive", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.ActiveOnce))
		OK(a.Send(activeB("ab")))
		r1 := append(Lst{h.Next()}, h.Msgs()...)
		OK(a.Close())
		h.Sl()
		r2 := h.Msgs()
		OK(c.Setopts(gentcp.ActiveOnce))
		return Lst{r1, r2, h.Msgs()}
	})

	register("active_after_close_detected_passive", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send(activeB("ab")))
		h.Sl()
		OK(a.Send(activeB("cd")))
		OK(a.Close())
		h.Sl()
		r1 := RD(c.Recv(1, Ms(100)))
		r2 := h.Msgs()
		OK(c.Setopts(gentcp.Active(true)))
		return Lst{r1, r2, h.Msgs()}
	})

	register("active_n_passive_msg", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.ActiveN(3)))
		OK(a.Send(activeB("a")))
		m1 := h.Next()
		r1 := Get(c, "active")
		OK(a.Send(activeB("b")))
		m2 := h.Next()
		OK(a.Send(activeB("c")))
		m3 := h.Next()
		OK(a.Send(activeB("d")))
		h.Sl()
		return Lst{r1, append(Lst{m1, m2, m3}, h.Msgs()...), Get(c, "active"), RD(c.Recv(0, Ms(100)))}
	})

	register("active_n_counter_rules", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		out := Lst{}
		for _, v := range []any{10, -3, -20, 5, 32767, 32762, 1, true, -1, "once", 7, false, 32768, -32769, -32768} {
			out = append(out, activeSetAndLook(h, c, v))
		}
		return out
	})

	register("active_n_zero_always_passive_msg", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		out := Lst{}
		for _, v := range []any{0, 0, true, 0, "once", 0, 4, 0} {
			out = append(out, activeSetAndLook(h, c, v))
		}
		return out
	})

	register("active_n_close_no_passive", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.ActiveN(2)))
		OK(a.Send(activeB("ab")))
		h.Sl()
		OK(a.Close())
		return Lst{h.Msgs()}
	})

	register("active_listen_socket_passive_msg", func(h *H) any {
		l := h.Listen()
		out := Lst{}
		for _, v := range []any{0, 2, -2, 3, true} {
			out = append(out, activeSetAndLook(h, l, v))
		}
		return out
	})

	register("active_closed_then_send", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Active(true)))
		OK(a.Close())
		h.Sl()
		return Lst{h.Msgs(), R(c.Send(activeB("x"))), R(c.Send(activeB("x"))), RO(c.Getopts("active")),
			RD(c.Recv(0, Ms(100))), R(c.Close())}
	})

	register("own_close_active_no_msg", func(h *H) any {
		_, c, a := h.MkPair(activeOpts(gentcp.Active(true)), activeOpts(gentcp.Active(true)))
		OK(a.Send(activeB("x")))
		h.Sl()
		return Lst{R(c.Close()), h.Msgs()}
	})

	register("close_flushes_tcp_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Active(true)))
		OK(a.Send(activeB("ab")))
		h.Sl()
		OK(a.Close())
		r1 := h.WaitMailbox(2)
		return Lst{r1, R(c.Close()), h.Msgs()}
	})

	register("header_binary", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true), gentcp.Header(2)))
		OK(a.Send(activeB("abcd")))
		m1 := h.Next()
		OK(a.Send(activeB("xy")))
		m2 := h.Next()
		return Lst{append(Lst{m1, m2}, h.Msgs()...)}
	})

	register("header_short_packet", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true), gentcp.Header(3)))
		OK(a.Send(activeB("a")))
		m1 := h.Next()
		OK(a.Send(activeB("bc")))
		m2 := h.Next()
		return Lst{append(Lst{m1, m2}, h.Msgs()...)}
	})

	register("header_passive_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Header(1)))
		OK(a.Send(activeB("abc")))
		h.Sl()
		r1 := RD(c.Recv(0, Ms(500)))
		OK(a.Send(activeB("defg")))
		h.Sl()
		return Lst{r1, RD(c.Recv(2, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("header_list_mode_ignored", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.List, gentcp.Header(2)))
		OK(a.Send(activeB("abcd")))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500)))}
	})

	register("non_owner_setopts_active", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		hp := h.AsyncProc(h.A, func(p *gentcp.Process) any {
			r := R(c.Setopts(gentcp.Active(true)))
			h.Sl(100)
			return Tup{r, h.MsgsOf(p, 50)}
		})
		h.Sl()
		OK(a.Send(activeB("ab")))
		h.Sl()
		return Lst{hp.Await(), h.Msgs()}
	})

	register("deliver_port", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true), gentcp.DeliverPort))
		OK(a.Send(activeB("ab")))
		h.Sl()
		OK(a.Close())
		return Lst{h.Msgs()}
	})

	register("deliver_port_other_msgs", func(h *H) any {
		_, c, a := h.MkPair(activeOpts(gentcp.LingerOpt(true, 0)),
			activeOpts(gentcp.List, gentcp.ActiveN(1), gentcp.DeliverPort, gentcp.ShowEconnreset(true)))
		OK(a.Send(activeB("ab")))
		h.Sl()
		r1 := h.Msgs()
		OK(c.Setopts(gentcp.Active(true)))
		OK(a.Close())
		h.Sl()
		return Lst{r1, h.Msgs()}
	})

	// §7 ---------------------------------------------------------------

	register("send_empty_raw", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		// <<>>, [] and [[], <<>>]: Go's Send takes the flattened iodata.
		r := Lst{R(c.Send(activeB(""))), R(c.Send(activeCat())), R(c.Send(activeCat(nil, activeB(""))))}
		h.Sl()
		r1 := RD(a.Recv(0, Ms(100)))
		OK(c.Send(activeB("ab")))
		h.Sl()
		return append(r, r1, RD(a.Recv(0, Ms(500))))
	})

	register("packet_wire_headers", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		out := Lst{}
		for _, p := range []gentcp.Option{gentcp.Packet(1), gentcp.Packet(2), gentcp.Packet(4), {Name: "packet", Value: "raw"}, gentcp.Packet(0)} {
			OK(c.Setopts(p))
			OK(c.Send(activeB("abc")))
			h.Sl()
			out = append(out, RD(a.Recv(0, Ms(500))))
		}
		return out
	})

	register("packet_empty_payload", func(h *H) any {
		_, c, a := h.MkPair(activeOpts(gentcp.Packet(2)), activeOpts(gentcp.Packet(2)))
		OK(c.Send(activeB("")))
		h.Sl()
		r1 := RD(a.Recv(0, Ms(500)))
		OK(a.Setopts(gentcp.List))
		OK(c.Send(activeCat())) // []
		h.Sl()
		r2 := RD(a.Recv(0, Ms(500)))
		OK(a.Setopts(gentcp.Option{Name: "packet", Value: "raw"}))
		OK(c.Send(activeB("")))
		h.Sl()
		return Lst{r1, r2, RD(a.Recv(0, Ms(500)))}
	})

	register("packet1_parse", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(1)))
		OK(a.Send(activeCat([]byte{2}, activeB("ab"), []byte{1}, activeB("c"), []byte{0, 3}, activeB("def"))))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(100)))}
	})

	register("packet1_oversize_send", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Setopts(gentcp.Packet(1)))
		r := R(c.Send(Bytes(300)))
		d, err := a.Recv(1, Ms(500)) // {ok, <<H>>} = ...
		if err != nil || d.List || len(d.Bytes) != 1 {
			Badmatch(RD(d, err))
		}
		hdr := int(d.Bytes[0])
		rest, err := a.Recv(300, Ms(500)) // {ok, Rest} = ...
		if err != nil {
			Badmatch(RD(rest, err))
		}
		return Lst{r, hdr, len(rest.Bytes), RD(a.Recv(0, Ms(100)))}
	})

	register("packet2_oversize_send", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Setopts(gentcp.Packet(2)))
		r := R(c.Send(Bytes(65536 + 10)))
		d, err := a.Recv(2, Ms(500)) // {ok, <<H:16>>} = ...
		if err != nil || d.List || len(d.Bytes) != 2 {
			Badmatch(RD(d, err))
		}
		hdr := int(binary.BigEndian.Uint16(d.Bytes))
		rest, err := a.Recv(65536+10, Ms(1000)) // {ok, Rest} = ...
		if err != nil {
			Badmatch(RD(rest, err))
		}
		return Lst{r, hdr, len(rest.Bytes), RD(a.Recv(0, Ms(100)))}
	})

	register("packet_size_exceeded_passive", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10)))
		OK(a.Send(activeCat([]byte{0, 2}, activeB("ok"))))
		h.Sl()
		OK(a.Send(activeCat([]byte{0, 11}, Bytes(11))))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			R(c.Send(activeB("x")))}
	})

	register("packet_size_exceeded_active", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10), gentcp.Active(true)))
		OK(a.Send(activeCat([]byte{0, 2}, activeB("ok"))))
		m1 := h.Next() // the good packet must be consumed in its own read
		OK(a.Send(activeCat([]byte{0, 11}, Bytes(11))))
		h.Sl()
		return Lst{append(Lst{m1}, h.Msgs()...)}
	})

	register("packet_size_exceeded_active_same_read", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10)))
		OK(a.Send(activeCat([]byte{0, 2}, activeB("ok"), []byte{0, 11})))
		h.Sl()
		OK(c.Setopts(gentcp.Active(true)))
		r1 := h.Msgs()
		OK(a.Send(Bytes(11)))
		h.Sl()
		return Lst{r1, h.Msgs()}
	})

	register("packet2_packet_size_boundary", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10)))
		OK(a.Send(activeCat([]byte{0, 10}, activeB("0123456789"))))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(100)))}
	})

	register("packet2_partial_then_peer_close", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2)))
		OK(a.Send(activeCat([]byte{0, 5}, activeB("ab"))))
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("packet2_partial_then_peer_close_active", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.Active(true)))
		OK(a.Send(activeCat([]byte{0, 1}, activeB("z"), []byte{0, 5}, activeB("ab"))))
		OK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	register("packet_line_basic", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.PacketLine))
		OK(a.Send(activeB("ab\ncd\r\n\nef")))
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("packet_line_delimiter", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.List, gentcp.PacketLine, gentcp.LineDelimiter(';')))
		OK(a.Send(activeB("ab;cd\nef;g")))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(100)))}
	})

	register("packet_line_longer_than_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.PacketLine, gentcp.Buffer(10)))
		OK(a.Send(activeB("0123456789abcdefghijklmnopqrstu\nxy\n")))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(100)))}
	})

	register("packet_line_active", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.PacketLine, gentcp.Active(true)))
		OK(a.Send(activeB("l1\nl2\nl3")))
		h.Sl()
		OK(a.Close())
		return Lst{h.Msgs()}
	})

	register("packet_line_packet_size", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.PacketLine, gentcp.PacketSize(5)))
		OK(a.Send(activeB("abc\nabcd\nabcdefgh\n")))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500)))}
	})

	register("packet_switch_to_raw", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2)))
		OK(a.Send(activeCat([]byte{0, 2}, activeB("ab"), activeB("rawdata"), []byte{0, 1})))
		h.Sl()
		r1 := RD(c.Recv(0, Ms(500)))
		OK(c.Setopts(gentcp.Option{Name: "packet", Value: "raw"}))
		return Lst{r1, RD(c.Recv(0, Ms(500)))}
	})

	register("recv_raw_list", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.List))
		OK(a.Send(activeB("abc")))
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500)))}
	})

	register("recv_raw_binary", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Binary))
		OK(a.Send(activeB("abc"))) // "abc" (a list) as iodata
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500)))}
	})

	register("setopts_mode_atoms", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		// O as the Erlang scenario writes it, and the Go option for it
		// (in Go the bare atoms and {mode,M} are the same value).
		cases := []struct {
			o   any
			opt gentcp.Option
		}{
			{Tup{A("mode"), A("list")}, gentcp.Option{Name: "mode", Value: "list"}},
			{A("binary"), gentcp.Binary},
			{A("list"), gentcp.List},
			{Tup{A("mode"), A("binary")}, gentcp.Option{Name: "mode", Value: "binary"}},
		}
		out := Lst{}
		for _, tc := range cases {
			OK(c.Setopts(tc.opt))
			OK(a.Send(activeB("ab")))
			h.Sl()
			out = append(out, Tup{tc.o, Get(c, "mode"), RD(c.Recv(0, Ms(500)))})
		}
		return out
	})
}
