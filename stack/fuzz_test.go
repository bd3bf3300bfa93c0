package stack_test

import (
	"context"
	"encoding/binary"
	"flag"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"

	"github.com/usertcp/usertcp/internal/testutil"
	"github.com/usertcp/usertcp/link/memlink"
	"github.com/usertcp/usertcp/stack"
)

// FuzzInjectFrame hands stack A frames from its link that no sane peer
// sends: truncated, with wrong lengths, bad checksums, odd flags and
// options, fragments, extension headers, ICMP errors. A must not panic or
// hang, and must still serve a normal connection afterwards: every input
// is followed by a connect, an echo and a close from stack B.
//
// The mode byte repairs what random bytes would almost always break, so
// that inputs reach the code behind each check:
//
//	fixAddrs   source B, destination A (the frame is for A)
//	fixLen     IPv4 total length / IPv6 payload length = the frame's
//	fixIPSum   IPv4 header checksum
//	fixL4Sum   TCP, UDP or ICMP checksum
//	steer      TCP ports, sequence and acknowledgement numbers of a live
//	           connection to A's echo port, so the segment is in its window
//
// Run it with: go test -run '^$' -fuzz FuzzInjectFrame -fuzztime 10m ./stack
func FuzzInjectFrame(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s.mode, s.frame)
	}
	if fz := flag.Lookup("test.fuzz"); fz == nil || fz.Value.String() == "" {
		// Running the corpus as a test (not fuzzing, whose workers keep
		// goroutines of their own): nothing may be left running.
		f.Cleanup(func() { goleak.VerifyNone(f) })
	}
	h := newFuzzHarness(f)
	f.Fuzz(func(t *testing.T, mode uint8, frame []byte) {
		b := append([]byte(nil), frame...)
		h.repair(b, mode)
		h.inj.Inject(b)
		if err := echoOnce(h.p.B, netip.AddrPortFrom(testutil.AddrA4, echoPort), 10*time.Second); err != nil {
			t.Fatalf("after injecting %x (mode %#x), a normal connection fails: %v", b, mode, err)
		}
	})
}

const echoPort = 7

const (
	fixAddrs = 1 << iota
	fixLen
	fixIPSum
	fixL4Sum
	steer
	fixAll = fixAddrs | fixLen | fixIPSum | fixL4Sum
)

// fuzzHarness is the pair the fuzz inputs go to, built once per fuzzing
// process: stack A with an echo server, and a long-lived connection from
// B whose sequence numbers steer inputs into its window.
type fuzzHarness struct {
	p   *testutil.Pair
	inj *testutil.Injector

	mu sync.Mutex
	// The live connection, from A's point of view: its local (A) and
	// remote (B) ports, and what A last sent: its next sequence number
	// and its acknowledgement (the next byte it expects from B).
	conn            net.Conn
	bPort           uint16
	aNext, aExpects uint32
	dead            bool
}

func newFuzzHarness(f *testing.F) *fuzzHarness {
	// The echo server and the live connection run for the whole fuzzing
	// process; the pair closes with it.
	p, inj := testutil.NewInjectedPair(f, memlink.Options{}, stack.TCPOptions{TimeWait: time.Second})
	h := &fuzzHarness{p: p, inj: inj}
	l, err := gonet.ListenTCP(p.A.Netstack(), tcpip.FullAddress{Port: echoPort}, ipv6.ProtocolNumber)
	if err != nil {
		f.Fatal(err)
	}
	wg := echoServer(l)
	f.Cleanup(func() {
		h.mu.Lock()
		if h.conn != nil {
			h.conn.Close()
		}
		h.mu.Unlock()
		l.Close()
		// Closing the stacks first ends the echo goroutines whose
		// connections an input desynchronised (they would read forever).
		p.Close()
		wg.Wait()
	})
	inj.OnSend(h.watch)
	return h
}

