// listen.go owns gen_tcp:listen and gen_tcp:accept: the listen endpoint,
// the backlog as Linux counts it, and accept's wait.
//
// Locks: Accept takes the listen socket's l.mu only to read its state and
// options, never while it waits; the accepted socket is handed to its owner
// through own (owner.go).

package gentcp

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Listen opens a listen socket on port (0 picks a free one; a {port,P}
// option overrides the argument), as gen_tcp:listen(Port, Options). The
// calling process becomes the owner.
//
// Backlog follows Linux, not netstack: {backlog,B} (default 5) lets B+1
// completed connections wait for Accept; further SYNs are dropped, so a
// client's connect neither succeeds nor is refused until a slot frees
// (reference §8). netstack's accept queue holds exactly its argument, so
// gentcp passes B+1.
//
// Reasons: eaddrinuse, eaddrnotavail (an {ip,_} the stack does not own),
// einval (a backlog in the node's listen defaults); a bad option matches
// ErrBadArg.
func (p *Process) Listen(port int, opts ...Option) (_ *Socket, err error) {
	defer func() { p.node.callFailed(err, func() string { return "listen " + strconv.Itoa(port) }) }()
	if port < 0 || port > 65535 {
		return nil, &OptionError{Option: strconv.Itoa(port), Msg: "port out of range", Reason: BadArg}
	}
	o, err := resolve(opListen, p.node.defaults(opListen), append([]Option{Port(port)}, opts...))
	if err != nil {
		return nil, err
	}
	if err := p.node.reserveSocket(); err != nil {
		return nil, err
	}
	s, err := p.listen(o)
	if err != nil {
		p.node.open.Add(-1)
	}
	if passiveAtOpen(opts) {
		p.tellPassiveAtOpen(s)
	}
	return s, err
}

func (p *Process) listen(o sockOpts) (*Socket, error) {
	if o.fd != nil {
		return p.adopt(o, true)
	}
	addr := netip.IPv4Unspecified()
	if o.family == "inet6" {
		addr = netip.IPv6Unspecified()
	}
	if o.ip.IsValid() {
		addr = o.ip
	}
	if !o.ip.IsValid() {
		o.ip = addr
	}
	ep, wq, err := p.node.newEndpoint(addr, o)
	if err != nil {
		return nil, err
	}
	if terr := ep.Listen(backlogFor(o.backlog)); terr != nil {
		ep.Close()
		return nil, reasonOf(terr)
	}
	s := p.node.newSocket(ep, wq, o, true)
	if !p.own(s) {
		ep.Close()
		return nil, Closed
	}
	return s, nil
}

// backlogFor converts gen_tcp's backlog into netstack's accept queue size:
// Linux admits backlog+1 completed connections; a negative backlog is a
// huge unsigned value that Linux caps at somaxconn (4096).
func backlogFor(b int) int {
	if b < 0 || b > 4096 {
		b = 4096
	}
	return b + 1
}

// Accept waits for a connection on the listen socket l, as
// gen_tcp:accept(ListenSocket, Timeout). The calling process (not l's
// owner) becomes the owner of the new socket, which inherits every option
// of l. Several processes may wait on one l.
//
// Reasons: timeout (0 polls), closed (l closed, also while waiting), einval
// (l is not a listen socket).
func (p *Process) Accept(l *Socket, timeout time.Duration) (*Socket, error) {
	return p.AcceptContext(context.Background(), l, timeout)
}

// AcceptContext is Accept that also gives up when ctx is done.
func (p *Process) AcceptContext(ctx context.Context, l *Socket, timeout time.Duration) (_ *Socket, err error) {
	defer func() { p.node.callFailed(err, func() string { return "accept " + l.String() }) }()
	if timeout < 0 {
		return nil, BadArg
	}
	w := p.node.startWait(ctx, timeout)
	defer w.stop()
	entry, ch := p.node.channelEntry(waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr)
	l.wq.EventRegister(&entry)
	defer l.wq.EventUnregister(&entry)
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, Closed
		}
		if !l.listen {
			l.mu.Unlock()
			return nil, Einval
		}
		o := l.o
		changed := l.changedLocked()
		l.mu.Unlock()
		if err := p.node.reserveSocket(); err != nil {
			return nil, err
		}
		nep, nwq, terr := l.ep.Accept(nil)
		if terr != nil {
			p.node.open.Add(-1)
		}
		if terr == nil {
			p.node.applyEndpointOpts(nep, &o, nil)
			o.port, o.ip, o.fd = 0, netip.Addr{}, nil
			s := p.node.newSocket(nep, nwq, o, false)
			if !p.own(s) {
				s.Close()
				return nil, Closed
			}
			return s, nil
		}
		if _, again := terr.(*tcpip.ErrWouldBlock); !again {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return nil, Closed
			}
			return nil, reasonOf(terr)
		}
		if err := w.block(ch, changed, p.done); err != nil {
			return nil, err
		}
		if !p.Alive() {
			// The accepting process exited (another goroutine called
			// Exit); a blocked accept must not outlive it.
			return nil, Closed
		}
	}
}
