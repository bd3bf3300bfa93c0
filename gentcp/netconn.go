package gentcp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The Go adapter: net.Conn and net.Listener over gentcp sockets, so Go's
// own ecosystem (net/http, gRPC, ...) runs over the stack. It uses Go's
// words and Go's error shapes (netconn_errors.go): *net.OpError around
// an *os.SyscallError that also matches the Reason, io.EOF when the peer
// closed, net.ErrClosed after a local Close, and deadline errors that
// match os.ErrDeadlineExceeded. Deadlines run on the stack's clock.

// adapterOpts are the options of adapter sockets: passive binary bytes,
// a large read chunk, exit_on_close false so CloseWrite and CloseRead are
// true half-closes, and show_econnreset so a reset is ECONNRESET, as
// net.TCPConn reports it, rather than EOF.
var adapterOpts = []Option{Binary, Active(false), PacketRaw, Buffer(64 << 10),
	ExitOnClose(false), ShowEconnreset(true), Nodelay(true)}

// Dial connects to address ("host:port") over network "tcp", "tcp4" or
// "tcp6" and returns a net.Conn. host is an address or a name in the
// stack's host table (empty: the local system, as in Go); port is a
// number or a service name ("http"), as net.LookupPort resolves it.
//
// Errors are Go's: an *net.OpError whose text reads as net's
// ("dial tcp 10.0.0.1:9999: connect: connection refused"), holding an
// *os.SyscallError for a POSIX reason, "i/o timeout" for a deadline, or
// an *net.DNSError with IsNotFound for a name that does not resolve.
// errors.Is matches gentcp's Reason as well as the syscall.Errno.
func (n *Node) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// DialContext is Dial with a context.
func (n *Node) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	fail := func(addr net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	host, port, family, err := splitNet(ctx, network, address)
	if err != nil {
		return nil, fail(nil, err)
	}
	if host == "" {
		host = "localhost"
	}
	ip, err := n.resolveNet(host, family)
	if err != nil {
		return nil, fail(nil, err)
	}
	raddr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	p := n.NewProcess()
	opts := append([]Option{}, adapterOpts...)
	if family != "" {
		opts = append(opts, Option{"family", family})
	}
	s, err := p.ConnectContext(ctx, ip.String(), port, Infinity, opts...)
	if err != nil {
		p.Exit()
		return nil, fail(raddr, netErr("connect", err))
	}
	return newConn(p, s), nil
}

// resolveNet resolves host for the adapter as Go's net does: an address
// is itself; a name goes through the stack's host table, and one it
// lacks is an *net.DNSError with IsNotFound (unwrapping to Nxdomain).
func (n *Node) resolveNet(host, family string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := n.lookup(host)
	if err != nil {
		d := dnsNotFound(host)
		d.UnwrapErr = err
		return netip.Addr{}, d
	}
	a, ok := pickAddr(addrs, family)
	if !ok {
		return netip.Addr{}, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return a, nil
}

// Listen opens a listener on address (":port" or "host:port") over network
// "tcp", "tcp4" or "tcp6"; backlog is 128 as Go programs expect a
// generous one. Errors are shaped as Dial's ("listen tcp 10.0.0.1:80:
// bind: address already in use").
func (n *Node) Listen(network, address string) (net.Listener, error) {
	host, port, family, err := splitNet(context.Background(), network, address)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: network, Err: err}
	}
	opts := append([]Option{Backlog(128), Reuseaddr(true)}, adapterOpts...)
	laddr := &net.TCPAddr{Port: port}
	if host != "" {
		a, err := n.resolveNet(host, family)
		if err != nil {
			return nil, &net.OpError{Op: "listen", Net: network, Err: err}
		}
		laddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(a, uint16(port)))
		opts = append(opts, IP(a))
	} else if family == "inet6" {
		opts = append(opts, Inet6)
	}
	p := n.NewProcess()
	s, err := p.Listen(port, opts...)
	if err != nil {
		p.Exit()
		return nil, &net.OpError{Op: "listen", Net: network, Addr: laddr, Err: netErr("bind", err)}
	}
	base, cancel := context.WithCancel(context.Background())
	l := &Listener{p: p, s: s, net: network, cancel: cancel}
	if a, err := s.Sockname(); err == nil {
		l.addr = net.TCPAddrFromAddrPort(a)
	} else {
		l.addr = laddr
	}
	l.dl.init(base)
	return l, nil
}

