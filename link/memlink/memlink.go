package memlink

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
)

// MaxMTU is the largest MTU memlink supports, the largest a Linux TAP
// device takes.
const MaxMTU = 65520

// DefaultQueueFrames is how many frames a direction holds before the
// sender waits.
const DefaultQueueFrames = 1024

// Options configures a link. The zero value is a clean 1500-byte link.
// Impairments apply to both directions, each with its own random stream.
type Options struct {
	MTU             uint32
	Ethernet        bool
	ChecksumOffload bool
	QueueFrames     int

	Seed      uint64
	Loss      float64
	Duplicate float64
	Corrupt   float64
	Reorder   float64
	Latency   time.Duration
	Jitter    time.Duration
	Rate      int64

	// JitterReorders draws each frame's jitter independently, so that
	// frames overtake one another (delay.Config.JitterReorders); by
	// default jitter keeps each direction's order.
	JitterReorders bool

	// Clock drives delays and pcap timestamps; nil is the real clock.
	Clock tcpip.Clock

	// Pcap, if set, receives a capture of every frame on the wire (both
	// directions, as seen from end A: A's frames before any fault, B's
	// after).
	Pcap io.Writer

	// NoGRO turns off receive coalescing. By default each end's pump
	// merges the in-order TCP segments of a flow that reach it in one
	// batch into one packet (gVisor's GRO, as a NIC's receive offload
	// does), so netstack handles fewer, bigger segments in bulk
	// transfers. Like Linux's GRO it stops at a segment with PSH, so
	// streams of small messages are not merged.
	// It is on only with ChecksumOffload (a merged packet's IPv4 header
	// checksum is not recomputed), and off on Ethernet links, with Pcap
	// (the capture shows the frames that crossed the wire) and in
	// LockStep mode.
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
	// one queue both directions share, in the order they reached the
	// wire (after faults and delays), until End.DeliverNext delivers the
	// oldest. No goroutine of the link runs; a deterministic simulation
	// (package sim) decides what happens when. Nothing bounds the queue
	// or the delay line (QueueFrames does not apply), because nobody could
	// drain them while a sender waited.
	LockStep bool
}

// Frame is a frame End.DeliverNext delivered.
type Frame struct {
	// From is the end that sent it, "a" or "b".
	From string
	// Bytes is a copy of the frame as it crossed the wire (with its
	// Ethernet header on an Ethernet link).
	Bytes []byte
}

// End is one end of the link: attach it to a stack as a NIC's link. It
// impairs the frames it sends (the direction away from it).
type End struct {
	netstack.LinkEndpoint
	name  string
	wire  *wireEnd
	fault *fault.Endpoint
	delay *delay.Endpoint
	gso   bool
	// whole: segments larger than the MTU cross the wire whole (host
	// GSO) instead of being cut by netstack (gVisor GSO).
	whole bool
}

// Counters is what one direction has done.
type Counters struct {
	// Sent frames and bytes: what the stack wrote.
	Frames, Bytes uint64
	// Delivered frames and bytes: what crossed the wire to the peer.
	Delivered, DeliveredBytes                 uint64
	Dropped, Duplicated, Corrupted, Reordered uint64
}

