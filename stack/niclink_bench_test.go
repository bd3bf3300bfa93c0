package stack

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

type nopDispatcher struct{}

func (nopDispatcher) DeliverNetworkPacket(tcpip.NetworkProtocolNumber, *netstack.PacketBuffer) {}
func (nopDispatcher) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *netstack.PacketBuffer)    {}

// plainNested is a wrapper that only passes frames on, as sniffer does:
// the baseline for nicLink's cost.
type plainNested struct{ nested.Endpoint }

// BenchmarkNICLinkDeliver measures what nicLink adds to the delivery of a
// received data segment (not SYN, not RST), against a wrapper that only
// passes it on: the parse down to the TCP flags and staleACKs' look-up
// of the connection (the acknowledgment is never older than the last, so
// the frame is not copied), and receiveHold's two reads of the drop
// counter while nothing is held.
//
//	go test -run '^$' -bench NICLinkDeliver ./stack/
func BenchmarkNICLinkDeliver(b *testing.B) {
	seg := synFrame(floodSYN{src: netip.MustParseAddrPort("10.1.0.2:5000"), dst: netip.MustParseAddrPort("10.1.0.1:80")})
	header.TCP(seg[header.IPv4MinimumSize:]).SetFlags(uint8(header.TCPFlagAck | header.TCPFlagPsh))
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: buffer.MakeWithData(append(seg, make([]byte, 1400)...))})
	defer pkt.DecRef()
	clk := faketime.NewManualClock()
	ns := netstack.New(netstack.Options{Clock: clk})
	defer ns.Destroy()
	for _, c := range []struct {
		name string
		link netstack.NetworkDispatcher
	}{
		{"plain wrapper", func() netstack.NetworkDispatcher {
			p := &plainNested{}
			p.Endpoint.Init(channel.New(1, 1500, ""), &p.Endpoint)
			p.Attach(nopDispatcher{})
			return &p.Endpoint
		}()},
		{"nicLink", func() netstack.NetworkDispatcher {
			l := newNICLink(channel.New(1, 1500, ""), 2, newSYNFloodGuard(clk, nil, &tcpip.StatCounter{}), newSYNStamps(clk, 0), newStaleACKs(), nil)
			l.Attach(nopDispatcher{})
			return l
		}()},
		{"nicLink with receiveHold", func() netstack.NetworkDispatcher {
			l := newNICLink(channel.New(1, 65520, ""), 2, newSYNFloodGuard(clk, nil, &tcpip.StatCounter{}), newSYNStamps(clk, 0), newStaleACKs(), newReceiveHold(ns, true))
			if l.hold == nil {
				b.Fatal("no receiveHold on a NIC of MTU 65520")
			}
			l.Attach(nopDispatcher{})
			return l
		}()},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.link.DeliverNetworkPacket(header.IPv4ProtocolNumber, pkt)
			}
		})
	}
}
