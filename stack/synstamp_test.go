package stack_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/usertcp/usertcp/stack"
)

// synTestFamily is one IP version of the handshake tests: the stack's
// address, a silent peer's, and the network protocol.
type synTestFamily struct {
	name        string
	local, peer netip.Addr
	bits        int
	proto       tcpip.NetworkProtocolNumber
}

var synTestFamilies = []synTestFamily{
	{"IPv4", netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.1.0.2"), 24, ipv4.ProtocolNumber},
	{"IPv6", netip.MustParseAddr("fd00:1::1"), netip.MustParseAddr("fd00:1::2"), 64, ipv6.ProtocolNumber},
}

// sentSYN is a SYN read from the link: the whole frame, its TCP header
// and its TSval.
type sentSYN struct {
	frame []byte
	tcp   header.TCP
	tsVal uint32
	valid bool // the TCP checksum is right
}

// readSYN reads the next frame the stack wrote to ep, which must be a SYN
// with a timestamp.
func readSYN(t *testing.T, ep *channel.Endpoint, f synTestFamily) sentSYN {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pkt := ep.ReadContext(ctx)
	require.NotNil(t, pkt, "no frame written")
	defer pkt.DecRef()
	b := pkt.ToBuffer()
	frame := b.Flatten()
	b.Release()
	var seg []byte
	var src, dst tcpip.Address
	if f.proto == ipv4.ProtocolNumber {
		ip := header.IPv4(frame)
		seg, src, dst = ip.Payload(), ip.SourceAddress(), ip.DestinationAddress()
	} else {
		ip := header.IPv6(frame)
		seg, src, dst = ip.Payload(), ip.SourceAddress(), ip.DestinationAddress()
	}
	th := header.TCP(seg)
	require.Equal(t, header.TCPFlagSyn, th.Flags(), "want a SYN")
	opts := header.ParseSynOptions(th.Options(), false)
	require.True(t, opts.TS, "netstack offers timestamps on every active open")
	return sentSYN{
		frame: frame, tcp: th, tsVal: opts.TSVal,
		valid: th.IsChecksumValid(src, dst, checksum.Checksum(th.Payload(), 0), uint16(len(th.Payload()))),
	}
}

// startConnect creates a TCP endpoint on ns and starts connecting it to
// peer:80.
func startConnect(t *testing.T, ns *netstack.Stack, f synTestFamily) tcpip.Endpoint {
	t.Helper()
	ep, err := ns.NewEndpoint(tcp.ProtocolNumber, f.proto, &waiter.Queue{})
	require.Nil(t, err)
	t.Cleanup(ep.Close)
	cerr := ep.Connect(tcpip.FullAddress{Addr: tcpip.AddrFromSlice(f.peer.AsSlice()), Port: 80})
	require.IsType(t, &tcpip.ErrConnectStarted{}, cerr)
	return ep
}

// TestRetransmittedSYNRestamped: a SYN the stack sends again carries the
// time it is sent, in netstack's timestamp units (ms), with a right
// checksum when netstack computes checksums and nothing else changed; the
// SYN-ACK's echo of it then gives the true round trip as the first RTT
// sample, where netstack alone takes the SYN's retransmission timeout.
func TestRetransmittedSYNRestamped(t *testing.T) {
	for _, f := range synTestFamilies {
		for _, offload := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/checksum offload %v", f.name, offload), func(t *testing.T) {
				defer goleak.VerifyNone(t)
				clk := faketime.NewManualClock()
				link := channel.New(16, 1500, "")
				if offload {
					link.LinkEPCapabilities = netstack.CapabilityTXChecksumOffload | netstack.CapabilityRXChecksumOffload
				}
				st, err := stack.New(stack.Options{
					NICs:  []stack.NIC{{Name: "eth0", Link: link, Addresses: []netip.Prefix{netip.PrefixFrom(f.local, f.bits)}}},
					Clock: clk, SecureRNG: stack.SeededRNG(1),
				})
				require.NoError(t, err)
				defer st.Close()
				ep := startConnect(t, st.Netstack(), f)

				first := readSYN(t, link, f)
				clk.Advance(time.Second) // netstack's first SYN timeout
				second := readSYN(t, link, f)
				assert.Equal(t, first.tsVal+1000, second.tsVal, "TSval of the SYN resent 1 s later")
				assert.Equal(t, first.tcp.SequenceNumber(), second.tcp.SequenceNumber())
				if !offload {
					assert.True(t, second.valid, "the restamped SYN's checksum")
				}
				// Apart from TSval and checksum, the frame is the same.
				blank := func(s sentSYN) []byte {
					fr := bytes.Clone(s.frame)
					th := header.TCP(fr[len(fr)-len(s.tcp):])
					th.SetChecksum(0)
					opts := th.Options()
					i := bytes.Index(opts, binary.BigEndian.AppendUint32(nil, s.tsVal))
					require.GreaterOrEqual(t, i, 0, "TSval in the options")
					copy(opts[i:], []byte{0, 0, 0, 0})
					return fr
				}
				a, b := blank(first), blank(second)
				assert.Equal(t, a, b, "the SYN resent, but for TSval and checksum")

				clk.Advance(2 * time.Second)
				third := readSYN(t, link, f)
				assert.Equal(t, first.tsVal+3000, third.tsVal, "TSval of the SYN resent 3 s after the first")
				assert.Equal(t, uint64(2), st.GuardStats().SYNRestamps)

				// The peer answers the third SYN 7 ms after it left.
				clk.Advance(7 * time.Millisecond)
				link.InjectInbound(f.proto, synAck(f, third, 5000))
				require.Eventually(t, func() bool {
					return tcp.EndpointState(ep.State()) == tcp.StateEstablished
				}, 5*time.Second, time.Millisecond, "the SYN-ACK completes the handshake")
				var info tcpip.TCPInfoOption
				require.Nil(t, ep.GetSockOpt(&info))
				assert.Equal(t, 7*time.Millisecond, info.RTT, "SRTT from the handshake")
			})
		}
	}
}