// New builds a link and returns its two ends.
func New(opts Options) (a, b *End, err error) {
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.MTU < 576 && opts.MTU != 0 || opts.MTU > MaxMTU {
		return nil, nil, fmt.Errorf("memlink: MTU %d outside 576..%d", opts.MTU, MaxMTU)
	}
	if opts.ChecksumOffload && opts.Corrupt > 0 {
		return nil, nil, errors.New("memlink: Corrupt needs checksums: turn ChecksumOffload off")
	}
	if opts.QueueFrames <= 0 {
		opts.QueueFrames = DefaultQueueFrames
	}
	if opts.Clock == nil {
		opts.Clock = tcpip.NewStdClock()
	}
	var caps netstack.LinkEndpointCapabilities
	if opts.ChecksumOffload {
		caps |= netstack.CapabilityRXChecksumOffload | netstack.CapabilityTXChecksumOffload
	}
	wireMTU := opts.MTU
	if opts.Ethernet {
		wireMTU += 14 // the Ethernet wrapper subtracts its header
	}
	// GRO works on IP packets, so not under an Ethernet header, and it
	// would show a capture merged packets that never crossed the wire.
	// It needs ChecksumOffload too: a merged packet keeps the first
	// packet's IPv4 header checksum, which only a stack that trusts the
	// link's checksums accepts.
	groOn := !opts.NoGRO && opts.ChecksumOffload && !opts.Ethernet && opts.Pcap == nil
	wa, wb := newWire(wireMTU, caps, opts.QueueFrames, "\x02\x00\x00\x00\x00\x01", "\x02\x00\x00\x00\x00\x02", groOn)
	if opts.LockStep {
		wa.ls = &lockstep{}
		wb.ls = wa.ls
	}
	if a, err = newEnd("a", wa, opts, opts.Seed*2+1, true); err != nil {
		return nil, nil, err
	}
	if b, err = newEnd("b", wb, opts, opts.Seed*2+2, false); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

func newEnd(name string, w *wireEnd, opts Options, seed uint64, capture bool) (*End, error) {
	dc := delay.Config{
		Seed: seed, Clock: opts.Clock, Latency: opts.Latency, Jitter: opts.Jitter,
		JitterReorders: opts.JitterReorders, Reorder: opts.Reorder, Rate: opts.Rate,
	}
	if opts.LockStep {
		dc.QueueFrames = math.MaxInt32
	}
	d, err := delay.New(w, dc)
	if err != nil {
		return nil, fmt.Errorf("memlink: %w", err)
	}
	f, err := fault.New(d, fault.Config{Seed: seed, Loss: opts.Loss, Duplicate: opts.Duplicate, Corrupt: opts.Corrupt})
	if err != nil {
		return nil, fmt.Errorf("memlink: %w", err)
	}
	var top netstack.LinkEndpoint = f
	if capture && opts.Pcap != nil {
		lt := pcap.LinkTypeRaw
		if opts.Ethernet {
			// The Ethernet wrapper sits above the capture, so the capture
			// cannot infer the link type from what it wraps.
			lt = pcap.LinkTypeEthernet
		}
		p, err := pcap.New(top, opts.Pcap, pcap.Options{Clock: opts.Clock, LinkType: lt})
		if err != nil {
			return nil, fmt.Errorf("memlink: %w", err)
		}
		top = p
	}
	if opts.Ethernet {
		top = ethernet.New(top)
	}
	impaired := opts.Loss > 0 || opts.Duplicate > 0 || opts.Corrupt > 0 || opts.Reorder > 0 ||
		opts.Latency > 0 || opts.Jitter > 0 || opts.Rate > 0
	whole := !opts.NoGSO && opts.ChecksumOffload && !impaired && opts.Pcap == nil && !opts.LockStep
	return &End{LinkEndpoint: top, name: name, wire: w, fault: f, delay: d, gso: !opts.NoGSO, whole: whole}, nil
}

// Partition drops every frame this end sends until Heal.
func (e *End) Partition() { e.fault.Partition() }

// Heal ends a Partition.
func (e *End) Heal() { e.fault.Heal() }

// SetFaults changes loss, duplication and corruption of this end's
// direction at run time (the seed stream carries on).
func (e *End) SetFaults(c fault.Config) error { return e.fault.SetConfig(c) }

// SetDelay changes latency, jitter, reordering and rate of this end's
// direction at run time.
func (e *End) SetDelay(c delay.Config) error { return e.delay.SetConfig(c) }

// Hold stops delivery of the frames this end sends: they wait on the wire,
// in order, until Release (a stalled direction; Partition loses them
// instead). On a link that is not lock-step, a held direction fills its
// queue and then makes the sender wait.
func (e *End) Hold() { e.wire.out.setHeld(true) }

// Release ends a Hold; the frames held are delivered first, in order.
func (e *End) Release() { e.wire.out.setHeld(false) }

// DeliverNext delivers the oldest frame waiting on a lock-step link, in
// either direction, skipping held directions: the receiving stack
// processes it in the caller's goroutine. Either end may be used. ok is
// false if no frame can be delivered now, or if the link is not
// lock-step.
func (e *End) DeliverNext() (f Frame, ok bool) {
	if e.wire.ls == nil {
		return Frame{}, false
	}
	from, b, ok := e.wire.ls.deliverNext()
	if !ok {
		return Frame{}, false
	}
	name := e.name
	if from != e.wire {
		name = e.peerName()
	}
	return Frame{From: name, Bytes: b}, true
}

// Waiting returns how many frames wait on a lock-step link, held ones
// included (0 if the link is not lock-step).
func (e *End) Waiting() int {
	if e.wire.ls == nil {
		return 0
	}
	return e.wire.ls.len()
}

func (e *End) peerName() string {
	if e.name == "a" {
		return "b"
	}
	return "a"
}

// Counters returns what this end's direction has done.
func (e *End) Counters() Counters {
	fc := e.fault.Counters()
	dc := e.delay.Counters()
	return Counters{
		Frames: fc.Frames, Bytes: fc.Bytes,
		Delivered: e.wire.out.frameCount.Load(), DeliveredBytes: e.wire.out.byteCount.Load(),
		Dropped: fc.Dropped, Duplicated: fc.Duplicated, Corrupted: fc.Corrupted,
		Reordered: dc.Reordered,
	}
}

// Name is "a" or "b".
func (e *End) Name() string { return e.name }

// GSOMaxSize implements netstack.GSOEndpoint: the largest segment TCP
// hands down before cutting it into frames.
func (e *End) GSOMaxSize() uint32 {
	switch {
	case !e.gso:
		return 0
	case e.whole:
		return hostGSOMaxSize
	}
	return netstack.GVisorGSOMaxSize
}

// hostGSOMaxSize keeps a whole segment within IPv4's 16-bit total length:
// netstack sends at most GSOMaxSize less 61 bytes of payload, and the TCP
// and IPv4 headers may take 60 bytes each.
const hostGSOMaxSize = 1<<16 - 1 - 60

// SupportedGSO implements netstack.GSOEndpoint. netstack asks it when a
// connection picks its route, so NoGSO applies to every connection.
func (e *End) SupportedGSO() netstack.SupportedGSO {
	switch {
	case !e.gso:
		return netstack.GSONotSupported
	case e.whole:
		return netstack.HostGSOSupported
	}
	return netstack.GVisorGSOSupported
}

// WholeSegments reports whether segments larger than the MTU cross this
// link whole (see Options.NoGSO).
func (e *End) WholeSegments() bool { return e.whole }