// splitNet parses a Dial or Listen network and address; a port that is
// not a number is a service name, resolved as net.LookupPort does.
func splitNet(ctx context.Context, network, address string) (host string, port int, family string, err error) {
	switch network {
	case "tcp":
	case "tcp4":
		family = "inet"
	case "tcp6":
		family = "inet6"
	default:
		return "", 0, "", net.UnknownNetworkError(network)
	}
	h, ps, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, "", err
	}
	port, err = strconv.Atoi(ps)
	if err != nil {
		port, err = net.DefaultResolver.LookupPort(ctx, network, ps)
		if err != nil {
			return "", 0, "", err
		}
	}
	if port < 0 || port > 65535 {
		return "", 0, "", &net.AddrError{Err: "invalid port", Addr: address}
	}
	return h, port, family, nil
}

// Listener is a net.Listener over a gentcp listen socket.
type Listener struct {
	p    *Process
	s    *Socket
	net  string
	addr *net.TCPAddr // the bound address, kept for errors after Close
	dl   deadline     // Accept's (SetDeadline)
	// closed: Close was called, the one record of it. Close sets it
	// before it calls cancel, which cancels the base context of dl's
	// contexts to wake a blocked Accept: an Accept woken by a cancel
	// and finding closed false was woken by a new deadline.
	closed atomic.Bool
	cancel context.CancelFunc
}

// Accept waits for the next connection.
func (l *Listener) Accept() (net.Conn, error) {
	if l.closed.Load() {
		return nil, l.acceptErr(net.ErrClosed)
	}
	p := l.p.node.NewProcess()
	for {
		ctx, timeout, err := l.dl.wait(l.s.node.st.Clock().Now())
		if err != nil {
			p.Exit()
			return nil, l.acceptErr(netErr("accept", err))
		}
		s, err := p.AcceptContext(ctx, l.s, timeout)
		if err == context.Canceled && !l.closed.Load() {
			continue // the deadline changed: start again with the new one
		}
		if err != nil {
			p.Exit()
			if err == Closed || l.closed.Load() {
				return nil, l.acceptErr(net.ErrClosed)
			}
			return nil, l.acceptErr(netErr("accept", err))
		}
		return newConn(p, s), nil
	}
}

func (l *Listener) acceptErr(err error) error {
	return &net.OpError{Op: "accept", Net: l.net, Addr: l.addr, Err: err}
}

// SetDeadline sets the deadline of Accept, in the stack clock's time, as
// net.TCPListener's: an Accept waiting past it fails with an error that
// matches os.ErrDeadlineExceeded ("i/o timeout"), a change applies to an
// Accept already waiting, the zero time means none.
func (l *Listener) SetDeadline(t time.Time) error {
	if l.closed.Load() {
		return &net.OpError{Op: "set", Net: l.net, Addr: l.addr, Err: net.ErrClosed}
	}
	l.dl.set(t)
	return nil
}

// Close closes the listener; a blocked Accept returns net.ErrClosed. A
// second Close fails with net.ErrClosed, as net.TCPListener's does.
func (l *Listener) Close() error {
	if l.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: l.net, Addr: l.addr, Err: net.ErrClosed}
	}
	l.cancel()
	l.s.Close()
	l.p.Exit()
	return nil
}

// Addr returns the address the listener is bound to (still after Close,
// as net.TCPListener's).
func (l *Listener) Addr() net.Addr { return l.addr }

// Socket returns the gentcp socket under the listener.
func (l *Listener) Socket() *Socket { return l.s }

// Conn is a net.Conn over a gentcp socket. It adds what net.Conn promises
// and gen_tcp lacks: Read into a caller's buffer, concurrent Reads and
// Writes, and deadlines that change while a call waits.
type Conn struct {
	p *Process
	s *Socket
	// The addresses at creation, which Go's conns keep: errors name them
	// even after the socket closed itself underneath.
	laddr, raddr net.Addr
	linger       atomic.Int32 // SetLinger's seconds; below 0 (the default) sends queued output in the background
	// wclosed: CloseWrite was called. Write then fails by itself as
	// Go's does (EPIPE) and reading goes on; a send would be a failed
	// send for gen_tcp, which closes the whole socket.
	wclosed atomic.Bool
	// resetRead: a Read reported the peer's reset. Later writes say
	// broken pipe, as Linux's do once the reset was taken, rather than
	// the reset a second time.
	resetRead atomic.Bool

	rmu sync.Mutex // one Read at a time (gen_tcp answers a second recv with ealready)
	wmu sync.Mutex

	// Each direction has a deadline whose contexts derive from one base
	// context (netconn_deadline.go); cancel cancels it, for Close.
	rdl, wdl deadline
	cancel   context.CancelFunc

	// closed: Close was called, the one record of it. Close sets it
	// before it calls cancel, so a Read or Write woken by that cancel
	// tells Close from a new deadline by it.
	closed atomic.Bool
}

