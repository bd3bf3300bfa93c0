// connect.go owns gen_tcp:connect: resolving the host, choosing the
// address family, and waiting for the handshake.
//
// Locks: none while connecting (the endpoint is not a socket yet); the new
// socket is handed to its owner through own (owner.go).

package gentcp

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/usertcp/usertcp/stack"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Connect connects to host:port, as gen_tcp:connect(Address, Port, Options,
// Timeout). host is an IPv4 or IPv6 address or a name in the stack's host
// table ("localhost" always). The calling process becomes the owner.
// timeout runs on the stack's clock; Infinity waits as long as TCP tries.
//
// The name is resolved first, as inet_tcp does before it looks at the
// options: a name that does not resolve is Nxdomain whatever the options.
//
// Reasons: nxdomain, econnrefused, timeout, eaddrinuse (a busy {port,P}),
// eaddrnotavail, enetunreach, ehostunreach; a bad option or an empty host
// matches ErrBadArg; a port outside 0..65535 is FunctionClause.
func (p *Process) Connect(host string, port int, timeout time.Duration, opts ...Option) (*Socket, error) {
	return p.ConnectContext(context.Background(), host, port, timeout, opts...)
}

// ConnectContext is Connect that also gives up when ctx is done.
func (p *Process) ConnectContext(ctx context.Context, host string, port int, timeout time.Duration, opts ...Option) (_ *Socket, err error) {
	defer func() { p.node.callFailed(err, connectCall(host, port)) }()
	if timeout < 0 {
		return nil, BadArg
	}
	var addrs []netip.Addr
	if !hasOption(opts, "fd") {
		// An adopted {fd,_} endpoint is connected already: host is not
		// used, so it is not looked up.
		a, err := p.node.lookup(host)
		if err != nil {
			return nil, err
		}
		addrs = a
	}
	if port < 0 || port > 65535 {
		return nil, FunctionClause
	}
	o, err := resolve(opConnect, p.node.defaults(opConnect), opts)
	if err != nil {
		return nil, err
	}
	if err := p.node.reserveSocket(); err != nil {
		return nil, err
	}
	var s *Socket
	if o.fd != nil {
		if s, err = p.adopt(o, false); err != nil {
			p.node.open.Add(-1)
		}
	} else {
		// connect frees the slot itself when it fails: a connect it
		// abandons keeps its slot until the endpoint is gone.
		s, err = p.connect(ctx, addrs, port, timeout, o)
	}
	if passiveAtOpen(opts) {
		p.tellPassiveAtOpen(s)
	}
	return s, err
}

// hasOption reports whether opts has an option called name.
func hasOption(opts []Option, name string) bool {
	for _, o := range opts {
		if o.Name == name {
			return true
		}
	}
	return false
}

// lookup resolves a connect's host through the stack's host table (an
// address literal is itself). A name that is empty or has a byte outside
// the visible ASCII range 33..126 is badarg, any other name the table
// does not have is nxdomain, "10.0.0.256" included (OTP 25's
// inet:getaddrs).
func (n *Node) lookup(host string) ([]netip.Addr, error) {
	if !visibleName(host) {
		return nil, &OptionError{Option: strconv.Quote(host), Msg: "not a host name", Reason: BadArg}
	}
	addrs, err := n.st.LookupHost(host)
	if errors.Is(err, stack.ErrUnknownHost) {
		return nil, Nxdomain
	}
	if err != nil {
		return nil, &OptionError{Option: strconv.Quote(host), Msg: err.Error(), Reason: BadArg}
	}
	return addrs, nil
}

// visibleName reports whether host is a name inet would look up: not
// empty, every byte visible ASCII (inet_parse:visible_string).
func visibleName(host string) bool {
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		if host[i] < 33 || host[i] > 126 {
			return false
		}
	}
	return true
}

