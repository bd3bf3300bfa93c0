package otp_test

import (
	"encoding/binary"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// Ports of scenarios.erl §5 (active modes and messages) and §7 (packet
// framing). Each function follows its Erlang twin step by step, with the
// same sleeps and timeouts.

// ---------------------------------------------------------------------------
// Helpers (prefixed "active" to stay clear of the other scenario files).

// activeCrash is a failed match in an Erlang scenario (`ok = ...`,
// `{ok, <<H>>} = ...`) or a call raising an error: the scenario ends as
// scenarios.erl's run/1 reports it, {scenario_crashed,Class,Reason}.
type activeCrash struct {
	class  string
	reason any
}

// activeReg registers a scenario whose failed matches (activeOk,
// activeBadmatch) end it as erl would.
func activeReg(name string, f scenario) {
	register(name, func(h *H) (out any) {
		defer func() {
			if r := recover(); r != nil {
				c, ok := r.(activeCrash)
				if !ok {
					panic(r)
				}
				out = Tup{A("scenario_crashed"), A(c.class), c.reason}
			}
		}()
		return f(h)
	})
}

// activeBadmatch ends the scenario with {badmatch,V}.
func activeBadmatch(v any) {
	panic(activeCrash{"error", Tup{A("badmatch"), v}})
}

// activeOk is `ok = Call`.
func activeOk(err error) {
	if err != nil {
		activeBadmatch(ErrT(err))
	}
}

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

// activeNext is next/0: the next socket message, waiting up to 2 s.
func activeNext(h *H) any {
	m, err := h.P.Receive(2 * time.Second)
	if err != nil {
		return A("no_message")
	}
	return h.Msg(m)
}

// activeMsgsOf is msgs/1 run by process p (a helper): p's own messages
// until none arrives for ms milliseconds.
func activeMsgsOf(h *H, p *gentcp.Process, ms int) Lst {
	out := Lst{}
	for {
		m, err := p.Receive(time.Duration(ms) * time.Millisecond)
		if err != nil {
			return out
		}
		out = append(out, h.Msg(m))
	}
}

// activeWaitMailbox is wait_mailbox/1: poll (20 ms, 100 tries) until the
// mailbox holds at least n socket messages; does not consume.
func activeWaitMailbox(h *H, n int) Lst {
	for tries := 100; tries > 0; tries-- {
		if ms := h.Mailbox(); len(ms) >= n {
			return ms
		}
		h.Sl(20)
	}
	return h.Mailbox()
}

// activeAsyncH is a helper started by activeAsync.
type activeAsyncH chan any

// activeAsync is async/1: run f in a new process on node A; await gets
// its result.
func activeAsync(h *H, f func(p *gentcp.Process) any) activeAsyncH {
	ch := make(activeAsyncH, 1)
	h.A.Spawn(func(p *gentcp.Process) { ch <- f(p) })
	return ch
}

// await is await/1 (5 s).
func (c activeAsyncH) await() any {
	select {
	case r := <-c:
		return r
	case <-time.After(5 * time.Second):
		return A("await_timeout")
	}
}

// activeSetAndLook is the S fun of the active_n_* scenarios:
// {V, inet:setopts(S,[{active,V}]), opt(S,active), msgs(50)}. v is true,
// false, "once" or an integer.
func activeSetAndLook(h *H, s *gentcp.Socket, v any) any {
	r := R(s.Setopts(gentcp.Option{Name: "active", Value: v}))
	return Tup{Val(v), r, Get(s, "active"), h.Msgs(50)}
}

func activeOpts(o ...gentcp.Option) []gentcp.Option { return o }

const activeMs = time.Millisecond

func init() {
	// §5 ---------------------------------------------------------------

	activeReg("active_true_data_then_closed", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true)))
		activeOk(a.Send(activeB("ab")))
		m1 := activeNext(h)
		activeOk(a.Send(activeB("cd")))
		m2 := activeNext(h)
		activeOk(a.Close())
		return Lst{append(Lst{m1, m2}, h.Msgs()...)}
	})

	activeReg("active_chunk_is_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		activeOk(a.Send(Bytes(10000)))
		h.Sl()
		activeOk(c.Setopts(gentcp.Active(true)))
		// [{T, S, byte_size(D)} || {T, S, D} <- msgs()]
		out := Lst{}
		for _, m := range h.Msgs() {
			t, ok := m.(Tup)
			if !ok || len(t) != 3 {
				continue
			}
			d, ok := t[2].(gentcp.Data)
			if !ok {
				panic(activeCrash{"error", A("badarg")}) // byte_size of a non-binary
			}
			out = append(out, Tup{t[0], t[1], len(d.Bytes)})
		}
		return Lst{out}
	})

	activeReg("active_once_rearm", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.ActiveOnce))
		activeOk(a.Send(activeB("ab")))
		m1 := activeNext(h)
		activeOk(a.Send(activeB("cd")))
		h.Sl()
		r1 := append(Lst{m1}, h.Msgs()...)
		r2 := Get(c, "active")
		activeOk(c.Setopts(gentcp.ActiveOnce))
		r3 := h.Msgs()
		activeOk(a.Close())
		h.Sl()
		r4 := h.Msgs()
		activeOk(c.Setopts(gentcp.ActiveOnce))
		r5 := h.Msgs()
		return Lst{r1, r2, r3, r4, r5, R(c.Send(activeB("x"))), RO(c.Getopts("active"))}
	})

	activeReg("active_once_close_seen_while_passive", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.ActiveOnce))
		activeOk(a.Send(activeB("ab")))
		r1 := append(Lst{activeNext(h)}, h.Msgs()...)
		activeOk(a.Close())
		h.Sl()
		r2 := h.Msgs()
		activeOk(c.Setopts(gentcp.ActiveOnce))
		return Lst{r1, r2, h.Msgs()}
	})

	activeReg("active_after_close_detected_passive", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		activeOk(a.Send(activeB("ab")))
		h.Sl()
		activeOk(a.Send(activeB("cd")))
		activeOk(a.Close())
		h.Sl()
		r1 := RD(c.Recv(1, 100*activeMs))
		r2 := h.Msgs()
		activeOk(c.Setopts(gentcp.Active(true)))
		return Lst{r1, r2, h.Msgs()}
	})

	activeReg("active_n_passive_msg", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.ActiveN(3)))
		activeOk(a.Send(activeB("a")))
		m1 := activeNext(h)
		r1 := Get(c, "active")
		activeOk(a.Send(activeB("b")))
		m2 := activeNext(h)
		activeOk(a.Send(activeB("c")))
		m3 := activeNext(h)
		activeOk(a.Send(activeB("d")))
		h.Sl()
		return Lst{r1, append(Lst{m1, m2, m3}, h.Msgs()...), Get(c, "active"), RD(c.Recv(0, 100*activeMs))}
	})

	activeReg("active_n_counter_rules", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		out := Lst{}
		for _, v := range []any{10, -3, -20, 5, 32767, 32762, 1, true, -1, "once", 7, false, 32768, -32769, -32768} {
			out = append(out, activeSetAndLook(h, c, v))
		}
		return out
	})

	activeReg("active_n_zero_always_passive_msg", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		out := Lst{}
		for _, v := range []any{0, 0, true, 0, "once", 0, 4, 0} {
			out = append(out, activeSetAndLook(h, c, v))
		}
		return out
	})

	activeReg("active_n_close_no_passive", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.ActiveN(2)))
		activeOk(a.Send(activeB("ab")))
		h.Sl()
		activeOk(a.Close())
		return Lst{h.Msgs()}
	})

	activeReg("active_listen_socket_passive_msg", func(h *H) any {
		l := h.Listen()
		out := Lst{}
		for _, v := range []any{0, 2, -2, 3, true} {
			out = append(out, activeSetAndLook(h, l, v))
		}
		return out
	})

	activeReg("active_closed_then_send", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Active(true)))
		activeOk(a.Close())
		h.Sl()
		return Lst{h.Msgs(), R(c.Send(activeB("x"))), R(c.Send(activeB("x"))), RO(c.Getopts("active")),
			RD(c.Recv(0, 100*activeMs)), R(c.Close())}
	})

	activeReg("own_close_active_no_msg", func(h *H) any {
		_, c, a := h.MkPair(activeOpts(gentcp.Active(true)), activeOpts(gentcp.Active(true)))
		activeOk(a.Send(activeB("x")))
		h.Sl()
		return Lst{R(c.Close()), h.Msgs()}
	})

	activeReg("close_flushes_tcp_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Active(true)))
		activeOk(a.Send(activeB("ab")))
		h.Sl()
		activeOk(a.Close())
		r1 := activeWaitMailbox(h, 2)
		return Lst{r1, R(c.Close()), h.Msgs()}
	})

	activeReg("header_binary", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true), gentcp.Header(2)))
		activeOk(a.Send(activeB("abcd")))
		m1 := activeNext(h)
		activeOk(a.Send(activeB("xy")))
		m2 := activeNext(h)
		return Lst{append(Lst{m1, m2}, h.Msgs()...)}
	})

	activeReg("header_short_packet", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true), gentcp.Header(3)))
		activeOk(a.Send(activeB("a")))
		m1 := activeNext(h)
		activeOk(a.Send(activeB("bc")))
		m2 := activeNext(h)
		return Lst{append(Lst{m1, m2}, h.Msgs()...)}
	})

	activeReg("header_passive_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Header(1)))
		activeOk(a.Send(activeB("abc")))
		h.Sl()
		r1 := RD(c.Recv(0, 500*activeMs))
		activeOk(a.Send(activeB("defg")))
		h.Sl()
		return Lst{r1, RD(c.Recv(2, 500*activeMs)), RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("header_list_mode_ignored", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.List, gentcp.Header(2)))
		activeOk(a.Send(activeB("abcd")))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("non_owner_setopts_active", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		hp := activeAsync(h, func(p *gentcp.Process) any {
			r := R(c.Setopts(gentcp.Active(true)))
			h.Sl(100)
			return Tup{r, activeMsgsOf(h, p, 50)}
		})
		h.Sl()
		activeOk(a.Send(activeB("ab")))
		h.Sl()
		return Lst{hp.await(), h.Msgs()}
	})

	activeReg("deliver_port", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Active(true), gentcp.DeliverPort))
		activeOk(a.Send(activeB("ab")))
		h.Sl()
		activeOk(a.Close())
		return Lst{h.Msgs()}
	})

	activeReg("deliver_port_other_msgs", func(h *H) any {
		_, c, a := h.MkPair(activeOpts(gentcp.LingerOpt(true, 0)),
			activeOpts(gentcp.List, gentcp.ActiveN(1), gentcp.DeliverPort, gentcp.ShowEconnreset(true)))
		activeOk(a.Send(activeB("ab")))
		h.Sl()
		r1 := h.Msgs()
		activeOk(c.Setopts(gentcp.Active(true)))
		activeOk(a.Close())
		h.Sl()
		return Lst{r1, h.Msgs()}
	})

	// §7 ---------------------------------------------------------------

	activeReg("send_empty_raw", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		// <<>>, [] and [[], <<>>]: Go's Send takes the flattened iodata.
		r := Lst{R(c.Send(activeB(""))), R(c.Send(activeCat())), R(c.Send(activeCat(nil, activeB(""))))}
		h.Sl()
		r1 := RD(a.Recv(0, 100*activeMs))
		activeOk(c.Send(activeB("ab")))
		h.Sl()
		return append(r, r1, RD(a.Recv(0, 500*activeMs)))
	})

	activeReg("packet_wire_headers", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		out := Lst{}
		for _, p := range []gentcp.Option{gentcp.Packet(1), gentcp.Packet(2), gentcp.Packet(4), {Name: "packet", Value: "raw"}, gentcp.Packet(0)} {
			activeOk(c.Setopts(p))
			activeOk(c.Send(activeB("abc")))
			h.Sl()
			out = append(out, RD(a.Recv(0, 500*activeMs)))
		}
		return out
	})

	activeReg("packet_empty_payload", func(h *H) any {
		_, c, a := h.MkPair(activeOpts(gentcp.Packet(2)), activeOpts(gentcp.Packet(2)))
		activeOk(c.Send(activeB("")))
		h.Sl()
		r1 := RD(a.Recv(0, 500*activeMs))
		activeOk(a.Setopts(gentcp.List))
		activeOk(c.Send(activeCat())) // []
		h.Sl()
		r2 := RD(a.Recv(0, 500*activeMs))
		activeOk(a.Setopts(gentcp.Option{Name: "packet", Value: "raw"}))
		activeOk(c.Send(activeB("")))
		h.Sl()
		return Lst{r1, r2, RD(a.Recv(0, 500*activeMs))}
	})

	activeReg("packet1_parse", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(1)))
		activeOk(a.Send(activeCat([]byte{2}, activeB("ab"), []byte{1}, activeB("c"), []byte{0, 3}, activeB("def"))))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)),
			RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 100*activeMs))}
	})

	activeReg("packet1_oversize_send", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		activeOk(c.Setopts(gentcp.Packet(1)))
		r := R(c.Send(Bytes(300)))
		d, err := a.Recv(1, 500*activeMs) // {ok, <<H>>} = ...
		if err != nil || d.List || len(d.Bytes) != 1 {
			activeBadmatch(RD(d, err))
		}
		hdr := int(d.Bytes[0])
		rest, err := a.Recv(300, 500*activeMs) // {ok, Rest} = ...
		if err != nil {
			activeBadmatch(RD(rest, err))
		}
		return Lst{r, hdr, len(rest.Bytes), RD(a.Recv(0, 100*activeMs))}
	})

	activeReg("packet2_oversize_send", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		activeOk(c.Setopts(gentcp.Packet(2)))
		r := R(c.Send(Bytes(65536 + 10)))
		d, err := a.Recv(2, 500*activeMs) // {ok, <<H:16>>} = ...
		if err != nil || d.List || len(d.Bytes) != 2 {
			activeBadmatch(RD(d, err))
		}
		hdr := int(binary.BigEndian.Uint16(d.Bytes))
		rest, err := a.Recv(65536+10, 1000*activeMs) // {ok, Rest} = ...
		if err != nil {
			activeBadmatch(RD(rest, err))
		}
		return Lst{r, hdr, len(rest.Bytes), RD(a.Recv(0, 100*activeMs))}
	})

	activeReg("packet_size_exceeded_passive", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10)))
		activeOk(a.Send(activeCat([]byte{0, 2}, activeB("ok"))))
		h.Sl()
		activeOk(a.Send(activeCat([]byte{0, 11}, Bytes(11))))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)),
			R(c.Send(activeB("x")))}
	})

	activeReg("packet_size_exceeded_active", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10), gentcp.Active(true)))
		activeOk(a.Send(activeCat([]byte{0, 2}, activeB("ok"))))
		m1 := activeNext(h) // the good packet must be consumed in its own read
		activeOk(a.Send(activeCat([]byte{0, 11}, Bytes(11))))
		h.Sl()
		return Lst{append(Lst{m1}, h.Msgs()...)}
	})

	activeReg("packet_size_exceeded_active_same_read", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10)))
		activeOk(a.Send(activeCat([]byte{0, 2}, activeB("ok"), []byte{0, 11})))
		h.Sl()
		activeOk(c.Setopts(gentcp.Active(true)))
		r1 := h.Msgs()
		activeOk(a.Send(Bytes(11)))
		h.Sl()
		return Lst{r1, h.Msgs()}
	})

	activeReg("packet2_packet_size_boundary", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.PacketSize(10)))
		activeOk(a.Send(activeCat([]byte{0, 10}, activeB("0123456789"))))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 100*activeMs))}
	})

	activeReg("packet2_partial_then_peer_close", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2)))
		activeOk(a.Send(activeCat([]byte{0, 5}, activeB("ab"))))
		activeOk(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("packet2_partial_then_peer_close_active", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.Packet(2), gentcp.Active(true)))
		activeOk(a.Send(activeCat([]byte{0, 1}, activeB("z"), []byte{0, 5}, activeB("ab"))))
		activeOk(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	activeReg("packet_line_basic", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.PacketLine))
		activeOk(a.Send(activeB("ab\ncd\r\n\nef")))
		activeOk(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)),
			RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("packet_line_delimiter", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.List, gentcp.PacketLine, gentcp.LineDelimiter(';')))
		activeOk(a.Send(activeB("ab;cd\nef;g")))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 100*activeMs))}
	})

	activeReg("packet_line_longer_than_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.PacketLine, gentcp.Buffer(10)))
		activeOk(a.Send(activeB("0123456789abcdefghijklmnopqrstu\nxy\n")))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)),
			RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 100*activeMs))}
	})

	activeReg("packet_line_active", func(h *H) any {
		_, _, a := h.MkPair(nil, activeOpts(gentcp.PacketLine, gentcp.Active(true)))
		activeOk(a.Send(activeB("l1\nl2\nl3")))
		h.Sl()
		activeOk(a.Close())
		return Lst{h.Msgs()}
	})

	activeReg("packet_line_packet_size", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.PacketLine, gentcp.PacketSize(5)))
		activeOk(a.Send(activeB("abc\nabcd\nabcdefgh\n")))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)), RD(c.Recv(0, 500*activeMs)),
			RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("packet_switch_to_raw", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Packet(2)))
		activeOk(a.Send(activeCat([]byte{0, 2}, activeB("ab"), activeB("rawdata"), []byte{0, 1})))
		h.Sl()
		r1 := RD(c.Recv(0, 500*activeMs))
		activeOk(c.Setopts(gentcp.Option{Name: "packet", Value: "raw"}))
		return Lst{r1, RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("recv_raw_list", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.List))
		activeOk(a.Send(activeB("abc")))
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("recv_raw_binary", func(h *H) any {
		_, c, a := h.MkPair(nil, activeOpts(gentcp.Binary))
		activeOk(a.Send(activeB("abc"))) // "abc" (a list) as iodata
		h.Sl()
		return Lst{RD(c.Recv(0, 500*activeMs))}
	})

	activeReg("setopts_mode_atoms", func(h *H) any {
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
			activeOk(c.Setopts(tc.opt))
			activeOk(a.Send(activeB("ab")))
			h.Sl()
			out = append(out, Tup{tc.o, Get(c, "mode"), RD(c.Recv(0, 500*activeMs))})
		}
		return out
	})
}
