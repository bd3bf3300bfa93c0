package gentcp_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// settledGoroutines waits until the goroutine count stops falling to at
// most limit and returns it, or the count after a few seconds: readers
// that have delivered leave on their own schedule.
func settledGoroutines(limit int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= limit || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleActiveSocketsHoldNoGoroutine: an {active,true} socket that has
// delivered what came and waits for more holds no goroutine (its reader
// parks the socket and leaves), so idle active connections cost what
// passive ones do; data that comes later is still delivered, in order.
func TestIdleActiveSocketsHoldNoGoroutine(t *testing.T) {
	e := newEnv(t)
	const conns = 64
	l, port := e.listen(gentcp.Binary, gentcp.Active(true))
	before := runtime.NumGoroutine()
	clients := make([]*gentcp.Socket, conns)
	accepted := make([]*gentcp.Socket, conns)
	for i := range conns {
		c, err := e.cp.Connect("10.0.0.1", port, 5*second, passive...)
		require.NoError(t, err)
		a, err := e.sp.Accept(l, 5*second)
		require.NoError(t, err)
		clients[i], accepted[i] = c, a
	}
	// Each accepted socket gets a message, delivers it, then idles.
	for round := range 2 {
		for i, c := range clients {
			require.NoError(t, c.Send([]byte(fmt.Sprintf("r%d c%d", round, i))))
		}
		got := map[*gentcp.Socket]string{}
		for range conns {
			m, err := e.sp.Receive(5 * second)
			require.NoError(t, err)
			d, ok := m.(gentcp.TCP)
			require.True(t, ok, "message %v", m)
			got[d.Socket] += string(d.Data.Bytes)
		}
		for i, a := range accepted {
			require.Equal(t, fmt.Sprintf("r%d c%d", round, i), got[a], "socket %d, round %d", i, round)
		}
		// A parked reader per socket would leave conns goroutines
		// behind; allow netstack's own timers and workers some slack.
		limit := before + conns/4
		n := settledGoroutines(limit)
		require.LessOrEqual(t, n, limit, "goroutines with %d idle active sockets (%d before them)", conns, before)
	}
	for i := range conns {
		require.NoError(t, clients[i].Close())
		require.NoError(t, accepted[i].Close())
	}
	require.NoError(t, l.Close())
}

// TestParkedActiveSocketWakesEveryTime: a ping-pong in {active,true}
// where each message reaches a socket whose reader has parked and left;
// a lost wake-up would stall the exchange and fail it on the timeout.
func TestParkedActiveSocketWakesEveryTime(t *testing.T) {
	e := newEnv(t)
	c, a := e.connected(passive, gentcp.Binary, gentcp.Active(true), gentcp.Packet(2))
	require.NoError(t, c.Setopts(gentcp.Packet(2)))
	for i := range 2000 {
		msg := []byte(fmt.Sprintf("ping %d", i))
		require.NoError(t, c.Send(msg))
		m, err := e.sp.Receive(5 * second)
		require.NoError(t, err, "message %d", i)
		d, ok := m.(gentcp.TCP)
		require.True(t, ok, "message %d: %v", i, m)
		require.Equal(t, a, d.Socket)
		require.Equal(t, string(msg), string(d.Data.Bytes))
		if i%97 == 0 {
			// Now and then let the reader park well before the next.
			time.Sleep(time.Millisecond)
		}
	}
	require.NoError(t, c.Close())
	m, err := e.sp.Receive(5 * second)
	require.NoError(t, err)
	require.Equal(t, gentcp.TCPClosed{Socket: a}, m)
	require.NoError(t, a.Close())
}
