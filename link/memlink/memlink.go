package memlink

import (
	"io"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// MaxMTU is the largest MTU memlink supports, the largest a Linux TAP
// device takes.
const MaxMTU = 65520

// DefaultQueueFrames is how many frames a port's inbound queue (a
// direction of a link) holds before the senders wait.
const DefaultQueueFrames = 1024

// Options configures a link or a network. The zero value is a clean
// 1500-byte link. Impairments apply to every ordered pair of ports (both
// directions of a link), each with its own random stream, until
// Network.SetFaults and Network.SetDelay change a pair's.
type Options struct {
	// MTU is the largest IP packet a port carries, 576..MaxMTU; zero
	// means 1500. With Ethernet the frames are 14 bytes longer.
	MTU uint32
	// Ethernet frames every packet with an Ethernet header and lets the
	// stacks find each other with ARP and NDP; by default frames are bare
	// IP packets, routed by destination address.
	Ethernet bool
	// ChecksumOffload tells the stacks the link checks checksums, so they
	// neither compute nor verify them (faster). It is refused together
	// with Corrupt, whose flipped bits only checksums catch.
	ChecksumOffload bool
	// QueueFrames is how many frames a port's inbound queue, or a held
	// pair, holds before the senders wait; zero or less means
	// DefaultQueueFrames.
	QueueFrames int

	// Seed seeds every random decision of every pair (loss, duplication,
	// corruption, jitter, reordering); the same seed repeats a run.
	Seed uint64
	// Loss is the probability, in [0, 1], that a frame is dropped.
	Loss float64
	// Duplicate is the probability, in [0, 1], that a frame is delivered
	// twice.
	Duplicate float64
	// Corrupt is the probability, in [0, 1], that one bit of a frame is
	// flipped (link/fault's Corrupt).
	Corrupt float64
	// Reorder is the probability, in [0, 1], that a frame is held back
	// so that later frames overtake it (link/delay's Reorder).
	Reorder float64
	// Latency is the one-way delay every frame gets.
	Latency time.Duration
	// Jitter adds a uniform extra delay in [0, Jitter) to each frame,
	// keeping each direction's order unless JitterReorders.
	Jitter time.Duration
	// Rate caps each pair's bandwidth, in bytes per second; zero means
	// unlimited.
	Rate int64

	// JitterReorders draws each frame's jitter independently, so that
	// frames overtake one another (delay.Config.JitterReorders); by
	// default jitter keeps each direction's order.
	JitterReorders bool

	// Clock drives delays and pcap timestamps; nil is the real clock.
	Clock tcpip.Clock

	// Pcap, if set, receives a capture. On a network (NewNetwork) it is
	// every frame as it enters the network, from every port, as its
	// sender wrote it (before any impairment). On a link (New) it is end
	// "a"'s capture, as it has always been: both directions as seen from
	// a, a's frames before any fault, b's after (Port.Capture).
	Pcap io.Writer

	// NoGRO turns off receive coalescing. By default each end's pump
	// merges the in-order TCP segments of a flow that reach it in one
	// batch into one packet (gVisor's GRO, as a NIC's receive offload
	// does), so netstack handles fewer, bigger segments in bulk
	// transfers. Like Linux's GRO it stops at a segment with PSH, so
	// streams of small messages are not merged.
	// It is on only with ChecksumOffload (a merged packet's IPv4 header
	// checksum is not recomputed), and off on Ethernet links and in
	// LockStep mode. Captures record the frames before they are merged.
	NoGRO bool

	// NoGSO turns off segmentation offload. By default each end tells
	// netstack it segments in software (gVisor GSO, as gVisor's own veth
	// link does), so TCP queues, sends and retransmits up to 64 KiB as
	// one segment and cuts it into MSS-sized packets only as it hands
	// them to the link: the wire, faults and captures still see
	// MTU-sized frames, but the TCP state machine runs once per 64 KiB
	// instead of once per frame.
	//
	// With ChecksumOffload, and no impairment, capture or LockStep, the
	// link goes one step further, as a Linux veth pair does: a segment of
	// up to 64 KiB crosses whole (gVisor's host GSO), and the receiving
	// stack handles it as one packet, so neither side pays per MTU. The
	// MTU still sets the MSS each side announces. Faults set later with
	// SetFaults or SetDelay then act on whole segments: a lost one is a
	// burst of lost MSS-sized segments.
	NoGSO bool

	// LockStep makes the link deliver nothing by itself: frames wait on
	// one queue the whole network shares, in the order they reached the
	// wire (after faults and delays), until Network.DeliverNext (or
	// End.DeliverNext) delivers the oldest. No goroutine of the link runs; a deterministic simulation
	// (package sim) decides what happens when. Nothing bounds the queue
	// or the delay line (QueueFrames does not apply), because nobody could
	// drain them while a sender waited.
	LockStep bool
}

// Frame is a frame DeliverNext delivered.
type Frame struct {
	// From is the port that sent it ("a" or "b" on a link).
	From string
	// To is the port it was delivered to.
	To string
	// Bytes is a copy of the frame as it crossed the wire (with its
	// Ethernet header on an Ethernet link).
	Bytes []byte
	// Held: a Hold kept it back; it was deliverable earlier.
	Held bool
	// Lost: the receiving port had closed, no stack took it.
	Lost bool
}

// Counters is what a pair of ports, a port or a network has done.
type Counters struct {
	// Sent frames and bytes: what the stacks wrote (a duplicated frame
	// counts its copy in Bytes, as link/fault does).
	Frames, Bytes uint64
	// Delivered frames and bytes: what crossed the wire to a receiver.
	Delivered, DeliveredBytes uint64
	// Dropped, Duplicated, Corrupted and Reordered count the frames the
	// faults and the delay line dropped, sent twice, damaged and held
	// back (Options.Loss, Duplicate, Corrupt and Reorder, and cuts).
	Dropped, Duplicated, Corrupted, Reordered uint64
	// Cut is the number of the Dropped frames a partition or cut dropped.
	Cut uint64
	// OutOfOrder is the number of frames that left a delay line after a
	// frame sent after them (Reorder, or JitterReorders).
	OutOfOrder uint64
	// Unroutable is the number of frames no port owned (see Network).
	// They are not in Frames: they never reached a pair.
	Unroutable uint64
}

func (c *Counters) add(o Counters) {
	c.Frames += o.Frames
	c.Bytes += o.Bytes
	c.Delivered += o.Delivered
	c.DeliveredBytes += o.DeliveredBytes
	c.Dropped += o.Dropped
	c.Duplicated += o.Duplicated
	c.Corrupted += o.Corrupted
	c.Reordered += o.Reordered
	c.Cut += o.Cut
	c.OutOfOrder += o.OutOfOrder
	c.Unroutable += o.Unroutable
}

// End is one end of a link: a Port of a two-port network.
type End = Port

// New builds a link, a network of two ports named "a" and "b" without
// addresses (every frame of one reaches the other), and returns its two
// ends. Options.Pcap captures at end a. Each direction keeps the seed a
// link has always given it (Seed*2+1 from a, Seed*2+2 from b), so that a
// seed recorded before networks existed replays the same run.
func New(opts Options) (a, b *End, err error) {
	capture := opts.Pcap
	n, err := newNetwork(opts, capture != nil)
	if err != nil {
		return nil, nil, err
	}
	named := n.pairSeed
	n.pairSeed = func(k pairKey, gen int) uint64 {
		switch {
		case gen == 0 && k == pairKey{"a", "b"}:
			return opts.Seed*2 + 1
		case gen == 0 && k == pairKey{"b", "a"}:
			return opts.Seed*2 + 2
		}
		return named(k, gen)
	}
	if a, err = n.AddPort("a"); err != nil {
		return nil, nil, err
	}
	if b, err = n.AddPort("b"); err != nil {
		return nil, nil, err
	}
	if capture != nil {
		if err := a.Capture(capture); err != nil {
			return nil, nil, err
		}
	}
	return a, b, nil
}
