package gentcp_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/nettest"

	"github.com/usertcp/usertcp/gentcp"
)

// TestNetConn runs x/net's conformance suite for net.Conn on the adapter,
// across two stacks on memlink.
func TestNetConn(t *testing.T) {
	e := newEnv(t)
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		l, err := e.server.Listen("tcp", ":0")
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := l.Accept()
			ch <- res{c, err}
		}()
		c1, err = e.client.Dial("tcp", fmt.Sprintf("10.0.0.1:%d", port))
		if err != nil {
			return nil, nil, nil, err
		}
		r := <-ch
		if r.err != nil {
			c1.Close()
			return nil, nil, nil, r.err
		}
		return c1, r.c, func() { c1.Close(); r.c.Close() }, nil
	})
}

// TestHTTPOverMemlink runs Go's net/http server on stack A and its client
// on stack B.
func TestHTTPOverMemlink(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", ":80")
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from usertcp", r.URL.Path)
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	tr := &http.Transport{DialContext: e.client.DialContext}
	client := &http.Client{Transport: tr}
	for i := range 3 {
		resp, err := client.Get(fmt.Sprintf("http://10.0.0.1/req%d", i))
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("hello /req%d from usertcp", i), string(body))
	}
	tr.CloseIdleConnections()
	require.NoError(t, srv.Close())
	assert.ErrorIs(t, <-done, http.ErrServerClosed)
}

// TestErrorShapes checks that adapter errors answer Go's questions: a
// refused dial matches syscall.ECONNREFUSED inside a *net.OpError, a
// deadline matches os.ErrDeadlineExceeded and is a timeout, a read after
// the peer closed is io.EOF, and a read after Close is net.ErrClosed.
func TestErrorShapes(t *testing.T) {
	e := newEnv(t)
	_, err := e.client.Dial("tcp", "10.0.0.1:9")
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "dial", op.Op)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	assert.ErrorIs(t, err, gentcp.Econnrefused)

	l, err := e.server.Listen("tcp", ":81")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := e.client.Dial("tcp", "10.0.0.1:81")
	require.NoError(t, err)
	a := <-accepted
	require.NoError(t, c.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	require.NoError(t, c.SetReadDeadline(time.Time{}))

	require.NoError(t, a.Close())
	_, err = c.Read(make([]byte, 1))
	assert.Equal(t, io.EOF, err)
	require.NoError(t, c.Close())
	_, err = c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, net.ErrClosed)
}

// TestReasonIs checks the Reason table against Go's error vocabulary.
func TestReasonIs(t *testing.T) {
	assert.ErrorIs(t, gentcp.Timeout, os.ErrDeadlineExceeded)
	assert.ErrorIs(t, gentcp.Econnreset, syscall.ECONNRESET)
	assert.ErrorIs(t, gentcp.Enotconn, syscall.ENOTCONN)
	assert.NotErrorIs(t, gentcp.Closed, syscall.ENOTCONN)
	assert.Equal(t, "econnrefused", gentcp.Econnrefused.Error())
	_, err := gentcp.ParseOptions("[{packet, 3}]")
	assert.ErrorIs(t, err, gentcp.ErrBadArg)
	assert.Contains(t, err.Error(), "{packet,3}")
	var oe *gentcp.OptionError
	require.True(t, errors.As(err, &oe))
	assert.True(t, strings.Contains(oe.Option, "packet"))
}

// TestConnResetIsECONNRESET: a peer that closes with unread input resets
// the connection; the adapter reports ECONNRESET as net.TCPConn does, not
// EOF.
func TestConnResetIsECONNRESET(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", ":82")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	c, err := e.client.Dial("tcp", "10.0.0.1:82")
	require.NoError(t, err)
	defer c.Close()
	a := <-accepted
	_, err = c.Write([]byte("unread"))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, a.Close(), "closing with unread input sends a RST")
	_, err = c.Read(make([]byte, 10))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
	var op *net.OpError
	assert.ErrorAs(t, err, &op)
	_, err = c.Read(make([]byte, 10))
	assert.Equal(t, io.EOF, err, "after the reset was reported, reads see EOF")
}

// TestAcceptReturnsWhenProcessExits: a process blocked in accept returns
// closed when it is made to exit from elsewhere.
func TestAcceptReturnsWhenProcessExits(t *testing.T) {
	e := newEnv(t)
	l, _ := e.listen(passive...)
	p := e.server.NewProcess()
	res := make(chan error, 1)
	go func() {
		_, err := p.Accept(l, gentcp.Infinity)
		res <- err
	}()
	time.Sleep(20 * time.Millisecond)
	p.Exit()
	select {
	case err := <-res:
		assert.Equal(t, gentcp.Closed, err)
	case <-time.After(5 * time.Second):
		t.Fatal("accept still blocked after its process exited")
	}
}

// TestNewConnWrapsGenTCPSocket: a socket accepted with the gen_tcp calls,
// in {packet,2} list mode, becomes a net.Conn that reads and writes raw
// bytes with the adapter's half-close semantics; only its owner may wrap
// it, and a listen socket cannot be.
func TestNewConnWrapsGenTCPSocket(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, gentcp.List, gentcp.Packet(2))
	other := e.server.NewProcess()
	defer other.Exit()
	_, err := gentcp.NewConn(other, a)
	assert.ErrorIs(t, err, gentcp.NotOwner)
	l, _ := e.listen(passive...)
	_, err = gentcp.NewConn(e.sp, l)
	assert.ErrorIs(t, err, gentcp.Enotconn)

	conn, err := gentcp.NewConn(e.sp, a)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, c.Send([]byte("hello")))
	buf := make([]byte, 16)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.ReadAtLeast(conn, buf, 5)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(buf[:n]), "raw bytes, not a {packet,2} frame")
	_, err = conn.Write([]byte("back"))
	require.NoError(t, err)
	d, err := c.Recv(4, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "back", string(d.Bytes))

	// The adapter's options apply: after the peer half-closes, Read says
	// io.EOF and the conn can still write (exit_on_close false).
	require.NoError(t, c.Shutdown(gentcp.ShutdownWrite))
	_, err = conn.Read(buf)
	assert.ErrorIs(t, err, io.EOF)
	_, err = conn.Write([]byte("after"))
	require.NoError(t, err)
	d, err = c.Recv(5, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "after", string(d.Bytes))
}
