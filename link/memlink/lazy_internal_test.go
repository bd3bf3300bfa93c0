package memlink

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/fault"
)

// TestPairsAreLazy: of the 9,900 pairs of a 100-port network only those
// that carried a frame have a link, and a configured pair only a record.
func TestPairsAreLazy(t *testing.T) {
	defer goleak.VerifyNone(t)
	n, err := NewNetwork(Options{LockStep: true})
	require.NoError(t, err)
	defer n.Close()
	ports := make([]*Port, 100)
	for i := range ports {
		ports[i], err = n.AddPort(fmt.Sprintf("h%d", i), netip.AddrFrom4([4]byte{10, 0, byte(i / 250), byte(1 + i%250)}))
		require.NoError(t, err)
	}
	b := make([]byte, header.IPv4MinimumSize)
	header.IPv4(b).Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), TTL: 64, Protocol: 253,
		SrcAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 1}), DstAddr: tcpip.AddrFrom4([4]byte{10, 0, 0, 2})})
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	var l netstack.PacketBufferList
	l.PushBack(pkt)
	_, terr := ports[0].WritePackets(l)
	require.Nil(t, terr)
	pkt.DecRef()
	require.NoError(t, n.SetFaults("h5", "h6", fault.Config{Loss: 0.1}))

	n.mu.Lock()
	defer n.mu.Unlock()
	assert.Len(t, n.pairs, 2)
	links := 0
	for _, r := range n.pairs {
		links += len(r.links)
	}
	assert.Equal(t, 1, links, "only h0→h1 carried a frame")
	assert.Len(t, n.pairs[pairKey{"h0", "h1"}].links, 1)
}
