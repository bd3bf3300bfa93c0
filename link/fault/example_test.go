package fault_test

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/fault"
)

// Example wraps a channel endpoint, duplicates every frame, and cuts the
// wire for a while. A stack would write through ep; here frames are written
// by hand.
func Example() {
	wire := channel.New(16, 1500, "")
	ep, err := fault.New(wire, fault.Config{Seed: 1, Duplicate: 1})
	if err != nil {
		panic(err)
	}

	send := func(s string) {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData([]byte(s))})
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
		var pkts stack.PacketBufferList
		pkts.PushBack(pkt)
		n, _ := ep.WritePackets(pkts)
		pkts.DecRef() // the writer keeps its references
		fmt.Printf("wrote %q: %d\n", s, n)
	}
	send("hello")
	ep.Partition()
	send("into the void") // still reported as written
	ep.Heal()
	send("again")

	for pkt := wire.Read(); pkt != nil; pkt = wire.Read() {
		v := pkt.ToView() // a copy that must be released
		fmt.Printf("on the wire: %q\n", v.AsSlice())
		v.Release()
		pkt.DecRef()
	}
	fmt.Printf("%+v\n", ep.Counters())
	// Output:
	// wrote "hello": 1
	// wrote "into the void": 1
	// wrote "again": 1
	// on the wire: "hello"
	// on the wire: "hello"
	// on the wire: "again"
	// on the wire: "again"
	// {Frames:3 Bytes:20 Dropped:1 Partitioned:1 Duplicated:2 Corrupted:0}
}

// ExampleEndpoint_SetConfig turns loss on and off while traffic flows; the
// decisions stay reproducible because the generator keeps its stream.
func ExampleEndpoint_SetConfig() {
	wire := channel.New(64, 1500, "")
	ep, err := fault.New(wire, fault.Config{Seed: 9})
	if err != nil {
		panic(err)
	}
	if err := ep.SetConfig(fault.Config{Loss: 2}); err != nil {
		fmt.Println(err)
	}
	if err := ep.SetConfig(fault.Config{Loss: 1}); err != nil {
		panic(err)
	}
	fmt.Printf("%+v\n", ep.Config())
	// Output:
	// fault: invalid config: Loss = 2, want a probability in [0, 1]
	// {Seed:9 Loss:1 Duplicate:0 Corrupt:0}
}
