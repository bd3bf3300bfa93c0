// send.go owns gen_tcp:send: the header of {packet,N}, the user-level
// send queue with its watermarks and send_timeout, the corking of a stream
// of small sends, the drain goroutine that empties the queue, and the
// one-shot reporting of a send that failed in the background.
//
// Locks: Send and the drain hold s.mu, releasing it only while they wait
// for room; a background failure told to an active owner takes the
// owner's p.mu inside s.mu.

package gentcp

import (
	"bytes"
	"context"
	"io"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Send sends data, as gen_tcp:send(Socket, Packet). With {packet,1|2|4} a
// big-endian length header is prepended (an oversize payload for 1 or 2
// gets a truncated header and is sent anyway, as OTP does).
//
// Send is asynchronous like OTP's: what the endpoint cannot take now is
// queued and Send returns nil. When a send finds data already queued and
// takes the queue to high_watermark, it waits until the queue falls below
// low_watermark (or
// send_timeout passes: Timeout, with the data still queued; with
// send_timeout_close the socket is then closed and the queue dropped).
//
// Reasons: closed, enotconn, econnreset (show_econnreset), timeout.
func (s *Socket) Send(data []byte) error {
	return s.SendContext(context.Background(), data)
}

// SendContext is Send that also stops waiting on a busy queue when ctx is
// done (the data stays queued, as after a send_timeout).
func (s *Socket) SendContext(ctx context.Context, data []byte) error {
	return s.failed("send", s.send(ctx, data, Infinity))
}

// send is Send with an extra limit on how long a busy queue may make it
// wait (the net.Conn adapter's write deadline); send_timeout still
// applies, whichever is shorter.
func (s *Socket) send(ctx context.Context, data []byte, limit time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.sendCheckLocked(); err != nil {
		return err
	}
	// Another sender waiting on a busy queue suspends this one (§10).
	if s.busy {
		if err := s.waitNotBusyLocked(ctx, limit); err != nil {
			return err
		}
		if err := s.sendCheckLocked(); err != nil {
			return err
		}
	}
	h := s.o.packet.headerLen()
	if h == 0 && len(data) == 0 {
		return nil
	}
	var hdr [4]byte
	head := encodeHeader(hdr[:0], s.o.packet, len(data))
	s.stats.sent(len(head) + len(data))
	if s.shutWr {
		// OTP counts the send, then fails it (send_oct includes it).
		return s.sendFailedLocked(false)
	}
	// inet_drv's tcp_sendv: a send that finds the queue empty writes what
	// the endpoint takes, queues the rest and returns ok however much that
	// is; only a send that finds the queue non-empty and takes it to
	// high_watermark makes the port busy and waits (checked on erl: a
	// first 16 MiB send to a peer that does not read returns ok at once).
	cork := s.corkLocked(len(head) + len(data))
	if s.pendingLocked() == 0 {
		// OTP's queue is empty: what the cork holds would be in the
		// kernel's buffer there.
		if cork && s.corked+len(head)+len(data) < min(corkMax, s.o.highWatermark) {
			s.enqueueCopyLocked(head, data)
			s.corked += len(head) + len(data)
			return nil
		}
		if s.corked > 0 {
			// A send that is not corked goes after the corked bytes,
			// which are written first, as they would be by now in OTP.
			if _, terr := s.writeQueueLocked(); failed(terr) {
				return s.sendFailedLocked(s.isResetLocked(terr))
			}
		}
	}
	if len(s.sq) == 0 {
		n, terr := s.writeLocked(head, data)
		if failed(terr) {
			return s.sendFailedLocked(s.isResetLocked(terr))
		}
		// Queue what the endpoint did not take.
		if n < len(head) {
			s.enqueueCopyLocked(head[n:], data)
		} else {
			s.enqueueCopyLocked(nil, data[n-len(head):])
		}
		return nil
	}
	if s.pendingLocked()+len(head)+len(data) < s.o.highWatermark {
		s.enqueueCopyLocked(head, data)
		return nil
	}
	// This send takes the queue to high_watermark: the port is busy and
	// the send waits until the queue is below low_watermark. The caller
	// cannot touch data until then, so the queue holds data itself rather
	// than a copy, and only what is still queued when the send returns
	// (less than low_watermark, unless it timed out) is copied then. In a
	// bulk transfer that saves allocating and copying every byte once.
	if len(head) > 0 {
		s.enqueueLocked(append([]byte(nil), head...))
	}
	s.enqueueLocked(data)
	s.busy = true
	err := s.waitNotBusyLocked(ctx, limit)
	s.unborrowLocked(data)
	return err
}

// failed reports whether a write to the endpoint failed, as opposed to
// taking everything or taking what it had room for.
func failed(terr tcpip.Error) bool {
	if terr == nil {
		return false
	}
	_, again := terr.(*tcpip.ErrWouldBlock)
	return !again
}

// pendingLocked is OTP's send_pend: the bytes queued because the endpoint
// had no room for them, not counting what the cork holds (which would be
// in the kernel's buffer in OTP). The watermarks apply to it.
func (s *Socket) pendingLocked() int { return s.sqLen - s.corked }

// corkMax bounds what the cork holds before a send writes it itself: a
// sender that keeps the drain from the lock still hands netstack 64 KiB
// at a time. high_watermark bounds it too: what the endpoint has no room
// for becomes pending, and in OTP only a send that waits takes the queue
// to high_watermark.
const corkMax = 64 << 10

// smallSend is the size below which a send may be corked (corkLocked).
// Below it the copy into the queue costs less than the endpoint write and
// the segment it saves; bulk sends stay direct.
const smallSend = 4096

// corkLocked reports whether a send of n bytes, header included, should
// wait in the queue for the drain even though nothing is pending there
// (the queue is empty or holds only corked bytes): it is small, it
// follows a small send with nothing delivered to the application since
// (a stream of messages, not a request and its reply), and the
// connection is established. It records this send for the next.
//
// This is what Linux's autocorking does for OTP: a small write behind
// data still on its way is held, and the drain's one endpoint write then
// carries every message that queued meanwhile, where netstack, which has
// no such rule, would send one segment per nodelay write. A request after
// a reply, or any send on an idle socket, is written at once, so round
// trips pay no goroutine hop. Outside ESTABLISHED every send writes
// directly, so that a write the endpoint refuses (after the peer's FIN or
// reset) fails the send that made it, as a kernel write does in OTP.
// Corked bytes are not pending (pendingLocked): for OTP they are in the
// kernel's buffer, so they count neither in send_pend nor against the
// watermarks, and a send that is not corked writes them before its own.
func (s *Socket) corkLocked(n int) bool {
	small := n < smallSend
	follows := s.smallSent && s.smallSentRecvs == s.stats.recvCnt
	s.smallSent, s.smallSentRecvs = small, s.stats.recvCnt
	return small && follows && tcp.EndpointState(s.ep.State()) == tcp.StateEstablished
}

// unborrowLocked replaces what is left of data in the queue, if anything,
// with a copy, so that the queue no longer refers to the caller's bytes.
// The drain takes bytes from the front of an entry, so what is left of
// data is an entry that ends where data ends.
func (s *Socket) unborrowLocked(data []byte) {
	if len(data) == 0 {
		return
	}
	last := &data[len(data)-1]
	for i, e := range s.sq {
		if len(e) > 0 && &e[len(e)-1] == last {
			s.sq[i] = bytes.Clone(e)
			return
		}
	}
}

// writeLocked writes head and data to the endpoint without blocking and
// returns how many bytes it took. The two parts go to netstack as one
// payload, without being joined into a new slice first.
func (s *Socket) writeLocked(head, data []byte) (int, tcpip.Error) {
	p := s.payloadLocked()
	p.two = [2][]byte{head, data}
	return s.writePartsLocked(p.two[:])
}

// writeQueueLocked writes as much of the whole queue as the endpoint
// takes in one write (so the messages a cork held leave as one segment)
// and removes it from the queue. Nothing is corked after it: what the
// endpoint did not take is queued for want of room.
func (s *Socket) writeQueueLocked() (int, tcpip.Error) {
	n, terr := s.writePartsLocked(s.sq)
	s.sqLen -= n
	s.corked = 0
	for left := n; left > 0; {
		if left < len(s.sq[0]) {
			s.sq[0] = s.sq[0][left:]
			break
		}
		left -= len(s.sq[0])
		s.sq[0] = nil
		s.sq = s.sq[1:]
	}
	return n, terr
}

// writePartsLocked writes parts to the endpoint as one payload.
//
// The payload is s.wbuf, not a field inside the Socket: netstack's
// endpoint keeps the last payload it read from (its reused
// io.LimitedReader's R) for as long as it lives, TIME_WAIT included, and a
// pointer into the Socket would keep the whole closed socket alive with it.
func (s *Socket) writePartsLocked(parts [][]byte) (int, tcpip.Error) {
	p := s.payloadLocked()
	p.parts, p.off, p.left = parts, 0, 0
	for _, b := range parts {
		p.left += len(b)
	}
	n, err := s.ep.Write(p, tcpip.WriteOptions{})
	// Do not keep the caller's bytes reachable from the socket (or from
	// the endpoint, which holds on to wbuf).
	*p = payload{}
	return int(n), err
}

// payloadLocked is the socket's one payload, made at its first write.
func (s *Socket) payloadLocked() *payload {
	if s.wbuf == nil {
		s.wbuf = new(payload)
	}
	return s.wbuf
}

// payload is a tcpip.Payloader over byte slices read as one: a send's
// {packet,N} header and its data, or the queue's entries. Reading does
// not modify the slices, so the queue can be trimmed by what the endpoint
// took afterwards.
type payload struct {
	two   [2][]byte // a send's header and data, without allocating parts
	parts [][]byte
	off   int // bytes of parts[0] already read
	left  int // bytes not read yet
}

func (p *payload) Len() int { return p.left }

func (p *payload) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(b) && len(p.parts) > 0 {
		m := copy(b[n:], p.parts[0][p.off:])
		n += m
		p.off += m
		if p.off == len(p.parts[0]) {
			p.parts, p.off = p.parts[1:], 0
		}
	}
	p.left -= n
	return n, nil
}

