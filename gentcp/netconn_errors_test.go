package gentcp_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/usertcp/usertcp/gentcp"
)

// acceptedPair listens on A with the adapter, dials it from B and
// returns both conns (closed when the test ends).
func (e *env) acceptedPair(port int) (c, a net.Conn) {
	e.t.Helper()
	l, err := e.server.Listen("tcp", fmt.Sprintf(":%d", port))
	require.NoError(e.t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		a, _ := l.Accept()
		accepted <- a
	}()
	c, err = e.client.Dial("tcp", fmt.Sprintf("10.0.0.1:%d", port))
	require.NoError(e.t, err)
	a = <-accepted
	require.NotNil(e.t, a)
	e.t.Cleanup(func() { c.Close(); a.Close() })
	return c, a
}

// opErrorOf checks err is an *net.OpError with op and its addresses, as
// Go's net makes them, and returns it.
func opErrorOf(t *testing.T, err error, op string) *net.OpError {
	t.Helper()
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, op, oe.Op)
	assert.Equal(t, "tcp", oe.Net)
	return oe
}

// TestNetErrors_Dial: every way a dial fails reads as Go's net says it,
// and errors.Is finds both gentcp's Reason and Go's value.
func TestNetErrors_Dial(t *testing.T) {
	e := newEnv(t)
	t.Run("refused", func(t *testing.T) {
		_, err := e.client.Dial("tcp", "10.0.0.1:9999")
		assert.EqualError(t, err, "dial tcp 10.0.0.1:9999: connect: connection refused")
		oe := opErrorOf(t, err, "dial")
		assert.Nil(t, oe.Source, "no local address was asked for")
		assert.Equal(t, "10.0.0.1:9999", oe.Addr.String())
		var se *os.SyscallError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "connect", se.Syscall)
		assert.ErrorIs(t, err, syscall.ECONNREFUSED)
		assert.ErrorIs(t, err, gentcp.Econnrefused)
		var errno syscall.Errno
		require.ErrorAs(t, err, &errno)
		assert.Equal(t, syscall.ECONNREFUSED, errno)
		var r gentcp.Reason
		require.ErrorAs(t, err, &r)
		assert.Equal(t, gentcp.Econnrefused, r)
	})
	t.Run("unknown host", func(t *testing.T) {
		_, err := e.client.Dial("tcp", "nosuchhost.invalid:80")
		assert.EqualError(t, err, "dial tcp: lookup nosuchhost.invalid: no such host")
		oe := opErrorOf(t, err, "dial")
		assert.Nil(t, oe.Addr)
		var de *net.DNSError
		require.ErrorAs(t, err, &de)
		assert.True(t, de.IsNotFound)
		assert.Equal(t, "nosuchhost.invalid", de.Name)
		assert.ErrorIs(t, err, gentcp.Nxdomain)
	})
	t.Run("timeout", func(t *testing.T) {
		// 10.0.0.3 is on the link's subnet but nobody has it: the SYN is
		// never answered.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := e.client.DialContext(ctx, "tcp", "10.0.0.3:80")
		assert.EqualError(t, err, "dial tcp 10.0.0.3:80: i/o timeout")
		opErrorOf(t, err, "dial")
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.ErrorIs(t, err, gentcp.Timeout)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := e.client.DialContext(ctx, "tcp", "10.0.0.3:80")
		assert.EqualError(t, err, "dial tcp 10.0.0.3:80: operation was canceled")
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("unreachable", func(t *testing.T) {
		// No route leaves the stack for 192.0.2.1 (TEST-NET-1): nothing
		// is sent.
		_, err := e.client.Dial("tcp", "192.0.2.1:80")
		assert.EqualError(t, err, "dial tcp 192.0.2.1:80: connect: network is unreachable")
		assert.ErrorIs(t, err, syscall.ENETUNREACH)
		assert.ErrorIs(t, err, gentcp.Enetunreach)
	})
	t.Run("named port", func(t *testing.T) {
		// "a:http" is port 80 of the host table's a, as net.LookupPort
		// gives it.
		l, err := e.server.Listen("tcp", ":80")
		require.NoError(t, err)
		defer l.Close()
		go func() {
			if a, err := l.Accept(); err == nil {
				a.Close()
			}
		}()
		c, err := e.client.Dial("tcp", "a:http")
		require.NoError(t, err)
		assert.Equal(t, "10.0.0.1:80", c.RemoteAddr().String())
		require.NoError(t, c.Close())
		_, err = e.client.Dial("tcp", "a:nosuchservice")
		var de *net.DNSError
		require.ErrorAs(t, err, &de, "an unknown service is Go's lookup error")
	})
}

// TestNetErrors_Listen: a busy port reads as Go's bind error.
func TestNetErrors_Listen(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", "10.0.0.1:8080")
	require.NoError(t, err)
	defer l.Close()
	_, err = e.server.Listen("tcp", "10.0.0.1:8080")
	assert.EqualError(t, err, "listen tcp 10.0.0.1:8080: bind: address already in use")
	assert.ErrorIs(t, err, syscall.EADDRINUSE)
	assert.ErrorIs(t, err, gentcp.Eaddrinuse)
	_, err = e.server.Listen("tcp", "nosuchhost.invalid:80")
	var de *net.DNSError
	require.ErrorAs(t, err, &de)
	assert.True(t, de.IsNotFound)
}

// TestNetErrors_Conn: read and write errors on a connection, named with
// both addresses as Go's net names them.
func TestNetErrors_Conn(t *testing.T) {
	t.Run("reset", func(t *testing.T) {
		e := newEnv(t)
		c, a := e.acceptedPair(81)
		names := c.LocalAddr().String() + "->" + c.RemoteAddr().String()
		_, err := c.Write([]byte("unread"))
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond)
		require.NoError(t, a.Close(), "closing with unread input sends a RST")
		_, err = c.Read(make([]byte, 10))
		assert.EqualError(t, err, "read tcp "+names+": read: connection reset by peer")
		oe := opErrorOf(t, err, "read")
		assert.Equal(t, c.LocalAddr(), oe.Source)
		assert.ErrorIs(t, err, syscall.ECONNRESET)
		assert.ErrorIs(t, err, gentcp.Econnreset)
		// A write after the reset is a broken pipe, as on Linux, and
		// names the same addresses although the socket is gone.
		_, err = c.Write([]byte("more"))
		assert.EqualError(t, err, "write tcp "+names+": write: broken pipe")
		assert.ErrorIs(t, err, syscall.EPIPE)
	})
	t.Run("timeout", func(t *testing.T) {
		e := newEnv(t)
		c, _ := e.acceptedPair(82)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err := c.Read(make([]byte, 1))
		assert.EqualError(t, err, "read tcp "+c.LocalAddr().String()+"->"+c.RemoteAddr().String()+": i/o timeout")
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.ErrorIs(t, err, gentcp.Timeout)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	})
	t.Run("closed", func(t *testing.T) {
		e := newEnv(t)
		c, _ := e.acceptedPair(83)
		names := c.LocalAddr().String() + "->" + c.RemoteAddr().String()
		require.NoError(t, c.Close())
		_, err := c.Read(make([]byte, 1))
		assert.EqualError(t, err, "read tcp "+names+": use of closed network connection")
		assert.ErrorIs(t, err, net.ErrClosed)
		_, err = c.Write([]byte("x"))
		assert.EqualError(t, err, "write tcp "+names+": use of closed network connection")
		err = c.Close()
		assert.EqualError(t, err, "close tcp "+names+": use of closed network connection")
		assert.ErrorIs(t, err, net.ErrClosed)
	})
	t.Run("peer closed", func(t *testing.T) {
		e := newEnv(t)
		c, a := e.acceptedPair(84)
		require.NoError(t, a.Close())
		_, err := c.Read(make([]byte, 1))
		assert.Equal(t, io.EOF, err)
	})
}

