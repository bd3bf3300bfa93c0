package delay_test

import (
	"fmt"
	"time"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/faketime"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/delay"
)

// Example delays frames by 10ms on a 1000 bytes/s wire, driven by a manual
// clock so that the output is exact. A stack would write through ep; here
// frames are written by hand.
func Example() {
	clock := faketime.NewManualClock()
	start := clock.Now()
	wire := channel.New(16, 1500, "")
	ep, err := delay.New(wire, delay.Config{Clock: clock, Latency: 10 * time.Millisecond, Rate: 1000})
	if err != nil {
		panic(err)
	}
	defer ep.Close()

	send := func(s string) {
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData([]byte(s))})
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
		var pkts stack.PacketBufferList
		pkts.PushBack(pkt)
		_, _ = ep.WritePackets(pkts)
		pkts.DecRef() // the writer keeps its references
	}
	send("ten bytes.") // 10ms on the wire, then 10ms of latency
	send("ten more..") // waits for the first to leave

	for range 6 {
		clock.Advance(5 * time.Millisecond)
		for pkt := wire.Read(); pkt != nil; pkt = wire.Read() {
			v := pkt.ToView()
			fmt.Printf("%v: %q\n", clock.Now().Sub(start), v.AsSlice())
			v.Release()
			pkt.DecRef()
		}
	}
	fmt.Printf("%+v\n", ep.Counters())
	// Output:
	// 20ms: "ten bytes."
	// 30ms: "ten more.."
	// {Frames:2 Bytes:20 Reordered:0 OutOfOrder:0 Queued:0}
}

// ExampleConfig_jitterReorders writes ten frames 100µs apart through 5ms of
// latency and 1ms of jitter, twice: by default they arrive in the order
// written, each delayed between 5 and 6ms; with JitterReorders each draw
// stands alone and frames overtake one another, as with Linux netem.
func ExampleConfig_jitterReorders() {
	for _, reorders := range []bool{false, true} {
		clock := faketime.NewManualClock()
		wire := channel.New(16, 1500, "")
		ep, err := delay.New(wire, delay.Config{Seed: 1, Clock: clock,
			Latency: 5 * time.Millisecond, Jitter: time.Millisecond, JitterReorders: reorders})
		if err != nil {
			panic(err)
		}
		for i := range 10 {
			pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData([]byte{byte('0' + i)})})
			pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
			var pkts stack.PacketBufferList
			pkts.PushBack(pkt)
			_, _ = ep.WritePackets(pkts)
			pkts.DecRef()
			clock.Advance(100 * time.Microsecond)
		}
		clock.Advance(10 * time.Millisecond)
		var order []byte
		for pkt := wire.Read(); pkt != nil; pkt = wire.Read() {
			v := pkt.ToView()
			order = append(order, v.AsSlice()...)
			v.Release()
			pkt.DecRef()
		}
		fmt.Printf("JitterReorders %v: %s, %d out of order\n", reorders, order, ep.Counters().OutOfOrder)
		ep.Close()
	}
	// Output:
	// JitterReorders false: 0123456789, 0 out of order
	// JitterReorders true: 0513249678, 7 out of order
}
