// sockopts.go owns inet:setopts and inet:getopts on a socket, and passing
// the options netstack implements down to its endpoint. Parsing and
// validating options is options.go's.
//
// Locks: Setopts and Getopts hold s.mu; a change that makes an active
// socket deliver starts its reader under it.

package gentcp

import (
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// Setopts sets options, as inet:setopts(Socket, Options). The whole list is
// validated first (one bad entry: nothing changes, Einval); then it is
// applied right to left, so the first occurrence of an option wins. An
// {active,N} that would take the count above 32767 stops there: options
// after it stay applied, those before do not, and the result is Einval
// (OTP does the same). Each {active,N} that leaves the count at 0 or
// below sends {tcp_passive,S}, whatever the mode before and even when an
// earlier entry activates the socket again ([{active,0},{active,0}]
// sends two).
func (s *Socket) Setopts(opts ...Option) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Einval
	}
	for _, o := range opts {
		if !allowed(opSetopts, o.Name) {
			return &OptionError{Option: o.String(), Msg: "not allowed here", Reason: Einval}
		}
		if err := check(opSetopts, o); err != nil {
			return err
		}
	}
	old := s.o
	n := s.o
	var result error
	passives := 0
	for i := len(opts) - 1; i >= 0; i-- {
		o := opts[i]
		if o.Name == "active" {
			if k, ok := asInt(o.Value); ok {
				c := k
				if n.active == activeN {
					c += n.activeCount
				}
				if c > 32767 {
					result = Einval
					break
				}
				if c <= 0 {
					n.active, n.activeCount = activeFalse, 0
					passives++
				} else {
					n.active, n.activeCount = activeN, c
				}
				continue
			}
		}
		if err := n.set(opSetopts, o); err != nil {
			return err
		}
	}
	s.o = n
	if !s.epClosed {
		s.node.applyEndpointOpts(s.ep, &s.o, &old)
	}
	for ; passives > 0 && s.owner != nil; passives-- {
		s.owner.Send(TCPPassive{s})
	}
	if s.dead && s.pendClearsSend {
		s.deliverPendingCloseLocked()
	}
	s.notifyLocked()
	if s.o.active == activeOnce && s.deliversLocked() {
		// {active,once} with a whole packet already buffered: deliver it
		// here, as OTP's driver does, rather than start a reader
		// goroutine for one message. Anything else (no whole packet, a
		// framing error) is left to the reader.
		if m, _, ok := s.takeMessageLocked(true); ok {
			s.deliverLocked(m)
		}
	}
	s.startReaderLocked()
	return result
}

// Getopts returns the named options' values, as inet:getopts(Socket,
// Names). An unknown or ungettable name (backlog and line_delimiter are
// never gettable) fails the whole call with Einval; duplicates are
// repeated. Setting an option and reading it back gives what was set,
// except that recbuf and sndbuf are raised to Linux's minimums, 2304 and
// 4608 bytes, as the kernel does (a smaller buffer wedges TCP); unlike
// Linux, gentcp does not double them. Unset, they report netstack's
// buffer sizes.
func (s *Socket) Getopts(names ...string) ([]Option, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Einval
	}
	out := make([]Option, 0, len(names))
	for _, name := range names {
		if name == "ipv6_v6only" {
			// Only IPv6 sockets have it; IPv4 ones leave it out ({ok,[]}).
			if s.isIPv6() {
				out = append(out, Option{name, s.ep.SocketOptions().GetV6Only()})
			}
			continue
		}
		if !gettable(name) {
			return nil, Einval
		}
		o := s.o.get(name)
		switch name {
		case "recbuf":
			if s.o.recbuf == 0 && !s.epClosed {
				o.Value = int(s.ep.SocketOptions().GetReceiveBufferSize())
			}
		case "sndbuf":
			if s.o.sndbuf == 0 && !s.epClosed {
				o.Value = int(s.ep.SocketOptions().GetSendBufferSize())
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// applyEndpointOpts passes the options netstack implements down to the
// endpoint; old is the previous set (nil at creation), so only changes are
// applied.
func (n *Node) applyEndpointOpts(ep tcpip.Endpoint, o, old *sockOpts) {
	so := ep.SocketOptions()
	if old == nil || old.nodelay != o.nodelay {
		// OTP's default nodelay=false means Nagle is on, as on Linux;
		// netstack's default is off, so it is set explicitly.
		so.SetDelayOption(!o.nodelay)
	}
	if old == nil || old.keepalive != o.keepalive {
		if o.keepalive {
			t := n.st.TCP()
			if t.KeepaliveIdle > 0 {
				opt := tcpip.KeepaliveIdleOption(t.KeepaliveIdle)
				ep.SetSockOpt(&opt)
			}
			if t.KeepaliveInterval > 0 {
				opt := tcpip.KeepaliveIntervalOption(t.KeepaliveInterval)
				ep.SetSockOpt(&opt)
			}
			if t.KeepaliveCount > 0 {
				ep.SetSockOptInt(tcpip.KeepaliveCountOption, t.KeepaliveCount)
			}
		}
		so.SetKeepAlive(o.keepalive)
	}
	if old == nil || old.reuseaddr != o.reuseaddr {
		so.SetReuseAddress(o.reuseaddr)
	}
	if o.recbuf > 0 && (old == nil || old.recbuf != o.recbuf) {
		so.SetReceiveBufferSize(int64(max(o.recbuf, netstackMinRecbuf)), true)
	}
	if o.sndbuf > 0 && (old == nil || old.sndbuf != o.sndbuf) {
		so.SetSendBufferSize(int64(o.sndbuf), true)
	}
	if old == nil || old.linger != o.linger {
		so.SetLinger(tcpip.LingerOption{Enabled: o.linger.Enabled, Timeout: time.Duration(max(o.linger.Seconds, 0)) * time.Second})
	}
	if o.tos != 0 && (old == nil || old.tos != o.tos) {
		ep.SetSockOptInt(tcpip.IPv4TOSOption, o.tos)
	}
}
