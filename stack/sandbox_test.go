package stack_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// The sandbox boundary: a stack answers only for its own addresses and
// routes nothing between its NICs unless Options.Forwarding says so.

// proto returns the netstack protocol number of a's family.
func proto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Is4() {
		return ipv4.ProtocolNumber
	}
	return ipv6.ProtocolNumber
}

func fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{Addr: tcpip.AddrFromSlice(ap.Addr().AsSlice()), Port: ap.Port()}
}

// echoServer accepts on l and echoes every connection until l closes.
func echoServer(l *gonet.TCPListener) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return &wg
}

// echoOnce dials dst from st, sends a few bytes and reads them back.
func echoOnce(st *stack.Stack, dst netip.AddrPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, st.Netstack(), fullAddr(dst), proto(dst.Addr()))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("sandbox")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	_, err = io.ReadFull(c, make([]byte, len(msg)))
	return err
}

func icmpEcho4(src, dst netip.Addr) []byte {
	b := make([]byte, header.IPv4MinimumSize+header.ICMPv4MinimumSize+8)
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
		SrcAddr: tcpip.AddrFromSlice(src.AsSlice()), DstAddr: tcpip.AddrFromSlice(dst.AsSlice()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	icmp := header.ICMPv4(b[header.IPv4MinimumSize:])
	icmp.SetType(header.ICMPv4Echo)
	icmp.SetIdent(7)
	icmp.SetSequence(1)
	icmp.SetChecksum(^checksum.Checksum(icmp, 0))
	return b
}

// TestSandbox_AnswersOnlyItsAddresses injects, on stack A's link, packets
// for addresses that are not A's: another host of A's subnet, another
// subnet, the broadcast addresses, loopback, and B's own address. A must
// send nothing back for any of them; the same packets for A's address get
// an answer.
func TestSandbox_AnswersOnlyItsAddresses(t *testing.T) {
	defer goleak.VerifyNone(t)
	p, inj := testutil.NewInjectedPair(t, memlink.Options{}, stack.TCPOptions{})
	defer p.Close()
	// A listens on every address of both families, as a dual-stack
	// server bound to :: does.
	l, err := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: 80}, ipv6.ProtocolNumber)
	require.NoError(t, err)
	defer l.Close()
	// Answers are TCP segments and ICMP echo replies; IPv6 control
	// traffic the stack may send on its own (router solicitations, MLD)
	// is not an answer.
	var answers atomic.Int32
	inj.OnSend(func(frame []byte) bool {
		if isAnswer(frame) {
			answers.Add(1)
		}
		return true
	})
	port := uint16(40000)
	syn := func(src, dst netip.Addr, dport uint16) []byte {
		port++
		return testutil.TCPFrame(testutil.Segment{
			Src: netip.AddrPortFrom(src, port), Dst: netip.AddrPortFrom(dst, dport),
			Seq: 1, Flags: header.TCPFlagSyn, Window: 65535,
		})
	}
	b4, b6 := testutil.AddrB4, testutil.AddrB6
	// answered injects frame and waits for an answer: up to wait.
	answered := func(frame []byte, wait time.Duration) bool {
		before := answers.Load()
		inj.Inject(frame)
		for deadline := time.Now().Add(wait); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if answers.Load() > before {
				return true
			}
		}
		return false
	}
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"SYN to another host of A's subnet", syn(b4, netip.MustParseAddr("10.0.0.99"), 80)},
		{"SYN to another subnet", syn(b4, netip.MustParseAddr("192.168.7.7"), 80)},
		{"SYN to the subnet broadcast", syn(b4, netip.MustParseAddr("10.0.0.255"), 80)},
		{"SYN to the limited broadcast", syn(b4, netip.MustParseAddr("255.255.255.255"), 80)},
		{"SYN to loopback from the wire", syn(b4, netip.MustParseAddr("127.0.0.1"), 80)},
		{"SYN to B's own address", syn(b4, b4, 80)},
		{"SYN to a closed port of another host", syn(b4, netip.MustParseAddr("10.0.0.99"), 81)},
		{"IPv6 SYN to another host of A's prefix", syn(b6, netip.MustParseAddr("fd00:75::99"), 80)},
		{"IPv6 SYN to loopback from the wire", syn(b6, netip.MustParseAddr("::1"), 80)},
		{"ping to another host", icmpEcho4(b4, netip.MustParseAddr("10.0.0.99"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.False(t, answered(tc.frame, 100*time.Millisecond), "A answered a packet that is not for it")
		})
	}
	// The control: the same kinds of packet for A's addresses get an
	// answer (SYN-ACK, RST for a closed port, echo reply).
	for _, tc := range []struct {
		name  string
		frame []byte
	}{
		{"SYN to A", syn(b4, testutil.AddrA4, 80)},
		{"SYN to a closed port of A", syn(b4, testutil.AddrA4, 81)},
		{"IPv6 SYN to A", syn(b6, testutil.AddrA6, 80)},
		{"ping to A", icmpEcho4(b4, testutil.AddrA4)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.True(t, answered(tc.frame, 5*time.Second), "A did not answer a packet for its own address")
		})
	}
	assert.NotZero(t, p.A.Netstack().Stats().IP.InvalidDestinationAddressesReceived.Value(),
		"the packets for other hosts were counted as such")
}