// watch follows what A sends on the live connection.
func (h *fuzzHarness) watch(frame []byte) bool {
	if len(frame) < header.IPv4MinimumSize || header.IPVersion(frame) != header.IPv4Version {
		return true
	}
	ip := header.IPv4(frame)
	if ip.TransportProtocol() != header.TCPProtocolNumber || !ip.IsValid(len(frame)) {
		return true
	}
	tcp := header.TCP(ip.Payload())
	if len(tcp) < header.TCPMinimumSize {
		return true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if tcp.SourcePort() != echoPort || tcp.DestinationPort() != h.bPort {
		return true
	}
	flags := tcp.Flags()
	if flags.Intersects(header.TCPFlagRst | header.TCPFlagFin) {
		h.dead = true
	}
	n := uint32(len(tcp.Payload()))
	if flags.Contains(header.TCPFlagSyn) {
		n++
	}
	h.aNext = tcp.SequenceNumber() + n
	h.aExpects = tcp.AckNumber()
	return true
}

// live returns the live connection's ports and numbers, dialling a new
// one if there is none or the last one ended.
func (h *fuzzHarness) live() (bPort uint16, seq, ack uint32) {
	h.mu.Lock()
	if h.conn != nil && !h.dead {
		defer h.mu.Unlock()
		return h.bPort, h.aExpects, h.aNext
	}
	if h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
	h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := gonet.DialContextTCP(ctx, h.p.B.Netstack(), fullAddr(netip.AddrPortFrom(testutil.AddrA4, echoPort)), proto(testutil.AddrA4))
	if err != nil {
		return 0, 0, 0 // the input's own check reports a stack that no longer connects
	}
	local := c.LocalAddr().(*net.TCPAddr)
	h.mu.Lock()
	h.conn, h.bPort, h.dead = c, uint16(local.Port), false
	h.mu.Unlock()
	// An echo round trip, so that A has sent on the connection and its
	// numbers are known.
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("x"))
	io.ReadFull(c, make([]byte, 1))
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bPort, h.aExpects, h.aNext
}

// repair applies mode's fixes to frame in place.
func (h *fuzzHarness) repair(b []byte, mode uint8) {
	if len(b) == 0 {
		return
	}
	a4, b4 := tcpip.AddrFromSlice(testutil.AddrA4.AsSlice()), tcpip.AddrFromSlice(testutil.AddrB4.AsSlice())
	a6, b6 := tcpip.AddrFromSlice(testutil.AddrA6.AsSlice()), tcpip.AddrFromSlice(testutil.AddrB6.AsSlice())
	var src, dst tcpip.Address
	var l4 []byte
	var l4proto tcpip.TransportProtocolNumber
	switch header.IPVersion(b) {
	case header.IPv4Version:
		if len(b) < header.IPv4MinimumSize {
			return
		}
		ip := header.IPv4(b)
		if mode&fixAddrs != 0 {
			ip.SetSourceAddress(b4)
			ip.SetDestinationAddress(a4)
		}
		if mode&fixLen != 0 && len(b) <= 0xffff {
			ip.SetTotalLength(uint16(len(b)))
		}
		hl := int(ip.HeaderLength())
		if hl < header.IPv4MinimumSize || hl > len(b) {
			return
		}
		if mode&fixIPSum != 0 {
			ip.SetChecksum(0)
			ip.SetChecksum(^ip.CalculateChecksum())
		}
		if ip.FragmentOffset() != 0 {
			return
		}
		src, dst, l4, l4proto = ip.SourceAddress(), ip.DestinationAddress(), b[hl:], ip.TransportProtocol()
	case header.IPv6Version:
		if len(b) < header.IPv6MinimumSize {
			return
		}
		ip := header.IPv6(b)
		if mode&fixAddrs != 0 {
			ip.SetSourceAddress(b6)
			ip.SetDestinationAddress(a6)
		}
		if mode&fixLen != 0 && len(b)-header.IPv6MinimumSize <= 0xffff {
			ip.SetPayloadLength(uint16(len(b) - header.IPv6MinimumSize))
		}
		src, dst, l4, l4proto = ip.SourceAddress(), ip.DestinationAddress(), b[header.IPv6MinimumSize:], ip.TransportProtocol()
	default:
		return
	}
	if mode&steer != 0 && l4proto == header.TCPProtocolNumber && len(l4) >= header.TCPMinimumSize && header.IPVersion(b) == header.IPv4Version {
		bPort, seq, ack := h.live()
		tcp := header.TCP(l4)
		tcp.SetSourcePort(bPort)
		tcp.SetDestinationPort(echoPort)
		tcp.SetSequenceNumber(seq)
		if tcp.Flags().Contains(header.TCPFlagAck) {
			tcp.SetAckNumber(ack)
		}
		ip := header.IPv4(b)
		ip.SetSourceAddress(b4)
		ip.SetDestinationAddress(a4)
		ip.SetChecksum(0)
		ip.SetChecksum(^ip.CalculateChecksum())
		src, dst = b4, a4
		mode |= fixL4Sum
		// The input may end or desynchronise the connection (bytes A
		// acknowledges that B never sent): use a new one next time.
		h.mu.Lock()
		h.dead = true
		h.mu.Unlock()
	}
	if mode&fixL4Sum != 0 {
		testutil.SetTransportChecksum(l4proto, src, dst, l4)
	}
}

