package otp_test

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/usertcp/usertcp/gentcp"
)

// Scenarios of reference §4 (passive receive), §6 (close, half-close,
// reset), §10 (flow control) and §11 (getstat), ported from scenarios.erl
// step by step.

// ---------------------------------------------------------------------------
// Helpers of this file only, prefixed "passive" (the shared ones: harness_test.go).

// passiveStatKeys is ?STATKEYS.
var passiveStatKeys = []string{"recv_oct", "recv_cnt", "recv_max", "recv_avg", "send_oct", "send_cnt",
	"send_max", "send_avg", "send_pend"}

// passiveSmallL and passiveSmallC are ?SMALL_L and ?SMALL_C.
func passiveSmallL() []gentcp.Option { return []gentcp.Option{gentcp.Recbuf(8192)} }
func passiveSmallC(more ...gentcp.Option) []gentcp.Option {
	return append([]gentcp.Option{gentcp.Sndbuf(8192)}, more...)
}

const passiveMB = 1024 * 1024

// passivePendOf is the asserted pend/1 ({ok,[{send_pend,P}]} = ...).
func passivePendOf(s *gentcp.Socket) int {
	st, err := s.Getstat("send_pend")
	OK(err)
	return st[0].Value
}

// passiveFillKernel is fill_kernel/1: 1000-byte sends until the driver
// queues, confirmed after 200 ms. waiting, if not nil, is set while the
// caller would be in a receive (sending or sleeping), for pend_probe.
func passiveFillKernel(h *H, c *gentcp.Socket, waiting *atomic.Bool, stop *atomic.Bool) (int, error) {
	sent := 0
	deadline := time.Now().Add(20 * time.Second) // erl's per-scenario limit
	for {
		if stop != nil && stop.Load() {
			return sent, gentcp.Closed
		}
		if time.Now().After(deadline) {
			return sent, gentcp.Timeout
		}
		if waiting != nil {
			waiting.Store(true)
		}
		err := c.Send(Bytes(1000))
		if waiting != nil {
			waiting.Store(false)
		}
		if err != nil {
			return sent, err
		}
		sent += 1000
		st, err := c.Getstat("send_pend")
		if err != nil {
			return sent, err
		}
		if st[0].Value == 0 {
			continue
		}
		if waiting != nil {
			waiting.Store(true)
		}
		h.Sl(200)
		if waiting != nil {
			waiting.Store(false)
		}
		st, err = c.Getstat("send_pend")
		if err != nil {
			return sent, err
		}
		if st[0].Value == 0 {
			continue
		}
		return sent, nil
	}
}

// passiveMustFill is `Sent0 = fill_kernel(C)` in the scenario process.
func passiveMustFill(h *H, c *gentcp.Socket) int {
	n, err := passiveFillKernel(h, c, nil, nil)
	if err == gentcp.Timeout {
		panic(crash{A("scenario_timeout")})
	}
	OK(err)
	return n
}

// passiveDrain is drain/1: recv(S,0,1000) until not ok; {Total, Final}.
func passiveDrain(s *gentcp.Socket) (int, any) {
	total := 0
	for {
		d, err := s.Recv(0, Ms(1000))
		if err != nil {
			return total, ErrT(err)
		}
		total += len(d.Bytes)
	}
}

// passiveDrainN is drain_n/2.
func passiveDrainN(s *gentcp.Socket, n int) (int, any) {
	total := 0
	for {
		if total >= n {
			return total, RD(s.Recv(0, Ms(100)))
		}
		d, err := s.Recv(0, Ms(1000))
		if err != nil {
			return total, ErrT(err)
		}
		total += len(d.Bytes)
	}
}

// passiveSendUntilError is send_until_error/3: {OkCount, Result}.
func passiveSendUntilError(s *gentcp.Socket, chunk []byte, n int) (int, any) {
	oks := 0
	for ; n > 0; n-- {
		if err := s.Send(chunk); err != nil {
			return oks, ErrT(err)
		}
		oks++
	}
	return oks, A("still_ok")
}