// TestNetConnClose_ReturnsAtOnce: Close returns while output is still
// queued for a peer that does not read, as net.TCPConn's does, and the
// output still arrives when the peer reads.
func TestNetConnClose_ReturnsAtOnce(t *testing.T) {
	e := newEnv(t)
	c, a := e.acceptedPair(85)
	data := make([]byte, 4<<20)
	for i := range data {
		data[i] = byte(i)
	}
	_, err := c.Write(data)
	require.NoError(t, err)
	pend, err := c.(*gentcp.Conn).Socket().Getstat("send_pend")
	require.NoError(t, err)
	require.Positive(t, pend[0].Value, "the peer does not read: output is queued")
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for queued output; net.TCPConn's returns at once")
	}
	got, err := io.ReadAll(a)
	require.NoError(t, err)
	assert.Equal(t, len(data), len(got), "the queued output was sent in the background")
}

// TestNetConnClose_Linger: SetLinger(0) makes Close reset the connection
// at once; SetLinger(1) makes it wait up to 1 s for a peer that does not
// read and then reset. Either way no goroutine is left (goleak).
func TestNetConnClose_Linger(t *testing.T) {
	for _, sec := range []int{0, 1} {
		t.Run(fmt.Sprintf("linger %d", sec), func(t *testing.T) {
			e := newEnv(t)
			c, a := e.acceptedPair(86)
			_, err := c.Write(make([]byte, 4<<20))
			require.NoError(t, err)
			require.NoError(t, c.(*gentcp.Conn).SetLinger(sec))
			require.NoError(t, c.Close())
			var readErr error
			for readErr == nil {
				_, readErr = a.Read(make([]byte, 64<<10))
			}
			assert.ErrorIs(t, readErr, syscall.ECONNRESET, "what was left was dropped with a reset")
		})
	}
}

