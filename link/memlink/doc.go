// Package memlink wires two netstack stacks together in one process: a
// simulated cable whose two ends are netstack LinkEndpoints, with faults
// on demand.
//
// New returns both ends. Each direction is a bounded queue drained by one
// pump goroutine that delivers frames to the other stack in batches; a full
// queue makes the sender wait (backpressure) rather than drop, because a
// link that drops on overflow turns every burst into retransmission
// timeouts. Frames are lost only when a fault says so.
//
// Faults are not built into the wire: each end is wrapped in the layers of
// link/delay (latency, jitter, reordering, a bandwidth cap) and link/fault
// (loss, duplication, single-bit corruption, partition), which wrap any
// LinkEndpoint and so serve the TAP link too. Options turns them on; the
// End methods change them at run time. All randomness derives from
// Options.Seed, so a run can be repeated.
//
// Every knob:
//
//	MTU              frame payload size, up to 65520 (default 1500)
//	Ethernet         Ethernet framing with ARP and NDP (default: bare IP frames)
//	ChecksumOffload  skip checksums (faster; refused together with Corrupt)
//	QueueFrames      frames a direction holds before the sender waits
//	Seed             seeds every random decision of both directions
//	Loss             probability a frame is dropped
//	Duplicate        probability a frame is delivered twice
//	Corrupt          probability one bit of a frame is flipped
//	Reorder          probability a frame is held back so later ones overtake it
//	Latency, Jitter  one-way delay, plus uniform extra delay in [0, Jitter); order kept
//	JitterReorders   draw each frame's jitter alone (netem), so frames overtake
//	Rate             bandwidth cap in bytes per second
//	Clock            the clock the delays run on (pass the stacks' clock)
//	Pcap             capture both directions to a pcap file
//	LockStep         no pump goroutine: a scheduler delivers frames one by one (package sim)
//	NoGSO            netstack cuts segments into frames itself (default: TCP hands
//	                 the end up to 64 KiB and it is cut at the link, gVisor GSO;
//	                 with ChecksumOffload on a clean link without Pcap or
//	                 LockStep the segment crosses whole, as on a Linux veth)
//	NoGRO            no coalescing of received segments (default on with
//	                 ChecksumOffload on bare IP links without Pcap)
//
// At run time: End.Hold and End.Release stop and resume a direction without
// losing frames; End.Partition and End.Heal cut and restore a direction
// (Pair.Partition both), End.SetFaults and End.SetDelay change the
// impairments, End.Counters reads the per-direction counters.
package memlink
