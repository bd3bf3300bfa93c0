// close.go owns gen_tcp:close and gen_tcp:shutdown, closing the handle and
// the endpoint, and what a socket does when it finds the peer's close:
// exit_on_close.
//
// Locks: Close holds s.mu (released only while it waits for queued output)
// and takes the owner's p.mu inside it to remove a queued tcp_closed;
// closing the handle takes the owner's p.mu to disown the socket.

package gentcp

import (
	"context"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// closeEndpointLocked closes the netstack endpoint; abort sends a RST. A
// close with unread input also sends a RST (netstack does what Linux does).
func (s *Socket) closeEndpointLocked(abort bool) {
	if s.epClosed {
		return
	}
	s.epClosed = true
	if abort || len(s.rbuf) > 0 {
		s.ep.SocketOptions().SetLinger(tcpip.LingerOption{Enabled: true, Timeout: 0})
	}
	s.ep.Close()
	s.freeSlotLocked()
}

// freeSlotLocked gives the socket's place under the node's cap
// (SetMaxSockets) back once both the handle and the endpoint are closed.
// A handle closed with output still queued keeps its endpoint, drain and
// queue until the queue is sent, so it counts until then, as OTP counts a
// closed port until its driver queue has drained (checked on erl 25: the
// port and port_count stay after close/1 returns, until the peer reads).
func (s *Socket) freeSlotLocked() {
	if s.closed && s.epClosed && !s.slotFreed {
		s.slotFreed = true
		s.node.open.Add(-1)
	}
}

// closeHandleLocked marks the handle closed and releases its owner.
func (s *Socket) closeHandleLocked() {
	if s.closed {
		return
	}
	s.closed = true
	s.freeSlotLocked()
	if s.kickArmed {
		s.kickArmed = false
		s.parked.Store(false)
		s.wq.EventUnregister(&s.kickEntry)
	}
	// A closed handle receives nothing more: release the receive buffer
	// (the user may keep the handle around for a long time).
	s.rchunk.release()
	s.rbuf, s.rbase, s.rchunk = nil, nil, nil
	if s.owner != nil {
		s.owner.disown(s)
	}
	s.notifyLocked()
}

// closeWaitStep and closeWaitMax are how close/1 waits for queued output
// (prim_inet): every 5 s it checks the queue; unchanged since close began
// means the peer is stuck and close returns; otherwise it waits up to 180 s
// (or the linger time).
const (
	closeWaitStep = 5 * time.Second
	closeWaitMax  = 180 * time.Second
)

// Close closes the socket, as gen_tcp:close/1. It always returns nil. If
// output is queued, Close waits for it to reach the endpoint first (see
// closeWaitStep); the bytes are still delivered if it gives up. Closing
// with unread input, or with {linger,{true,0}}, resets the connection.
// Closing a listen socket resets its un-accepted connections. A
// {tcp_closed,S} already in the owner's mailbox is removed.
func (s *Socket) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// OTP's close removes one queued {tcp_closed,S} even when the socket
	// already closed itself (exit_on_close after the peer closed).
	if owner := s.owner; owner != nil {
		removed := false
		owner.take(func(m Message) bool {
			if c, ok := m.(TCPClosed); ok && c.Socket == s && !removed {
				removed = true
				return true
			}
			return false
		})
	}
	if s.closed {
		return nil
	}
	s.closeHandleLocked()
	if s.o.linger.Enabled && s.o.linger.Seconds == 0 {
		// {linger,{true,0}}: reset now; queued output is dropped.
		s.dropQueueLocked()
		s.closeEndpointLocked(true)
		return nil
	}
	if s.sqLen > 0 && !s.dead && !s.epClosed {
		limit := closeWaitMax
		if s.o.linger.Enabled && s.o.linger.Seconds > 0 {
			limit = time.Duration(s.o.linger.Seconds) * time.Second
		}
		start := s.sqLen
		w := s.node.startWait(context.Background(), limit)
		for s.sqLen > 0 && !s.epClosed {
			step := s.node.startWait(context.Background(), closeWaitStep)
			changed := s.changedLocked()
			s.mu.Unlock()
			err := w.block(changed, step.expired)
			s.mu.Lock()
			stepDone := step.expiredNow()
			step.stop()
			if err != nil {
				break
			}
			if stepDone && s.sqLen == start {
				break
			}
		}
		w.stop()
	}
	s.closeEndpointUnlessQueuedLocked()
	return nil
}

