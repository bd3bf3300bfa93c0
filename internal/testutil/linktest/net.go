package linktest

import (
	"context"
	"crypto/sha256"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// The NIC of each stack of a Net, and the MTU of its wire (also a fine
// MTU for a channel endpoint under a wrapper).
const (
	NICID = 1
	MTU   = 1500
)

// The IPv4 addresses of stacks A and B of a Net.
var (
	AddrA = tcpip.AddrFrom4([4]byte{10, 0, 0, 1})
	AddrB = tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
)

// Net is two netstack stacks, A and B, joined by a wire made of two
// channel endpoints and one pump goroutine per direction. Stack A's NIC
// may be wrapped, so that the A→B direction goes through the wrapper.
type Net struct {
	A, B      *stack.Stack // the stacks, at AddrA and AddrB on NIC NICID
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewNet builds the two stacks; wrapA wraps A's end of the wire. The
// caller closes the Net: with a deferred Close, so that a failed
// assertion leaves nothing running, and with Close before a CheckRefs.
func NewNet(t *testing.T, wrapA func(stack.LinkEndpoint) stack.LinkEndpoint) *Net {
	t.Helper()
	// Capabilities stay zero: no checksum offload, so both stacks compute
	// and verify every checksum and a flipped bit is noticed.
	chA := channel.New(1024, MTU, "")
	chB := channel.New(1024, MTU, "")
	ctx, cancel := context.WithCancel(context.Background())
	n := &Net{cancel: cancel}
	n.A = newStack(t, wrapA(chA), AddrA)
	n.B = newStack(t, chB, AddrB)
	n.wg.Add(2)
	go n.pump(ctx, chA, chB)
	go n.pump(ctx, chB, chA)
	return n
}

// pump carries frames written to from into to until ctx is done. Each frame
// gets fresh storage, as a real wire would, so the stacks share no bytes.
func (n *Net) pump(ctx context.Context, from, to *channel.Endpoint) {
	defer n.wg.Done()
	for {
		p := from.ReadContext(ctx)
		if p == nil {
			return
		}
		proto := p.NetworkProtocolNumber
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(Bytes(p))})
		p.DecRef()
		to.InjectInbound(proto, in)
		in.DecRef()
	}
}

// Close stops the pumps and both stacks. Only the first call does
// anything.
func (n *Net) Close() {
	n.closeOnce.Do(func() {
		n.cancel()
		n.wg.Wait()
		for _, s := range []*stack.Stack{n.A, n.B} {
			s.Close()
			s.Wait()
		}
	})
}

func newStack(t *testing.T, ep stack.LinkEndpoint, addr tcpip.Address) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	// SACK and a short minimum RTO keep recovery from loss fast, so the
	// test takes seconds, not minutes.
	sack := tcpip.TCPSACKEnabled(true)
	require.Nil(t, s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack))
	minRTO := tcpip.TCPMinRTOOption(20 * time.Millisecond)
	require.Nil(t, s.SetTransportProtocolOption(tcp.ProtocolNumber, &minRTO))
	require.Nil(t, s.CreateNIC(NICID, ep))
	require.Nil(t, s.AddProtocolAddress(NICID, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: addr.WithPrefix(),
	}, stack.AddressProperties{}))
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: NICID}})
	return s
}

// Transfer sends data from A to B over one TCP connection and returns the
// SHA-256 of what B received.
func (n *Net) Transfer(t *testing.T, data []byte) [sha256.Size]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ln, err := gonet.ListenTCP(n.B, tcpip.FullAddress{NIC: NICID, Addr: AddrB, Port: 5678}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	defer ln.Close()

	type result struct {
		sum [sha256.Size]byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		h := sha256.New()
		_, err = io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.err = err
		done <- r
	}()

	c, err := gonet.DialContextTCP(ctx, n.A, tcpip.FullAddress{NIC: NICID, Addr: AddrB, Port: 5678}, ipv4.ProtocolNumber)
	require.NoError(t, err)
	_, err = c.Write(data)
	require.NoError(t, err)
	require.NoError(t, c.Close())

	select {
	case r := <-done:
		require.NoError(t, r.err)
		return r.sum
	case <-ctx.Done():
		t.Fatalf("transfer did not finish: %v", ctx.Err())
		return [sha256.Size]byte{}
	}
}