// synAck is the peer's SYN-ACK to syn, with ISN isn, echoing its TSval.
func synAck(f synTestFamily, syn sentSYN, isn uint32) *netstack.PacketBuffer {
	return peerSegment(f, syn.tcp.DestinationPort(), syn.tcp.SourcePort(), isn, syn.tcp.SequenceNumber()+1,
		header.TCPFlagSyn|header.TCPFlagAck, 1, syn.tsVal)
}

// peerSegment is a segment from the peer with MSS and timestamp options.
func peerSegment(f synTestFamily, srcPort, dstPort uint16, seq, ack uint32, flags header.TCPFlags, tsVal, tsEcr uint32) *netstack.PacketBuffer {
	opts := make([]byte, 0, 20)
	opts = append(opts, header.TCPOptionMSS, 4, 0x05, 0xb4, header.TCPOptionNOP, header.TCPOptionNOP,
		header.TCPOptionTS, header.TCPOptionTSLength)
	opts = binary.BigEndian.AppendUint32(opts, tsVal)
	opts = binary.BigEndian.AppendUint32(opts, tsEcr)
	seg := make([]byte, header.TCPMinimumSize+len(opts))
	th := header.TCP(seg)
	th.Encode(&header.TCPFields{
		SrcPort: srcPort, DstPort: dstPort, SeqNum: seq, AckNum: ack,
		DataOffset: uint8(len(seg)), Flags: flags, WindowSize: 65535,
	})
	copy(seg[header.TCPMinimumSize:], opts)
	src, dst := tcpip.AddrFromSlice(f.peer.AsSlice()), tcpip.AddrFromSlice(f.local.AsSlice())
	th.SetChecksum(^th.CalculateChecksum(header.PseudoHeaderChecksum(header.TCPProtocolNumber, src, dst, uint16(len(seg)))))
	var frame []byte
	if f.proto == ipv4.ProtocolNumber {
		ip := header.IPv4(make([]byte, header.IPv4MinimumSize))
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(header.IPv4MinimumSize + len(seg)), TTL: 64,
			Protocol: uint8(header.TCPProtocolNumber), SrcAddr: src, DstAddr: dst})
		ip.SetChecksum(^ip.CalculateChecksum())
		frame = append(ip, seg...)
	} else {
		ip := header.IPv6(make([]byte, header.IPv6MinimumSize))
		ip.Encode(&header.IPv6Fields{PayloadLength: uint16(len(seg)), TransportProtocol: header.TCPProtocolNumber,
			HopLimit: 64, SrcAddr: src, DstAddr: dst})
		frame = append(ip, seg...)
	}
	return netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
}

