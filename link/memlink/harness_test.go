package memlink_test

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/memlink"
)

// rawNet is a network whose ports have no stack: the test writes IPv4
// frames into a port and a recorder on each port keeps the payloads that
// reach it, so what crosses which pair can be checked frame by frame.
type rawNet struct {
	n     *memlink.Network
	ports map[string]*memlink.Port
	rec   map[string]*recorder
	addr  map[string]netip.Addr
	names []string
}

// recorder stands in for a stack: it keeps the payload of every frame it
// is given.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) DeliverNetworkPacket(_ tcpip.NetworkProtocolNumber, pkt *netstack.PacketBuffer) {
	b := pkt.ToBuffer()
	v := b.Flatten()
	b.Release()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, string(header.IPv4(v).Payload()))
}

func (r *recorder) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *netstack.PacketBuffer) {}

// newRawNet makes a network with a port per name, the i-th (from 1) owning
// 10.0.0.i, each with a recorder attached; Close runs when the test ends.
func newRawNet(t *testing.T, opts memlink.Options, names ...string) *rawNet {
	t.Helper()
	n, err := memlink.NewNetwork(opts)
	require.NoError(t, err)
	r := &rawNet{n: n, ports: map[string]*memlink.Port{}, rec: map[string]*recorder{}, addr: map[string]netip.Addr{}, names: names}
	for i, name := range names {
		a := netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
		p, err := n.AddPort(name, a)
		require.NoError(t, err)
		r.ports[name], r.addr[name], r.rec[name] = p, a, &recorder{}
		p.Attach(r.rec[name])
	}
	t.Cleanup(n.Close)
	return r
}

// frameTo builds an IPv4 frame from one port's address to dst (a port's
// name, or an address) carrying msg.
func (r *rawNet) frameTo(from, dst, msg string) *netstack.PacketBuffer {
	to, ok := r.addr[dst]
	if !ok {
		to = netip.MustParseAddr(dst)
	}
	b := make([]byte, header.IPv4MinimumSize+len(msg))
	ip := header.IPv4(b)
	ip.Encode(&header.IPv4Fields{
		TotalLength: uint16(len(b)), TTL: 64, Protocol: 253,
		SrcAddr: tcpip.AddrFromSlice(r.addr[from].AsSlice()), DstAddr: tcpip.AddrFromSlice(to.AsSlice()),
	})
	ip.SetChecksum(^ip.CalculateChecksum())
	copy(b[header.IPv4MinimumSize:], msg)
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	return pkt
}

// send writes one frame per message from a port to dst, in one batch.
func (r *rawNet) send(t *testing.T, from, dst string, msgs ...string) {
	t.Helper()
	var pkts netstack.PacketBufferList
	for _, m := range msgs {
		pkts.PushBack(r.frameTo(from, dst, m))
	}
	n, err := r.ports[from].WritePackets(pkts)
	pkts.Reset()
	require.Nil(t, err)
	require.Equal(t, len(msgs), n)
}

// sendAll sends one frame "from→to" along every ordered pair.
func (r *rawNet) sendAll(t *testing.T) {
	t.Helper()
	for _, from := range r.names {
		for _, to := range r.names {
			if from != to {
				r.send(t, from, to, from+"→"+to)
			}
		}
	}
}

// got returns the payloads a port received, sorted.
func (r *rawNet) got(name string) []string {
	rec := r.rec[name]
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := append([]string{}, rec.got...)
	slices.Sort(out)
	return out
}

// reset forgets what every port received.
func (r *rawNet) reset() {
	for _, rec := range r.rec {
		rec.mu.Lock()
		rec.got = nil
		rec.mu.Unlock()
	}
}

// deliverAll delivers every deliverable frame of a lock-step network and
// returns them as "from→to" by the pair that carried them, in order.
func (r *rawNet) deliverAll() []string {
	var out []string
	for {
		f, ok := r.n.DeliverNext()
		if !ok {
			return out
		}
		out = append(out, fmt.Sprintf("%s→%s:%s", f.From, f.To, header.IPv4(f.Bytes).Payload()))
	}
}

// listOf is a list of the packets; the caller keeps its references.
func listOf(pkts ...*netstack.PacketBuffer) netstack.PacketBufferList {
	var l netstack.PacketBufferList
	for _, p := range pkts {
		l.PushBack(p)
	}
	return l
}
