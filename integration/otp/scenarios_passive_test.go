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
// Helpers (prefixed "passive" to stay clear of the other scenario files).

// passiveCrash is panicked by passiveOK when an Erlang `ok = ...` match
// would fail; passiveRegister turns it into the line erl would print.
type passiveCrash struct{ out any }

// passiveRegister registers f, printing a failed `ok = ...` match as erl's
// run/1 does: {scenario_crashed,error,{badmatch,Value}}.
func passiveRegister(name string, f scenario) {
	register(name, func(h *H) (out any) {
		defer func() {
			if r := recover(); r != nil {
				c, ok := r.(passiveCrash)
				if !ok {
					panic(r)
				}
				out = c.out
			}
		}()
		return f(h)
	})
}

// passiveOK is `ok = Call`.
func passiveOK(err error) {
	if err != nil {
		panic(passiveCrash{Tup{A("scenario_crashed"), A("error"), Tup{A("badmatch"), ErrT(err)}}})
	}
}

func passiveMs(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// passiveTask is async/1: a helper running f; await/done_yet get its result.
type passiveTask struct {
	ch   chan any
	done bool
	res  any
}

func passiveAsync(f func() any) *passiveTask {
	t := &passiveTask{ch: make(chan any, 1)}
	go func() { t.ch <- f() }()
	return t
}

// await is await/1,2 (default 5000 ms).
func (t *passiveTask) await(ms ...int) any {
	if t.done {
		return t.res
	}
	d := 5000
	if len(ms) > 0 {
		d = ms[0]
	}
	tm := time.NewTimer(passiveMs(d))
	defer tm.Stop()
	select {
	case r := <-t.ch:
		t.done, t.res = true, r
		return r
	case <-tm.C:
		return A("await_timeout")
	}
}

// doneYet is done_yet/1: the result stays for a later await.
func (t *passiveTask) doneYet() any {
	if t.done {
		return A("done")
	}
	select {
	case r := <-t.ch:
		t.done, t.res = true, r
		return A("done")
	default:
		return A("not_yet")
	}
}

// passiveSizeOf is size_of/1 on a recv result.
func passiveSizeOf(d gentcp.Data, err error) any { return RSize(d, err) }

// passiveStat prints inet:getstat's {ok,[{K,V}]} or {error,R}.
func passiveStat(st []gentcp.Stat, err error) any {
	if err != nil {
		return ErrT(err)
	}
	l := Lst{}
	for _, s := range st {
		l = append(l, Tup{A(s.Name), s.Value})
	}
	return Tup{A("ok"), l}
}

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
	passiveOK(err)
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
		panic(passiveCrash{A("scenario_timeout")})
	}
	passiveOK(err)
	return n
}