// passiveBgSendResetSetup is bg_send_reset_setup/1.
func passiveBgSendResetSetup(h *H, copts ...gentcp.Option) (*gentcp.Socket, bool) {
	_, c, a := h.MkPair(passiveSmallL(), append(passiveSmallC(gentcp.HighWatermark(64*passiveMB)), copts...))
	OK(a.Send([]byte("ab")))
	h.Sl()
	OK(c.Send(Bytes(passiveMB)))
	h.Sl()
	pend := passivePendOf(c)
	OK(a.Close())
	h.Sl(100)
	return c, pend > 0
}

// passivePendProbe is pend_probe/1.
func passivePendProbe(h *H, copts ...gentcp.Option) any {
	_, c, _ := h.MkPair(passiveSmallL(), passiveSmallC(copts...))
	var maxPend atomic.Int64
	var waiting, stop atomic.Bool
	hw, _ := Get(c, "high_watermark").(int)
	go func() {
		if _, err := passiveFillKernel(h, c, &waiting, &stop); err != nil {
			return
		}
		// pend_loop/4
		last := 0
		for n := 5000000; n > 0 && !stop.Load(); n-- {
			data := []byte("x")
			if last < hw-2000 {
				data = Bytes(1000)
			}
			waiting.Store(true)
			err := c.Send(data)
			waiting.Store(false)
			if err != nil {
				return
			}
			st, err := c.Getstat("send_pend")
			if err != nil {
				return
			}
			p := st[0].Value
			if len(data) == 1 && int64(p) > maxPend.Load() {
				maxPend.Store(int64(p))
			}
			last = p
		}
	}()
	// wait_blocked/5
	var blocked any = A("gave_up")
	lastP, stable := -1, 0
	for tries := 200; tries > 0; tries-- {
		h.Sl(50)
		p := passivePendOf(c)
		if p == lastP && waiting.Load() {
			if stable >= 3 {
				blocked = p
				break
			}
			stable++
		} else {
			stable = 0
		}
		lastP = p
	}
	res := Lst{Tup{A("max_ok_send_pend"), int(maxPend.Load())}, Tup{A("blocked_send_pend"), blocked}}
	stop.Store(true) // the linked sender dies with the scenario
	return res
}