// enqueueCopyLocked queues a copy of head and data as one entry, so that
// the queue does not refer to the caller's bytes once Send returns.
func (s *Socket) enqueueCopyLocked(head, data []byte) {
	s.enqueueLocked(append(append(make([]byte, 0, len(head)+len(data)), head...), data...))
}

func (s *Socket) enqueueLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	s.sq = append(s.sq, b)
	s.sqLen += len(b)
	if !s.draining {
		s.draining = true
		s.goDrain()
	}
}

func (s *Socket) sendCheckLocked() error {
	switch {
	case s.closed:
		return Closed
	case s.listen:
		return Enotconn
	case s.dead:
		r := s.pendSend
		s.pendSend = ""
		if r == "" {
			r = Enotconn
		}
		return r
	}
	return nil
}

// waitNotBusyLocked waits, with s.mu released, until the queue is below
// low_watermark, honouring send_timeout and send_timeout_close.
func (s *Socket) waitNotBusyLocked(ctx context.Context, limit time.Duration) error {
	timeout := s.o.sendTimeout
	byLimit := limit < timeout
	if byLimit {
		timeout = limit
	}
	w := s.node.startWait(ctx, timeout)
	defer w.stop()
	for s.busy && !s.closed && !s.dead {
		changed := s.changedLocked()
		s.mu.Unlock()
		err := w.block(changed)
		s.mu.Lock()
		if err != nil {
			// The timeout ends the port's busy state: the next send
			// queues its data and waits again (send_timeout_fires).
			s.busy = false
			if err == Timeout && w.ctx.Err() == nil && !byLimit && s.o.sendTimeoutClose {
				// §10: the socket is closed underneath, the queue is
				// dropped, and no tcp_closed is sent.
				s.dead = true
				s.pendRecv, s.pendSend = "", ""
				s.dropQueueLocked()
				s.closeEndpointLocked(false)
				s.notifyLocked()
			}
			return err
		}
	}
	if s.closed {
		return Closed
	}
	if s.dead {
		// The queue this send was waiting on was lost (a reset found by
		// the background write): its data did not get through, so it
		// must not say ok. It reports the failure without using up the
		// one-shot reason the next send gets.
		if s.pendSend != "" {
			return s.pendSend
		}
		return Enotconn
	}
	return nil
}

