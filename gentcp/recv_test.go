package gentcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/usertcp/usertcp/gentcp"
)

func TestConnectAcceptEcho(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("hello")))
	d, err := a.Recv(5, second)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(d.Bytes))
	require.NoError(t, a.Send(d.Bytes))
	d, err = c.Recv(0, second)
	require.NoError(t, err)
	assert.Equal(t, "hello", string(d.Bytes))
	require.NoError(t, c.Close())
	require.NoError(t, a.Close())
}

func TestRecvLenPeerClosesShort(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("ab")))
	require.NoError(t, c.Close())
	_, err := a.Recv(5, second)
	assert.Equal(t, gentcp.Closed, err)
	_, err = a.Recv(0, second)
	assert.Equal(t, gentcp.Enotconn, err)
}

func TestRecvTimeoutKeepsData(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("abc")))
	_, err := a.Recv(5, 100*time.Millisecond)
	assert.Equal(t, gentcp.Timeout, err)
	require.NoError(t, c.Send([]byte("de")))
	d, err := a.Recv(5, second)
	require.NoError(t, err)
	assert.Equal(t, "abcde", string(d.Bytes))
}

// TestRecvAppend: raw bytes go into the caller's spare capacity, at most
// that much, in the caller's array; with none spare the slice grows; in
// packet mode the packet is appended after what dst holds; on an error dst
// comes back as it was.
func TestRecvAppend(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	require.NoError(t, c.Send([]byte("hello world")))
	buf := make([]byte, 0, 4)
	got, err := a.RecvAppend(buf, 0, second)
	require.NoError(t, err)
	assert.Equal(t, "hell", string(got), "at most the spare capacity")
	assert.Same(t, &buf[:1][0], &got[0], "the bytes went into the caller's array")
	got, err = a.RecvAppend(got, 0, second)
	require.NoError(t, err)
	assert.Equal(t, "hello world", string(got), "a full dst grows and keeps its bytes")

	got, err = a.RecvAppend(got[:0], 0, 50*time.Millisecond)
	assert.Equal(t, gentcp.Timeout, err)
	assert.Empty(t, got, "a timeout appends nothing")

	require.NoError(t, c.Send([]byte("abcdef")))
	got, err = a.RecvAppend([]byte("x"), 3, second)
	require.NoError(t, err)
	assert.Equal(t, "xabc", string(got), "Length bytes appended")
	got, err = a.RecvAppend(got[:0], 3, second)
	require.NoError(t, err)
	assert.Equal(t, "def", string(got))

	require.NoError(t, a.Setopts(gentcp.Packet(2)))
	require.NoError(t, c.Setopts(gentcp.Packet(2)))
	require.NoError(t, c.Send([]byte("pkt")))
	got, err = a.RecvAppend(got, 0, second)
	require.NoError(t, err)
	assert.Equal(t, "defpkt", string(got), "the packet follows dst's bytes")
	_, err = a.RecvAppend(nil, 2, second)
	assert.Equal(t, gentcp.Einval, err, "Length > 0 in packet mode")

	require.NoError(t, a.Close())
	got, err = a.RecvAppend([]byte("kept"), 0, second)
	assert.Equal(t, gentcp.Closed, err)
	assert.Equal(t, "kept", string(got))
}

// TestRecvAppendAllocatesNothing: reading raw bytes that netstack already
// holds into a reused buffer allocates nothing, where Recv returns a new
// binary per call.
func TestRecvAppendAllocatesNothing(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, passive...)
	const sent = 256 << 10
	require.NoError(t, c.Send(make([]byte, sent)))
	// Wait for all of it: AllocsPerRun counts every goroutine's
	// allocations, so segments still arriving (netstack's and the link's
	// work) would count against RecvAppend.
	require.Eventually(t, func() bool {
		q, err := a.Endpoint().GetSockOptInt(tcpip.ReceiveQueueSizeOption)
		return err == nil && q >= sent
	}, 5*time.Second, time.Millisecond)
	buf := make([]byte, 0, 1024)
	var err error
	allocs := testing.AllocsPerRun(50, func() {
		buf, err = a.RecvAppend(buf[:0], 0, second)
		if err != nil || len(buf) != 1024 {
			t.Fatalf("RecvAppend: %d bytes, %v", len(buf), err)
		}
	})
	assert.Zero(t, allocs)
	allocs = testing.AllocsPerRun(10, func() {
		if _, err := a.Recv(1024, second); err != nil {
			t.Fatal(err)
		}
	})
	assert.NotZero(t, allocs, "Recv makes a new binary")
}
