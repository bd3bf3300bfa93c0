package otp_test

// The scenarios of issue 20: differences an outside check found between
// gentcp and OTP 25, and their neighbours (scenarios.erl, "Issue 20").

import (
	"github.com/usertcp/usertcp/gentcp"
)

// conformFdOps is fd_ops/1: what a socket answers once OTP's driver may
// have closed its file descriptor. Addresses are printed as ok.
func conformFdOps(s *gentcp.Socket) Lst {
	_, err1 := s.Sockname()
	_, err2 := s.Peername()
	_, err3 := s.Port()
	return Lst{R(err1), R(err2), R(err3), RO(s.Getopts("active", "exit_on_close")),
		R(s.Setopts(gentcp.Active(false))), Stats(s.Getstat("recv_oct", "send_oct"))}
}

// conformFdNames is fd_names/1: sockname, peername and port, addresses
// printed as ok.
func conformFdNames(s *gentcp.Socket) Lst {
	_, err1 := s.Sockname()
	_, err2 := s.Peername()
	_, err3 := s.Port()
	return Lst{R(err1), R(err2), R(err3)}
}

// conformActive is an {active,N} option list as the scenarios write them.
func conformActive(vs ...any) []gentcp.Option {
	out := []gentcp.Option{}
	for _, v := range vs {
		out = append(out, gentcp.Option{Name: "active", Value: v})
	}
	return out
}

// conformOptList prints an option list as Erlang writes it.
func conformOptList(opts []gentcp.Option) Lst {
	l := Lst{}
	for _, o := range opts {
		l = append(l, Opt(o))
	}
	return l
}