func (s *Socket) dropQueueLocked() {
	s.sq, s.sqLen, s.corked, s.busy = nil, 0, 0, false
}

// sendFailedLocked records a failed send by the caller: a write the
// endpoint refused (§6: "send gets EPIPE/ECONNRESET"), or any send after
// shutdown(write). OTP's driver then closes the socket's descriptor
// whatever exit_on_close says (checked on OTP 25): unread input and queued
// output are gone, Sockname and Port say ebadf and Peername enotconn,
// while getopts, setopts and getstat still answer. The send returns
// closed (econnreset for a reset with show_econnreset), the next recv the
// same once, and later calls enotconn; only where a recv had reported the
// peer's FIN with exit_on_close false does the next send get the reason
// once more (eoc_false_closed_socket_ops).
func (s *Socket) sendFailedLocked(isReset bool) error {
	r := Closed
	if s.o.showEconnreset && isReset {
		r = Econnreset
	}
	again := Reason("")
	if s.eofSeen && !s.reset {
		again = r
	}
	s.dead = true
	s.dropQueueLocked()
	s.rbuf = nil
	s.pendRecv, s.pendSend, s.pendClearsSend = r, again, false
	s.closeEndpointLocked(false)
	if s.o.active != activeFalse && s.owner != nil {
		// An active owner is told at once, and with exit_on_close the
		// handle closes too (shutdown_write_send_active).
		if r == Econnreset {
			s.owner.Send(TCPError{s, Econnreset})
		}
		s.owner.Send(TCPClosed{s})
		s.pendRecv, s.pendSend = "", ""
		if s.o.exitOnClose {
			s.closeHandleLocked()
		}
	}
	s.notifyLocked()
	return r
}

