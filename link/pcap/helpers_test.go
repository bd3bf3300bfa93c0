package pcap_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/refs"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestMain turns on gVisor's reference leak tracking, so that checkRefs can
// tell a test that it leaked (or kept) a PacketBuffer.
func TestMain(m *testing.M) {
	refs.SetLeakMode(refs.LeaksPanic)
	os.Exit(m.Run())
}

// checkRefs fails t if any reference-counted gVisor object created since the
// last check is still alive.
func checkRefs(t *testing.T) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("reference leak: %v", r)
		}
	}()
	refs.DoRepeatedLeakCheck()
}

// newPkt returns an outbound IPv4 packet holding b; the caller owns it.
func newPkt(b []byte) *stack.PacketBuffer {
	p := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	p.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return p
}

// write writes frames to ep in one batch, as a stack would: the caller's
// references are released after WritePackets returns.
func write(ep stack.LinkEndpoint, frames ...[]byte) (int, tcpip.Error) {
	var l stack.PacketBufferList
	for _, f := range frames {
		l.PushBack(newPkt(f))
	}
	defer l.DecRef()
	return ep.WritePackets(l)
}

// bytesOf returns a copy of the whole frame in p.
func bytesOf(p *stack.PacketBuffer) []byte {
	var b []byte
	for _, s := range p.AsSlices() {
		b = append(b, s...)
	}
	return b
}

// drain returns the frames queued in ch, in order, and releases them.
func drain(ch *channel.Endpoint) [][]byte {
	var out [][]byte
	for p := ch.Read(); p != nil; p = ch.Read() {
		out = append(out, bytesOf(p))
		p.DecRef()
	}
	return out
}

// frames returns n frames of random sizes and contents drawn from seed.
func frames(seed uint64, n int) [][]byte {
	r := rand.New(rand.NewPCG(seed, 0))
	out := make([][]byte, n)
	for i := range out {
		out[i] = randomBytes(seed<<32|uint64(i), 20+r.IntN(1400))
	}
	return out
}

// randomBytes returns n random bytes drawn from seed.
func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

const (
	nicID = 1
	mtu   = 1500
)

var (
	addrA = tcpip.AddrFrom4([4]byte{10, 0, 0, 1})
	addrB = tcpip.AddrFrom4([4]byte{10, 0, 0, 2})
)

// testNet is two netstack stacks joined by a wire made of two channel
// endpoints and one pump goroutine per direction. Stack A's NIC may be
// wrapped, so that the A→B direction goes through the wrapper.
type testNet struct {
	a, b   *stack.Stack
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newTestNet builds the two stacks. wrapA wraps A's end of the wire.
func newTestNet(t *testing.T, wrapA func(stack.LinkEndpoint) stack.LinkEndpoint) *testNet {
	t.Helper()
	// Capabilities stay zero: no checksum offload, so both stacks compute
	// and verify every checksum and a flipped bit is noticed.
	chA := channel.New(1024, mtu, "")
	chB := channel.New(1024, mtu, "")
	ctx, cancel := context.WithCancel(context.Background())
	n := &testNet{cancel: cancel}
	n.a = newStack(t, wrapA(chA), addrA)
	n.b = newStack(t, chB, addrB)
	n.wg.Add(2)
	go n.pump(ctx, chA, chB)
	go n.pump(ctx, chB, chA)
	return n
}

// pump carries frames written to from into to until ctx is done. Each frame
// gets fresh storage, as a real wire would, so the stacks share no bytes.
func (n *testNet) pump(ctx context.Context, from, to *channel.Endpoint) {
	defer n.wg.Done()
	for {
		p := from.ReadContext(ctx)
		if p == nil {
			return
		}
		proto := p.NetworkProtocolNumber
		in := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(bytesOf(p))})
		p.DecRef()
		to.InjectInbound(proto, in)
		in.DecRef()
	}
}

// close stops the pumps and both stacks.
func (n *testNet) close() {
	n.cancel()
	n.wg.Wait()
	for _, s := range []*stack.Stack{n.a, n.b} {
		s.Close()
		s.Wait()
	}
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
	require.Nil(t, s.CreateNIC(nicID, ep))
	require.Nil(t, s.AddProtocolAddress(nicID, tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: addr.WithPrefix(),
	}, stack.AddressProperties{}))
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: nicID}})
	return s
}

// transfer sends data from A to B over one TCP connection and returns the
// SHA-256 of what B received.
func (n *testNet) transfer(t *testing.T, data []byte) [sha256.Size]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ln, err := gonet.ListenTCP(n.b, tcpip.FullAddress{NIC: nicID, Addr: addrB, Port: 5678}, ipv4.ProtocolNumber)
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

	c, err := gonet.DialContextTCP(ctx, n.a, tcpip.FullAddress{NIC: nicID, Addr: addrB, Port: 5678}, ipv4.ProtocolNumber)
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
