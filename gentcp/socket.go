package gentcp

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Socket is a gen_tcp socket: a listen socket (from Listen) or a connected
// one (from Connect or Accept). Its methods may be called from any
// goroutine; calls that OTP restricts to the owner (ControllingProcess)
// take the calling Process.
//
// A socket is a state machine on top of a netstack endpoint. The endpoint
// does TCP; the socket owns what OTP's inet driver adds and netstack lacks:
// the receive buffer and its packet framing, the user-level send queue with
// its watermarks, the one-shot reporting of a close or reset, exit_on_close,
// active delivery to the owner, and getstat's counters (reference §13).
type Socket struct {
	node   *Node
	id     uint64
	listen bool
	ep     tcpip.Endpoint
	wq     *waiter.Queue

	mu      sync.Mutex
	o       sockOpts
	owner   *Process
	closed  bool   // the handle is closed: close/1, owner exit, or exit_on_close in active mode
	changed signal // wakes blocked calls on every state change they care about

	// Receive side: bytes read from the endpoint but not yet delivered
	// (OTP's driver buffer), and what reading has found.
	rbuf  []byte
	rbase []byte // rbuf's backing array, reused so reads do not regrow it
	rsize int    // the size of the array rbase is the rest of
	// rw is the writer netstack reads into, kept here because a local
	// one escapes to the heap (an allocation per read); it holds no
	// slice between reads.
	rw       tcpip.SliceWriter
	eof      bool // the endpoint reported end of stream
	reset    bool // the endpoint reported a reset
	recvBusy bool // a passive recv is in progress (a second gets ealready)
	// staleRemain is what a recv(N>0) poll that timed out still wanted.
	// OTP's driver keeps that request: later recv(0) calls read toward
	// it and deliver nothing until it is met, or until a recv with a
	// real (non-zero) timeout expires (scenario
	// recv_len_poll_timeout_stale_length).
	staleRemain int
	reading     bool // the active-mode reader goroutine runs
	// parked: an active socket whose reader found nothing to read and
	// left; kick (the endpoint's readable callback) starts a reader
	// again. Idle active sockets therefore hold no goroutine. Only
	// without a Scheduler, whose readers wait as goroutines it can see.
	parked    atomic.Bool
	kickEntry waiter.Entry
	kickArmed bool // kickEntry is registered with wq
	// readSinceDeliver: bytes were read from the endpoint since the last
	// active delivery (OTP judges packet_size only on arrival).
	readSinceDeliver bool

	// Error bookkeeping (reference §6): once a close or reset has been
	// reported, the socket is dead and calls say enotconn, except for the
	// one-shot reasons still pending for recv and send.
	dead           bool
	pendRecv       Reason
	pendSend       Reason
	pendClearsSend bool // a consumed recv error also clears pendSend (background send failure)
	pendReset      bool // the background failure was a reset
	eofSeen        bool // exit_on_close false: recv has reported the EOF; recv says closed from now on
	sendBroken     bool // exit_on_close false: a send failed after the EOF: closed forever
	shutWr         bool // shutdown(write) was called
	shutWrReported bool // the closed after shutdown(write) was reported to a send
	epClosed       bool

	// Send side: what the endpoint did not take yet (OTP's driver queue).
	sq            [][]byte
	sqLen         int
	draining      bool    // the drain goroutine runs
	busy          bool    // the queue reached high_watermark and not yet low_watermark
	shutAfterSend bool    // shutdown(write) waits for the queue
	wbuf          twoPart // the payload of the write in progress (writeLocked)

	stats stats
}

func (n *Node) newSocket(ep tcpip.Endpoint, wq *waiter.Queue, o sockOpts, listen bool) *Socket {
	return &Socket{
		node:   n,
		id:     n.nextID.Add(1),
		listen: listen,
		ep:     ep,
		wq:     wq,
		o:      o,
	}
}

// String returns a port-like name, #Port<0.ID>.
func (s *Socket) String() string { return "#Port<0." + strconv.FormatUint(s.id, 10) + ">" }

// notifyLocked wakes every call blocked on this socket's state.
func (s *Socket) notifyLocked() { s.changed.wake() }

// changedLocked returns a channel that is closed at the next state
// change, for a call about to wait with s.mu released.
func (s *Socket) changedLocked() <-chan struct{} { return s.changed.wait() }

// ---------------------------------------------------------------------------
// Creating sockets

