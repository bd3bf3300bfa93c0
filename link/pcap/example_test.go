package pcap_test

import (
	"bytes"
	"fmt"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/pcap"
)

// sink is a stack.NetworkDispatcher that discards what it is given.
type sink struct{}

func (sink) DeliverNetworkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer) {}
func (sink) DeliverLinkPacket(tcpip.NetworkProtocolNumber, *stack.PacketBuffer)    {}

// Example records one frame each way on a virtual clock and reads the
// capture back. A stack would write through ep and receive from it; here
// frames are written and injected by hand.
func Example() {
	clock := faketime.NewManualClock()
	var file bytes.Buffer
	wire := channel.New(16, 1500, "")
	ep, err := pcap.New(wire, &file, pcap.Options{Clock: clock})
	if err != nil {
		panic(err)
	}

	// A NIC attaches itself when created; until then, the wire delivers
	// nothing. Stand in for it.
	ep.Attach(sink{})

	newPkt := func(s string) *stack.PacketBuffer {
		return stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData([]byte(s))})
	}

	// Outbound: what a stack writes.
	out := newPkt("ping")
	out.NetworkProtocolNumber = header.IPv4ProtocolNumber
	var pkts stack.PacketBufferList
	pkts.PushBack(out)
	_, _ = ep.WritePackets(pkts)
	pkts.DecRef()
	wire.Drain()

	// Inbound, 1.5ms later: what the wire delivers.
	clock.Advance(1500 * time.Microsecond)
	in := newPkt("pong")
	wire.InjectInbound(header.IPv4ProtocolNumber, in)
	in.DecRef()

	recs, linkType, err := pcap.ReadFile(&file)
	if err != nil {
		panic(err)
	}
	fmt.Println("link type:", linkType)
	for _, r := range recs {
		fmt.Printf("%s %q (%d bytes)\n", r.Time.Format("15:04:05.000000000"), r.Data, r.OrigLen)
	}
	// Output:
	// link type: RAW
	// 00:00:00.000000000 "ping" (4 bytes)
	// 00:00:00.001500000 "pong" (4 bytes)
}
