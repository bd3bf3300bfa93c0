package tap_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/link/tap"
	"github.com/usertcp/usertcp/link/tap/taptest"
	"github.com/usertcp/usertcp/stack"
)

// A testLink is one test's world: a usertcp stack with gentcp on it (the
// side under test), and a peer it talks to, each with an address of each
// family. Over TAP the peer is the Linux kernel in a network namespace;
// over memlink it is a second usertcp stack. The test bodies are written
// once against this and run over both, as wireguard-go's genTestPair does.
type testLink struct {
	kind string // "memlink" or "tap"

	user      *gentcp.Node
	userStack *stack.Stack
	userAddr  map[string]netip.Addr // by family: "inet", "inet6"

	peer     peer
	peerAddr map[string]netip.Addr

	// ns is the namespace of a TAP link, nil on memlink.
	ns *taptest.Namespace

	capture *testutil.LockedBuffer // the user side's frames, if linkOptions.capture
}

// peer is the other side: kernel sockets in the namespace, or gentcp's
// net.Conn adapter on the second stack. Both give conns with CloseWrite.
type peer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	Listen(network, address string) (net.Listener, error)
}

type linkOptions struct {
	// userMTU and peerMTU are the two sides' MTUs; 0 means 65520 (TAP
	// hands over one frame per system call, so big frames are fast).
	userMTU, peerMTU int
	// capture records the user side's link to testLink.capture.
	capture bool
	// noOffload opens the TAP link without segmentation and checksum
	// offload (tap.Options.NoOffload).
	noOffload bool
}

var families = []string{"inet", "inet6"}

// forEachLink runs body over memlink and over TAP, each a subtest that
// ends with a goroutine leak check. The TAP subtest skips (or, with CI
// set, fails) where TAP devices cannot be made.
func forEachLink(t *testing.T, o linkOptions, body func(t *testing.T, l *testLink)) {
	for _, kind := range []string{"memlink", "tap"} {
		t.Run(kind, func(t *testing.T) {
			leakCheck(t)
			body(t, newLink(t, kind, o))
		})
	}
}

// leakCheck registers, first, the cleanup that runs last, after the
// stacks and namespaces are gone.
func leakCheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func newLink(t testing.TB, kind string, o linkOptions) *testLink {
	t.Helper()
	if o.userMTU == 0 {
		o.userMTU = tap.MaxMTU
	}
	if o.peerMTU == 0 {
		o.peerMTU = tap.MaxMTU
	}
	l := &testLink{
		kind:     kind,
		userAddr: map[string]netip.Addr{"inet": taptest.User4, "inet6": taptest.User6},
		peerAddr: map[string]netip.Addr{"inet": taptest.Kernel4, "inet6": taptest.Kernel6},
	}
	if o.capture {
		l.capture = &testutil.LockedBuffer{}
	}
	tcp := stack.TCPOptions{TimeWait: time.Second}
	var userLink netstack.LinkEndpoint
	switch kind {
	case "tap":
		l.ns = taptest.NewNamespace(t, o.peerMTU)
		to := l.ns.Options()
		to.MTU = uint32(o.userMTU)
		if l.capture != nil {
			to.Pcap = l.capture
		}
		to.NoOffload = o.noOffload
		l.peer = l.ns
		ep, err := tap.New(to)
		if err != nil {
			t.Fatalf("tap.New: %v", err)
		}
		userLink = ep
	case "memlink":
		mo := memlink.Options{MTU: uint32(max(o.userMTU, o.peerMTU)), Ethernet: true}
		if l.capture != nil {
			mo.Pcap = l.capture // end a is the user side
		}
		a, b, err := memlink.New(mo)
		if err != nil {
			t.Fatalf("memlink.New: %v", err)
		}
		userLink = withMTU(a, o.userMTU)
		ps, err := stack.New(stack.Options{
			NICs: []stack.NIC{{Name: "eth0", Link: withMTU(b, o.peerMTU), Addresses: taptest.KernelPrefixes()}},
			TCP:  tcp,
		})
		if err != nil {
			a.Close()
			b.Close()
			t.Fatalf("stack.New: %v", err)
		}
		t.Cleanup(ps.Close)
		l.peer = gentcp.NewNode(ps)
	}
	st, err := stack.New(stack.Options{
		NICs: []stack.NIC{{Name: "eth0", Link: userLink, Addresses: taptest.UserPrefixes()}},
		TCP:  tcp,
	})
	if err != nil {
		userLink.Close()
		t.Fatalf("stack.New: %v", err)
	}
	t.Cleanup(st.Close)
	l.userStack = st
	l.user = gentcp.NewNode(st)
	return l
}

// mtuLink gives a memlink end a smaller MTU than the wire's, as two hosts
// with different MTUs on one Ethernet segment have.
type mtuLink struct {
	netstack.LinkEndpoint
	mtu uint32
}

func (m *mtuLink) MTU() uint32 { return m.mtu }

func withMTU(e *memlink.End, mtu int) netstack.LinkEndpoint {
	if uint32(mtu) == e.MTU() {
		return e
	}
	return &mtuLink{LinkEndpoint: e, mtu: uint32(mtu)}
}

// peerHostPort is the peer's address for the given family and port.
func (l *testLink) peerHostPort(family string, port int) string {
	return netip.AddrPortFrom(l.peerAddr[family], uint16(port)).String()
}

func (l *testLink) userHostPort(family string, port int) string {
	return netip.AddrPortFrom(l.userAddr[family], uint16(port)).String()
}

// network is Go's network name for a family.
func network(family string) string {
	if family == "inet6" {
		return "tcp6"
	}
	return "tcp4"
}

// famOpt is gentcp's option for a family.
func famOpt(family string) gentcp.Option {
	if family == "inet6" {
		return gentcp.Inet6
	}
	return gentcp.Inet
}

// abort closes c with a RST (SO_LINGER 0), on either kind of peer conn.
func abort(t *testing.T, c net.Conn) {
	t.Helper()
	switch c := c.(type) {
	case *net.TCPConn:
		if err := c.SetLinger(0); err != nil {
			t.Fatalf("SetLinger(0): %v", err)
		}
	case *gentcp.Conn:
		if err := c.Socket().Setopts(gentcp.LingerOpt(true, 0)); err != nil {
			t.Fatalf("Setopts(linger 0): %v", err)
		}
	default:
		t.Fatalf("abort: unexpected conn type %T", c)
	}
	c.Close()
}

// closeWrite half-closes c.
func closeWrite(t *testing.T, c net.Conn) {
	t.Helper()
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		t.Fatalf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
}