func init() {
	// ---------------------------------------------------------------------
	// §4 Passive receive

	register("recv0_chunk_is_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send(Bytes(4000)))
		h.Sl()
		return Lst{RSize(c.Recv(0, Ms(500))), RSize(c.Recv(0, Ms(500))),
			RSize(c.Recv(0, Ms(500))), RD(c.Recv(0, 0))}
	})

	register("recv0_chunk_is_buffer_5000", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Buffer(5000)})
		OK(a.Send(Bytes(12000)))
		h.Sl()
		return Lst{RSize(c.Recv(0, Ms(500))), RSize(c.Recv(0, Ms(500))),
			RSize(c.Recv(0, Ms(500))), RD(c.Recv(0, 0))}
	})

	register("recv_len_exact", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("abcdef")))
		h.Sl()
		return Lst{RD(c.Recv(4, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, 0))}
	})

	register("recv_len_waits_for_more", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("abc")))
		h.Async(func() any {
			h.Sl()
			a.Send([]byte("def"))
			h.Sl()
			return R(a.Send([]byte("gh")))
		})
		return Lst{RD(c.Recv(6, Ms(2000))), RD(c.Recv(0, Ms(500)))}
	})

	register("recv_len_larger_than_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		data := Bytes(5000)
		OK(a.Send(data))
		d, err := c.Recv(5000, Ms(2000))
		same := err == nil && !d.List && d.Header == 0 && bytes.Equal(d.Bytes, data)
		return Lst{RSize(d, err), same}
	})

	register("recv_len_limit", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		return Lst{RD(c.Recv(0x4000001, 0)), RD(c.Recv(0x4000000, 0)), RD(c.Recv(0x4000001, Ms(100)))}
	})

	register("recv_len_in_packet_mode", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.Packet(2)}, []gentcp.Option{gentcp.Packet(2)})
		OK(a.Send([]byte("hello")))
		h.Sl()
		return Lst{RD(c.Recv(3, Ms(100))), RD(c.Recv(0, Ms(500)))}
	})

	register("recv_len_peer_closes_short", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("ab")))
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(5, Ms(500))), RD(c.Recv(0, Ms(100))), RD(c.Recv(1, Ms(100)))}
	})

	register("recv_len_blocked_then_peer_closes", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		h.Async(func() any {
			h.Sl()
			a.Send([]byte("ab"))
			h.Sl()
			return R(a.Close())
		})
		return Lst{RD(c.Recv(5, Ms(2000))), RD(c.Recv(0, Ms(100)))}
	})

	register("recv_len_partial_then_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("abc")))
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(2, Ms(500))), RD(c.Recv(1, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(100)))}
	})

	register("recv_timeout_poll", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		r1 := Lst{RD(c.Recv(0, 0)), RD(c.Recv(0, Ms(100)))}
		OK(a.Send([]byte("xy")))
		h.Sl()
		return append(r1, RD(c.Recv(0, 0)), RD(c.Recv(0, 0)))
	})

	register("recv_len_poll_timeout_stale_length", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		r1 := RD(c.Recv(3, 0))
		OK(a.Send([]byte("xy")))
		h.Sl()
		r2 := RD(c.Recv(0, 0))
		r3 := RD(c.Recv(0, Ms(100)))
		OK(a.Send([]byte("more")))
		h.Sl()
		return Lst{r1, r2, r3, RD(c.Recv(0, Ms(100))), RD(c.Recv(0, Ms(100))), RD(c.Recv(0, 0))}
	})

	register("recv_timeout_keeps_partial", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("ab")))
		h.Sl()
		r1 := RD(c.Recv(5, Ms(100)))
		OK(a.Send([]byte("cde")))
		h.Sl()
		return Lst{r1, RD(c.Recv(5, Ms(500))), RD(c.Recv(0, 0))}
	})

	register("packet2_timeout_keeps_partial", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Packet(2)})
		OK(a.Send([]byte{0, 5, 'a', 'b'}))
		h.Sl()
		r1 := RD(c.Recv(0, Ms(100)))
		OK(a.Send([]byte{'c', 'd', 'e', 0, 1, 'f'}))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("recv_concurrent_ealready", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		t := h.Async(func() any { return RD(c.Recv(0, Ms(2000))) })
		h.Sl()
		r1 := RD(c.Recv(0, Ms(100)))
		r2 := RD(c.Recv(0, 0))
		OK(a.Send([]byte("x")))
		return Lst{r1, r2, t.Await()}
	})

	register("recv_non_owner", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("hi")))
		t := h.Async(func() any { return RD(c.Recv(0, Ms(1000))) })
		return Lst{t.Await()}
	})

	register("recv_on_active_socket", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		out := Lst{}
		for _, mode := range []gentcp.Option{gentcp.Active(true), gentcp.ActiveOnce, gentcp.ActiveN(5)} {
			OK(c.Setopts(mode))
			out = append(out, RD(c.Recv(0, Ms(100))))
		}
		return append(out, h.Msgs())
	})

	register("recv_blocked_peer_rst", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, nil)
		h.Async(func() any { h.Sl(); return R(a.Close()) })
		return Lst{RD(c.Recv(0, Ms(2000))), RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	register("recv_blocked_peer_rst_show", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, []gentcp.Option{gentcp.ShowEconnreset(true)})
		h.Async(func() any { h.Sl(); return R(a.Close()) })
		return Lst{RD(c.Recv(0, Ms(2000))), RD(c.Recv(0, Ms(100))), R(c.Send([]byte("x")))}
	})

	register("recv_blocked_own_close", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		t := h.Async(func() any { return RD(c.Recv(0, Ms(2000))) })
		h.Sl()
		return Lst{R(c.Close()), t.Await(), RD(a.Recv(0, Ms(500)))}
	})

	// ---------------------------------------------------------------------
	// §6 Close, half-close, reset

	register("recv_len0_data_then_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("ab")))
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500)))}
	})

	register("recv_len0_closed_then_send", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), R(c.Send([]byte("x"))), R(c.Send([]byte("x"))),
			RD(c.Recv(0, Ms(500))), RO(c.Getopts("active"))}
	})

	register("close_unread_rst_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Send([]byte("unread")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	register("close_unread_rst_recv_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		OK(c.Send([]byte("unread")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	register("close_unread_rst_send_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		OK(c.Send([]byte("unread")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500)))}
	})

	register("close_unread_rst_active", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Send([]byte("unread")))
		h.Sl()
		OK(c.Setopts(gentcp.Active(true)))
		OK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	register("close_unread_rst_active_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		OK(c.Send([]byte("unread")))
		h.Sl()
		OK(c.Setopts(gentcp.Active(true)))
		OK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	register("linger0_rst_passive", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, nil)
		OK(a.Send([]byte("ab")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			R(c.Send([]byte("x"))), R(c.Send([]byte("x")))}
	})

	register("linger0_rst_passive_show", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, []gentcp.Option{gentcp.ShowEconnreset(true)})
		OK(a.Send([]byte("ab")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			R(c.Send([]byte("x")))}
	})

	register("linger0_rst_active", func(h *H) any {
		_, _, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, []gentcp.Option{gentcp.Active(true)})
		OK(a.Send([]byte("ab")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	register("linger0_rst_active_show", func(h *H) any {
		_, _, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)},
			[]gentcp.Option{gentcp.Active(true), gentcp.ShowEconnreset(true)})
		OK(a.Send([]byte("ab")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	register("send_after_peer_close", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			R(c.Send([]byte("x")))}
	})

	register("send_after_peer_close_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		OK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			R(c.Send([]byte("x")))}
	})

	register("bg_send_reset_recv", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		return Lst{queued, RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	register("bg_send_reset_send", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		return Lst{queued, R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500)))}
	})

	register("bg_send_reset_active", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		r := R(c.Setopts(gentcp.Active(true)))
		return Lst{queued, r, h.Msgs()}
	})

	register("bg_send_reset_active_show", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h, gentcp.ShowEconnreset(true))
		r := R(c.Setopts(gentcp.Active(true)))
		return Lst{queued, r, h.Msgs()}
	})

	register("recv_len0_data_then_closed_eoc_false", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		OK(a.Send([]byte("ab")))
		OK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(3, Ms(500)))}
	})

	register("eoc_false_closed_socket_ops", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		OK(a.Close())
		h.Sl()
		r1 := RD(c.Recv(0, Ms(500)))
		r2 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, r2, R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, Ms(500))),
			RO(c.Getopts("exit_on_close")), R(c.Shutdown(gentcp.ShutdownWrite)), R(c.Close()),
			R(c.Send([]byte("x")))}
	})

	register("send_after_peer_fin_unread", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		return Lst{R(c.Send([]byte("hi"))), RD(a.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			RD(c.Recv(0, Ms(500)))}
	})

	register("shutdown_write_peer_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Send([]byte("ab")))
		r0 := R(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		return Lst{r0, RD(a.Recv(0, Ms(500))), RD(a.Recv(0, Ms(500))), R(a.Send([]byte("x"))),
			RD(a.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("shutdown_write_data_before_fin", func(h *H) any {
		_, c, _ := h.MkPair([]gentcp.Option{gentcp.Active(true)}, nil)
		OK(c.Send([]byte("ab")))
		m1 := h.Next()
		OK(c.Send([]byte("cd")))
		OK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		return Lst{append(Lst{m1}, h.Msgs()...)}
	})

	register("shutdown_write_self_still_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		OK(a.Send([]byte("ab")))
		h.Sl()
		r1 := RD(c.Recv(0, Ms(500)))
		OK(a.Send([]byte("cd")))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, Ms(500))), RD(a.Recv(0, Ms(500))), R(a.Send([]byte("x"))),
			RD(c.Recv(0, Ms(500)))}
	})

	register("shutdown_write_peer_eoc_false", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.ExitOnClose(false)}, nil)
		OK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		r1 := RD(a.Recv(0, Ms(500)))
		r2 := RD(a.Recv(0, Ms(500)))
		r3 := R(a.Send([]byte("hi")))
		h.Sl()
		r4 := RD(c.Recv(0, Ms(500)))
		r5 := R(a.Close())
		h.Sl()
		return Lst{r1, r2, r3, r4, r5, RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("shutdown_write_active_peer_eoc_false", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.ExitOnClose(false), gentcp.Active(true)}, nil)
		OK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		r1 := h.Msgs()
		r2 := R(a.Send([]byte("hi")))
		h.Sl()
		r3 := RD(c.Recv(0, Ms(500)))
		OK(a.Setopts(gentcp.ActiveOnce))
		r4 := h.Msgs()
		OK(a.Setopts(gentcp.Active(true)))
		return Lst{r1, r2, r3, r4, h.Msgs(), R(a.Close()), RD(c.Recv(0, Ms(500)))}
	})

	register("eoc_false_active_peer_close", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Active(true), gentcp.ExitOnClose(false)})
		OK(a.Send([]byte("ab")))
		h.Sl()
		OK(a.Close())
		h.Sl()
		r1 := h.Msgs()
		OK(c.Setopts(gentcp.ActiveOnce))
		r2 := h.Msgs()
		return Lst{r1, r2, RO(c.Getopts("active")), RD(c.Recv(0, Ms(100)))}
	})

	register("shutdown_write_then_send", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		return Lst{R(c.Shutdown(gentcp.ShutdownWrite)), R(c.Send([]byte("x"))), R(c.Send([]byte("x"))),
			R(c.Shutdown(gentcp.ShutdownWrite)), R(c.Shutdown(gentcp.ShutdownRead))}
	})

	register("shutdown_write_pending_output", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.HighWatermark(64*passiveMB)))
		data := Bytes(passiveMB)
		OK(c.Send(data))
		h.Sl()
		pend := passivePendOf(c)
		t0 := time.Now()
		r := R(c.Shutdown(gentcp.ShutdownWrite))
		fast := time.Since(t0) < Ms(100)
		total, end := passiveDrain(a)
		return Lst{pend > 0, r, fast, total == len(data), end}
	})

	register("shutdown_read_then_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("ab")))
		h.Sl()
		r1 := R(c.Shutdown(gentcp.ShutdownRead))
		OK(a.Send([]byte("cd")))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500))),
			R(c.Send([]byte("x")))}
	})

	register("shutdown_read_write", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		r1 := R(c.Shutdown(gentcp.ShutdownReadWrite))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, Ms(500))), RD(a.Recv(0, Ms(500))), R(c.Send([]byte("x")))}
	})

	register("close_waits_for_pending_output", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.HighWatermark(64*passiveMB)))
		data := Bytes(passiveMB)
		r0 := R(c.Send(data))
		h.Sl()
		t := h.Async(func() any { return R(c.Close()) })
		h.Sl(300)
		before := t.DoneYet()
		total, end := passiveDrain(a)
		return Lst{r0, before, total == len(data), end, t.Await()}
	})

	register("close_pending_output_peer_never_reads", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.HighWatermark(64*passiveMB)))
		sent0 := passiveMustFill(h, c)
		OK(c.Send(Bytes(100000)))
		t0 := time.Now()
		r := R(c.Close())
		took := time.Since(t0)
		total, end := passiveDrain(a)
		return Lst{r, took >= Ms(4900), took < Ms(10000), total == sent0+100000, end}
	})

	register("no_accept_listen_closed_passive", func(h *H) any {
		l := h.Listen()
		c := h.Connect(l)
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		OK(l.Close())
		h.Sl()
		return Lst{r1, RD(c.Recv(0, Ms(500))), RD(c.Recv(0, Ms(500)))}
	})

	register("no_accept_listen_closed_active", func(h *H) any {
		l := h.Listen()
		h.Connect(l, gentcp.Active(true))
		h.Sl()
		OK(l.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	register("no_accept_listen_closed_active_show", func(h *H) any {
		l := h.Listen()
		h.Connect(l, gentcp.Active(true), gentcp.ShowEconnreset(true))
		h.Sl()
		OK(l.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	// ---------------------------------------------------------------------
	// §10 Flow control and send timeouts

	register("send_pend_reaches_high_watermark", func(h *H) any { return passivePendProbe(h) })

	register("send_pend_reaches_high_watermark_100000", func(h *H) any {
		return passivePendProbe(h, gentcp.HighWatermark(100000))
	})

	register("send_blocks_without_timeout", func(h *H) any {
		_, c, _ := h.MkPair(passiveSmallL(), passiveSmallC())
		t := h.Async(func() any {
			oks, r := passiveSendUntilError(c, Bytes(1000), 100000)
			return Tup{oks, r}
		})
		h.Sl(700)
		return Lst{t.DoneYet()}
	})

	register("send_busy_suspends_other_senders", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC())
		t1 := h.Async(func() any {
			oks, r := passiveSendUntilError(c, Bytes(1000), 100000)
			return Tup{oks, r}
		})
		h.Sl(300)
		t2 := h.Async(func() any { return R(c.Send([]byte("second"))) })
		h.Sl(300)
		r := Lst{t1.DoneYet(), t2.DoneYet()}
		h.Async(func() any {
			total, end := passiveDrain(a)
			return Tup{total, end}
		})
		r2 := t2.Await(3000)
		return append(r, r2)
	})

	register("send_timeout_fires", func(h *H) any {
		chunk := Bytes(1000)
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.SendTimeout(Ms(200))))
		sent0 := passiveMustFill(h, c)
		oks, err1 := passiveSendUntilError(c, chunk, 100000)
		t0 := time.Now()
		err2 := R(c.Send(chunk))
		waited := time.Since(t0)
		expected := sent0 + (oks+2)*len(chunk)
		total, end := passiveDrainN(a, expected)
		return Lst{oks > 0, err1, err2, waited >= Ms(190), total == expected, end,
			RO(c.Getopts("send_timeout")), R(c.Send(chunk))}
	})

	register("send_timeout_close", func(h *H) any {
		chunk := Bytes(1000)
		_, c, a := h.MkPair(passiveSmallL(),
			passiveSmallC(gentcp.SendTimeout(Ms(200)), gentcp.SendTimeoutClose(true)))
		sent0 := passiveMustFill(h, c)
		oks, err1 := passiveSendUntilError(c, chunk, 100000)
		r := Lst{oks > 0, err1, R(c.Send(chunk)), RD(c.Recv(0, Ms(100))),
			RO(c.Getopts("send_timeout", "send_timeout_close"))}
		total, end := passiveDrain(a)
		return append(r, R(c.Close()), total < sent0+oks*len(chunk), end)
	})

	register("send_timeout_close_active", func(h *H) any {
		chunk := Bytes(1000)
		_, c, _ := h.MkPair(passiveSmallL(),
			passiveSmallC(gentcp.SendTimeout(Ms(200)), gentcp.SendTimeoutClose(true), gentcp.Active(true)))
		passiveMustFill(h, c)
		oks, err1 := passiveSendUntilError(c, chunk, 100000)
		h.Sl()
		return Lst{oks > 0, err1, h.Msgs(), R(c.Send(chunk)), h.Msgs()}
	})

	// ---------------------------------------------------------------------
	// §11 getstat

	register("getstat_packet_counts", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.Packet(2)}, []gentcp.Option{gentcp.Packet(2)})
		OK(c.Send([]byte("hello")))
		OK(c.Send([]byte("abc")))
		h.Sl()
		r1 := RD(a.Recv(0, Ms(500)))
		r2 := RD(a.Recv(0, Ms(500)))
		return Lst{r1, r2, Stats(c.Getstat(passiveStatKeys...)), Stats(a.Getstat(passiveStatKeys...))}
	})

	register("getstat_raw_counts", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		OK(a.Send([]byte("hello")))
		h.Sl()
		r1 := RD(c.Recv(2, Ms(500)))
		r2 := RD(c.Recv(0, Ms(500)))
		return Lst{r1, r2, Stats(c.Getstat(passiveStatKeys...)), Stats(a.Getstat(passiveStatKeys...))}
	})
}
