package gentcp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// connectedPair is a passive binary client socket and the socket it
// reached, on two stacks joined by a memlink.
func connectedPair(t *testing.T) (c, a *Socket) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	p := testutil.NewPair(t, memlink.Options{}, stack.TCPOptions{})
	sp, cp := NewNode(p.A).NewProcess(), NewNode(p.B).NewProcess()
	t.Cleanup(func() { sp.Exit(); cp.Exit() })
	l, err := sp.Listen(0, Binary, Active(false))
	require.NoError(t, err)
	port, err := l.Port()
	require.NoError(t, err)
	c, err = cp.Connect("10.0.0.1", port, 5*time.Second, Binary, Active(false))
	require.NoError(t, err)
	a, err = sp.Accept(l, 5*time.Second)
	require.NoError(t, err)
	return c, a
}

// waitQueued waits until netstack holds at least n bytes for s.
func waitQueued(t *testing.T, s *Socket, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return s.queued() >= n }, 5*time.Second, time.Millisecond)
}

// TestReceiveArraySizedByQueue: a small message gets an array of minRoom
// bytes, not the buffer option's 64 KiB; a bulk read's array is let go
// once it is emptied, so an idle socket holds no bulk-sized buffer, while
// a small one is kept for the next read.
func TestReceiveArraySizedByQueue(t *testing.T) {
	c, a := connectedPair(t)
	require.NoError(t, a.Setopts(Buffer(64<<10)))
	require.NoError(t, c.Send([]byte("x")))
	d, err := a.Recv(0, time.Second)
	require.NoError(t, err)
	assert.Equal(t, "x", string(d.Bytes))
	assert.Equal(t, minRoom, a.rsize, "a 1-byte message made an array of other than minRoom bytes")
	assert.NotNil(t, a.rbase, "a small array is kept for the next read")

	require.NoError(t, c.Send(make([]byte, 32<<10)))
	waitQueued(t, a, 32<<10)
	d, err = a.Recv(0, time.Second)
	require.NoError(t, err)
	assert.Len(t, d.Bytes, 32<<10)
	assert.Nil(t, a.rbase, "an emptied array above keepIdleRoom is kept")
	assert.Zero(t, a.rsize)
}

// understating reports less queued data than netstack holds, as when
// bytes arrive between fillLocked's size query and its read.
type understating struct{ tcpip.Endpoint }

func (u understating) GetSockOptInt(opt tcpip.SockOptInt) (int, tcpip.Error) {
	if opt == tcpip.ReceiveQueueSizeOption {
		return 1, nil
	}
	return u.Endpoint.GetSockOptInt(opt)
}

// TestFillGrowsForLateArrivals: when netstack holds more than it said a
// moment before, fillLocked grows its array and still takes everything
// there is, up to what the caller wants: a read takes all that is there.
func TestFillGrowsForLateArrivals(t *testing.T) {
	c, a := connectedPair(t)
	const n = 10 << 10
	require.NoError(t, c.Send(make([]byte, n)))
	waitQueued(t, a, n)
	a.mu.Lock()
	real := a.ep
	a.ep = understating{real}
	terr := a.fillLocked(64 << 10)
	got := len(a.rbuf)
	a.ep = real
	a.mu.Unlock()
	require.Nil(t, terr)
	assert.Equal(t, n, got, "fillLocked stopped before taking all that netstack holds")
}
