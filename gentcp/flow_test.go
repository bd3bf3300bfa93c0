package gentcp_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// TestActiveOnceBackpressure: an owner in {active,once} that stops
// re-arming leaves unread data in the TCP receive buffer, so the window
// closes, the sender's queue fills and its send times out; nothing piles
// up in the receiver's mailbox and the heap stays flat however long the
// sender keeps trying.
func TestActiveOnceBackpressure(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected([]gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.SendTimeout(200 * time.Millisecond)},
		gentcp.Binary, gentcp.ActiveOnce)
	chunk := make([]byte, 64<<10)
	sendUntilTimeout := func() (sent int) {
		for {
			err := c.Send(chunk)
			if err != nil {
				require.Equal(t, gentcp.Timeout, err)
				return sent
			}
			sent += len(chunk)
			require.Less(t, sent, 64<<20, "sender never blocked: no backpressure")
		}
	}
	sent := sendUntilTimeout()
	m, err := e.sp.Receive(time.Second)
	require.NoError(t, err)
	require.IsType(t, gentcp.TCP{}, m, "the one message once allows")

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		more := 0
		for range 20 {
			if err := c.Send(chunk); err != nil {
				break
			}
			more += len(chunk)
		}
		assert.Less(t, more, 2<<20, "a blocked sender keeps being refused")
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(4<<20), "heap grows while the owner is not reading")
	assert.Empty(t, e.sp.Pending(), "no message piles up while the owner does not re-arm")
	t.Logf("sender got %d KiB accepted before blocking", sent>>10)

	// Re-arming drains: the receiver gets everything that was accepted.
	got := len(m.(gentcp.TCP).Data.Bytes)
	require.NoError(t, c.Setopts(gentcp.SendTimeout(gentcp.Infinity)))
	st, _ := c.Getstat("send_oct")
	total := st[0].Value
	for got < total {
		require.NoError(t, a.Setopts(gentcp.ActiveOnce))
		m, err := e.sp.Receive(5 * time.Second)
		require.NoError(t, err)
		got += len(m.(gentcp.TCP).Data.Bytes)
	}
	assert.Equal(t, total, got)
}

// TestSendTimeoutKeepsData (§10 send_timeout_fires): a send that times out
// leaves its data queued, and it is delivered once the peer reads.
func TestSendTimeoutKeepsData(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected([]gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.SendTimeout(100 * time.Millisecond)}, passive...)
	chunk := make([]byte, 32<<10)
	total := 0
	for {
		err := c.Send(chunk)
		total += len(chunk)
		if err != nil {
			require.Equal(t, gentcp.Timeout, err)
			break
		}
	}
	got := 0
	for got < total {
		d, err := a.Recv(0, 5*time.Second)
		require.NoError(t, err, "after %d of %d bytes", got, total)
		got += len(d.Bytes)
	}
	assert.Equal(t, total, got, "the timed-out send's data arrived too")
}

// TestBusySendKeepsItsBytes: a send that makes the port busy waits with
// its data in the queue without a copy, and copies what is still queued
// when it returns, so the caller may reuse its buffer at once. The peer
// receives the bytes as they were at the send, both for a send that
// times out with most of its data queued and for one that returns once
// the queue drained below low_watermark.
func TestBusySendKeepsItsBytes(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected([]gentcp.Option{gentcp.Binary, gentcp.Active(false), gentcp.SendTimeout(100 * time.Millisecond),
		gentcp.HighWatermark(8192), gentcp.LowWatermark(4096)}, passive...)
	const size = 256 << 10
	var want []byte
	send := func(fill byte) error {
		buf := bytes.Repeat([]byte{fill}, size)
		err := c.Send(buf)
		want = append(want, bytes.Repeat([]byte{fill}, size)...)
		// The caller owns buf again: scribble over it.
		for i := range buf {
			buf[i] = 0xee
		}
		return err
	}
	// Fill everything until a send times out: its data stays queued,
	// most of it not yet taken by the stack.
	var err error
	for i := 0; err == nil; i++ {
		require.Less(t, i, 1000, "no send ever timed out")
		err = send(byte(i%200) + 1)
	}
	require.Equal(t, gentcp.Timeout, err)
	// One more send that waits while the peer reads, and returns ok.
	require.NoError(t, c.Setopts(gentcp.SendTimeout(gentcp.Infinity)))
	got := make(chan []byte, 1)
	total := len(want) + size
	go func() {
		var b []byte
		for len(b) < total {
			d, err := a.Recv(0, 5*time.Second)
			if err != nil {
				break
			}
			b = append(b, d.Bytes...)
		}
		got <- b
	}()
	require.NoError(t, send(0xab))
	b := <-got
	require.Equal(t, len(want), len(b))
	assert.True(t, bytes.Equal(want, b), "the peer got bytes the caller overwrote after its send returned")
}