// closeAsGo is the Go adapter's Close, which follows net.TCPConn's
// rather than close/1's: it returns at once, and the drain sends queued
// output in the background, as the kernel does for a closed Go socket.
// The background is bounded as close/1 is (closeWaitStep, closeWaitMax):
// a queue that has not moved since the close at a check, or is still
// there at the end, is dropped and the connection reset. linger is
// SetLinger's: 0 resets at once; n > 0 waits up to n seconds for the
// queue, then drops what is left with a reset (Linux's SO_LINGER);
// below 0 is the background default.
func (s *Socket) closeAsGo(linger int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closeHandleLocked()
	if linger == 0 {
		s.dropQueueLocked()
		s.closeEndpointLocked(true)
		return
	}
	if linger > 0 && s.sqLen > 0 && !s.dead && !s.epClosed {
		w := s.node.startWait(context.Background(), time.Duration(linger)*time.Second)
		for s.sqLen > 0 && !s.epClosed {
			changed := s.changedLocked()
			s.mu.Unlock()
			err := w.block(changed)
			s.mu.Lock()
			if err != nil {
				break
			}
		}
		w.stop()
		if s.sqLen > 0 && !s.epClosed {
			s.dropQueueLocked()
			s.closeEndpointLocked(true)
			return
		}
	}
	if s.sqLen > 0 && !s.dead && !s.epClosed {
		s.boundBackgroundLocked(s.sqLen, closeWaitMax)
	}
	s.closeEndpointUnlessQueuedLocked()
}

// boundBackgroundLocked checks a closed handle's queue every
// closeWaitStep: one that has not moved from start, or that is still
// there when left runs out, is dropped and the connection reset. A timer
// on the stack's clock does it, so no goroutine waits meanwhile.
func (s *Socket) boundBackgroundLocked(start int, left time.Duration) {
	step := min(closeWaitStep, left)
	s.node.st.Clock().AfterFunc(step, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sqLen == 0 || s.epClosed {
			return
		}
		if s.sqLen == start || left <= step {
			s.dropQueueLocked()
			s.closeEndpointLocked(true)
			s.notifyLocked()
			return
		}
		s.boundBackgroundLocked(start, left-step)
	})
}

// closeEndpointUnlessQueuedLocked is the end of every close of the handle
// (close/1, the owner's exit): the endpoint closes now, unless output is
// still queued for it; then the drain goroutine closes it once the queue
// is empty, so the bytes still reach the peer.
func (s *Socket) closeEndpointUnlessQueuedLocked() {
	if s.sqLen > 0 && !s.dead && !s.epClosed {
		return
	}
	s.closeEndpointLocked(s.o.linger.Enabled && s.o.linger.Seconds == 0)
}

// Shutdown closes one or both directions, as gen_tcp:shutdown(Socket,
// How). shutdown(write) returns at once; queued output is sent before the
// FIN. The socket can still receive after shutdown(write).
//
// Reasons: closed (socket closed), enotconn (a listen socket, after a send
// error, or a second shutdown(write)).
func (s *Socket) Shutdown(how How) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return Closed
	case s.listen, s.dead:
		// Also after a send failed (shutdown_write_then_send).
		return Enotconn
	}
	var flags tcpip.ShutdownFlags
	switch how {
	case ShutdownRead:
		flags = tcpip.ShutdownRead
	case ShutdownWrite:
		flags = tcpip.ShutdownWrite
	case ShutdownReadWrite:
		flags = tcpip.ShutdownRead | tcpip.ShutdownWrite
	default:
		return FunctionClause
	}
	if flags&tcpip.ShutdownWrite != 0 {
		if s.shutWr {
			return Enotconn
		}
		s.shutWr = true
		if s.sqLen > 0 {
			s.shutAfterSend = true
			flags &^= tcpip.ShutdownWrite
		}
	}
	if flags != 0 {
		if terr := s.ep.Shutdown(flags); terr != nil {
			return reasonOf(terr)
		}
	}
	s.notifyLocked()
	return nil
}

// How says which direction Shutdown closes.
type How int

// The directions of Shutdown: read, write and read_write.
const (
	ShutdownRead How = iota + 1
	ShutdownWrite
	ShutdownReadWrite
)

// recvSawCloseLocked handles the end of stream (or a reset) found by a
// passive recv (§4, §6): a partial packet is discarded; with
// exit_on_close the socket closes its endpoint and is dead, otherwise it
// stays writable and recv keeps saying closed.
func (s *Socket) recvSawCloseLocked() error {
	s.rbuf = nil
	show := s.o.showEconnreset && s.reset
	if !s.o.exitOnClose {
		// The socket stays writable; recv says closed from now on, after
		// one econnreset for a reset with show_econnreset (OTP 25).
		s.eofSeen = true
		s.notifyLocked()
		if show {
			return Econnreset
		}
		return Closed
	}
	s.dead = true
	s.dropQueueLocked()
	s.closeEndpointLocked(false)
	s.notifyLocked()
	if show {
		s.pendRecv, s.pendSend = "", ""
		return Econnreset
	}
	s.pendRecv, s.pendSend = "", Closed
	return Closed
}

// activeSawCloseLocked reports the end of stream to the owner: tcp_closed
// once (after tcp_error econnreset for a reset with show_econnreset). With
// exit_on_close the socket is then closed; without, it stays writable.
func (s *Socket) activeSawCloseLocked() {
	s.rbuf = nil
	if s.o.showEconnreset && s.reset {
		s.owner.Send(TCPError{s, Econnreset})
	}
	s.owner.Send(TCPClosed{s})
	if !s.o.exitOnClose {
		s.eofSeen = true
		s.notifyLocked()
		return
	}
	s.dead = true
	s.dropQueueLocked()
	s.closeEndpointLocked(false)
	s.closeHandleLocked()
}