// isResetLocked reports whether a failed write means the peer reset the
// connection. A RST that arrives in CLOSE_WAIT makes netstack fail the
// write with ErrClosedForSend and keep the cause (ErrAborted, Linux's
// EPIPE after a reset) as the endpoint's last error.
func (s *Socket) isResetLocked(terr tcpip.Error) bool {
	switch terr.(type) {
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		return true
	case *tcpip.ErrClosedForSend:
		if s.shutWr {
			return false
		}
		if s.reset {
			// A recv has taken the reset already, and with it
			// netstack's last error (eoc_false_show_reset_recv_then_send).
			return true
		}
		switch s.ep.LastError().(type) {
		case *tcpip.ErrAborted, *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
			return true
		}
	}
	return false
}

// drain writes the queue to the endpoint as it makes room. It runs only
// while the queue is not empty, so an idle socket has no goroutine.
func (s *Socket) drain() {
	entry, ch := s.node.channelEntry(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
	s.wq.EventRegister(&entry)
	defer s.wq.EventUnregister(&entry)
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if len(s.sq) == 0 || s.dead || s.epClosed {
			s.draining = false
			s.dropQueueLocked()
			if s.shutAfterSend && !s.dead && !s.epClosed {
				s.shutAfterSend = false
				s.ep.Shutdown(tcpip.ShutdownWrite)
			}
			if s.closed && !s.epClosed {
				s.closeEndpointLocked(false)
			}
			s.notifyLocked()
			return
		}
		n, terr := s.writeQueueLocked()
		if n > 0 {
			if s.busy && s.pendingLocked() < s.o.lowWatermark {
				s.busy = false
			}
			s.notifyLocked()
		}
		if terr == nil {
			continue
		}
		if !failed(terr) {
			s.mu.Unlock()
			s.node.waitEither(ch, nil)
			s.mu.Lock()
			continue
		}
		s.backgroundSendFailedLocked(terr)
	}
}

// backgroundSendFailedLocked records a failure of the queue's background
// write, which nobody waits for (§6 bg_send_reset_*): the next recv and
// the next send each report closed once; unread input is lost; an active
// socket gets tcp_closed (after tcp_error econnreset with show_econnreset).
func (s *Socket) backgroundSendFailedLocked(terr tcpip.Error) {
	s.pendReset = s.isResetLocked(terr)
	s.dead = true
	s.dropQueueLocked()
	s.rbuf = nil
	r := Closed
	if s.pendReset && s.o.showEconnreset {
		r = Econnreset
	}
	s.pendRecv, s.pendSend, s.pendClearsSend = r, r, true
	// OTP's driver closes the descriptor here too (fd_closed_after_bg_send_reset).
	s.closeEndpointLocked(false)
	s.deliverPendingCloseLocked()
	s.notifyLocked()
}

// deliverPendingCloseLocked tells an active owner about a failure found
// while nobody was reading: tcp_error econnreset (with show_econnreset,
// for a reset) and tcp_closed, then the socket closes as exit_on_close
// does. A passive socket keeps the failure for its next recv, or for the
// moment it becomes active.
func (s *Socket) deliverPendingCloseLocked() {
	if s.o.active == activeFalse || s.owner == nil || s.pendRecv == "" {
		return
	}
	if s.o.showEconnreset && s.pendReset {
		s.owner.Send(TCPError{s, Econnreset})
	}
	s.owner.Send(TCPClosed{s})
	s.pendRecv, s.pendSend = "", ""
	s.closeEndpointLocked(false)
	s.closeHandleLocked()
}