// TestNetConnClose_BackgroundIsBounded: output queued for a peer that
// never reads is dropped with a reset once close/1's check finds the
// queue has not moved (5 s), so a closed conn does not hold its buffers
// forever.
func TestNetConnClose_BackgroundIsBounded(t *testing.T) {
	e := newEnv(t)
	c, a := e.acceptedPair(87)
	_, err := c.Write(make([]byte, 4<<20))
	require.NoError(t, err)
	s := c.(*gentcp.Conn).Socket()
	// Let the windows fill, so the queue stands still from the close on.
	last := -1
	for {
		time.Sleep(200 * time.Millisecond)
		st, err := s.Getstat("send_pend")
		require.NoError(t, err)
		require.Positive(t, st[0].Value)
		if st[0].Value == last {
			break
		}
		last = st[0].Value
	}
	require.NoError(t, c.Close())
	require.NoError(t, a.SetReadDeadline(time.Now().Add(20*time.Second)))
	time.Sleep(7 * time.Second)
	_, err = io.Copy(io.Discard, a)
	assert.ErrorIs(t, err, syscall.ECONNRESET, "the stuck queue was dropped with a reset")
	_, err = s.Getstat("send_pend")
	assert.ErrorIs(t, err, gentcp.Einval, "the handle is closed")
}

// TestNetConn_NewConn runs x/net's conformance suite on conns made with
// NewConn from sockets of the gen_tcp calls, at both ends (TestNetConn
// covers Dial and Listen).
func TestNetConn_NewConn(t *testing.T) {
	e := newEnv(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		l, port := e.listen(passive...)
		defer l.Close()
		cp, sp := e.client.NewProcess(), e.server.NewProcess()
		cs, err := cp.Connect("10.0.0.1", port, 5*time.Second, gentcp.List, gentcp.Packet(4))
		if err != nil {
			return nil, nil, nil, err
		}
		ss, err := sp.Accept(l, 5*time.Second)
		if err != nil {
			cp.Exit()
			return nil, nil, nil, err
		}
		a, err := gentcp.NewConn(cp, cs)
		if err != nil {
			return nil, nil, nil, err
		}
		b, err := gentcp.NewConn(sp, ss)
		if err != nil {
			a.Close()
			return nil, nil, nil, err
		}
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

// TestNetConnWriteAfterCloseWrite: a Write after CloseWrite is a broken
// pipe, as Go's net says, and the conn still reads what the peer sends
// (for gen_tcp such a send would close the socket).
func TestNetConnWriteAfterCloseWrite(t *testing.T) {
	e := newEnv(t)
	c, a := e.acceptedPair(88)
	require.NoError(t, c.(*gentcp.Conn).CloseWrite())
	_, err := c.Write([]byte("x"))
	assert.EqualError(t, err, "write tcp "+c.LocalAddr().String()+"->"+c.RemoteAddr().String()+": write: broken pipe")
	assert.ErrorIs(t, err, syscall.EPIPE)
	_, err = a.Write([]byte("still read"))
	require.NoError(t, err)
	buf := make([]byte, 16)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, err := io.ReadAtLeast(c, buf, 10)
	require.NoError(t, err)
	assert.Equal(t, "still read", string(buf[:n]))
}
