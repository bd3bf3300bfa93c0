package bench

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/fdbased"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/stack"
)

// TAP cases put one usertcp stack on a TAP device whose other side is the
// Linux kernel in a network namespace the case makes (and removes): the
// stack connects, the kernel accepts, so bulk up is usertcp to the kernel.
// They need root (CAP_NET_ADMIN) and iproute2's ip; without them they are
// skipped as unavailable.

// TAP is Case.Link for a case on a TAP device.
const TAP = "tap"

// Fdbased is the system of TAP cases' baseline: gVisor's gonet on gVisor's
// own fdbased link, opened on the same device without a virtio-net header
// (one readv or writev per frame, as gVisor's runsc uses it on a plain
// TAP), where Gentcp and Gonet run on link/tap with its offloads.
const Fdbased = "fdbased"

// The namespace's addresses: the stack's and the kernel's.
var (
	tapUser   = netip.MustParsePrefix("10.0.0.1/24")
	tapKernel = netip.MustParsePrefix("10.0.0.2/24")
)

const tapDevice = "utapb0"

var tapSeq atomic.Int32

// TAPUnavailable says why TAP cases cannot run here, or "" if they can.
func TAPUnavailable() string {
	if os.Geteuid() != 0 {
		return "TAP cases need root (CAP_NET_ADMIN) to make a namespace and a TAP device"
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return "TAP cases need /dev/net/tun: " + err.Error()
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "TAP cases need iproute2's ip: " + err.Error()
	}
	return ""
}

// tapSystem is the stack on the TAP device and the namespace behind it.
type tapSystem struct {
	ns     string
	st     *stack.Stack
	fd     int // fdbased's descriptor, -1 for link/tap
	system string
	// gentcp's node and the process that owns the connecting sockets.
	node *gentcp.Node
	proc *gentcp.Process
	mode string // how gentcp's streams read (gentcpStreamOf)
}

func newTapSystem(c Case) (_ system, err error) {
	if why := TAPUnavailable(); why != "" {
		return nil, fmt.Errorf("%w: %s", ErrUnavailable, why)
	}
	s := &tapSystem{ns: fmt.Sprintf("usertcp-bench-%d-%d", os.Getpid(), tapSeq.Add(1)), fd: -1, system: c.System}
	if err := s.makeNamespace(c.MTU); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	var link netstack.LinkEndpoint
	if c.System == Fdbased {
		if link, err = s.openFdbased(c.MTU); err != nil {
			return nil, err
		}
	} else {
		ep, err := tap.New(tap.Options{Name: tapDevice, Netns: s.ns, MTU: uint32(c.MTU)})
		if err != nil {
			return nil, err
		}
		link = ep
	}
	s.st, err = stack.New(stack.Options{
		NICs: []stack.NIC{{Name: "eth0", Link: link, Addresses: []netip.Prefix{tapUser}}},
		TCP:  tcpOptions(),
	})
	if err != nil {
		link.Close()
		return nil, err
	}
	if c.System == Gentcp {
		s.node = gentcp.NewNode(s.st)
		s.proc = s.node.NewProcess()
		s.mode = c.Mode
	}
	return s, nil
}

// makeNamespace makes the namespace with a persistent TAP device in it,
// the kernel's address on it, both at mtu and up.
func (s *tapSystem) makeNamespace(mtu int) error {
	if err := ipCmd("netns", "add", s.ns); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-n", s.ns, "tuntap", "add", "dev", tapDevice, "mode", "tap"},
		{"-n", s.ns, "link", "set", tapDevice, "mtu", fmt.Sprint(mtu), "up"},
		{"-n", s.ns, "addr", "add", tapKernel.String(), "dev", tapDevice},
		{"-n", s.ns, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			ipCmd("netns", "del", s.ns)
			return err
		}
	}
	return nil
}

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// openFdbased opens the namespace's device as a plain TAP descriptor for
// gVisor's fdbased link.
func (s *tapSystem) openFdbased(mtu int) (netstack.LinkEndpoint, error) {
	fd, err := tap.OpenFD(tap.Options{Name: tapDevice, Netns: s.ns})
	if err != nil {
		return nil, fmt.Errorf("open %s for fdbased: %w", tapDevice, err)
	}
	s.fd = fd
	return fdbased.New(&fdbased.Options{
		FDs: []int{s.fd}, MTU: uint32(mtu), EthernetHeader: true,
		Address:            tcpip.LinkAddress("\x02\x75\x00\x00\x00\xfd"),
		PacketDispatchMode: fdbased.RecvMMsg,
	})
}

func (s *tapSystem) listen(port int, opts []gentcp.Option) (listener, error) {
	var l net.Listener
	err := tap.InNetns(s.ns, func() error {
		var err error
		l, err = net.Listen("tcp4", netip.AddrPortFrom(tapKernel.Addr(), uint16(port)).String())
		return err
	})
	if err != nil {
		return nil, err
	}
	return &tapListener{s: s, l: l, port: uint16(l.Addr().(*net.TCPAddr).Port), opts: append(slices.Clone(gentcpBase), opts...)}, nil
}

func (s *tapSystem) close() {
	if s.proc != nil {
		s.proc.Exit()
	}
	if s.st != nil {
		s.st.Close()
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	ipCmd("netns", "del", s.ns)
}

// tapListener is a kernel listener in the namespace; dial connects the
// stack to it with the case's facade.
type tapListener struct {
	s    *tapSystem
	l    net.Listener
	port uint16
	opts []gentcp.Option // gentcp's connecting sockets'
}

func (l *tapListener) accept() (stream, error) {
	c, err := l.l.Accept()
	if err != nil {
		return nil, err
	}
	c.(*net.TCPConn).SetNoDelay(true)
	return connStream{c}, nil
}

func (l *tapListener) dial() (stream, error) {
	if l.s.proc == nil {
		c, err := gonet.DialTCP(l.s.st.Netstack(), tcpip.FullAddress{
			Addr: tcpip.AddrFromSlice(tapKernel.Addr().AsSlice()), Port: l.port}, ipv4.ProtocolNumber)
		if err != nil {
			return nil, err
		}
		return connStream{c}, nil
	}
	sock, err := l.s.proc.Connect(tapKernel.Addr().String(), int(l.port), 10*time.Second, l.opts...)
	if err != nil {
		return nil, err
	}
	return gentcpStreamOf(sock, l.s.proc, l.s.mode)
}

func (l *tapListener) close() error {
	err := l.l.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