// Connect connects to host:port, as gen_tcp:connect(Address, Port, Options,
// Timeout). host is an IPv4 or IPv6 address or a name in the stack's host
// table ("localhost" always). The calling process becomes the owner.
// timeout runs on the stack's clock; Infinity waits as long as TCP tries.
//
// Reasons: econnrefused, timeout, eaddrinuse (a busy {port,P}),
// eaddrnotavail, enetunreach, ehostunreach, nxdomain-like lookups as
// einval; a bad option or address matches ErrBadArg; a port outside
// 0..65535 is FunctionClause.
func (p *Process) Connect(host string, port int, timeout time.Duration, opts ...Option) (*Socket, error) {
	return p.ConnectContext(context.Background(), host, port, timeout, opts...)
}

// ConnectContext is Connect that also gives up when ctx is done.
func (p *Process) ConnectContext(ctx context.Context, host string, port int, timeout time.Duration, opts ...Option) (*Socket, error) {
	if port < 0 || port > 65535 {
		return nil, FunctionClause
	}
	if timeout < 0 {
		return nil, BadArg
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
		s, err = p.adopt(o, false)
	} else {
		s, err = p.connect(ctx, host, port, timeout, o)
	}
	if err != nil {
		p.node.open.Add(-1)
	}
	return s, err
}

