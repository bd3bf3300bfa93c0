package stack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

var (
	floodLocal4 = netip.MustParseAddr("10.1.0.1")
	floodLocal6 = netip.MustParseAddr("fd00:1::1")
)

// floodFixture is a stack with one NIC on a channel link, a fake clock and
// a listener on port 80 (IPv6, dual-stack) whose TCP processor can be
// paused, so that SYNs stay queued unanswered.
type floodFixture struct {
	st   *Stack
	link *channel.Endpoint
	clk  *faketime.ManualClock
}

func newFloodFixture(t *testing.T) *floodFixture {
	t.Helper()
	f := &floodFixture{clk: faketime.NewManualClock(), link: channel.New(4*synCredits, 1500, "")}
	st, err := New(Options{
		NICs: []NIC{{Name: "eth0", Link: f.link, Addresses: []netip.Prefix{
			netip.PrefixFrom(floodLocal4, 24), netip.PrefixFrom(floodLocal6, 64)}}},
		Clock: f.clk, SecureRNG: SeededRNG(1),
	})
	require.NoError(t, err)
	f.st = st
	ep, terr := st.Netstack().NewEndpoint(tcp.ProtocolNumber, ipv6.ProtocolNumber, &waiter.Queue{})
	require.Nil(t, terr)
	require.Nil(t, ep.Bind(tcpip.FullAddress{Port: 80}))
	require.Nil(t, ep.Listen(5))
	t.Cleanup(func() {
		ep.Close()
		st.Close()
		f.link.Drain()
	})
	return f
}

// floodSYN describes a received SYN for synFrame.
type floodSYN struct {
	src, dst netip.AddrPort
	seq      uint32
	badSum   bool // a wrong TCP checksum
	fragment bool // the first fragment of a fragmented datagram
	destOpts bool // IPv6: a destination options header before TCP
}

// synFrame returns s as an IP packet.
func synFrame(s floodSYN) []byte {
	seg := make([]byte, header.TCPMinimumSize+4)
	th := header.TCP(seg)
	th.Encode(&header.TCPFields{SrcPort: s.src.Port(), DstPort: s.dst.Port(), SeqNum: s.seq,
		DataOffset: uint8(len(seg)), Flags: header.TCPFlagSyn, WindowSize: 65535})
	copy(seg[header.TCPMinimumSize:], []byte{header.TCPOptionMSS, 4, 0x05, 0xb4})
	src, dst := tcpip.AddrFromSlice(s.src.Addr().AsSlice()), tcpip.AddrFromSlice(s.dst.Addr().AsSlice())
	th.SetChecksum(^th.CalculateChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(seg)))))
	if s.badSum {
		th.SetChecksum(th.Checksum() + 1)
	}
	if s.src.Addr().Is4() {
		ip := header.IPv4(make([]byte, header.IPv4MinimumSize))
		f := &header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + len(seg)), TTL: 64,
			Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst}
		if s.fragment {
			f.Flags = header.IPv4FlagMoreFragments
		}
		ip.Encode(f)
		ip.SetChecksum(^ip.CalculateChecksum())
		return append(ip, seg...)
	}
	var ext []byte
	next := header.TCPProtocolNumber
	switch {
	case s.destOpts:
		ext = []byte{uint8(header.TCPProtocolNumber), 0, 1, 4, 0, 0, 0, 0} // PadN
		next = tcpip.TransportProtocolNumber(header.IPv6DestinationOptionsExtHdrIdentifier)
	case s.fragment:
		ext = []byte{uint8(header.TCPProtocolNumber), 0, 0, 1, 0, 0, 0, 1} // offset 0, M
		next = tcpip.TransportProtocolNumber(header.IPv6FragmentExtHdrIdentifier)
	}
	ip := header.IPv6(make([]byte, header.IPv6MinimumSize))
	ip.Encode(&header.IPv6Fields{PayloadLength: uint16(len(ext) + len(seg)), TransportProtocol: next,
		HopLimit: 64, SrcAddr: src, DstAddr: dst})
	return append(append(ip, ext...), seg...)
}

// inject delivers n SYNs made by mk(i) and returns how many the guard
// dropped.
func (f *floodFixture) inject(n int, mk func(i int) floodSYN) uint64 {
	before := f.st.GuardStats().SYNFloodDrops
	for i := range n {
		frame := synFrame(mk(i))
		proto := header.IPv4ProtocolNumber
		if header.IPVersion(frame) == header.IPv6Version {
			proto = header.IPv6ProtocolNumber
		}
		pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		f.link.InjectInbound(proto, pkt)
		pkt.DecRef()
	}
	return f.st.GuardStats().SYNFloodDrops - before
}

// spoofed returns the i-th SYN of a flood from random-looking sources to
// dst:port.
func spoofed(dst netip.Addr, port uint16) func(i int) floodSYN {
	return func(i int) floodSYN {
		var src netip.Addr
		if dst.Is4() {
			src = netip.AddrFrom4([4]byte{10, 1, 0, byte(3 + i%250)})
		} else {
			a := floodLocal6.As16()
			a[14], a[15] = byte(i>>8), byte(i)
			a[13] = 0x77
			src = netip.AddrFrom16(a)
		}
		return floodSYN{src: netip.AddrPortFrom(src, uint16(1024+i)), dst: netip.AddrPortFrom(dst, port), seq: uint32(i) * 7919}
	}
}