type fuzzSeed struct {
	mode  uint8
	frame []byte
}

// fuzzSeeds are frames of each kind the stack must survive.
func fuzzSeeds() []fuzzSeed {
	b4, a4 := testutil.AddrB4, testutil.AddrA4
	b6, a6 := testutil.AddrB6, testutil.AddrA6
	seg := func(src, dst netip.Addr, port uint16, flags header.TCPFlags, opts, payload []byte) []byte {
		return testutil.TCPFrame(testutil.Segment{
			Src: netip.AddrPortFrom(src, 40000), Dst: netip.AddrPortFrom(dst, port),
			Seq: 1000, Ack: 1, Flags: flags, Window: 65535, Options: opts, Payload: payload,
		})
	}
	syn := seg(b4, a4, echoPort, header.TCPFlagSyn, []byte{2, 4, 5, 0xb4, 4, 2, 1, 3, 3, 7}, nil)
	data := seg(b4, a4, echoPort, header.TCPFlagAck|header.TCPFlagPsh, nil, []byte("hello"))
	var seeds []fuzzSeed
	add := func(mode uint8, b []byte) { seeds = append(seeds, fuzzSeed{mode, b}) }
	mut := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }

	add(0, syn)
	add(0, seg(b6, a6, echoPort, header.TCPFlagSyn, nil, nil))
	add(0, seg(b4, a4, 9, header.TCPFlagSyn, nil, nil)) // closed port: RST
	add(steer|fixAll, data)
	add(steer|fixAll, seg(b4, a4, echoPort, header.TCPFlagAck, nil, nil))
	add(steer|fixAll, seg(b4, a4, echoPort, header.TCPFlagRst, nil, nil))
	add(steer|fixAll, seg(b4, a4, echoPort, header.TCPFlagAck|header.TCPFlagFin, nil, []byte("bye")))
	add(steer|fixAll, seg(b4, a4, echoPort, header.TCPFlagAck|header.TCPFlagUrg, nil, []byte("u")))
	// SACK blocks far outside anything sent.
	add(steer|fixAll, seg(b4, a4, echoPort, header.TCPFlagAck, []byte{1, 1, 5, 18, 0xff, 0xff, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, nil))
	// Truncated.
	for _, n := range []int{0, 1, 19, 20, 21, 39} {
		add(0, syn[:n])
	}
	// Wrong lengths.
	add(fixIPSum|fixL4Sum, mut(syn, func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 0xffff); return b }))
	add(fixIPSum, mut(syn, func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 10); return b }))
	add(fixIPSum, mut(syn, func(b []byte) []byte { b[0] = 0x44; return b }))                    // IHL 16 bytes
	add(fixIPSum, mut(syn, func(b []byte) []byte { b[0] = 0x4f; return b }))                    // IHL 60 bytes
	add(fixAll, mut(syn, func(b []byte) []byte { b[20+12] = 0x10; return b }))                  // data offset 4 bytes
	add(fixAll, mut(syn, func(b []byte) []byte { b[20+12] = 0xf0; return b }))                  // data offset 60 bytes
	add(fixAll, mut(syn, func(b []byte) []byte { return append(b, make([]byte, 3000)...) }))    // long
	add(0, mut(syn, func(b []byte) []byte { binary.BigEndian.PutUint16(b[10:], 0); return b })) // bad IP checksum
	add(0, mut(syn, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }))                      // bad TCP checksum
	// Odd flags.
	for _, fl := range []header.TCPFlags{0, 0xff, header.TCPFlagSyn | header.TCPFlagFin, header.TCPFlagSyn | header.TCPFlagRst,
		header.TCPFlagSyn | header.TCPFlagAck, header.TCPFlagFin, header.TCPFlagUrg | header.TCPFlagPsh | header.TCPFlagFin} {
		add(fixAll, seg(b4, a4, echoPort, fl, nil, []byte("x")))
		add(steer|fixAll, seg(b4, a4, echoPort, fl, nil, []byte("x")))
	}
	// Odd options: zero and one lengths, past the end, MSS 0, window
	// scale 255, timestamps, an unknown kind.
	for _, o := range [][]byte{{2, 0}, {2, 1}, {2, 4, 0, 0}, {3, 3, 255}, {4, 9}, {8, 10, 0, 0, 0, 1, 0, 0, 0, 0},
		{5, 2}, {5, 255}, {30, 40}, {1, 1, 1, 1, 0, 0, 2, 4}, {254, 4, 0xf9, 0x89}} {
		add(fixAll, seg(b4, a4, echoPort, header.TCPFlagSyn, o, nil))
		add(steer|fixAll, seg(b4, a4, echoPort, header.TCPFlagAck, o, []byte("o")))
	}
	// IPv4 fragments: first, overlapping, last at the top offset, tiny.
	frag := func(off uint16, more bool, id uint16, payload []byte) []byte {
		b := make([]byte, header.IPv4MinimumSize+len(payload))
		flags := uint8(0)
		if more {
			flags = header.IPv4FlagMoreFragments
		}
		ip := header.IPv4(b)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(b)), ID: id, Flags: flags, FragmentOffset: off, TTL: 64,
			Protocol: uint8(header.TCPProtocolNumber), SrcAddr: tcpip.AddrFromSlice(b4.AsSlice()), DstAddr: tcpip.AddrFromSlice(a4.AsSlice())})
		ip.SetChecksum(^ip.CalculateChecksum())
		copy(b[header.IPv4MinimumSize:], payload)
		return b
	}
	add(0, frag(0, true, 1, syn[20:36]))
	add(0, frag(8, true, 1, syn[28:]))
	add(0, frag(65528, false, 1, []byte("12345678")))
	add(0, frag(0, true, 2, syn[20:28]))
	add(0, frag(8, false, 2, make([]byte, 8)))
	add(0, frag(16, false, 3, make([]byte, 1)))
	// IPv4 options: record route, and a bad option length.
	add(fixLen|fixIPSum, mut(syn, func(b []byte) []byte {
		out := append([]byte{0x47}, b[1:20]...)
		out = append(out, 7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		return append(out, b[20:]...)
	}))
	add(fixLen|fixIPSum, mut(syn, func(b []byte) []byte {
		out := append([]byte{0x46}, b[1:20]...)
		out = append(out, 7, 200, 4, 0)
		return append(out, b[20:]...)
	}))
	// ICMPv4: echo, and a "fragmentation needed" with MTU 68 quoting a
	// connection of A's.
	add(fixL4Sum, icmpEcho4(b4, a4))
	quoted := seg(a4, b4, 40000, header.TCPFlagAck, nil, nil)[:28]
	unreach := make([]byte, 20+8+len(quoted))
	{
		ip := header.IPv4(unreach)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(unreach)), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber),
			SrcAddr: tcpip.AddrFromSlice(b4.AsSlice()), DstAddr: tcpip.AddrFromSlice(a4.AsSlice())})
		ip.SetChecksum(^ip.CalculateChecksum())
		icmp := header.ICMPv4(unreach[20:])
		icmp.SetType(header.ICMPv4DstUnreachable)
		icmp.SetCode(header.ICMPv4FragmentationNeeded)
		icmp.SetMTU(68)
		copy(unreach[28:], quoted)
		icmp.SetChecksum(^checksum.Checksum(icmp, 0))
	}
	add(0, unreach)
	// UDP (no UDP endpoint: port unreachable).
	udp := make([]byte, 20+8+4)
	{
		ip := header.IPv4(udp)
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(len(udp)), TTL: 64, Protocol: uint8(header.UDPProtocolNumber),
			SrcAddr: tcpip.AddrFromSlice(b4.AsSlice()), DstAddr: tcpip.AddrFromSlice(a4.AsSlice())})
		ip.SetChecksum(^ip.CalculateChecksum())
		header.UDP(udp[20:]).Encode(&header.UDPFields{SrcPort: 5000, DstPort: 53, Length: 12})
	}
	add(fixL4Sum, udp)
	// IPv6: wrong payload length, extension headers (hop-by-hop with a
	// bad length, fragment, routing), no next header, ICMPv6 echo and
	// packet too big, a neighbour solicitation.
	syn6 := seg(b6, a6, echoPort, header.TCPFlagSyn, nil, nil)
	add(0, mut(syn6, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 0xffff); return b }))
	add(0, mut(syn6, func(b []byte) []byte { binary.BigEndian.PutUint16(b[4:], 3); return b }))
	ext := func(nh uint8, body []byte) []byte {
		b := append([]byte(nil), syn6[:40]...)
		b[6] = nh
		b = append(b, body...)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
		return b
	}
	add(0, ext(0, append([]byte{6, 0, 1, 4, 0, 0, 0, 0}, syn6[40:]...)))         // hop-by-hop, PadN
	add(0, ext(0, append([]byte{6, 200, 1, 4, 0, 0, 0, 0}, syn6[40:]...)))       // hop-by-hop, length past the end
	add(0, ext(44, append([]byte{6, 0, 0, 1, 0, 0, 0, 9}, syn6[40:]...)))        // fragment, more to come
	add(0, ext(44, append([]byte{6, 0, 0xff, 0xf8, 0, 0, 0, 9}, 1, 2, 3)))       // fragment at the top offset
	add(0, ext(43, append([]byte{6, 2, 0, 1, 0, 0, 0, 0}, make([]byte, 16)...))) // routing type 0
	add(0, ext(59, nil))                                                         // no next header
	icmp6 := func(typ header.ICMPv6Type, code uint8, body []byte) []byte {
		b := append([]byte(nil), syn6[:40]...)
		b[6] = uint8(header.ICMPv6ProtocolNumber)
		b[7] = 255
		m := make([]byte, 4+len(body))
		m[0], m[1] = uint8(typ), code
		copy(m[4:], body)
		b = append(b, m...)
		binary.BigEndian.PutUint16(b[4:], uint16(len(m)))
		testutil.SetTransportChecksum(header.ICMPv6ProtocolNumber, tcpip.AddrFromSlice(b6.AsSlice()), tcpip.AddrFromSlice(a6.AsSlice()), b[40:])
		return b
	}
	add(0, icmp6(header.ICMPv6EchoRequest, 0, []byte{0, 1, 0, 1}))
	add(0, icmp6(header.ICMPv6PacketTooBig, 0, append([]byte{0, 0, 0, 0}, syn6[:48]...)))
	add(0, icmp6(header.ICMPv6NeighborSolicit, 0, append([]byte{0, 0, 0, 0}, a6.AsSlice()...)))
	add(0, icmp6(header.ICMPv6RouterAdvert, 0, []byte{64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 64, 0xc0}))
	// Not IP at all.
	add(0, []byte{0x50, 0, 0, 20})
	add(0, []byte{0x60})
	return seeds
}
