// active.go owns active mode: the reader goroutine (or, without a
// Scheduler, the parked socket that netstack's readable callback wakes),
// and delivery of {tcp,S,Data} with once/N counting and tcp_passive.
//
// Locks: the reader holds s.mu while it reads and delivers, letting
// other callers in between batches (yieldLocked); delivering takes the
// owner's p.mu inside it. kick, netstack's callback, takes no
// lock.

package gentcp

import (
	"runtime"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// startReaderLocked starts the reader goroutine if the socket is active and
// none runs. Only active connected sockets have one.
func (s *Socket) startReaderLocked() {
	if !s.deliversLocked() {
		return
	}
	s.reading = true
	s.parked.Store(false) // this reader takes over; a late kick finds nothing parked
	s.goReader()
}

// deliversLocked reports whether the socket is in a state to deliver
// active messages and no reader goroutine does so already.
func (s *Socket) deliversLocked() bool {
	return !s.listen && !s.closed && !s.reading && s.o.active != activeFalse &&
		s.owner != nil && !s.dead && !s.eofSeen
}

// readerEvents wake an active socket's reader: data, the peer's close or
// reset, an error.
const readerEvents = waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr

// reader delivers packets to the owner while the socket is active. With
// once or N it reads only what the owner asked for, so data the owner has
// not asked for stays in the TCP receive buffer and the window slows the
// sender. startReaderLocked set s.reading for it (resumed false); kick
// resumes a parked socket's reader (resumed true), which delivers only if
// the socket still does and no other reader runs.
func (s *Socket) reader(resumed bool) {
	var ch <-chan struct{}
	if s.node.sched != nil {
		entry, c := s.node.channelEntry(readerEvents)
		s.wq.EventRegister(&entry)
		defer s.wq.EventUnregister(&entry)
		ch = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if resumed {
		if !s.deliversLocked() {
			return
		}
		s.reading = true
	}
	defer func() { s.reading = false }()
	s.readLoopLocked(ch)
}

// kick is the endpoint's readable callback for a socket without a
// Scheduler. netstack calls it from its own goroutines, perhaps with
// endpoint locks held, so it takes no lock: it only starts a reader if
// one parked.
func (s *Socket) kick(waiter.EventMask) {
	if s.parked.CompareAndSwap(true, false) {
		go s.reader(true)
	}
}

// readerBatchPackets and readerBatchBytes bound what the reader delivers
// or reads in one hold of s.mu: after either it lets the socket's other
// callers in (yieldLocked), so a peer that keeps data coming cannot keep
// the owner from closing, sending or asking (issue 18's flood: Close
// waited 11 s). Large enough that the yield costs nothing measurable
// against the deliveries between two.
const (
	readerBatchPackets = 64
	readerBatchBytes   = 64 << 10
)

func (s *Socket) readLoopLocked(ch <-chan struct{}) {
	packets, bytes := 0, 0
	for {
		if packets >= readerBatchPackets || bytes >= readerBatchBytes {
			s.yieldLocked()
			packets, bytes = 0, 0
		}
		if s.closed || s.o.active == activeFalse || s.owner == nil || s.dead || s.eofSeen {
			return
		}
		// OTP judges packet_size only on arrival, of bytes or of the
		// peer's close: an oversize header that came in the same read as
		// the last delivered packet is reported when more comes
		// (reference §7 packet_size_exceeded_active_same_read).
		m, err, ok := s.takeMessageLocked(s.readSinceDeliver || s.eof || s.reset)
		if ok {
			s.deliverLocked(m)
			packets++
			continue
		}
		if err != nil {
			s.owner.Send(TCPError{s, err.(Reason)})
			s.owner.Send(TCPClosed{s})
			s.packetErrorLocked(err)
			s.closeHandleLocked()
			return
		}
		if s.eof || s.reset {
			s.activeSawCloseLocked()
			return
		}
		had := len(s.rbuf)
		terr := s.fillLocked(s.readWant(0))
		switch terr.(type) {
		case nil:
			bytes += len(s.rbuf) - had
		case *tcpip.ErrWouldBlock:
			if !s.awaitDataLocked(ch) {
				return
			}
		default:
			s.noteReadErrorLocked(terr)
		}
	}
}

// yieldLocked releases s.mu for a moment between two batches of the
// reader, so a call waiting for it gets it. Gosched makes the waiter,
// which the unlock made runnable, run before the reader locks again (and
// once a waiter has waited a millisecond, Go's mutex hands it the lock
// directly). s.reading stays set, so no second reader starts meanwhile;
// the loop then checks the socket's state afresh, as after any wait.
// Under a Scheduler nothing else runs while the reader does and no data
// arrives during its turn (the scheduler's network moves only between
// turns), so the reader keeps the lock and the run stays as it was.
func (s *Socket) yieldLocked() {
	if s.node.sched != nil {
		return
	}
	s.mu.Unlock()
	runtime.Gosched()
	s.mu.Lock()
}

// awaitDataLocked is the reader's wait for more input. Under a Scheduler
// (ch set) the goroutine waits for the endpoint or a state change, as the
// scheduler must see it park. Without one the socket parks instead and
// awaitDataLocked reports false: the reader returns, and kick starts
// another when data comes (every state change that can make a socket
// deliver calls startReaderLocked itself).
func (s *Socket) awaitDataLocked(ch <-chan struct{}) bool {
	if ch != nil {
		changed := s.changedLocked()
		s.mu.Unlock()
		s.node.waitEither(ch, changed)
		s.mu.Lock()
		return true
	}
	if !s.kickArmed {
		s.kickArmed = true
		s.kickEntry = waiter.NewFunctionEntry(readerEvents, s.kick)
		s.wq.EventRegister(&s.kickEntry)
	}
	s.parked.Store(true)
	// An event between the failed read and the Store found nothing
	// parked and started no reader: look once more before leaving.
	if s.ep.Readiness(readerEvents) != 0 && s.parked.CompareAndSwap(true, false) {
		return true
	}
	return false
}

// takeMessageLocked takes the next packet off rbuf as the message an
// active socket sends for it: HTTP for an HTTP type (parsed by
// takeHTTPLocked), PortData with {deliver,port} (an HTTP type's line
// unparsed, as OTP's driver sends it), TCP otherwise. ok and err are
// takePacketLocked's.
func (s *Socket) takeMessageLocked(judgeSize bool) (Message, error, bool) {
	if s.o.packet.isHTTP() && !s.o.deliverPort {
		p, err, ok := s.takeHTTPLocked(judgeSize)
		if !ok {
			return nil, err, false
		}
		return HTTP{s, p}, nil, true
	}
	d, err, ok := s.takePacketLocked(0, judgeSize)
	switch {
	case !ok:
		return nil, err, false
	case s.o.deliverPort:
		return PortData{s, d}, nil, true
	}
	return TCP{s, d}, nil, true
}

// deliverLocked sends one data message (takeMessageLocked) and counts it
// against once/N.
func (s *Socket) deliverLocked(m Message) {
	s.readSinceDeliver = false
	s.owner.Send(m)
	switch s.o.active {
	case activeOnce:
		s.o.active = activeFalse
	case activeN:
		s.o.activeCount--
		if s.o.activeCount <= 0 {
			s.o.active, s.o.activeCount = activeFalse, 0
			s.owner.Send(TCPPassive{s})
		}
	}
}

// passiveAtOpen reports whether a socket opened with opts (connect or
// listen) starts passive by an {active,N} count of 0 or below: the last
// active option wins at creation, and OTP's driver then sends
// {tcp_passive,S} at once, as setopts does (checked on OTP 25). The
// defaults' active is ignored, as resolve does; accept sends nothing for
// the passive mode it inherits.
func passiveAtOpen(opts []Option) bool {
	passive := false
	for _, o := range opts {
		if o.Name == "active" {
			n, isInt := asInt(o.Value)
			passive = isInt && n <= 0
		}
	}
	return passive
}

// tellPassiveAtOpen sends {tcp_passive,S} for a socket opened passive by
// its count (passiveAtOpen). OTP's port exists, and sends it, before it
// binds or connects, so a connect or listen that then fails still leaves
// the message; it names a closed socket then, as the Erlang message names
// a port that is gone.
func (p *Process) tellPassiveAtOpen(s *Socket) {
	if s == nil {
		s = p.node.newSocket(nil, nil, sockOpts{}, false)
		s.closed, s.epClosed = true, true
	}
	p.Send(TCPPassive{s})
}
