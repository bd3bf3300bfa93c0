package gentcp_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/usertcp/usertcp/gentcp"
)

// countAdmitted connects n clients to a listener nobody accepts on and
// returns how many connect within timeout; the rest must time out (never be
// refused).
func countAdmitted(t *testing.T, e *env, port, n int, timeout time.Duration) (ok int, socks []*gentcp.Socket) {
	for range n {
		// Back-to-back connects can race inside netstack (the next SYN can
		// overtake the last ACK of the previous handshake); a client that
		// pauses a moment, as any real one does, sees Linux's count. See
		// "Differences from OTP" in doc.go.
		time.Sleep(5 * time.Millisecond)
		s, err := e.cp.Connect("10.0.0.1", port, timeout, passive...)
		if err == nil {
			ok++
			socks = append(socks, s)
			continue
		}
		assert.Equal(t, gentcp.Timeout, err, "a full backlog makes connect time out, never refuse")
	}
	return ok, socks
}

// §8 backlog_*: Linux queues backlog+1 completed connections.
func TestBacklogAdmitsBacklogPlusOne(t *testing.T) {
	for _, b := range []int{0, 1, 2, 5} {
		t.Run(fmt.Sprintf("backlog_%d", b), func(t *testing.T) {
			e := newEnv(t)
			_, port := e.listen(append(passive, gentcp.Backlog(b))...)
			ok, _ := countAdmitted(t, e, port, b+3, 300*time.Millisecond)
			assert.Equal(t, b+1, ok)
		})
	}
}

// §8 backlog_full_then_accept: once accept frees a slot, a connect still
// waiting succeeds on its next SYN retry.
func TestBacklogFullThenAccept(t *testing.T) {
	e := newEnv(t)
	l, port := e.listen(append(passive, gentcp.Backlog(0))...)
	_, err := e.cp.Connect("10.0.0.1", port, second, passive...)
	require.NoError(t, err)
	res := make(chan error, 1)
	go func() {
		p := e.client.NewProcess()
		defer p.Exit()
		s, err := p.Connect("10.0.0.1", port, 5*second, passive...)
		if err == nil {
			s.Close()
		}
		res <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-res:
		t.Fatalf("connect finished while the backlog was full: %v", err)
	default:
	}
	_, err = e.sp.Accept(l, second)
	require.NoError(t, err)
	assert.NoError(t, <-res)
}

// TestSocketCapEmfile: beyond the node's cap, connect, listen and accept
// fail with emfile; closing a socket frees a slot.
func TestSocketCapEmfile(t *testing.T) {
	e := newEnv(t)
	e.server.SetMaxSockets(2)
	l, port := e.listen(passive...)
	_, err := e.cp.Connect("10.0.0.1", port, second, passive...)
	require.NoError(t, err)
	a, err := e.sp.Accept(l, second)
	require.NoError(t, err)
	assert.Equal(t, 2, e.server.OpenSockets())
	_, err = e.sp.Listen(0, passive...)
	assert.Equal(t, gentcp.Emfile, err)
	_, err = e.cp.Connect("10.0.0.1", port, second, passive...)
	require.NoError(t, err, "the client node has no cap")
	_, err = e.sp.Accept(l, second)
	assert.Equal(t, gentcp.Emfile, err)
	require.NoError(t, a.Close())
	_, err = e.sp.Accept(l, second)
	assert.NoError(t, err, "a closed socket frees its slot")
}