// connect makes the endpoint and waits for its handshake, and on failure
// frees the node's socket slot ConnectContext reserved.
//
// The timeout is a promise: netstack's Connect picks the local port and
// sends the SYN before it returns, which takes as long as the link makes
// it wait to take the SYN (a full queue) or the port search lasts (every
// ephemeral port in use: tens of milliseconds), and Abort waits for the
// endpoint's lock, which a retransmission blocked on the link may hold.
// So without a Scheduler both run off the caller's goroutine: the caller
// waits for Connect's return, then for the handshake, each within the
// timeout, and a connect that gives up hands the endpoint to
// abandonConnect. A connect with no timeout and a context that cannot end
// (connect/3) has no promise to keep: it waits as long as TCP tries
// whatever the link does and never gives up, so it calls Connect inline,
// which spares it a goroutine and a hand-off to it and back (issue 21:
// 0.81x gonet's connection rate with them, 1.0x without; BENCHMARKS.md).
// Under a Scheduler the calls stay inline, as the scheduler must see every
// goroutine, and they do not wait: package sim's links are lock-step,
// whose senders never wait (memlink's LockStep), and its goroutines run
// one at a time, so no other holds the endpoint.
func (p *Process) connect(ctx context.Context, addrs []netip.Addr, port int, timeout time.Duration, o sockOpts) (_ *Socket, err error) {
	// abandoned: the slot went to abandonConnect with the endpoint.
	abandoned := false
	defer func() {
		if err != nil && !abandoned {
			p.node.open.Add(-1)
		}
	}()
	addr, ok := pickAddr(addrs, o.family)
	if !ok {
		return nil, Eafnosupport
	}
	ep, wq, err := p.node.newEndpoint(addr, o)
	if err != nil {
		return nil, err
	}
	w := p.node.startWait(ctx, timeout)
	defer w.stop()
	entry, ch := p.node.channelEntry(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	fa := tcpip.FullAddress{Addr: tcpip.AddrFromSlice(addr.AsSlice()), Port: uint16(port)}
	var terr tcpip.Error
	// returned is closed once an off-caller Connect has returned; nil
	// when Connect ran inline.
	var returned chan struct{}
	if p.node.sched != nil || (timeout == Infinity && w.ctx.Done() == nil) {
		terr = ep.Connect(fa)
	} else {
		returned = make(chan struct{})
		result := new(tcpip.Error)
		go func() {
			*result = ep.Connect(fa)
			close(returned)
		}()
		if err := w.block(returned); err != nil {
			p.node.abandonConnect(ep, returned)
			abandoned = true
			return nil, err
		}
		terr = *result
	}
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		for {
			if err := w.block(ch); err != nil {
				p.node.abandonConnect(ep, returned)
				abandoned = true
				return nil, err
			}
			if ep.Readiness(waiter.WritableEvents|waiter.EventHUp|waiter.EventErr) != 0 {
				break
			}
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		return nil, reasonOf(terr)
	}
	s := p.node.newSocket(ep, wq, o, false)
	if !p.own(s) {
		ep.Close() // the process exited meanwhile
		return nil, Closed
	}
	return s, nil
}

// abandonConnect aborts the endpoint of a connect that gave up, once its
// Connect has returned, and then frees the connect's socket slot: the
// node's cap counts the endpoint until it is gone, as it counts a closing
// socket's. returned is nil when Connect ran inline (it has returned);
// otherwise the wait for it is a goroutine of its own, so the connect
// returns at its timeout whatever netstack waits for.
func (n *Node) abandonConnect(ep tcpip.Endpoint, returned <-chan struct{}) {
	if returned == nil {
		ep.Abort()
		n.open.Add(-1)
		return
	}
	go func() {
		<-returned
		ep.Abort()
		n.open.Add(-1)
	}()
}

// pickAddr chooses the address to use among a name's addresses: IPv4
// unless inet6 was asked for (OTP's default family is inet).
func pickAddr(addrs []netip.Addr, family string) (netip.Addr, bool) {
	for _, a := range addrs {
		if (family == "inet6") == (a.Is6() && !a.Is4In6()) {
			return a.Unmap(), true
		}
	}
	if family == "" && len(addrs) > 0 {
		return addrs[0].Unmap(), true
	}
	return netip.Addr{}, false
}