// TestRetransmittedSYNAckRestamped: a listener's SYN-ACK resent after its
// timeout carries the time it is sent, so the client's ACK echoing it
// gives the server the true round trip.
func TestRetransmittedSYNAckRestamped(t *testing.T) {
	for _, f := range synTestFamilies {
		t.Run(f.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			clk := faketime.NewManualClock()
			link := channel.New(16, 1500, "")
			st, err := stack.New(stack.Options{
				NICs:  []stack.NIC{{Name: "eth0", Link: link, Addresses: []netip.Prefix{netip.PrefixFrom(f.local, f.bits)}}},
				Clock: clk, SecureRNG: stack.SeededRNG(3),
			})
			require.NoError(t, err)
			defer st.Close()
			ln, terr := st.Netstack().NewEndpoint(tcp.ProtocolNumber, f.proto, &waiter.Queue{})
			require.Nil(t, terr)
			defer ln.Close()
			require.Nil(t, ln.Bind(tcpip.FullAddress{Port: 80}))
			require.Nil(t, ln.Listen(5))
			link.InjectInbound(f.proto, peerSegment(f, 5555, 80, 1000, 0, header.TCPFlagSyn, 777, 0))
			read := func() (header.TCP, header.TCPSynOptions) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				pkt := link.ReadContext(ctx)
				require.NotNil(t, pkt, "no SYN-ACK")
				defer pkt.DecRef()
				b := pkt.ToBuffer()
				defer b.Release()
				frame := b.Flatten()
				var th header.TCP
				if f.proto == ipv4.ProtocolNumber {
					th = header.IPv4(frame).Payload()
				} else {
					th = header.IPv6(frame).Payload()
				}
				require.Equal(t, header.TCPFlagSyn|header.TCPFlagAck, th.Flags())
				return th, header.ParseSynOptions(th.Options(), true)
			}
			th1, o1 := read()
			clk.Advance(time.Second)
			_, o2 := read()
			assert.Equal(t, o1.TSVal+1000, o2.TSVal, "TSval of the SYN-ACK resent 1 s later")
			clk.Advance(4 * time.Millisecond)
			link.InjectInbound(f.proto, peerSegment(f, 5555, 80, 1001, th1.SequenceNumber()+1, header.TCPFlagAck, 778, o2.TSVal))
			var ep tcpip.Endpoint
			require.Eventually(t, func() bool {
				var err tcpip.Error
				ep, _, err = ln.Accept(nil)
				return err == nil
			}, 5*time.Second, time.Millisecond, "the ACK completes the handshake")
			defer ep.Close()
			var info tcpip.TCPInfoOption
			require.Nil(t, ep.GetSockOpt(&info))
			assert.Equal(t, 4*time.Millisecond, info.RTT, "the server's SRTT from the handshake")
		})
	}
}

// TestNetstackResendsSYNWithFirstTimestamp is the canary for
// stack/synstamp.go: netstack by itself resends a SYN with the TSval of
// the first. When this fails, netstack stamps retransmitted SYNs afresh
// and synStamps (which then leaves them alone) can be removed.
func TestNetstackResendsSYNWithFirstTimestamp(t *testing.T) {
	for _, f := range synTestFamilies {
		t.Run(f.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			clk := faketime.NewManualClock()
			ns := netstack.New(netstack.Options{
				NetworkProtocols:   []netstack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
				TransportProtocols: []netstack.TransportProtocolFactory{tcp.NewProtocol},
				Clock:              clk,
			})
			defer func() { ns.Close(); ns.Wait() }()
			link := channel.New(16, 1500, "")
			require.Nil(t, ns.CreateNIC(1, link))
			require.Nil(t, ns.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: f.proto,
				AddressWithPrefix: tcpip.AddressWithPrefix{Address: tcpip.AddrFromSlice(f.local.AsSlice()), PrefixLen: f.bits}},
				netstack.AddressProperties{}))
			ns.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}, {Destination: header.IPv6EmptySubnet, NIC: 1}})
			startConnect(t, ns, f)
			first := readSYN(t, link, f)
			clk.Advance(time.Second)
			second := readSYN(t, link, f)
			if second.tsVal != first.tsVal {
				t.Fatalf("netstack resent the SYN 1 s later with TSval %d, the first had %d: it stamps retransmitted SYNs afresh now, so stack/synstamp.go is no longer needed", second.tsVal, first.tsVal)
			}
		})
	}
}

// TestAmbiguousSYNAckEchoNotSampled: a SYN-ACK that echoes an earlier SYN
// than the latest one sent (the peer lost its SYN-ACK and resent it while
// we resent the SYN) does not give the handshake's RTT sample: it would
// measure the retransmission timeouts, not the path (netstack alone takes
// 1 s here). The connection starts with no sample, as after any
// retransmission without an unambiguous echo.
func TestAmbiguousSYNAckEchoNotSampled(t *testing.T) {
	for _, f := range synTestFamilies {
		t.Run(f.name, func(t *testing.T) {
			defer goleak.VerifyNone(t)
			clk := faketime.NewManualClock()
			link := channel.New(16, 1500, "")
			st, err := stack.New(stack.Options{
				NICs:  []stack.NIC{{Name: "eth0", Link: link, Addresses: []netip.Prefix{netip.PrefixFrom(f.local, f.bits)}}},
				Clock: clk, SecureRNG: stack.SeededRNG(2),
			})
			require.NoError(t, err)
			defer st.Close()
			ep := startConnect(t, st.Netstack(), f)
			first := readSYN(t, link, f)
			clk.Advance(time.Second)
			readSYN(t, link, f)
			clk.Advance(2 * time.Millisecond)
			link.InjectInbound(f.proto, synAck(f, first, 9000))
			require.Eventually(t, func() bool {
				return tcp.EndpointState(ep.State()) == tcp.StateEstablished
			}, 5*time.Second, time.Millisecond, "the SYN-ACK completes the handshake")
			var info tcpip.TCPInfoOption
			require.Nil(t, ep.GetSockOpt(&info))
			assert.Zero(t, info.RTT, "SRTT: no sample from an echo of the first SYN")
			assert.Equal(t, time.Second, info.RTO, "RTO: netstack's initial one, until data gives a sample")
		})
	}
}