func (p *Process) connect(ctx context.Context, host string, port int, timeout time.Duration, o sockOpts) (*Socket, error) {
	addrs, err := p.node.st.LookupHost(host)
	if err != nil {
		return nil, &OptionError{Option: strconv.Quote(host), Msg: err.Error(), Reason: BadArg}
	}
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
	entry, ch := waiter.NewChannelEntry(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr := ep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFromSlice(addr.AsSlice()), Port: uint16(port)})
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		for {
			if err := w.block(ch); err != nil {
				ep.Abort()
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
		ep.Close() // the process exited meanwhile; the caller frees the slot
		return nil, Closed
	}
	return s, nil
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

// newEndpoint creates a TCP endpoint of addr's family with o applied and
// bound to {ip,port} if given.
func (n *Node) newEndpoint(addr netip.Addr, o sockOpts) (tcpip.Endpoint, *waiter.Queue, error) {
	proto := ipv4.ProtocolNumber
	if addr.Is6() {
		proto = ipv6.ProtocolNumber
	}
	if o.ip.IsValid() && o.ip.Is6() != addr.Is6() {
		return nil, nil, Einval
	}
	wq := new(waiter.Queue)
	ep, terr := n.st.Netstack().NewEndpoint(tcp.ProtocolNumber, proto, wq)
	if terr != nil {
		return nil, nil, reasonOf(terr)
	}
	n.applyEndpointOpts(ep, &o, nil)
	if o.ip.IsValid() || o.port != 0 {
		fa := tcpip.FullAddress{Port: uint16(o.port)}
		if o.ip.IsValid() && !o.ip.IsUnspecified() {
			fa.Addr = tcpip.AddrFromSlice(o.ip.AsSlice())
		}
		if terr := ep.Bind(fa); terr != nil {
			ep.Close()
			return nil, nil, reasonOf(terr)
		}
	}
	return ep, wq, nil
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
		so.SetReceiveBufferSize(int64(o.recbuf), true)
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

// adopt makes a socket of an endpoint given with {fd,_}.
func (p *Process) adopt(o sockOpts, listen bool) (*Socket, error) {
	e := o.fd
	o.fd = nil
	p.node.applyEndpointOpts(e.EP, &o, nil)
	s := p.node.newSocket(e.EP, e.WQ, o, listen)
	if !p.own(s) {
		e.EP.Close()
		return nil, Closed
	}
	return s, nil
}

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
func (p *Process) Listen(port int, opts ...Option) (*Socket, error) {
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
func (p *Process) AcceptContext(ctx context.Context, l *Socket, timeout time.Duration) (*Socket, error) {
	if timeout < 0 {
		return nil, BadArg
	}
	w := p.node.startWait(ctx, timeout)
	defer w.stop()
	entry, ch := waiter.NewChannelEntry(waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr)
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

// ---------------------------------------------------------------------------
// Sending

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
	return s.send(ctx, data, Infinity)
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
	// inet_drv's tcp_sendv: a send that finds the queue empty writes what
	// the endpoint takes, queues the rest and returns ok however much that
	// is; only a send that finds the queue non-empty and takes it to
	// high_watermark makes the port busy and waits (checked on erl: a
	// first 16 MiB send to a peer that does not read returns ok at once).
	wasEmpty := len(s.sq) == 0
	if wasEmpty {
		n, terr := s.writeLocked(head, data)
		if terr != nil {
			if _, again := terr.(*tcpip.ErrWouldBlock); !again {
				return s.sendFailedLocked(terr)
			}
		}
		// Queue what the endpoint did not take.
		if n < len(head) {
			s.enqueueLocked(append(append([]byte(nil), head[n:]...), data...))
		} else if n-len(head) < len(data) {
			s.enqueueLocked(append([]byte(nil), data[n-len(head):]...))
		}
		return nil
	}
	if s.sqLen+len(head)+len(data) < s.o.highWatermark {
		s.enqueueLocked(append(append(make([]byte, 0, len(head)+len(data)), head...), data...))
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
	s.wbuf = twoPart{head: head, data: data}
	n, err := s.ep.Write(&s.wbuf, tcpip.WriteOptions{})
	// Do not keep the caller's bytes reachable from the socket.
	s.wbuf = twoPart{}
	return int(n), err
}

// twoPart is a tcpip.Payloader over a {packet,N} header and its payload.
type twoPart struct{ head, data []byte }

func (p *twoPart) Len() int { return len(p.head) + len(p.data) }

func (p *twoPart) Read(b []byte) (int, error) {
	if p.Len() == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.head)
	p.head = p.head[n:]
	m := copy(b[n:], p.data)
	p.data = p.data[m:]
	return n + m, nil
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
	case s.sendBroken:
		return Closed
	case s.shutWr:
		if !s.shutWrReported {
			s.shutWrReported = true
			return Closed
		}
		return Enotconn
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
			if err == Timeout && ctx.Err() == nil && !byLimit && s.o.sendTimeoutClose {
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
	s.sq, s.sqLen, s.busy = nil, 0, false
}

// sendFailedLocked records a failed write by the caller (§6: "send gets
// EPIPE/ECONNRESET").
func (s *Socket) sendFailedLocked(terr tcpip.Error) error {
	isReset := s.isResetLocked(terr)
	if !s.o.exitOnClose {
		// exit_on_close false: closed forever after this, but a reset is
		// reported as such first with show_econnreset (checked on OTP 25).
		s.sendBroken = true
		s.notifyLocked()
		if s.o.showEconnreset && isReset {
			return Econnreset
		}
		return Closed
	}
	s.dead = true
	s.dropQueueLocked()
	r := Closed
	if s.o.showEconnreset && isReset {
		r = Econnreset
	}
	s.pendRecv, s.pendSend, s.pendClearsSend = r, "", false
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
	entry, ch := waiter.NewChannelEntry(waiter.WritableEvents | waiter.EventHUp | waiter.EventErr)
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
		n, terr := s.writeLocked(nil, s.sq[0])
		if n > 0 {
			if n == len(s.sq[0]) {
				s.sq[0] = nil
				s.sq = s.sq[1:]
			} else {
				s.sq[0] = s.sq[0][n:]
			}
			s.sqLen -= n
			if s.busy && s.sqLen < s.o.lowWatermark {
				s.busy = false
				s.notifyLocked()
			}
			s.notifyLocked()
		}
		if terr == nil {
			continue
		}
		if _, again := terr.(*tcpip.ErrWouldBlock); again {
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

// ---------------------------------------------------------------------------
// Receiving

// maxRecv is OTP's limit on recv(Length): 64 MiB.
const maxRecv = 64 << 20

// Recv receives a packet in passive mode, as gen_tcp:recv(Socket, Length,
// Timeout). With {packet,raw}, Length 0 returns what is buffered, at most
// `buffer` bytes; Length N waits for exactly N bytes (if the peer closes
// first, the partial bytes are discarded and the result is closed). In
// packet modes Length must be 0 and one packet is returned. A timeout
// loses no data.
//
// Reasons: timeout, closed, enotconn, econnreset (show_econnreset), einval
// (an active socket, or Length > 0 in packet mode), ealready (another recv
// is in progress), emsgsize (a packet above packet_size; the socket is
// closed), enomem (Length above 64 MiB), FunctionClause (Length < 0).
func (s *Socket) Recv(length int, timeout time.Duration) (Data, error) {
	return s.RecvContext(context.Background(), length, timeout)
}

// RecvContext is Recv that also gives up when ctx is done.
func (s *Socket) RecvContext(ctx context.Context, length int, timeout time.Duration) (Data, error) {
	d, _, err := s.recv(ctx, length, timeout, nil)
	return d, err
}

// RecvAppend is Recv that appends what it receives to dst and returns the
// extended slice: the Go way to receive without allocating. Recv, like
// gen_tcp:recv, returns a new binary each call; a caller that passes its
// buffer back each time (buf, err = s.RecvAppend(buf[:0], 0, t)) reuses
// one array instead. Length, Timeout and the reasons are Recv's; Data's
// list and header presentation does not apply.
//
// With {packet,raw} and Length 0 the bytes are copied once, from netstack
// straight into dst's spare capacity: what Recv(0) would return (at most
// the buffer option's bytes), and at most cap(dst)-len(dst) of it. A dst
// without spare capacity grows by the buffer option first. Otherwise the
// packet is taken as Recv takes it and copied onto dst. On an error dst is
// returned as it was.
func (s *Socket) RecvAppend(dst []byte, length int, timeout time.Duration) ([]byte, error) {
	return s.RecvAppendContext(context.Background(), dst, length, timeout)
}

// RecvAppendContext is RecvAppend that also gives up when ctx is done.
func (s *Socket) RecvAppendContext(ctx context.Context, dst []byte, length int, timeout time.Duration) ([]byte, error) {
	s.mu.Lock()
	direct, buffer := length == 0 && s.o.packet == packetRaw, max(s.o.buffer, 1)
	s.mu.Unlock()
	if !direct {
		d, err := s.RecvContext(ctx, length, timeout)
		if err != nil {
			return dst, err
		}
		return append(dst, d.Bytes...), nil
	}
	if cap(dst) == len(dst) {
		dst = slices.Grow(dst, buffer)
	}
	n := len(dst)
	_, got, err := s.recv(ctx, 0, timeout, dst[n:min(cap(dst), n+buffer)])
	if err != nil {
		return dst, err
	}
	return dst[:n+got], nil
}

// recvInto is recv(S, 0) for a raw socket that delivers into dst instead
// of a new Data: at most len(dst) bytes, copied once from the endpoint (or
// from what is already buffered). The net.Conn adapter reads with it.
func (s *Socket) recvInto(ctx context.Context, dst []byte, timeout time.Duration) (int, error) {
	_, n, err := s.recv(ctx, 0, timeout, dst)
	return n, err
}

// recv is the one receive loop: into == nil returns a Data; otherwise
// bytes go into into and their count is returned (raw, length 0 only).
func (s *Socket) recv(ctx context.Context, length int, timeout time.Duration, into []byte) (Data, int, error) {
	if length < 0 {
		return Data{}, 0, FunctionClause
	}
	if timeout < 0 {
		return Data{}, 0, BadArg
	}
	s.mu.Lock()
	if err := s.recvCheckLocked(length); err != nil {
		s.mu.Unlock()
		return Data{}, 0, err
	}
	if into != nil && (s.o.packet != packetRaw || length != 0) {
		s.mu.Unlock()
		return Data{}, 0, Einval
	}
	s.recvBusy = true

	// The wait (its timer and the endpoint's wake-up registration) is set
	// up only when the first try finds nothing, so a recv that finds data
	// buffered or queued in netstack allocates nothing for it.
	var w *waitCtx
	var entry *waiter.Entry
	var ch chan struct{}
	defer func() {
		if w != nil {
			w.stop()
			s.wq.EventUnregister(entry)
		}
	}()
	defer s.mu.Unlock()
	defer func() { s.recvBusy = false }()
	for {
		if s.closed {
			return Data{}, 0, Closed
		}
		if s.dead {
			return Data{}, 0, s.takeRecvErrorLocked()
		}
		stale := length == 0 && s.staleRemain > 0 && s.o.packet == packetRaw
		if !stale && into != nil {
			if n, ok := s.takeIntoLocked(into); ok {
				return Data{}, n, nil
			}
		} else if !stale {
			d, err, ok := s.takePacketLocked(length)
			if ok {
				return d, 0, nil
			}
			if err != nil {
				return Data{}, 0, s.packetErrorLocked(err)
			}
		}
		if s.eof || s.reset {
			return Data{}, 0, s.recvSawCloseLocked()
		}
		want := s.readWant(length)
		if stale {
			want = s.staleRemain
		}
		before := len(s.rbuf)
		terr := s.fillLocked(want)
		switch terr.(type) {
		case nil:
			if stale {
				s.staleRemain -= len(s.rbuf) - before
			}
			continue
		case *tcpip.ErrWouldBlock:
			if w == nil {
				// Register for the endpoint's wake-ups, then try again:
				// data that came before the registration woke nobody.
				w = s.node.startWait(ctx, timeout)
				e, c := waiter.NewChannelEntry(waiter.ReadableEvents | waiter.EventHUp | waiter.EventErr)
				entry, ch = &e, c
				s.wq.EventRegister(entry)
				continue
			}
			changed := s.changedLocked()
			s.mu.Unlock()
			err := w.block(ch, changed)
			s.mu.Lock()
			if err != nil {
				// Nothing is lost: buffered bytes stay for the next recv.
				if s.closed {
					return Data{}, 0, Closed
				}
				if err == Timeout {
					if timeout == 0 && length > 0 {
						s.staleRemain = length - len(s.rbuf)
					} else if timeout > 0 {
						s.staleRemain = 0
					}
				}
				return Data{}, 0, err
			}
		default:
			s.noteReadErrorLocked(terr)
		}
	}
}

func (s *Socket) recvCheckLocked(length int) error {
	switch {
	case s.closed:
		return Closed
	case s.listen:
		return Enotconn
	case length > maxRecv:
		return Enomem
	case s.o.active != activeFalse:
		return Einval
	case length > 0 && s.o.packet != packetRaw:
		return Einval
	case s.recvBusy:
		return Ealready
	case s.dead:
		return s.takeRecvErrorLocked()
	case s.eofSeen:
		return Closed
	}
	return nil
}

// takeRecvErrorLocked returns the reason a recv on a dead socket gets: the
// one-shot reason if one is pending, enotconn after.
func (s *Socket) takeRecvErrorLocked() error {
	r := s.pendRecv
	s.pendRecv = ""
	if r == "" {
		return Enotconn
	}
	if s.pendClearsSend {
		s.pendSend = ""
	}
	return r
}

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

// packetErrorLocked handles a packet above packet_size: emsgsize once, and
// the socket is closed underneath (later calls: enotconn).
func (s *Socket) packetErrorLocked(err error) error {
	s.dead = true
	s.rbuf = nil
	s.pendRecv, s.pendSend = "", ""
	s.dropQueueLocked()
	s.closeEndpointLocked(true)
	s.notifyLocked()
	return err
}

func (s *Socket) noteReadErrorLocked(terr tcpip.Error) {
	switch terr.(type) {
	case *tcpip.ErrClosedForReceive:
		s.eof = true
	case *tcpip.ErrConnectionReset, *tcpip.ErrConnectionAborted:
		s.reset = true
	default:
		s.eof = true
	}
}

// takeIntoLocked delivers raw bytes into dst: from rbuf if it holds any,
// else straight from the endpoint, so the bytes are copied once.
func (s *Socket) takeIntoLocked(dst []byte) (int, bool) {
	if len(s.rbuf) > 0 {
		n := copy(dst, s.rbuf[:min(len(s.rbuf), len(dst))])
		s.rbuf = s.rbuf[n:]
		s.stats.received(n)
		return n, true
	}
	if s.epClosed || len(dst) == 0 {
		return 0, false
	}
	res, terr := s.readEndpointLocked(dst)
	if res.Count > 0 {
		s.readSinceDeliver = true
		if m, ok := s.ep.(interface{ ModerateRecvBuf(int) }); ok {
			m.ModerateRecvBuf(res.Count)
		}
		s.stats.received(res.Count)
		return res.Count, true
	}
	if terr != nil {
		if _, again := terr.(*tcpip.ErrWouldBlock); !again {
			s.noteReadErrorLocked(terr)
		}
	}
	return 0, false
}

// readEndpointLocked reads what netstack holds into dst, at most len(dst).
func (s *Socket) readEndpointLocked(dst []byte) (tcpip.ReadResult, tcpip.Error) {
	s.rw = dst
	res, terr := s.ep.Read(&s.rw, tcpip.ReadOptions{})
	s.rw = nil
	return res, terr
}

// maxReadChunk bounds one read from the endpoint (see fillLocked).
const maxReadChunk = 256 << 10

// minRoom is the smallest array fillLocked allocates: small messages
// share one, instead of one allocation each.
const minRoom = 512

// keepIdleRoom: when rbuf empties, the rest of an array of at most this
// size is kept for the next read; a bigger one is let go, so an idle
// socket does not pin a bulk-sized buffer.
const keepIdleRoom = 4 << 10

// readWant is how many bytes to ask the endpoint for.
func (s *Socket) readWant(length int) int {
	if length > 0 {
		return max(length-len(s.rbuf), 1)
	}
	return max(s.o.buffer, 1)
}

// fillLocked reads up to want bytes from the endpoint into rbuf without
// blocking: everything netstack holds, up to want.
//
// Packets are handed out of rbuf without a copy, so their bytes are never
// reused and a read often needs a new array. That array is sized by what
// netstack holds now (ReceiveQueueSizeOption), not by want: a 1-byte
// message must not allocate (and make Go zero) a whole buffer. Data that
// arrives between the size query and the read is still read, into a
// grown array, so a read takes all that is there, as OTP's does.
func (s *Socket) fillLocked(want int) tcpip.Error {
	if s.epClosed {
		return &tcpip.ErrClosedForReceive{}
	}
	// Read at most maxReadChunk at a time: a huge buffer option or recv
	// length must not make the socket allocate it up front; the loops
	// that call fillLocked keep reading until they have enough.
	want = min(want, maxReadChunk)
	got := 0
	var terr tcpip.Error
	for got < want {
		if cap(s.rbuf) == len(s.rbuf) {
			q := s.queued()
			if got > 0 && q == 0 {
				break // the read took all there was; do not grow for nothing
			}
			s.roomLocked(roomFor(want-got, q))
		}
		n := len(s.rbuf)
		room := min(cap(s.rbuf)-n, want-got)
		var res tcpip.ReadResult
		res, terr = s.readEndpointLocked(s.rbuf[n : n+room])
		s.rbuf = s.rbuf[:n+res.Count]
		got += res.Count
		if terr != nil || res.Count < room {
			break // netstack has no more for now
		}
	}
	if got > 0 {
		s.readSinceDeliver = true
		// Let receive-buffer autotuning see the read; without it the
		// window never grows (netstack-notes: ModerateRecvBuf).
		if m, ok := s.ep.(interface{ ModerateRecvBuf(int) }); ok {
			m.ModerateRecvBuf(got)
		}
		return nil
	}
	if terr == nil {
		return &tcpip.ErrWouldBlock{}
	}
	return terr
}

// queued is how many bytes netstack holds for reading, or -1 if it does
// not say.
func (s *Socket) queued() int {
	q, err := s.ep.GetSockOptInt(tcpip.ReceiveQueueSizeOption)
	if err != nil {
		return -1
	}
	return q
}

// roomFor is the size of the room a read of want bytes gets when rbuf's
// array is full and netstack holds q bytes: q, at least minRoom, at most
// want.
func roomFor(want, q int) int {
	if q < 0 {
		return want
	}
	return min(want, max(q, minRoom))
}

// roomLocked makes room for want more bytes after rbuf, reusing rbase:
// bytes already taken from the front are reclaimed by moving what is left
// to the start, and the array grows only when what is buffered plus want
// does not fit.
func (s *Socket) roomLocked(want int) {
	if cap(s.rbuf)-len(s.rbuf) >= want {
		return
	}
	need := len(s.rbuf) + want
	if cap(s.rbase) >= need {
		n := copy(s.rbase[:cap(s.rbase)], s.rbuf)
		s.rbuf = s.rbase[:n]
		return
	}
	size := need
	if len(s.rbuf) > 0 {
		// A packet longer than one read: grow geometrically.
		size = max(need, 2*cap(s.rbase))
	}
	nb := make([]byte, len(s.rbuf), size)
	copy(nb, s.rbuf)
	s.rbase = nb[:cap(nb)]
	s.rbuf = nb
	s.rsize = cap(nb)
}

// takePacketLocked takes the next deliverable packet from rbuf: for raw
// with length > 0 exactly length bytes, otherwise one packet as framed by
// the packet option. ok is false if rbuf holds none yet; err is the
// framing error (emsgsize).
func (s *Socket) takePacketLocked(length int) (Data, error, bool) {
	var payload []byte
	used := 0
	if length > 0 {
		if len(s.rbuf) < length {
			return Data{}, nil, false
		}
		payload, used = s.rbuf[:length], length
	} else {
		p, u, _, err := decodePacket(s.rbuf, framing{
			packet: s.o.packet, packetSize: s.o.packetSize,
			delimiter: s.o.lineDelimiter, buffer: s.o.buffer,
		})
		if err != nil {
			return Data{}, err, false
		}
		if u == 0 {
			return Data{}, nil, false
		}
		payload, used = p, u
	}
	// The packet is handed out without a copy: its bytes are never
	// reused, as rbase moves past them (or is dropped once rbuf is empty,
	// which also frees an idle socket's buffer).
	d := Data{Bytes: payload[:len(payload):len(payload)], List: !s.o.binary}
	if s.o.binary && s.o.header > 0 {
		// [B1,...,BN|Rest]; a packet shorter than N is a plain list
		// (reference §5 header_*).
		if len(d.Bytes) < s.o.header {
			d.List = true
		} else {
			d.Header = s.o.header
		}
	}
	s.rbuf = s.rbuf[used:]
	if len(s.rbuf) == 0 && s.rsize > keepIdleRoom {
		s.rbuf, s.rbase, s.rsize = nil, nil, 0
	} else {
		s.rbase = s.rbuf[:cap(s.rbuf)]
	}
	s.stats.received(used)
	return d, nil, true
}

// ---------------------------------------------------------------------------
// Active mode

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
// sender. startReaderLocked set s.reading for it.
func (s *Socket) reader() {
	var ch <-chan struct{}
	if s.node.sched != nil {
		entry, c := waiter.NewChannelEntry(readerEvents)
		s.wq.EventRegister(&entry)
		defer s.wq.EventUnregister(&entry)
		ch = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() { s.reading = false }()
	s.readLoopLocked(ch)
}

// resumeReader is the reader kick starts for a parked socket, unless the
// socket no longer delivers or another reader runs already.
func (s *Socket) resumeReader() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deliversLocked() {
		return
	}
	s.reading = true
	defer func() { s.reading = false }()
	s.readLoopLocked(nil)
}

// kick is the endpoint's readable callback for a socket without a
// Scheduler. netstack calls it from its own goroutines, perhaps with
// endpoint locks held, so it takes no lock: it only starts a reader if
// one parked.
func (s *Socket) kick(waiter.EventMask) {
	if s.parked.CompareAndSwap(true, false) {
		go s.resumeReader()
	}
}

func (s *Socket) readLoopLocked(ch <-chan struct{}) {
	for {
		if s.closed || s.o.active == activeFalse || s.owner == nil || s.dead || s.eofSeen {
			return
		}
		d, err, ok := s.takePacketLocked(0)
		if ok {
			s.deliverLocked(d)
			continue
		}
		if err != nil && !s.readSinceDeliver {
			// OTP checks packet_size only when bytes arrive: an oversize
			// header that came in the same read as the last delivered
			// packet is reported when more data comes (reference §7
			// packet_size_exceeded_active_same_read).
			err = nil
			if terr := s.fillLocked(s.readWant(0)); terr == nil {
				continue
			} else if _, again := terr.(*tcpip.ErrWouldBlock); again {
				if !s.awaitDataLocked(ch) {
					return
				}
				continue
			} else {
				s.noteReadErrorLocked(terr)
				continue
			}
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
		terr := s.fillLocked(s.readWant(0))
		switch terr.(type) {
		case nil:
		case *tcpip.ErrWouldBlock:
			if !s.awaitDataLocked(ch) {
				return
			}
		default:
			s.noteReadErrorLocked(terr)
		}
	}
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

// deliverLocked sends one data message and counts it against once/N.
func (s *Socket) deliverLocked(d Data) {
	s.readSinceDeliver = false
	if s.o.deliverPort {
		s.owner.Send(PortData{s, d})
	} else {
		s.owner.Send(TCP{s, d})
	}
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

// ---------------------------------------------------------------------------
// Closing

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
}

// closeHandleLocked marks the handle closed and releases its owner.
func (s *Socket) closeHandleLocked() {
	if s.closed {
		return
	}
	s.closed = true
	s.node.open.Add(-1)
	if s.kickArmed {
		s.kickArmed = false
		s.parked.Store(false)
		s.wq.EventUnregister(&s.kickEntry)
	}
	// A closed handle receives nothing more: release the receive buffer
	// (the user may keep the handle around for a long time).
	s.rbuf, s.rbase = nil, nil
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
		if s.sqLen > 0 && !s.epClosed {
			// The drain goroutine closes the endpoint once the queue is
			// empty, so the bytes still reach the peer.
			return nil
		}
	}
	s.closeEndpointLocked(s.o.linger.Enabled && s.o.linger.Seconds == 0)
	return nil
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
	if s.sqLen > 0 && !s.dead && !s.epClosed {
		return // the drain goroutine closes the endpoint
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
	case s.listen, s.dead, s.shutWrReported:
		// A send that failed after shutdown(write) leaves the socket
		// not connected for OTP (shutdown_write_then_send).
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

// ---------------------------------------------------------------------------
// Ownership

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

// ---------------------------------------------------------------------------
// Options and information

// Setopts sets options, as inet:setopts(Socket, Options). The whole list is
// validated first (one bad entry: nothing changes, Einval); then it is
// applied right to left, so the first occurrence of an option wins. An
// {active,N} that would take the count above 32767 stops there: options
// after it stay applied, those before do not, and the result is Einval
// (OTP does the same). {active,0} and a count reaching 0 send
// {tcp_passive,S}.
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
	passive := false
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
					passive = true
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
	if passive && s.owner != nil {
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
		if d, _, ok := s.takePacketLocked(0); ok {
			s.deliverLocked(d)
		}
	}
	s.startReaderLocked()
	return result
}

// Getopts returns the named options' values, as inet:getopts(Socket,
// Names). An unknown or ungettable name (backlog and line_delimiter are
// never gettable) fails the whole call with Einval; duplicates are
// repeated. Setting an option and reading it back gives what was set.
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

// Port returns the local port, as inet:port/1. Einval on a closed socket.
func (s *Socket) Port() (int, error) {
	a, err := s.Sockname()
	if err != nil {
		return 0, err
	}
	return int(a.Port()), nil
}

// Sockname returns the local address and port, as inet:sockname/1.
func (s *Socket) Sockname() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, Einval
	}
	fa, terr := s.ep.GetLocalAddress()
	if terr != nil {
		return netip.AddrPort{}, reasonOf(terr)
	}
	return addrPort(fa, s.o.ip), nil
}

// Peername returns the peer's address and port, as inet:peername/1.
// Enotconn on a listen socket, Einval on a closed one.
func (s *Socket) Peername() (netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, Einval
	}
	if s.listen {
		return netip.AddrPort{}, Enotconn
	}
	fa, terr := s.ep.GetRemoteAddress()
	if terr != nil {
		return netip.AddrPort{}, reasonOf(terr)
	}
	return addrPort(fa, netip.Addr{}), nil
}

func addrPort(fa tcpip.FullAddress, fallback netip.Addr) netip.AddrPort {
	a, ok := netip.AddrFromSlice(fa.Addr.AsSlice())
	if !ok {
		a = fallback
		if !a.IsValid() {
			a = netip.IPv4Unspecified()
		}
	}
	return netip.AddrPortFrom(a.Unmap(), fa.Port)
}

func (s *Socket) isIPv6() bool {
	fa, err := s.ep.GetLocalAddress()
	return err == nil && fa.Addr.Len() == 16
}

// IsListen reports whether s is a listen socket.
func (s *Socket) IsListen() bool { return s.listen }

// Owner returns the socket's controlling process (nil once closed).
func (s *Socket) Owner() *Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner
}

// Endpoint returns the netstack endpoint under the socket, for options
// gentcp does not wrap. Reading or writing it directly bypasses gentcp's
// buffers and breaks the socket's semantics.
func (s *Socket) Endpoint() tcpip.Endpoint { return s.ep }

// ---------------------------------------------------------------------------
// Statistics

// Stat is one getstat counter.
type Stat struct {
	Name  string
	Value int
}

// StatNames are getstat's counters in OTP's order.
var StatNames = []string{"recv_oct", "recv_cnt", "recv_max", "recv_avg", "recv_dvi",
	"send_oct", "send_cnt", "send_max", "send_avg", "send_pend"}

type stats struct {
	recvOct, recvCnt, recvMax int
	recvAvg, recvDvi          float64
	sendOct, sendCnt, sendMax int
	sendAvg                   float64
}

// received counts one delivered packet of n bytes (§11: recv_cnt counts
// delivered packets, not endpoint reads). avg and dvi are running mean and
// mean deviation, as inet_drv keeps them.
func (st *stats) received(n int) {
	st.recvCnt++
	st.recvOct += n
	st.recvMax = max(st.recvMax, n)
	delta := float64(n) - st.recvAvg
	st.recvAvg += delta / float64(st.recvCnt)
	st.recvDvi += (math.Abs(delta) - st.recvDvi) / float64(st.recvCnt)
}

// sent counts one send call of n bytes, headers included.
func (st *stats) sent(n int) {
	st.sendCnt++
	st.sendOct += n
	st.sendMax = max(st.sendMax, n)
	st.sendAvg += (float64(n) - st.sendAvg) / float64(st.sendCnt)
}

// Getstat returns counters, as inet:getstat(Socket, Keys); no keys means
// all of StatNames. An unknown key or a closed socket gives Einval.
func (s *Socket) Getstat(keys ...string) ([]Stat, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, Einval
	}
	if len(keys) == 0 {
		keys = StatNames
	}
	out := make([]Stat, 0, len(keys))
	for _, k := range keys {
		var v int
		switch k {
		case "recv_oct":
			v = s.stats.recvOct
		case "recv_cnt":
			v = s.stats.recvCnt
		case "recv_max":
			v = s.stats.recvMax
		case "recv_avg":
			v = int(s.stats.recvAvg)
		case "recv_dvi":
			v = int(s.stats.recvDvi)
		case "send_oct":
			v = s.stats.sendOct
		case "send_cnt":
			v = s.stats.sendCnt
		case "send_max":
			v = s.stats.sendMax
		case "send_avg":
			v = int(s.stats.sendAvg)
		case "send_pend":
			v = s.sqLen
		default:
			return nil, Einval
		}
		out = append(out, Stat{k, v})
	}
	return out, nil
}