// passiveDrain is drain/1: recv(S,0,1000) until not ok; {Total, Final}.
func passiveDrain(s *gentcp.Socket) (int, any) {
	total := 0
	for {
		d, err := s.Recv(0, passiveMs(1000))
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
			return total, RD(s.Recv(0, passiveMs(100)))
		}
		d, err := s.Recv(0, passiveMs(1000))
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

// passiveNext is next/0: the next socket message, waiting up to 2 s.
func passiveNext(h *H) any {
	m, err := h.P.Receive(2 * time.Second)
	if err != nil {
		return A("no_message")
	}
	return h.Msg(m)
}

// passiveBgSendResetSetup is bg_send_reset_setup/1.
func passiveBgSendResetSetup(h *H, copts ...gentcp.Option) (*gentcp.Socket, bool) {
	_, c, a := h.MkPair(passiveSmallL(), append(passiveSmallC(gentcp.HighWatermark(64*passiveMB)), copts...))
	passiveOK(a.Send([]byte("ab")))
	h.Sl()
	passiveOK(c.Send(Bytes(passiveMB)))
	h.Sl()
	pend := passivePendOf(c)
	passiveOK(a.Close())
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

	passiveRegister("recv0_chunk_is_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send(Bytes(4000)))
		h.Sl()
		return Lst{passiveSizeOf(c.Recv(0, passiveMs(500))), passiveSizeOf(c.Recv(0, passiveMs(500))),
			passiveSizeOf(c.Recv(0, passiveMs(500))), RD(c.Recv(0, 0))}
	})

	passiveRegister("recv0_chunk_is_buffer_5000", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Buffer(5000)})
		passiveOK(a.Send(Bytes(12000)))
		h.Sl()
		return Lst{passiveSizeOf(c.Recv(0, passiveMs(500))), passiveSizeOf(c.Recv(0, passiveMs(500))),
			passiveSizeOf(c.Recv(0, passiveMs(500))), RD(c.Recv(0, 0))}
	})

	passiveRegister("recv_len_exact", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("abcdef")))
		h.Sl()
		return Lst{RD(c.Recv(4, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, 0))}
	})

	passiveRegister("recv_len_waits_for_more", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("abc")))
		passiveAsync(func() any {
			h.Sl()
			a.Send([]byte("def"))
			h.Sl()
			return R(a.Send([]byte("gh")))
		})
		return Lst{RD(c.Recv(6, passiveMs(2000))), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("recv_len_larger_than_buffer", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		data := Bytes(5000)
		passiveOK(a.Send(data))
		d, err := c.Recv(5000, passiveMs(2000))
		same := err == nil && !d.List && d.Header == 0 && bytes.Equal(d.Bytes, data)
		return Lst{passiveSizeOf(d, err), same}
	})

	passiveRegister("recv_len_limit", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		return Lst{RD(c.Recv(0x4000001, 0)), RD(c.Recv(0x4000000, 0)), RD(c.Recv(0x4000001, passiveMs(100)))}
	})

	passiveRegister("recv_len_in_packet_mode", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.Packet(2)}, []gentcp.Option{gentcp.Packet(2)})
		passiveOK(a.Send([]byte("hello")))
		h.Sl()
		return Lst{RD(c.Recv(3, passiveMs(100))), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("recv_len_peer_closes_short", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("ab")))
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(5, passiveMs(500))), RD(c.Recv(0, passiveMs(100))), RD(c.Recv(1, passiveMs(100)))}
	})

	passiveRegister("recv_len_blocked_then_peer_closes", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveAsync(func() any {
			h.Sl()
			a.Send([]byte("ab"))
			h.Sl()
			return R(a.Close())
		})
		return Lst{RD(c.Recv(5, passiveMs(2000))), RD(c.Recv(0, passiveMs(100)))}
	})

	passiveRegister("recv_len_partial_then_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("abc")))
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(2, passiveMs(500))), RD(c.Recv(1, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			RD(c.Recv(0, passiveMs(100)))}
	})

	passiveRegister("recv_timeout_poll", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		r1 := Lst{RD(c.Recv(0, 0)), RD(c.Recv(0, passiveMs(100)))}
		passiveOK(a.Send([]byte("xy")))
		h.Sl()
		return append(r1, RD(c.Recv(0, 0)), RD(c.Recv(0, 0)))
	})

	passiveRegister("recv_len_poll_timeout_stale_length", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		r1 := RD(c.Recv(3, 0))
		passiveOK(a.Send([]byte("xy")))
		h.Sl()
		r2 := RD(c.Recv(0, 0))
		r3 := RD(c.Recv(0, passiveMs(100)))
		passiveOK(a.Send([]byte("more")))
		h.Sl()
		return Lst{r1, r2, r3, RD(c.Recv(0, passiveMs(100))), RD(c.Recv(0, passiveMs(100))), RD(c.Recv(0, 0))}
	})

	passiveRegister("recv_timeout_keeps_partial", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		r1 := RD(c.Recv(5, passiveMs(100)))
		passiveOK(a.Send([]byte("cde")))
		h.Sl()
		return Lst{r1, RD(c.Recv(5, passiveMs(500))), RD(c.Recv(0, 0))}
	})

	passiveRegister("packet2_timeout_keeps_partial", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Packet(2)})
		passiveOK(a.Send([]byte{0, 5, 'a', 'b'}))
		h.Sl()
		r1 := RD(c.Recv(0, passiveMs(100)))
		passiveOK(a.Send([]byte{'c', 'd', 'e', 0, 1, 'f'}))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("recv_concurrent_ealready", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		t := passiveAsync(func() any { return RD(c.Recv(0, passiveMs(2000))) })
		h.Sl()
		r1 := RD(c.Recv(0, passiveMs(100)))
		r2 := RD(c.Recv(0, 0))
		passiveOK(a.Send([]byte("x")))
		return Lst{r1, r2, t.await()}
	})

	passiveRegister("recv_non_owner", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("hi")))
		t := passiveAsync(func() any { return RD(c.Recv(0, passiveMs(1000))) })
		return Lst{t.await()}
	})

	passiveRegister("recv_on_active_socket", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		out := Lst{}
		for _, mode := range []gentcp.Option{gentcp.Active(true), gentcp.ActiveOnce, gentcp.ActiveN(5)} {
			passiveOK(c.Setopts(mode))
			out = append(out, RD(c.Recv(0, passiveMs(100))))
		}
		return append(out, h.Msgs())
	})

	passiveRegister("recv_blocked_peer_rst", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, nil)
		passiveAsync(func() any { h.Sl(); return R(a.Close()) })
		return Lst{RD(c.Recv(0, passiveMs(2000))), RD(c.Recv(0, passiveMs(100))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("recv_blocked_peer_rst_show", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, []gentcp.Option{gentcp.ShowEconnreset(true)})
		passiveAsync(func() any { h.Sl(); return R(a.Close()) })
		return Lst{RD(c.Recv(0, passiveMs(2000))), RD(c.Recv(0, passiveMs(100))), R(c.Send([]byte("x")))}
	})

	passiveRegister("recv_blocked_own_close", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		t := passiveAsync(func() any { return RD(c.Recv(0, passiveMs(2000))) })
		h.Sl()
		return Lst{R(c.Close()), t.await(), RD(a.Recv(0, passiveMs(500)))}
	})

	// ---------------------------------------------------------------------
	// §6 Close, half-close, reset

	passiveRegister("recv_len0_data_then_closed", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("ab")))
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("recv_len0_closed_then_send", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), R(c.Send([]byte("x"))), R(c.Send([]byte("x"))),
			RD(c.Recv(0, passiveMs(500))), RO(c.Getopts("active"))}
	})

	passiveRegister("close_unread_rst_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(c.Send([]byte("unread")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("close_unread_rst_recv_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		passiveOK(c.Send([]byte("unread")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("close_unread_rst_send_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		passiveOK(c.Send([]byte("unread")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, passiveMs(500))),
			RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("close_unread_rst_active", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(c.Send([]byte("unread")))
		h.Sl()
		passiveOK(c.Setopts(gentcp.Active(true)))
		passiveOK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	passiveRegister("close_unread_rst_active_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		passiveOK(c.Send([]byte("unread")))
		h.Sl()
		passiveOK(c.Setopts(gentcp.Active(true)))
		passiveOK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	passiveRegister("linger0_rst_passive", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, nil)
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			R(c.Send([]byte("x"))), R(c.Send([]byte("x")))}
	})

	passiveRegister("linger0_rst_passive_show", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, []gentcp.Option{gentcp.ShowEconnreset(true)})
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("linger0_rst_active", func(h *H) any {
		_, _, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)}, []gentcp.Option{gentcp.Active(true)})
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	passiveRegister("linger0_rst_active_show", func(h *H) any {
		_, _, a := h.MkPair([]gentcp.Option{gentcp.LingerOpt(true, 0)},
			[]gentcp.Option{gentcp.Active(true), gentcp.ShowEconnreset(true)})
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	passiveRegister("send_after_peer_close", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, R(c.Send([]byte("x"))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("send_after_peer_close_show", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ShowEconnreset(true)})
		passiveOK(a.Close())
		h.Sl()
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, R(c.Send([]byte("x"))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("bg_send_reset_recv", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		return Lst{queued, RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), R(c.Send([]byte("x"))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("bg_send_reset_send", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		return Lst{queued, R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, passiveMs(500))),
			RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("bg_send_reset_active", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h)
		r := R(c.Setopts(gentcp.Active(true)))
		return Lst{queued, r, h.Msgs()}
	})

	passiveRegister("bg_send_reset_active_show", func(h *H) any {
		c, queued := passiveBgSendResetSetup(h, gentcp.ShowEconnreset(true))
		r := R(c.Setopts(gentcp.Active(true)))
		return Lst{queued, r, h.Msgs()}
	})

	passiveRegister("recv_len0_data_then_closed_eoc_false", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		passiveOK(a.Send([]byte("ab")))
		passiveOK(a.Close())
		h.Sl()
		return Lst{RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			RD(c.Recv(3, passiveMs(500)))}
	})

	passiveRegister("eoc_false_closed_socket_ops", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.ExitOnClose(false)})
		passiveOK(a.Close())
		h.Sl()
		r1 := RD(c.Recv(0, passiveMs(500)))
		r2 := R(c.Send([]byte("x")))
		h.Sl()
		return Lst{r1, r2, R(c.Send([]byte("x"))), R(c.Send([]byte("x"))), RD(c.Recv(0, passiveMs(500))),
			RO(c.Getopts("exit_on_close")), R(c.Shutdown(gentcp.ShutdownWrite)), R(c.Close()),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("send_after_peer_fin_unread", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		return Lst{R(c.Send([]byte("hi"))), RD(a.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("shutdown_write_peer_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(c.Send([]byte("ab")))
		r0 := R(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		return Lst{r0, RD(a.Recv(0, passiveMs(500))), RD(a.Recv(0, passiveMs(500))), R(a.Send([]byte("x"))),
			RD(a.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("shutdown_write_data_before_fin", func(h *H) any {
		_, c, _ := h.MkPair([]gentcp.Option{gentcp.Active(true)}, nil)
		passiveOK(c.Send([]byte("ab")))
		m1 := passiveNext(h)
		passiveOK(c.Send([]byte("cd")))
		passiveOK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		return Lst{append(Lst{m1}, h.Msgs()...)}
	})

	passiveRegister("shutdown_write_self_still_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		r1 := RD(c.Recv(0, passiveMs(500)))
		passiveOK(a.Send([]byte("cd")))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, passiveMs(500))), RD(a.Recv(0, passiveMs(500))), R(a.Send([]byte("x"))),
			RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("shutdown_write_peer_eoc_false", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.ExitOnClose(false)}, nil)
		passiveOK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		r1 := RD(a.Recv(0, passiveMs(500)))
		r2 := RD(a.Recv(0, passiveMs(500)))
		r3 := R(a.Send([]byte("hi")))
		h.Sl()
		r4 := RD(c.Recv(0, passiveMs(500)))
		r5 := R(a.Close())
		h.Sl()
		return Lst{r1, r2, r3, r4, r5, RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("shutdown_write_active_peer_eoc_false", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.ExitOnClose(false), gentcp.Active(true)}, nil)
		passiveOK(c.Shutdown(gentcp.ShutdownWrite))
		h.Sl()
		r1 := h.Msgs()
		r2 := R(a.Send([]byte("hi")))
		h.Sl()
		r3 := RD(c.Recv(0, passiveMs(500)))
		passiveOK(a.Setopts(gentcp.ActiveOnce))
		r4 := h.Msgs()
		passiveOK(a.Setopts(gentcp.Active(true)))
		return Lst{r1, r2, r3, r4, h.Msgs(), R(a.Close()), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("eoc_false_active_peer_close", func(h *H) any {
		_, c, a := h.MkPair(nil, []gentcp.Option{gentcp.Active(true), gentcp.ExitOnClose(false)})
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		passiveOK(a.Close())
		h.Sl()
		r1 := h.Msgs()
		passiveOK(c.Setopts(gentcp.ActiveOnce))
		r2 := h.Msgs()
		return Lst{r1, r2, RO(c.Getopts("active")), RD(c.Recv(0, passiveMs(100)))}
	})

	passiveRegister("shutdown_write_then_send", func(h *H) any {
		_, c, _ := h.MkPair(nil, nil)
		return Lst{R(c.Shutdown(gentcp.ShutdownWrite)), R(c.Send([]byte("x"))), R(c.Send([]byte("x"))),
			R(c.Shutdown(gentcp.ShutdownWrite)), R(c.Shutdown(gentcp.ShutdownRead))}
	})

	passiveRegister("shutdown_write_pending_output", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.HighWatermark(64*passiveMB)))
		data := Bytes(passiveMB)
		passiveOK(c.Send(data))
		h.Sl()
		pend := passivePendOf(c)
		t0 := time.Now()
		r := R(c.Shutdown(gentcp.ShutdownWrite))
		fast := time.Since(t0) < passiveMs(100)
		total, end := passiveDrain(a)
		return Lst{pend > 0, r, fast, total == len(data), end}
	})

	passiveRegister("shutdown_read_then_recv", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("ab")))
		h.Sl()
		r1 := R(c.Shutdown(gentcp.ShutdownRead))
		passiveOK(a.Send([]byte("cd")))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500))),
			R(c.Send([]byte("x")))}
	})

	passiveRegister("shutdown_read_write", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		r1 := R(c.Shutdown(gentcp.ShutdownReadWrite))
		h.Sl()
		return Lst{r1, RD(c.Recv(0, passiveMs(500))), RD(a.Recv(0, passiveMs(500))), R(c.Send([]byte("x")))}
	})

	passiveRegister("close_waits_for_pending_output", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.HighWatermark(64*passiveMB)))
		data := Bytes(passiveMB)
		r0 := R(c.Send(data))
		h.Sl()
		t := passiveAsync(func() any { return R(c.Close()) })
		h.Sl(300)
		before := t.doneYet()
		total, end := passiveDrain(a)
		return Lst{r0, before, total == len(data), end, t.await()}
	})

	passiveRegister("close_pending_output_peer_never_reads", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.HighWatermark(64*passiveMB)))
		sent0 := passiveMustFill(h, c)
		passiveOK(c.Send(Bytes(100000)))
		t0 := time.Now()
		r := R(c.Close())
		took := time.Since(t0)
		total, end := passiveDrain(a)
		return Lst{r, took >= passiveMs(4900), took < passiveMs(10000), total == sent0+100000, end}
	})

	passiveRegister("no_accept_listen_closed_passive", func(h *H) any {
		l := h.Listen()
		c := h.Connect(l)
		r1 := R(c.Send([]byte("x")))
		h.Sl()
		passiveOK(l.Close())
		h.Sl()
		return Lst{r1, RD(c.Recv(0, passiveMs(500))), RD(c.Recv(0, passiveMs(500)))}
	})

	passiveRegister("no_accept_listen_closed_active", func(h *H) any {
		l := h.Listen()
		h.Connect(l, gentcp.Active(true))
		h.Sl()
		passiveOK(l.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	passiveRegister("no_accept_listen_closed_active_show", func(h *H) any {
		l := h.Listen()
		h.Connect(l, gentcp.Active(true), gentcp.ShowEconnreset(true))
		h.Sl()
		passiveOK(l.Close())
		h.Sl()
		return Lst{h.Msgs()}
	})

	// ---------------------------------------------------------------------
	// §10 Flow control and send timeouts

	passiveRegister("send_pend_reaches_high_watermark", func(h *H) any { return passivePendProbe(h) })

	passiveRegister("send_pend_reaches_high_watermark_100000", func(h *H) any {
		return passivePendProbe(h, gentcp.HighWatermark(100000))
	})

	passiveRegister("send_blocks_without_timeout", func(h *H) any {
		_, c, _ := h.MkPair(passiveSmallL(), passiveSmallC())
		t := passiveAsync(func() any {
			oks, r := passiveSendUntilError(c, Bytes(1000), 100000)
			return Tup{oks, r}
		})
		h.Sl(700)
		return Lst{t.doneYet()}
	})

	passiveRegister("send_busy_suspends_other_senders", func(h *H) any {
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC())
		t1 := passiveAsync(func() any {
			oks, r := passiveSendUntilError(c, Bytes(1000), 100000)
			return Tup{oks, r}
		})
		h.Sl(300)
		t2 := passiveAsync(func() any { return R(c.Send([]byte("second"))) })
		h.Sl(300)
		r := Lst{t1.doneYet(), t2.doneYet()}
		passiveAsync(func() any {
			total, end := passiveDrain(a)
			return Tup{total, end}
		})
		r2 := t2.await(3000)
		return append(r, r2)
	})

	passiveRegister("send_timeout_fires", func(h *H) any {
		chunk := Bytes(1000)
		_, c, a := h.MkPair(passiveSmallL(), passiveSmallC(gentcp.SendTimeout(passiveMs(200))))
		sent0 := passiveMustFill(h, c)
		oks, err1 := passiveSendUntilError(c, chunk, 100000)
		t0 := time.Now()
		err2 := R(c.Send(chunk))
		waited := time.Since(t0)
		expected := sent0 + (oks+2)*len(chunk)
		total, end := passiveDrainN(a, expected)
		return Lst{oks > 0, err1, err2, waited >= passiveMs(190), total == expected, end,
			RO(c.Getopts("send_timeout")), R(c.Send(chunk))}
	})

	passiveRegister("send_timeout_close", func(h *H) any {
		chunk := Bytes(1000)
		_, c, a := h.MkPair(passiveSmallL(),
			passiveSmallC(gentcp.SendTimeout(passiveMs(200)), gentcp.SendTimeoutClose(true)))
		sent0 := passiveMustFill(h, c)
		oks, err1 := passiveSendUntilError(c, chunk, 100000)
		r := Lst{oks > 0, err1, R(c.Send(chunk)), RD(c.Recv(0, passiveMs(100))),
			RO(c.Getopts("send_timeout", "send_timeout_close"))}
		total, end := passiveDrain(a)
		return append(r, R(c.Close()), total < sent0+oks*len(chunk), end)
	})

	passiveRegister("send_timeout_close_active", func(h *H) any {
		chunk := Bytes(1000)
		_, c, _ := h.MkPair(passiveSmallL(),
			passiveSmallC(gentcp.SendTimeout(passiveMs(200)), gentcp.SendTimeoutClose(true), gentcp.Active(true)))
		passiveMustFill(h, c)
		oks, err1 := passiveSendUntilError(c, chunk, 100000)
		h.Sl()
		return Lst{oks > 0, err1, h.Msgs(), R(c.Send(chunk)), h.Msgs()}
	})

	// ---------------------------------------------------------------------
	// §11 getstat

	passiveRegister("getstat_packet_counts", func(h *H) any {
		_, c, a := h.MkPair([]gentcp.Option{gentcp.Packet(2)}, []gentcp.Option{gentcp.Packet(2)})
		passiveOK(c.Send([]byte("hello")))
		passiveOK(c.Send([]byte("abc")))
		h.Sl()
		r1 := RD(a.Recv(0, passiveMs(500)))
		r2 := RD(a.Recv(0, passiveMs(500)))
		return Lst{r1, r2, passiveStat(c.Getstat(passiveStatKeys...)), passiveStat(a.Getstat(passiveStatKeys...))}
	})

	passiveRegister("getstat_raw_counts", func(h *H) any {
		_, c, a := h.MkPair(nil, nil)
		passiveOK(a.Send([]byte("hello")))
		h.Sl()
		r1 := RD(c.Recv(2, passiveMs(500)))
		r2 := RD(c.Recv(0, passiveMs(500)))
		return Lst{r1, r2, passiveStat(c.Getstat(passiveStatKeys...)), passiveStat(a.Getstat(passiveStatKeys...))}
	})
}
