// owner.go owns the controlling process: becoming a socket's owner,
// gen_tcp:controlling_process with its mailbox moves, and closing the
// sockets of an owner that exits.
//
// Locks: s.mu, with the old and new owners' p.mu taken inside it
// (ControllingProcess moves messages while holding s.mu so the reader
// cannot deliver meanwhile). closeByOwnerExit is called after the exiting
// process released its p.mu.

package gentcp

// ControllingProcess makes to the owner of s, as
// gen_tcp:controlling_process(Socket, Pid) called by p. Messages of s
// already in p's mailbox ({tcp,...}, {tcp_closed,...}, port data) move to
// the new owner in order; tcp_passive and tcp_error stay. The active mode
// and its count are kept.
//
// Reasons: not_owner (p does not own s; ok if to is already the owner),
// badarg (to has exited; an active socket is left {active,false}), closed.
func (p *Process) ControllingProcess(s *Socket, to *Process) error {
	if to == nil {
		return FunctionClause
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Closed
	}
	if s.owner.Is(to) {
		return nil
	}
	if !s.owner.Is(p) {
		return NotOwner
	}
	if !to.Alive() {
		s.o.active, s.o.activeCount = activeFalse, 0
		s.notifyLocked()
		return BadArg
	}
	// Holding s.mu keeps the reader from delivering while messages move,
	// which is what OTP gets by setting the socket passive first.
	moved := p.take(func(m Message) bool {
		switch m := m.(type) {
		case TCP:
			return m.Socket == s
		case TCPClosed:
			return m.Socket == s
		case PortData:
			return m.Socket == s
		}
		return false
	})
	for _, m := range moved {
		if _, ok := m.(TCPClosed); ok {
			// OTP's quirk (cp_eoc_false_closed_in_mailbox): when a
			// tcp_closed is among the moved messages the port is not
			// re-owned; the socket stays passive with the caller, and
			// the call still returns ok.
			for _, m := range moved {
				to.Send(m)
			}
			s.o.active, s.o.activeCount = activeFalse, 0
			s.notifyLocked()
			return nil
		}
	}
	if !to.adoptSocket(s) {
		s.o.active, s.o.activeCount = activeFalse, 0
		return BadArg
	}
	p.disown(s)
	s.owner = to
	for _, m := range moved {
		to.Send(m)
	}
	s.notifyLocked()
	return nil
}

// own makes p the socket's owner and starts active delivery if the
// options ask for it.
func (p *Process) own(s *Socket) bool {
	if !p.adoptSocket(s) {
		return false
	}
	s.mu.Lock()
	s.owner = p
	s.startReaderLocked()
	s.mu.Unlock()
	return true
}

// closeByOwnerExit closes the socket of an exiting owner. Unlike close/1
// it does not wait for queued output (the Erlang process is gone); the
// queue still drains in the background before the endpoint closes.
func (s *Socket) closeByOwnerExit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closeHandleLocked()
	s.closeEndpointUnlessQueuedLocked()
}

// Owner returns the socket's controlling process (nil once closed).
func (s *Socket) Owner() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner
}