// TestSYNFloodGuardBoundsUnansweredSYNs: while netstack answers nothing
// (its TCP processor paused), at most synCredits SYNs for a port reach it
// and the rest are dropped; once it has answered them, SYNs are let in
// again, and nothing is dropped while it keeps up. IPv4 and IPv6 share the
// port's credits.
func TestSYNFloodGuardBoundsUnansweredSYNs(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	for _, dst := range []netip.Addr{floodLocal4, floodLocal6} {
		t.Run(dst.String(), func(t *testing.T) {
			f := newFloodFixture(t)
			ns := f.st.Netstack()
			ns.Pause()
			assert.Equal(t, uint64(100), f.inject(synCredits+100, spoofed(dst, 80)), "SYNs dropped beyond the credits")
			sent := ns.Stats().TCP.SegmentsSent.Value()
			ns.Resume()
			require.Eventually(t, func() bool {
				return ns.Stats().TCP.SegmentsSent.Value()-sent >= synCredits
			}, 10*time.Second, time.Millisecond, "netstack answers the SYNs it was given")
			assert.Zero(t, f.inject(synCredits, spoofed(dst, 80)), "answered SYNs give their credits back")
		})
	}
}

func (f *floodFixture) guardPools() map[uint16]synPool {
	g := f.st.flood
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[uint16]synPool{}
	for k, v := range g.pools {
		out[k] = v
	}
	return out
}

// TestSYNFloodGuardRefillsSilentPort: SYNs netstack drops without an
// answer (here: never processed) give no credit back; after
// synRefillAfter with no answer the port gets its credits again.
func TestSYNFloodGuardRefillsSilentPort(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	f := newFloodFixture(t)
	ns := f.st.Netstack()
	ns.Pause()
	defer ns.Resume()
	assert.Zero(t, f.inject(synCredits, spoofed(floodLocal4, 80)))
	assert.Equal(t, uint64(1), f.inject(1, spoofed(floodLocal4, 80)), "no credit left")
	f.clk.Advance(synRefillAfter - time.Millisecond)
	assert.Equal(t, uint64(1), f.inject(1, spoofed(floodLocal4, 80)), "still none before synRefillAfter")
	f.clk.Advance(time.Millisecond)
	assert.Zero(t, f.inject(synCredits, spoofed(floodLocal4, 80)), "refilled after synRefillAfter")
}

// TestSYNFloodGuardCountsOnlyQueuedSYNs: SYNs netstack never queues take
// no credit, so a flood of them cannot starve a listener: SYNs to a port
// with no listener (netstack answers a RST at once), with a bad checksum,
// or for an address that is not the stack's; and other ports keep their
// own credits.
func TestSYNFloodGuardCountsOnlyQueuedSYNs(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	f := newFloodFixture(t)
	ns := f.st.Netstack()
	ns.Pause()
	defer ns.Resume()
	for _, c := range []struct {
		name string
		mk   func(i int) floodSYN
	}{
		{"no listener", spoofed(floodLocal4, 81)},
		{"no listener, IPv6", spoofed(floodLocal6, 81)},
		{"bad checksum", func(i int) floodSYN { s := spoofed(floodLocal4, 80)(i); s.badSum = true; return s }},
		{"not our address", spoofed(netip.MustParseAddr("10.1.0.9"), 80)},
	} {
		assert.Zero(t, f.inject(2*synCredits, c.mk), c.name)
	}
	assert.Zero(t, f.inject(synCredits, spoofed(floodLocal4, 80)), "the listener still has every credit")
	assert.Equal(t, uint64(1), f.inject(1, spoofed(floodLocal4, 80)))
}

// TestSYNFloodGuardParsesFrames: the guard finds the SYN behind an IPv6
// extension header, and drops fragmented SYNs, which netstack would
// reassemble behind its back.
func TestSYNFloodGuardParsesFrames(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	f := newFloodFixture(t)
	ns := f.st.Netstack()
	ns.Pause()
	defer ns.Resume()
	withOpts := func(i int) floodSYN { s := spoofed(floodLocal6, 80)(i); s.destOpts = true; return s }
	assert.Equal(t, uint64(1), f.inject(synCredits+1, withOpts), "IPv6 with destination options")
	for _, dst := range []netip.Addr{floodLocal4, floodLocal6} {
		frag := func(i int) floodSYN { s := spoofed(dst, 443)(i); s.fragment = true; return s }
		assert.Equal(t, uint64(3), f.inject(3, frag), "fragmented SYNs to %v", dst)
	}
	// Frames too short for their headers are netstack's to drop.
	for _, frame := range [][]byte{{0x45}, {0x60, 0, 0, 0}, synFrame(spoofed(floodLocal4, 80)(0))[:30]} {
		pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		f.link.InjectInbound(0, pkt)
		pkt.DecRef()
	}
}

// TestSYNFloodGuardCountsListenerDrops: SYNs a listener drops unanswered
// (its accept queue full), which netstack counts in
// ListenOverflowSynDrop, give their credits back.
func TestSYNFloodGuardCountsListenerDrops(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	f := newFloodFixture(t)
	ns := f.st.Netstack()
	ns.Pause()
	defer ns.Resume()
	assert.Zero(t, f.inject(synCredits, spoofed(floodLocal4, 80)))
	for range 10 {
		ns.Stats().TCP.ListenOverflowSynDrop.Increment() // as netstack would for 10 of them
	}
	assert.Zero(t, f.inject(10, spoofed(floodLocal4, 80)), "10 dropped by the listener, 10 let in")
	assert.Equal(t, uint64(1), f.inject(1, spoofed(floodLocal4, 80)))
}
