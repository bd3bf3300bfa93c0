package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// The workloads see every system through three small interfaces, so one
// loop measures gentcp, gonet and kernel sockets alike.

// system is where connections are made: two stacks on a link, or the
// kernel.
type system interface {
	listen(port int, opts []gentcp.Option) (listener, error)
	close()
}

// listener accepts connections and dials them.
type listener interface {
	accept() (stream, error)
	dial() (stream, error)
	close() error
}

// stream is one end of a connection.
type stream interface {
	// write writes all of b.
	write(b []byte) error
	// read reads some bytes into buf and returns how many (gentcp's Recv
	// returns its own slice; read then only counts it).
	read(buf []byte) (int, error)
	close() error
}

// The addresses of the server (A) and client (B) stacks.
var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
)

// tcpOptions are the TCP settings of both stacks, for gentcp and gonet
// alike: netstack's defaults with room for 8 MiB of buffer, as the gentcp
// bulk benchmark always had, and a short TIME_WAIT so connrate does not
// run out of ports.
func tcpOptions() stack.TCPOptions {
	return stack.TCPOptions{
		SendBuffer:    stack.BufferRange{Max: 8 << 20},
		ReceiveBuffer: stack.BufferRange{Max: 8 << 20},
		TimeWait:      time.Second,
	}
}

// pair is two stacks joined by a link: a (10.0.0.1) serves, b connects.
type pair struct {
	a, b *stack.Stack
}

// newPair builds the stacks on a memlink, or on gVisor's pipe link for the
// link comparison. Both links skip checksums. st, if not nil, replaces the
// stacks' TCP settings and the memlink's options.
func newPair(link string, mtu int, st *Stacks) (*pair, error) {
	tcp, lo := tcpOptions(), memlink.Options{ChecksumOffload: true}
	if st != nil {
		tcp, lo = st.TCP, st.Link
	}
	lo.MTU = uint32(mtu)
	var la, lb netstack.LinkEndpoint
	switch link {
	case Pipe:
		pa, pb := pipe.New("", "", uint32(mtu))
		la, lb = offloadPipe{pa}, offloadPipe{pb}
	default:
		ma, mb, err := memlink.New(lo)
		if err != nil {
			return nil, err
		}
		la, lb = ma, mb
	}
	mk := func(l netstack.LinkEndpoint, a netip.Addr) (*stack.Stack, error) {
		return stack.New(stack.Options{
			NICs: []stack.NIC{{Name: "eth0", Link: l, Addresses: []netip.Prefix{netip.PrefixFrom(a, 24)}}},
			TCP:  tcp,
		})
	}
	p := &pair{}
	var err error
	if p.a, err = mk(la, addrA); err != nil {
		lb.Close()
		return nil, err
	}
	if p.b, err = mk(lb, addrB); err != nil {
		p.a.Close()
		return nil, err
	}
	return p, nil
}

func (p *pair) close() {
	p.a.Close()
	p.b.Close()
}

// offloadPipe is gVisor's pipe link with checksum offload, so it competes
// with memlink on equal terms.
type offloadPipe struct{ *pipe.Endpoint }

func (offloadPipe) Capabilities() netstack.LinkEndpointCapabilities {
	return netstack.CapabilityRXChecksumOffload | netstack.CapabilityTXChecksumOffload
}

// newSystem builds the system a case runs on.
func newSystem(c Case) (system, error) {
	if c.Link == TAP {
		switch c.System {
		case Gentcp, Gonet, Fdbased:
			return newTapSystem(c)
		}
		return nil, fmt.Errorf("bench: %s does not run on a TAP link", c.System)
	}
	switch c.System {
	case Gentcp:
		p, err := newPair(Memlink, c.MTU, c.Stacks)
		if err != nil {
			return nil, err
		}
		g := newGentcpSystem(p)
		g.mode = c.Mode
		return g, nil
	case Gonet, Memlink, Pipe:
		link := Memlink
		if c.System == Pipe {
			link = Pipe
		}
		p, err := newPair(link, c.MTU, c.Stacks)
		if err != nil {
			return nil, err
		}
		return &gonetSystem{p: p}, nil
	case Kernel:
		return kernelSystem{}, nil
	}
	return nil, fmt.Errorf("bench: unknown system %q", c.System)
}

// ---------------------------------------------------------------------------
// gentcp: the gen_tcp API itself (Process.Listen, Accept, Connect,
// Socket.Send, Recv, Close).

type gentcpSystem struct {
	p              *pair
	server, client *gentcp.Node
	sp, cp         *gentcp.Process // own the listen and connecting sockets
	// mode is how streams read: Recv (""), Append, Release, or through
	// the net.Conn adapter (NetConn).
	mode string
}

func newGentcpSystem(p *pair) *gentcpSystem {
	s := &gentcpSystem{p: p, server: gentcp.NewNode(p.a), client: gentcp.NewNode(p.b)}
	s.sp, s.cp = s.server.NewProcess(), s.client.NewProcess()
	return s
}

// gentcpBase are the options of every benchmark socket: binary, passive,
// Nagle off, recv(0) returning up to 64 KiB.
var gentcpBase = []gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.Nodelay(true), gentcp.Buffer(Chunk)}

// listenOptions are what a benchmark's listen socket adds to the options
// of its sockets.
var listenOptions = []gentcp.Option{gentcp.Backlog(1024), gentcp.Reuseaddr(true)}

// workloadOptions are what a measurement's workload adds to gentcpBase on
// every socket: {packet,4} for msgrate, nothing for the others. The
// gentcp workloads pass them to listen; OTP's sockets get gentcpBase and
// these, the same list (otp.go).
func workloadOptions(measurement string) []gentcp.Option {
	if measurement == MessageRate {
		return []gentcp.Option{gentcp.Packet(4)}
	}
	return nil
}

