package stack_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// TestTimeWaitReuseOption: each policy reaches netstack's
// TCPTimeWaitReuseOption, the zero value is reuse on, and a value outside
// the policies is refused.
func TestTimeWaitReuseOption(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, c := range []struct {
		set  stack.TimeWaitReuse
		want tcpip.TCPTimeWaitReuseOption
	}{
		{stack.TimeWaitReuseOn, tcpip.TCPTimeWaitReuseGlobal},
		{stack.TimeWaitReuseLoopback, tcpip.TCPTimeWaitReuseLoopbackOnly},
		{stack.TimeWaitReuseOff, tcpip.TCPTimeWaitReuseDisabled},
	} {
		st, err := stack.New(stack.Options{NICs: []stack.NIC{nic("eth0", "10.1.0.1/24")}, TCP: stack.TCPOptions{TimeWaitReuse: c.set}})
		require.NoError(t, err)
		var got tcpip.TCPTimeWaitReuseOption
		require.Nil(t, st.Netstack().TransportProtocolOption(tcp.ProtocolNumber, &got))
		assert.Equal(t, c.want, got, "policy %d", c.set)
		assert.Equal(t, c.set, st.TCP().TimeWaitReuse)
		st.Close()
	}
	_, err := stack.New(stack.Options{TCP: stack.TCPOptions{TimeWaitReuse: 3}})
	require.ErrorContains(t, err, "TIME_WAIT reuse")
}

// TestTimeWaitReuseKeepsConnectsGoing: B connects to one server on A
// and closes first, until each of its few ephemeral ports (8 here,
// netstack's 49,536 by default) holds a connection in TIME_WAIT (60 s).
// The next connect fails at once under every policy: the ports' last
// segments are younger than a second. A second later, with reuse on,
// another round of connects takes those ports over; with reuse off, or
// loopback only (10.0.0.x is not loopback), they fail with no port
// available, as before TCPOptions.TimeWaitReuse (netstack's default is
// loopback only).
func TestTimeWaitReuseKeepsConnectsGoing(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy stack.TimeWaitReuse
		reuse  bool
	}{
		{"on", stack.TimeWaitReuseOn, true},
		{"loopback", stack.TimeWaitReuseLoopback, false},
		{"off", stack.TimeWaitReuseOff, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() { goleak.VerifyNone(t) }) // after the pair's cleanup
			p := testutil.NewPair(t, memlink.Options{}, stack.TCPOptions{TimeWait: time.Minute, TimeWaitReuse: c.policy})
			const first, ports = 40000, 8
			require.Nil(t, p.B.Netstack().SetPortRange(first, first+ports-1))
			l, err := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: 80}, ipv4.ProtocolNumber)
			require.NoError(t, err)
			served := serveUntilEOF(l)
			defer func() {
				l.Close()
				<-served
			}()
			server := tcpip.FullAddress{Addr: tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), Port: 80}
			// dial connects and closes first, so B's end goes to
			// TIME_WAIT; it returns the local port.
			dial := func() (int, error) {
				conn, err := gonet.DialTCP(p.B.Netstack(), server, ipv4.ProtocolNumber)
				if err != nil {
					return 0, err
				}
				port := conn.LocalAddr().(*net.TCPAddr).Port
				require.NoError(t, conn.Close())
				return port, nil
			}
			used := map[int]bool{}
			for range ports {
				port, err := dial()
				require.NoError(t, err)
				used[port] = true
			}
			require.Len(t, used, ports, "every ephemeral port once")
			_, err = dial()
			require.ErrorContains(t, err, "no ports are available", "all %d ports in TIME_WAIT for less than a second", ports)

			time.Sleep(1200 * time.Millisecond)
			for i := range ports {
				port, err := dial()
				if !c.reuse {
					require.ErrorContains(t, err, "no ports are available", "connect %d with reuse %s", i, c.name)
					return
				}
				require.NoError(t, err, "connect %d after a second, reuse on", i)
				require.True(t, used[port], "port %d is from the range", port)
			}
		})
	}
}

// serveUntilEOF accepts connections on l until it closes, reading each
// to the peer's close and closing it then; the channel closes when every
// connection is done.
func serveUntilEOF(l *gonet.TCPListener) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []chan struct{}
		for {
			c, err := l.Accept()
			if err != nil {
				break
			}
			ch := make(chan struct{})
			conns = append(conns, ch)
			go func() {
				defer close(ch)
				_, _ = io.Copy(io.Discard, c)
				c.Close()
			}()
		}
		for _, ch := range conns {
			<-ch
		}
	}()
	return done
}