// NewConn gives a connected socket that p owns to Go code as a net.Conn,
// for a socket made with the gen_tcp calls (an accepted one handed to
// net/http, say). The socket gets the options Dial's sockets have
// (adapterOpts: passive binary bytes, exit_on_close false for
// CloseWrite, show_econnreset, ...); Close closes it.
func NewConn(p *Process, s *Socket) (*Conn, error) {
	if s.IsListen() {
		return nil, Enotconn
	}
	if !s.Owner().Is(p) {
		return nil, NotOwner
	}
	if err := s.Setopts(adapterOpts...); err != nil {
		return nil, err
	}
	return newConn(p, s), nil
}

func newConn(p *Process, s *Socket) *Conn {
	c := &Conn{p: p, s: s}
	la, _ := s.Sockname()
	ra, _ := s.Peername()
	c.laddr, c.raddr = net.TCPAddrFromAddrPort(la), net.TCPAddrFromAddrPort(ra)
	c.linger.Store(-1)
	base, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.rdl.init(base)
	c.wdl.init(base)
	return c
}

// Socket returns the gentcp socket under the conn.
func (c *Conn) Socket() *Socket { return c.s }

func (c *Conn) isClosed() bool { return c.closed.Load() }

// Read reads up to len(b) bytes.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.isClosed() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	for {
		ctx, timeout, err := c.rdl.wait(c.s.node.st.Clock().Now())
		if err != nil {
			return 0, c.opErr("read", netErr("read", err))
		}
		n, err := c.s.recvInto(ctx, b, timeout)
		if err == context.Canceled && !c.isClosed() {
			continue // the deadline changed: start again with the new one
		}
		if err != nil {
			switch {
			case c.isClosed():
				return 0, c.opErr("read", net.ErrClosed)
			case err == Closed || err == Enotconn:
				return 0, io.EOF
			case err == Econnreset:
				c.resetRead.Store(true)
			}
			return 0, c.opErr("read", netErr("read", err))
		}
		return n, nil
	}
}

// Write writes b; it returns when the stack or gentcp's queue has taken it.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	if c.wclosed.Load() {
		return 0, c.opErr("write", netErr("write", Closed))
	}
	for {
		ctx, timeout, err := c.wdl.wait(c.s.node.st.Clock().Now())
		if err != nil {
			return 0, c.opErr("write", netErr("write", err))
		}
		err = c.s.send(ctx, b, timeout)
		if err == nil {
			return len(b), nil
		}
		if err == context.Canceled && !c.isClosed() {
			// The deadline changed while the queue was busy; the data is
			// queued already.
			return len(b), nil
		}
		if c.isClosed() {
			return 0, c.opErr("write", net.ErrClosed)
		}
		if err == Econnreset && c.resetRead.Load() {
			err = Closed
		}
		return 0, c.opErr("write", netErr("write", err))
	}
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// Close closes the conn; blocked Reads and Writes return net.ErrClosed.
// As net.TCPConn's, it returns at once and queued output is sent in the
// background, bounded as close/1 bounds it (a queue that has not moved
// in 5 s, or is still there after 180 s, is dropped with a reset);
// SetLinger changes that.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.cancel()
	c.s.closeAsGo(int(c.linger.Load()))
	c.p.Exit()
	return nil
}

// SetLinger sets how Close treats output still queued, as
// net.TCPConn.SetLinger does on Linux: below 0 (the default) Close
// returns at once and the output is sent in the background; 0 drops it
// and resets the connection; sec > 0 makes Close wait up to sec seconds
// for it, then drop what is left with a reset.
func (c *Conn) SetLinger(sec int) error {
	if c.isClosed() {
		return c.opErr("set", net.ErrClosed)
	}
	c.linger.Store(int32(max(min(sec, 1<<30), -1)))
	return nil
}

// CloseWrite shuts down the writing side (the peer reads EOF).
func (c *Conn) CloseWrite() error {
	if c.isClosed() {
		return c.opErr("close", net.ErrClosed)
	}
	c.wclosed.Store(true)
	if err := c.s.Shutdown(ShutdownWrite); err != nil && !errors.Is(err, Enotconn) {
		return c.opErr("close", netErr("shutdown", err))
	}
	return nil
}

// CloseRead shuts down the reading side.
func (c *Conn) CloseRead() error {
	if c.isClosed() {
		return c.opErr("close", net.ErrClosed)
	}
	if err := c.s.Shutdown(ShutdownRead); err != nil {
		return c.opErr("close", netErr("shutdown", err))
	}
	return nil
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline, in the stack clock's time; it
// applies to a Read already waiting. The zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rdl.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline, as SetReadDeadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wdl.set(t)
	return nil
}