func (s *gentcpSystem) listen(port int, opts []gentcp.Option) (listener, error) {
	all := append(append(slices.Clone(listenOptions), gentcpBase...), opts...)
	l, err := s.sp.Listen(port, all...)
	if err != nil {
		return nil, err
	}
	port, err = l.Port()
	if err != nil {
		return nil, err
	}
	return &gentcpListener{s: s, l: l, port: port, opts: append(slices.Clone(gentcpBase), opts...)}, nil
}

func (s *gentcpSystem) close() {
	s.sp.Exit()
	s.cp.Exit()
	s.p.close()
}

type gentcpListener struct {
	s    *gentcpSystem
	l    *gentcp.Socket
	port int
	opts []gentcp.Option
}

// accept makes the server's process the owner; dial the client's. The
// workloads that need a mailbox of their own (msgrate's active mode) move
// the socket with ControllingProcess.
func (l *gentcpListener) accept() (stream, error) {
	s, err := l.s.sp.Accept(l.l, gentcp.Infinity)
	if err != nil {
		return nil, err
	}
	return l.s.stream(s, l.s.sp)
}

func (l *gentcpListener) dial() (stream, error) {
	s, err := l.s.cp.Connect(addrA.String(), l.port, gentcp.Infinity, l.opts...)
	if err != nil {
		return nil, err
	}
	return l.s.stream(s, l.s.cp)
}

// stream is the socket as a benchmark stream: the gen_tcp calls, or the
// net.Conn adapter over the same socket in NetConn mode.
func (s *gentcpSystem) stream(sock *gentcp.Socket, owner *gentcp.Process) (stream, error) {
	return gentcpStreamOf(sock, owner, s.mode)
}

// gentcpStreamOf is sock as a benchmark stream that reads as mode says:
// Recv (""), RecvAppend (Append), Recv and Release (Release), or through
// the net.Conn adapter (NetConn).
func gentcpStreamOf(sock *gentcp.Socket, owner *gentcp.Process, mode string) (stream, error) {
	if mode != NetConn {
		return gentcpStream{s: sock, mode: mode}, nil
	}
	c, err := gentcp.NewConn(owner, sock)
	if err != nil {
		sock.Close()
		return nil, err
	}
	return connStream{c}, nil
}

func (l *gentcpListener) close() error { return l.l.Close() }

type gentcpStream struct {
	s    *gentcp.Socket
	mode string // "", Append or Release
}

func (g gentcpStream) write(b []byte) error { return g.s.Send(b) }

func (g gentcpStream) read(buf []byte) (int, error) {
	var n int
	var err error
	if g.mode == Append {
		buf, err = g.s.RecvAppend(buf[:0], 0, gentcp.Infinity)
		n = len(buf)
	} else {
		var d gentcp.Data
		d, err = g.s.Recv(0, gentcp.Infinity)
		n = len(d.Bytes)
		if g.mode == Release {
			d.Release()
		}
	}
	if errors.Is(err, gentcp.Closed) {
		return 0, io.EOF
	}
	return n, err
}

func (g gentcpStream) close() error { return g.s.Close() }

// ---------------------------------------------------------------------------
// gonet: gVisor's net.Conn adapter on the same stacks.

type gonetSystem struct{ p *pair }

func (s *gonetSystem) listen(port int, _ []gentcp.Option) (listener, error) {
	l, err := gonet.ListenTCP(s.p.a.Netstack(), tcpip.FullAddress{Port: uint16(port)}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return &gonetListener{s: s, l: l, port: uint16(l.Addr().(*net.TCPAddr).Port)}, nil
}

func (s *gonetSystem) close() { s.p.close() }

type gonetListener struct {
	s    *gonetSystem
	l    *gonet.TCPListener
	port uint16
}

func (l *gonetListener) accept() (stream, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return connStream{c}, nil
}

func (l *gonetListener) dial() (stream, error) {
	c, err := gonet.DialTCP(l.s.p.b.Netstack(), tcpip.FullAddress{Addr: tcpip.AddrFromSlice(addrA.AsSlice()), Port: l.port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, err
	}
	return connStream{c}, nil
}

func (l *gonetListener) close() error { return l.l.Close() }

// connStream is a net.Conn: gonet's or the kernel's.
type connStream struct{ c net.Conn }

func (c connStream) write(b []byte) error {
	_, err := c.c.Write(b)
	return err
}

func (c connStream) read(buf []byte) (int, error) { return c.c.Read(buf) }

func (c connStream) close() error { return c.c.Close() }

// ---------------------------------------------------------------------------
// kernel: Go's net over loopback.

type kernelSystem struct{}

func (kernelSystem) listen(port int, _ []gentcp.Option) (listener, error) {
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, err
	}
	return &kernelListener{l: l}, nil
}

func (kernelSystem) close() {}

type kernelListener struct{ l net.Listener }

func (l *kernelListener) accept() (stream, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	return connStream{c}, nil
}

func (l *kernelListener) dial() (stream, error) {
	c, err := net.Dial("tcp4", l.l.Addr().String())
	if err != nil {
		return nil, err
	}
	return connStream{c}, nil
}

func (l *kernelListener) close() error { return l.l.Close() }

// connectPair dials one connection and accepts it, returning the
// connecting and the accepting end.
func connectPair(l listener) (client, server stream, err error) {
	type res struct {
		s   stream
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := l.accept()
		ch <- res{s, err}
	}()
	client, err = l.dial()
	if err != nil {
		// Unblock the accept by closing the listener's side: the caller
		// closes the listener on error, which ends the accept.
		l.close()
		<-ch
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		client.close()
		return nil, nil, r.err
	}
	return client, r.s, nil
}
