package gentcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/gentcp"
	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// env is the usual fixture: a server node on stack A, a client node on
// stack B, one process on each, joined by a clean memlink.
type env struct {
	t      *testing.T
	pair   *testutil.Pair
	server *gentcp.Node
	client *gentcp.Node
	sp, cp *gentcp.Process
}

func newEnv(t *testing.T) *env {
	return newEnvWith(t, memlink.Options{})
}

func newEnvWith(t *testing.T, lo memlink.Options) *env {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
	p := testutil.NewPair(t, lo, stack.TCPOptions{MinRTO: 20 * time.Millisecond})
	e := &env{t: t, pair: p, server: gentcp.NewNode(p.A), client: gentcp.NewNode(p.B)}
	e.sp = e.server.NewProcess()
	e.cp = e.client.NewProcess()
	t.Cleanup(func() {
		e.sp.Exit()
		e.cp.Exit()
	})
	return e
}

// listen opens a listen socket on A with opts and returns it and its port.
func (e *env) listen(opts ...gentcp.Option) (*gentcp.Socket, int) {
	e.t.Helper()
	l, err := e.sp.Listen(0, opts...)
	require.NoError(e.t, err)
	port, err := l.Port()
	require.NoError(e.t, err)
	return l, port
}

// connected returns a connected pair (client socket, accepted socket), the
// listen socket options applying to the accepted one.
func (e *env) connected(copts []gentcp.Option, lopts ...gentcp.Option) (c, a *gentcp.Socket) {
	e.t.Helper()
	l, port := e.listen(lopts...)
	c, err := e.cp.Connect("10.0.0.1", port, 5*time.Second, copts...)
	require.NoError(e.t, err)
	a, err = e.sp.Accept(l, 5*time.Second)
	require.NoError(e.t, err)
	require.NoError(e.t, l.Close())
	return c, a
}

// passive is the usual option set of a passive binary socket.
var passive = []gentcp.Option{gentcp.Binary, gentcp.Active(false)}

const second = time.Second
