package gentcp_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/link/memlink"
)

// connectSlack is how far past its timeout a connect may return: generous
// for a loaded machine under -race, far below the stall the test makes.
const connectSlack = 2 * time.Second

// TestConnectTimeoutIsAPromise: connects with a 200 ms timeout while the
// client's link is stalled (held, its queue of 4 frames full, so netstack
// waits to send the SYN, or the RST of the connect it aborts) each return
// timeout within connectSlack of their timeout; the stall lasts 20 s. A
// connect used to return only when netstack's send did (issue 18: a
// 400 ms connect returned after 809 ms while the link's queue was full).
func TestConnectTimeoutIsAPromise(t *testing.T) {
	e := newEnvWith(t, memlink.Options{QueueFrames: 4})
	_, port := e.listen()
	e.pair.LinkB.Hold()
	const stall = 20 * time.Second
	released := make(chan struct{})
	release := time.AfterFunc(stall, func() {
		e.pair.LinkB.Release()
		close(released)
	})
	defer func() {
		if release.Stop() {
			e.pair.LinkB.Release()
		} else {
			<-released
		}
	}()
	const timeout = 200 * time.Millisecond
	// More connects than the held queue has room for SYNs and RSTs.
	for i := range 8 {
		start := time.Now()
		_, err := e.cp.Connect("10.0.0.1", port, timeout)
		took := time.Since(start)
		require.True(t, errors.Is(err, gentcp.Timeout), "connect %d: %v", i, err)
		require.Less(t, took, timeout+connectSlack, "connect %d with a %v timeout took %v on a stalled link", i, timeout, took)
		t.Logf("connect %d: timeout after %v", i, took)
	}
}

// TestConnectWithoutTimeoutRunsInline: a connect with no timeout and a
// context that cannot end (connect/3) calls netstack's Connect on the
// caller's goroutine, as it has no timeout to keep (issue 21: a goroutine
// for it cost 15 % of the connection rate). The client's link is held
// with a queue of 4 frames, which the SYNs of four connects with a short
// timeout fill; a connect/3 then waits inside netstack's Connect to send
// its SYN, and the goroutine that waits there must be the one that
// called Connect. Once the link is released the connect completes.
func TestConnectWithoutTimeoutRunsInline(t *testing.T) {
	e := newEnvWith(t, memlink.Options{QueueFrames: 4})
	l, port := e.listen(passive...)
	e.pair.LinkB.Hold()
	held := true
	defer func() {
		if held {
			e.pair.LinkB.Release()
		}
	}()
	for i := range 4 {
		_, err := e.cp.Connect("10.0.0.1", port, 50*time.Millisecond, passive...)
		require.True(t, errors.Is(err, gentcp.Timeout), "connect %d on the held link: %v", i, err)
	}
	type result struct {
		s   *gentcp.Socket
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := connectWithoutTimeout(e.cp, port)
		done <- result{s, err}
	}()
	inline, stacks := false, ""
	for start := time.Now(); time.Since(start) < 10*time.Second && !inline; time.Sleep(10 * time.Millisecond) {
		stacks = allStacks()
		inline = waitsInConnect(stacks, "connectWithoutTimeout")
	}
	e.pair.LinkB.Release()
	held = false
	r := <-done
	require.True(t, inline, "no goroutine called from connectWithoutTimeout waited in netstack's Connect on the full link:\n%s", stacks)
	require.NoError(t, r.err)
	a, err := e.sp.Accept(l, 5*time.Second)
	require.NoError(t, err)
	require.NoError(t, r.s.Close())
	require.NoError(t, a.Close())
}

// connectWithoutTimeout is connect/3 to 10.0.0.1:port, a function of its
// own so that its name on a goroutine's stack says who called Connect.
//
//go:noinline
func connectWithoutTimeout(p *gentcp.Process, port int) (*gentcp.Socket, error) {
	return p.Connect("10.0.0.1", port, gentcp.Infinity, passive...)
}

// waitsInConnect reports whether a goroutine of stacks (allStacks) that
// has caller on its stack is inside netstack's tcp Endpoint.Connect.
func waitsInConnect(stacks, caller string) bool {
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "tcp.(*Endpoint).Connect(") && strings.Contains(g, caller) {
			return true
		}
	}
	return false
}

// allStacks is every goroutine's stack, as a panic prints them.
func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
