// Package memlink wires netstack stacks together in one process: an
// in-memory network of any number of stacks, each attached by a port that
// is a netstack LinkEndpoint, with faults on demand between every pair.
//
// NewNetwork makes a network and AddPort a port on it; a link between two
// stacks (New) is the network of two ports "a" and "b":
//
//	n, _ := memlink.NewNetwork(memlink.Options{Latency: time.Millisecond})
//	p1, _ := n.AddPort("n1", netip.MustParseAddr("10.0.0.1"))
//	p2, _ := n.AddPort("n2", netip.MustParseAddr("10.0.0.2"))
//	// stack.New(stack.Options{NICs: []stack.NIC{{Link: p1, ...}}}), and so on
//
// # Delivery
//
// A frame reaches the port that owns its destination: on a bare IP network
// (the default) the port given the destination address in AddPort, on an
// Ethernet one (Options.Ethernet) the port with the destination MAC, found
// by the stacks with ARP and NDP. Broadcast and multicast frames reach
// every other port; a frame nobody owns is dropped and counted as
// Unroutable. Between just two ports every frame reaches the other, as on
// a cable, so a link needs no addresses.
//
// Each port has a bounded inbound queue drained by one pump goroutine that
// delivers frames to its stack in batches; a full queue makes the senders
// wait (backpressure) rather than drop, because a link that drops on
// overflow turns every burst into retransmission timeouts. Frames are lost
// only when a fault says so. No pump ever waits for another port's queue
// (see Network), so any number of ports sending to each other cannot
// deadlock.
//
// # Impairments, per pair
//
// Every ordered pair of ports is a direction of its own: its frames go
// through the layers of link/delay (latency, jitter, reordering, a
// bandwidth cap) and link/fault (loss, duplication, single-bit corruption,
// partition), which wrap any LinkEndpoint and so serve the TAP link too.
// Options set the default of every pair; Network.SetFaults and
// Network.SetDelay change one pair at run time, Port.SetFaults and
// Port.SetDelay every pair from a port. A pair costs nothing until it
// carries a frame or is configured, so a network of a hundred hosts pays
// only for the pairs that talk. All randomness derives from Options.Seed:
// each pair has its own stream, from the seed and the two ports' names,
// so a run can be repeated, and adding traffic between two hosts does not
// change what happens between two others.
//
// # Partitions and holds
//
// Network.Partition cuts the network into groups ({n1,n2} | {n3,n4,n5}):
// frames across groups are dropped (counted in Cut), frames within a group
// pass. Network.Cut(from, to) cuts one direction: to stops hearing from,
// from still hears to. Port.Partition cuts everything a port sends.
// Network.Heal undoes every partition and cut. Network.Hold(from, to) and
// Port.Hold stall a direction without losing frames: they wait in order
// until Release (on a real-time network a held pair fills up and then
// makes its sender wait).
//
// # Every knob
//
//	MTU              largest IP packet, 576..65520 (default 1500)
//	Ethernet         Ethernet framing with ARP and NDP (default: bare IP frames)
//	ChecksumOffload  skip checksums (faster; refused together with Corrupt)
//	QueueFrames      frames a port's inbound queue, or a held pair, holds
//	                 before the senders wait
//	Seed             seeds every random decision of every pair
//	Loss             probability a frame is dropped
//	Duplicate        probability a frame is delivered twice
//	Corrupt          probability one bit of a frame is flipped
//	Reorder          probability a frame is held back so later ones overtake it
//	Latency, Jitter  one-way delay, plus uniform extra delay in [0, Jitter); order kept
//	JitterReorders   draw each frame's jitter alone (netem), so frames overtake
//	Rate             bandwidth cap in bytes per second, per pair
//	Clock            the clock the delays run on (pass the stacks' clock)
//	Pcap             capture: on a network every frame as it enters it, on a
//	                 link (New) end a's frames both ways (Port.Capture)
//	LockStep         no pump goroutine: a scheduler delivers frames one by one
//	                 with DeliverNext, in the order they reached the wire (package sim)
//	NoGSO            netstack cuts segments into frames itself (default: TCP hands
//	                 a port up to 64 KiB and it is cut at the port, gVisor GSO;
//	                 with ChecksumOffload on a clean network without Pcap or
//	                 LockStep the segment crosses whole, as on a Linux veth)
//	NoGRO            no coalescing of received segments (default on with
//	                 ChecksumOffload on bare IP networks)
//
// At run time: Network.SetFaults, SetDelay, Partition, Cut, Hold, Release
// and Heal, and the same on a Port for every pair from it; Counters reads
// the counters of a pair, of what a port sent or received, or of the whole
// network; Port.Capture records one port's frames both ways.
package memlink