func init() {
	register("active_n_zero_at_open", func(h *H) any {
		look := func(s *gentcp.Socket) any { return Tup{Get(s, "active"), h.Msgs(50)} }
		l := h.Listen(conformActive(0)...)
		r1 := look(l)
		listen := func(name string, opts ...gentcp.Option) *gentcp.Socket {
			s, err := h.P.Listen(0, append([]gentcp.Option{gentcp.Binary, gentcp.IP(serverIP)}, opts...)...)
			if err != nil {
				Badmatch(ErrT(err))
			}
			return h.Reg(s, name)
		}
		r2 := look(listen("l2", conformActive(2, -1)...))
		r3 := look(listen("l3", conformActive(0, 2)...))
		c := h.Connect(l, conformActive(0)...)
		r4 := look(c)
		a := h.Accept(l)
		r5 := look(a)
		r6 := look(h.ConnectAs(l, "s", conformActive(1, 0)...))
		r7 := look(h.ConnectAs(l, "s", conformActive(0, false)...))
		l4, err := h.P.Listen(0, gentcp.IP(serverIP))
		OK(err)
		p4 := h.Port(l4)
		OK(l4.Close())
		s8, err := h.PB.Connect(serverIP.String(), p4, Ms(1000), conformActive(0)...)
		r8 := Tup{h.apiRS(s8, err), h.Msgs(50)}
		s9, err := h.P.Listen(h.Port(l), gentcp.IP(serverIP), gentcp.ActiveN(-5))
		r9 := Tup{h.apiRS(s9, err), h.Msgs(50)}
		return Lst{r1, r2, r3, r4, r5, r6, r7, r8, r9}
	})

	register("setopts_active_entries_each_passive", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		set := func(vs ...any) any {
			opts := conformActive(vs...)
			r := R(c.Setopts(opts...))
			return Tup{conformOptList(opts), r, Get(c, "active"), h.Msgs(50)}
		}
		return Lst{set(0, 0), set(true, 0), set(0, true), set(2, -1), set(-1, 2), set(false), set(-1, -1),
			set(3, 3)}
	})

	register("shutdown_write_send_closes_socket", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Shutdown(gentcp.ShutdownWrite))
		OK(a.Send([]byte("early")))
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		r2 := R(a.Send([]byte("late")))
		h.Sl()
		return append(Lst{r1, r2, RD(c.Recv(0, Ms(200))), RD(c.Recv(0, Ms(200))), R(c.Send([]byte("x"))),
			R(c.Shutdown(gentcp.ShutdownRead))}, conformFdOps(c)...)
	})

	register("shutdown_write_send_eoc_false", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		OK(c.Shutdown(gentcp.ShutdownWrite))
		r1 := R(c.Send([]byte("x")))
		OK(a.Send([]byte("late")))
		h.Sl()
		return append(Lst{r1, RD(c.Recv(0, Ms(200))), RD(c.Recv(0, Ms(200))), R(c.Send([]byte("x"))),
			R(c.Shutdown(gentcp.ShutdownRead))}, conformFdOps(c)...)
	})

	register("shutdown_write_send_active", func(h *H) any {
		_, c, _ := h.MkPair(nil, []gentcp.Option{gentcp.Active(true)})
		OK(c.Shutdown(gentcp.ShutdownWrite))
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		return append(Lst{r1, h.Msgs(), RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))}, conformFdOps(c)...)
	})

	register("eoc_false_failed_send_fd_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		r0 := conformFdOps(c)
		OK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		r2 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r0, r1, r2, conformFdOps(c), RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x"))),
			R(c.Shutdown(gentcp.ShutdownRead))}
	})

	register("eoc_false_reset_send_fd_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		OK(a.Setopts(gentcp.LingerOpt(true, 0)))
		OK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, conformFdOps(c), R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(100)))}
	})

	register("eoc_false_recv_closed_fd_open", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		OK(a.Close())
		h.Sl()
		r1 := RD(c.Recv(0, Ms(500)))
		return append(Lst{r1}, conformFdOps(c)...)
	})

	register("eoc_recv_closed_fd_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Close())
		h.Sl()
		r1 := RD(c.Recv(0, Ms(500)))
		return append(Lst{r1, RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))}, conformFdOps(c)...)
	})

	register("eoc_failed_send_fd_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		r2 := R(c.Send([]byte("x")))
		h.Sl()
		return append(Lst{r1, r2, RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))}, conformFdOps(c)...)
	})

	register("fd_closed_after_packet_size", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Packet(2), gentcp.PacketSize(10)})
		OK(a.Send(append([]byte{0, 20}, Bytes(20)...)))
		h.Sl()
		return append(Lst{RD(c.Recv(0, Ms(100))), RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))},
			conformFdOps(c)...)
	})

	register("fd_closed_after_send_timeout_close", func(h *H) any {
		_, c, _ := h.MkPair(passiveSmallL(),
			passiveSmallC(gentcp.SendTimeout(Ms(200)), gentcp.SendTimeoutClose(true)))
		passiveMustFill(h, c)
		oks, err := passiveSendUntilError(c, Bytes(1000), 100000)
		return append(Lst{oks > 0, err}, conformFdNames(c)...)
	})

	register("fd_closed_after_bg_send_reset", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		return append(append(Lst{queued}, conformFdNames(c)...), RD(c.Recv(0, Ms(500))), R(c.Send([]byte("x"))))
	})

	resetPeer := func(h *H, copts ...gentcp.Option) *gentcp.Socket {
		_, c, a := h.MkPair(nil, copts)
		OK(a.Setopts(gentcp.LingerOpt(true, 0)))
		OK(a.Close())
		h.Sl()
		return c
	}

	register("eoc_false_show_reset_send", func(h *H) any {
		c := resetPeer(h, gentcp.ShowEconnreset(true), gentcp.ExitOnClose(false))
		r1 := R(c.Send([]byte("x")))
		return append(Lst{r1, R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(100))), RD(c.Recv(0, Ms(100))),
			R(c.Send([]byte("x")))}, conformFdNames(c)...)
	})

	register("eoc_false_show_reset_recv_then_send", func(h *H) any {
		c := resetPeer(h, gentcp.ShowEconnreset(true), gentcp.ExitOnClose(false))
		r1 := RD(c.Recv(0, Ms(100)))
		return append(Lst{r1, R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(100))),
			RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))}, conformFdNames(c)...)
	})

	register("eoc_false_fin_seen_send_fails", func(h *H) any {
		run := func(extra ...gentcp.Option) any {
			_, c, a := h.MkPair(nil, append([]gentcp.Option{gentcp.ExitOnClose(false)}, extra...))
			OK(a.Close())
			h.Sl()
			r0 := RD(c.Recv(0, Ms(100)))
			r1 := R(c.Send([]byte("x")))
			h.Sl()
			return append(Lst{r0, r1, R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), R(c.Send([]byte("x"))),
				RD(c.Recv(0, Ms(100))), RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))}, conformFdNames(c)...)
		}
		return Lst{run(), run(gentcp.ShowEconnreset(true))}
	})

	register("getstat_dvi", func(h *H) any {
		run := func(sizes ...int) any {
			_, c, a := h.MkPair([]gentcp.Option{gentcp.Packet(2)}, []gentcp.Option{gentcp.Packet(2)})
			for _, n := range sizes {
				OK(c.Send(Bytes(n)))
				if _, err := a.Recv(0, Ms(1000)); err != nil {
					Badmatch(ErrT(err))
				}
			}
			return Tup{Stats(a.Getstat("recv_cnt", "recv_max", "recv_avg", "recv_dvi")),
				Stats(c.Getstat("send_cnt", "send_max", "send_avg")), Stats(c.Getstat("send_dvi")),
				Stats(a.Getstat())}
		}
		return Lst{run(7, 5), run(5, 7), run(100, 1, 1, 1, 1), run(1, 1, 1, 1, 100), run(10, 20, 30, 40),
			run(3, 1000, 3, 1000, 3, 1000)}
	})

	register("connect_nxdomain", func(h *H) any {
		const name = "nosuchhost.invalid"
		connect := func(host string, port int, opts ...gentcp.Option) any {
			s, err := h.PB.Connect(host, port, Ms(1000), opts...)
			return h.apiRS(s, err)
		}
		x := func(class string, host string, timeout int) any {
			s, err := h.PB.Connect(host, 80, Ms(timeout))
			return h.apiXS(class, s, err)
		}
		listen := func(ip string) any {
			s, err := h.P.Listen(0, gentcp.Option{Name: "ip", Value: ip})
			return h.apiXS("exit", s, err)
		}
		return Lst{connect(name, 80), connect("nosuchhost", 80), connect(name, 80, gentcp.ActiveN(0)), h.Msgs(50),
			connect(name, 80, gentcp.Option{Name: "foo", Value: "bar"}), connect(name, 65536),
			connect(name, 80, gentcp.Inet6),
			connect("10.0.0.256", 80),
			x("exit", "", 1000), x("exit", "bad name", 1000), x("error", name, -1),
			// {ip,Name} and {ifaddr,Name}: ParseOptions makes ifaddr ip.
			listen("localhost"), listen("localhost"), listen(name)}
	})
}
