package gentcp_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/usertcp/usertcp/gentcp"
)

// TestAdoptForwardedEndpoint: netstack's TCP forwarder accepts a
// connection on stack A (as a transparent proxy would) and gentcp adopts
// the endpoint with {fd,_}; the adopted socket then behaves as any
// gen_tcp socket, with the options given at adoption.
func TestAdoptForwardedEndpoint(t *testing.T) {
	e := newEnv(t)
	adopted := make(chan *gentcp.Socket, 1)
	fwd := tcp.NewForwarder(e.pair.A.Netstack(), 0, 16, func(r *tcp.ForwarderRequest) {
		var wq waiter.Queue
		ep, err := r.CreateEndpoint(&wq)
		if err != nil {
			r.Complete(true)
			return
		}
		r.Complete(false)
		s, aerr := e.sp.Connect("ignored", 0, time.Second, gentcp.FD(ep, &wq), gentcp.Binary, gentcp.Packet(2), gentcp.Active(false))
		if aerr != nil {
			ep.Close()
			t.Errorf("adopt: %v", aerr)
			return
		}
		adopted <- s
	})
	e.pair.A.Netstack().SetTransportProtocolHandler(tcp.ProtocolNumber, fwd.HandlePacket)

	c, err := e.cp.Connect("10.0.0.1", 4242, 5*time.Second, gentcp.Binary, gentcp.Packet(2), gentcp.Active(false))
	require.NoError(t, err, "the forwarder answers for a port nobody listens on")
	var a *gentcp.Socket
	select {
	case a = <-adopted:
	case <-time.After(5 * time.Second):
		t.Fatal("the forwarder never handed over an endpoint")
	}
	require.NoError(t, c.Send([]byte("through the proxy")))
	d, err := a.Recv(0, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "through the proxy", string(d.Bytes))
	opts, err := a.Getopts("packet", "active")
	require.NoError(t, err)
	assert.Equal(t, []gentcp.Option{{Name: "packet", Value: 2}, {Name: "active", Value: false}}, opts)
	name, err := a.Sockname()
	require.NoError(t, err)
	assert.Equal(t, uint16(4242), name.Port())
	require.NoError(t, a.Close())
	_, err = c.Recv(0, 5*time.Second)
	assert.Equal(t, gentcp.Closed, err)
}

// TestAdoptRejectsBadFD: an fd option without an endpoint is a bad
// argument.
func TestAdoptRejectsBadFD(t *testing.T) {
	e := newEnv(t)
	_, err := e.cp.Connect("10.0.0.1", 1, time.Second, gentcp.Option{Name: "fd", Value: 3})
	assert.ErrorIs(t, err, gentcp.ErrBadArg)
	var ep tcpip.Endpoint
	_, err = e.cp.Connect("10.0.0.1", 1, time.Second, gentcp.FD(ep, nil))
	assert.ErrorIs(t, err, gentcp.ErrBadArg)
}
