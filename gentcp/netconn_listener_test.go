package gentcp_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// The adapter's Listener against what Go programs expect of a
// net.TCPListener (x/net/nettest has no listener suite, so these are the
// checks such a suite makes): Addr names the bound port, concurrent
// Accepts each get their own connection, Close unblocks every Accept with
// net.ErrClosed, Accept after Close fails at once, a second Close is
// Go's "use of closed network connection", and connections accepted
// before Close keep working.

// TestListener_Addr: Addr is the *net.TCPAddr the listener is bound to,
// and a Dial to it reaches it.
func TestListener_Addr(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", "10.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	a, ok := l.Addr().(*net.TCPAddr)
	require.True(t, ok, "Addr is a *net.TCPAddr, as net.TCPListener's")
	assert.Equal(t, "10.0.0.1", a.IP.String())
	assert.NotZero(t, a.Port)
	assert.Equal(t, "tcp", a.Network())

	done := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			done <- c
		}
		close(done)
	}()
	c, err := e.client.Dial("tcp", a.String())
	require.NoError(t, err)
	defer c.Close()
	s := <-done
	require.NotNil(t, s, "Accept returns the dialled connection")
	defer s.Close()
	assert.Equal(t, c.LocalAddr().String(), s.RemoteAddr().String())
}

// TestListener_ConcurrentAccepts: n goroutines in Accept at once each get
// exactly one of n dialled connections.
func TestListener_ConcurrentAccepts(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", "10.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	const n = 16
	var wg sync.WaitGroup
	got := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := l.Accept()
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			defer c.Close()
			b := make([]byte, 8)
			k, err := io.ReadFull(c, b)
			if err != nil {
				got <- "read: " + err.Error()
				return
			}
			got <- string(b[:k])
		}()
	}
	var conns []net.Conn
	for i := range n {
		c, err := e.client.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = fmt.Fprintf(c, "conn%04d", i)
		require.NoError(t, err)
	}
	wg.Wait()
	close(got)
	seen := map[string]bool{}
	for s := range got {
		assert.False(t, seen[s], "each connection accepted once: %s", s)
		seen[s] = true
	}
	for i := range n {
		assert.True(t, seen[fmt.Sprintf("conn%04d", i)], "connection %d accepted", i)
	}
	for _, c := range conns {
		c.Close()
	}
}

// TestListener_CloseUnblocksAccepts: Close returns every blocked Accept
// with an *net.OpError that wraps net.ErrClosed; Accept after Close
// fails at once the same way; a second Close reports net.ErrClosed as
// net.TCPListener's does.
func TestListener_CloseUnblocksAccepts(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", "10.0.0.1:0")
	require.NoError(t, err)
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := l.Accept()
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the Accepts block
	require.NoError(t, l.Close())
	for range n {
		select {
		case err := <-errs:
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			assert.Equal(t, "accept", op.Op)
			assert.ErrorIs(t, err, net.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("an Accept is still blocked after Close")
		}
	}
	_, err = l.Accept()
	assert.ErrorIs(t, err, net.ErrClosed, "Accept after Close")

	err = l.Close()
	var op *net.OpError
	require.ErrorAs(t, err, &op, "a second Close fails, as net.TCPListener's")
	assert.Equal(t, "close", op.Op)
	assert.True(t, errors.Is(err, net.ErrClosed))
	assert.Contains(t, err.Error(), "use of closed network connection")
}

// TestListener_CloseKeepsAcceptedConns: closing the listener leaves the
// connections it accepted open and working both ways.
func TestListener_CloseKeepsAcceptedConns(t *testing.T) {
	e := newEnv(t)
	l, err := e.server.Listen("tcp", "10.0.0.1:0")
	require.NoError(t, err)
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(acc)
			return
		}
		acc <- c
	}()
	c, err := e.client.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s, ok := <-acc
	require.True(t, ok)
	defer s.Close()
	require.NoError(t, l.Close())

	_, err = c.Write([]byte("ping"))
	require.NoError(t, err)
	b := make([]byte, 4)
	_, err = io.ReadFull(s, b)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(b))
	_, err = s.Write([]byte("pong"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, b)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(b))
}

// TestListener_SetDeadline: Accept honours the listener's deadline as
// net.TCPListener's does: a past deadline fails at once with an error
// that matches os.ErrDeadlineExceeded and says "i/o timeout"; a deadline
// moved while an Accept waits applies to it (shortened: it times out;
// cleared: it waits for the next Dial); the listener still accepts after
// a timeout.
func TestListener_SetDeadline(t *testing.T) {
	e := newEnv(t)
	ln, err := e.server.Listen("tcp", "10.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	l := ln.(*gentcp.Listener)

	require.NoError(t, l.SetDeadline(time.Now().Add(-time.Second)))
	_, err = l.Accept()
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.Equal(t, "accept tcp "+l.Addr().String()+": i/o timeout", err.Error())

	// Shortened while waiting.
	require.NoError(t, l.SetDeadline(time.Now().Add(time.Hour)))
	errs := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, l.SetDeadline(time.Now().Add(10*time.Millisecond)))
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept ignored a deadline shortened while it waited")
	}

	// Cleared while waiting: the Accept waits for the Dial.
	require.NoError(t, l.SetDeadline(time.Now().Add(30*time.Millisecond)))
	acc := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			errs <- err
			return
		}
		acc <- c
	}()
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, l.SetDeadline(time.Time{}))
	time.Sleep(60 * time.Millisecond) // past the old deadline
	c, err := e.client.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	select {
	case s := <-acc:
		s.Close()
	case err := <-errs:
		t.Fatalf("Accept failed after its deadline was cleared: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return the dialled connection")
	}

	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.SetDeadline(time.Time{}), net.ErrClosed)
}