// isAnswer reports whether frame is a TCP segment or an ICMPv4 echo
// reply.
func isAnswer(frame []byte) bool {
	if len(frame) == 0 {
		return false
	}
	switch header.IPVersion(frame) {
	case header.IPv4Version:
		ip := header.IPv4(frame)
		if len(frame) < header.IPv4MinimumSize {
			return false
		}
		switch ip.TransportProtocol() {
		case header.TCPProtocolNumber:
			return true
		case header.ICMPv4ProtocolNumber:
			p := ip.Payload()
			return len(p) > 0 && header.ICMPv4Type(p[0]) == header.ICMPv4EchoReply
		}
	case header.IPv6Version:
		return len(frame) >= header.IPv6MinimumSize && header.IPv6(frame).TransportProtocol() == header.TCPProtocolNumber
	}
	return false
}

// router builds X —link1— R —link2— Y: X (10.1.0.2, fd01::2) and Y
// (10.2.0.2, fd02::2) route each other's subnet through R, which has an
// address on each link.
type router struct {
	x, r, y      *stack.Stack
	rToY, rToX   *memlink.End
	yAddr, xAddr [2]netip.Addr // IPv4, IPv6
}

func newRouter(t *testing.T, forwarding bool) *router {
	t.Helper()
	x1, r1, err := memlink.New(memlink.Options{})
	require.NoError(t, err)
	r2, y2, err := memlink.New(memlink.Options{})
	require.NoError(t, err)
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tcp := stack.TCPOptions{SynRetries: 1, TimeWait: time.Second}
	mk := func(o stack.Options) *stack.Stack {
		o.TCP = tcp
		st, err := stack.New(o)
		require.NoError(t, err)
		t.Cleanup(st.Close)
		return st
	}
	rt := &router{rToY: r2, rToX: r1,
		xAddr: [2]netip.Addr{addr("10.1.0.2"), addr("fd01::2")},
		yAddr: [2]netip.Addr{addr("10.2.0.2"), addr("fd02::2")}}
	rt.x = mk(stack.Options{
		NICs: []stack.NIC{{Name: "eth0", Link: x1, Addresses: []netip.Prefix{pfx("10.1.0.2/24"), pfx("fd01::2/64")}}},
		Routes: []stack.Route{
			{Dest: pfx("10.2.0.0/24"), Gateway: addr("10.1.0.1")},
			{Dest: pfx("fd02::/64"), Gateway: addr("fd01::1")},
		},
	})
	rt.r = mk(stack.Options{
		NICs: []stack.NIC{
			{Name: "eth0", Link: r1, Addresses: []netip.Prefix{pfx("10.1.0.1/24"), pfx("fd01::1/64")}},
			{Name: "eth1", Link: r2, Addresses: []netip.Prefix{pfx("10.2.0.1/24"), pfx("fd02::1/64")}},
		},
		Forwarding: forwarding,
	})
	rt.y = mk(stack.Options{
		NICs: []stack.NIC{{Name: "eth0", Link: y2, Addresses: []netip.Prefix{pfx("10.2.0.2/24"), pfx("fd02::2/64")}}},
		Routes: []stack.Route{
			{Dest: pfx("10.1.0.0/24"), Gateway: addr("10.2.0.1")},
			{Dest: pfx("fd01::/64"), Gateway: addr("fd02::1")},
		},
	})
	return rt
}

// TestSandbox_NoForwardingUnlessConfigured: a stack with two NICs does not
// route X's traffic to Y by default, not a single frame; with Forwarding it
// does, and a connection works through it.
func TestSandbox_NoForwardingUnlessConfigured(t *testing.T) {
	for _, forwarding := range []bool{false, true} {
		for i, family := range []string{"IPv4", "IPv6"} {
			name := family + "/forwarding off"
			if forwarding {
				name = family + "/forwarding on"
			}
			t.Run(name, func(t *testing.T) {
				defer goleak.VerifyNone(t)
				rt := newRouter(t, forwarding)
				ydst := netip.AddrPortFrom(rt.yAddr[i], 7)
				l, err := gonet.ListenTCP(rt.y.Netstack(), tcpip.FullAddress{Port: 7}, proto(ydst.Addr()))
				require.NoError(t, err)
				wg := echoServer(l)
				defer func() {
					l.Close()
					wg.Wait()
					rt.x.Close()
					rt.r.Close()
					rt.y.Close()
				}()
				// X also reaches R itself either way: R answers for its
				// own addresses.
				rdst := netip.AddrPortFrom(netip.MustParseAddr([]string{"10.1.0.1", "fd01::1"}[i]), 9)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err = gonet.DialContextTCP(ctx, rt.x.Netstack(), fullAddr(rdst), proto(rdst.Addr()))
				cancel()
				var refused *net.OpError
				assert.ErrorAs(t, err, &refused, "R refuses a closed port of its own: it answers for itself")

				before := rt.rToY.Counters().Frames
				err = echoOnce(rt.x, ydst, 1500*time.Millisecond)
				if forwarding {
					assert.NoError(t, err, "X to Y through a forwarding R")
					return
				}
				assert.Error(t, err, "X reached Y through R with forwarding off")
				assert.Equal(t, before, rt.rToY.Counters().Frames, "R sent frames towards Y with forwarding off")
				assert.NotZero(t, rt.r.Netstack().Stats().IP.InvalidDestinationAddressesReceived.Value())
			})
		}
	}
}
