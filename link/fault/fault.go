package fault

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/nested"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ErrInvalidConfig is wrapped by every error New and SetConfig return for a
// Config they reject; test with errors.Is.
var ErrInvalidConfig = errors.New("fault: invalid config")

// pcgStream is the second PCG seed word. It is fixed so that Config.Seed
// alone selects the decision stream.
const pcgStream = 0x9e3779b97f4a7c15

// Config says which faults an Endpoint injects. The zero Config injects
// none: every frame passes unchanged.
type Config struct {
	// Seed seeds the generator behind every decision. New uses it;
	// SetConfig ignores it, so that the stream carries on where it was.
	Seed uint64

	// Loss is the probability, in [0, 1], that a frame is dropped.
	Loss float64

	// Duplicate is the probability, in [0, 1], that a frame that is not
	// dropped is sent twice, back to back.
	Duplicate float64

	// Corrupt is the probability, in [0, 1], that a frame that is not
	// dropped has exactly one bit flipped, at a uniformly chosen position
	// anywhere in the frame (headers included).
	//
	// One bit, as smoltcp's FaultInjector does, because a single flipped
	// bit is both the likeliest real fault (one bad symbol on a link) and
	// the hardest to detect: it changes the frame as little as possible,
	// so only a checksum that covers that bit can notice. The Internet
	// checksum catches every single-bit error in the bytes it covers, so
	// a TCP transfer that still arrives intact shows the stack verifies
	// its checksums and repairs the damage by retransmission.
	//
	// On an Ethernet link the bit may land in the Ethernet header, which
	// the NIC pushes before any wrapper's WritePackets runs, and nothing
	// checks it: the FCS a real NIC verifies is not modelled. A flipped
	// destination or EtherType bit makes the receiver drop the frame; a
	// flipped source bit goes unnoticed.
	Corrupt float64
}

// validate reports the first field of c that is out of range.
func (c Config) validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{
		{"Loss", c.Loss},
		{"Duplicate", c.Duplicate},
		{"Corrupt", c.Corrupt},
	} {
		// The negated comparison also rejects NaN.
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("%w: %s = %v, want a probability in [0, 1]", ErrInvalidConfig, p.name, p.v)
		}
	}
	return nil
}

// Counters is a snapshot of what an Endpoint has done since New.
type Counters struct {
	// Frames is the number of frames the caller wrote through the
	// Endpoint, whatever happened to them.
	Frames uint64

	// Bytes is the number of bytes handed to the lower endpoint; a
	// duplicated frame counts twice.
	Bytes uint64

	// Dropped is the number of frames dropped, by Loss or by a partition.
	Dropped uint64

	// Partitioned is the number of the Dropped frames a partition
	// dropped.
	Partitioned uint64

	// Duplicated is the number of frames sent twice.
	Duplicated uint64

	// Corrupted is the number of frames that had a bit flipped.
	Corrupted uint64
}

// Endpoint is a stack.LinkEndpoint that injects faults into the frames
// written through it before passing them to the endpoint it wraps. All its
// methods are safe for concurrent use.
type Endpoint struct {
	nested.Endpoint

	mu sync.Mutex

	// +checklocks:mu
	cfg Config

	// rng takes every decision. It is only used under mu, so that the
	// order of decisions is the order in which frames enter WritePackets.
	//
	// +checklocks:mu
	rng *rand.Rand

	// +checklocks:mu
	partitioned bool

	// +checklocks:mu
	counters Counters
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// New returns an Endpoint that injects the faults cfg describes into the
// frames written to lower. It returns an error wrapping ErrInvalidConfig if
// cfg is invalid.
func New(lower stack.LinkEndpoint, cfg Config) (*Endpoint, error) {
	if lower == nil {
		return nil, fmt.Errorf("%w: nil lower endpoint", ErrInvalidConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Endpoint{
		cfg: cfg,
		rng: rand.New(rand.NewPCG(cfg.Seed, pcgStream)),
	}
	// Frames coming up from lower go through nested.Endpoint's dispatcher
	// unchanged: fault only impairs the outbound direction.
	e.Endpoint.Init(lower, &e.Endpoint)
	return e, nil
}

// SetConfig replaces the fault probabilities. cfg.Seed is ignored: the
// generator keeps its stream, so a run that changes its configuration at the
// same frames is still reproducible. It returns an error wrapping
// ErrInvalidConfig, and changes nothing, if cfg is invalid.
func (e *Endpoint) SetConfig(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg.Seed = e.cfg.Seed
	e.cfg = cfg
	return nil
}

// Config returns the configuration in force, with the Seed given to New.
func (e *Endpoint) Config() Config {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cfg
}

// Partition makes the Endpoint drop every frame until Heal, as if the cable
// were cut. Frames still consume their random draws, so that the decisions
// after Heal are those the seed would have given anyway.
func (e *Endpoint) Partition() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partitioned = true
}

// Heal ends a Partition. It is a no-op if there is none.
func (e *Endpoint) Heal() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partitioned = false
}

// Counters returns a snapshot of the counters.
func (e *Endpoint) Counters() Counters {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counters
}

// decision is the fate of one frame.
type decision struct {
	drop bool
	// partitioned: dropped by a partition rather than by Loss.
	partitioned bool
	duplicate   bool
	corrupt     bool
	// bit is the index of the bit to flip, counted from the first bit of
	// the frame; meaningful only if corrupt.
	bit int
}

// decideLocked draws the fate of the next frame, which is size bytes long.
//
// It always draws the same four numbers, whatever the configuration: a
// frame's fate then depends only on the seed, its position in the sequence
// and the probabilities in force, and turning one fault on or off at run
// time does not shift the draws of the others.
//
// +checklocks:e.mu
func (e *Endpoint) decideLocked(size int) decision {
	uLoss := e.rng.Float64()
	uDup := e.rng.Float64()
	uCorrupt := e.rng.Float64()
	uBit := e.rng.Uint32()

	// Float64 is in [0, 1), so a probability of 0 never fires and 1 always
	// does.
	var d decision
	if e.partitioned || uLoss < e.cfg.Loss {
		d.drop = true
		d.partitioned = e.partitioned
		return d
	}
	d.duplicate = uDup < e.cfg.Duplicate
	if size > 0 && uCorrupt < e.cfg.Corrupt {
		d.corrupt = true
		// Scale the 32-bit draw to [0, 8*size) by a multiply and a
		// shift rather than rand's Uint64N, which may draw a variable
		// number of values and break the fixed draws per frame.
		d.bit = int((uint64(uBit) * uint64(size) * 8) >> 32)
	}
	return d
}

// WritePackets implements stack.LinkEndpoint. It decides the fate of each
// frame in pkts and writes the survivors, corrupted copies and duplicates to
// the lower endpoint in one batch.
//
// Dropped frames count as written in the returned number, because a real
// wire loses frames silently. If the lower endpoint writes only part of the
// batch, the result counts the caller's frames before the first one the
// lower endpoint did not take.
//
// As for every stack.LinkWriter, the caller keeps its references to pkts;
// WritePackets neither keeps nor releases them, and never modifies their
// bytes.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	in := pkts.AsSlice()
	decisions := make([]decision, len(in))
	e.mu.Lock()
	for i, pkt := range in {
		size := pkt.Size()
		d := e.decideLocked(size)
		decisions[i] = d
		e.counters.Frames++
		switch {
		case d.drop:
			e.counters.Dropped++
			if d.partitioned {
				e.counters.Partitioned++
			}
			continue
		case d.duplicate:
			e.counters.Duplicated++
			e.counters.Bytes += uint64(size)
		}
		if d.corrupt {
			e.counters.Corrupted++
		}
		e.counters.Bytes += uint64(size)
	}
	e.mu.Unlock()

	var out stack.PacketBufferList
	// src[i] is the index in pkts of the caller's frame behind out[i].
	src := make([]int, 0, len(in))
	// owned holds the packets made here, released once lower is done.
	var owned []*stack.PacketBuffer
	for i, pkt := range in {
		d := decisions[i]
		if d.drop {
			continue
		}
		send := pkt
		if d.corrupt {
			send = corruptedCopy(pkt, d.bit)
			owned = append(owned, send)
		}
		out.PushBack(send)
		src = append(src, i)
		if d.duplicate {
			// A Clone shares the bytes but has its own reference, so
			// the lower endpoint sees two distinct packets, as it would
			// from two writes.
			dup := send.Clone()
			owned = append(owned, dup)
			out.PushBack(dup)
			src = append(src, i)
		}
	}
	if out.Len() == 0 {
		// Everything was dropped. LinkWriter forbids writing an empty
		// list, and there is nothing to report but success.
		return len(in), nil
	}

	n, err := e.Endpoint.WritePackets(out)
	for _, p := range owned {
		p.DecRef()
	}
	if n >= len(src) {
		return len(in), err
	}
	return src[n], err
}

// corruptedCopy returns a new packet that holds the bytes of pkt with bit
// number bit flipped. pkt is not modified: its bytes may be shared with the
// sender's retransmission queue, and corrupting them would corrupt every
// retransmission too, which no real wire does.
func corruptedCopy(pkt *stack.PacketBuffer, bit int) *stack.PacketBuffer {
	b := make([]byte, 0, pkt.Size())
	for _, s := range pkt.AsSlices() {
		b = append(b, s...)
	}
	b[bit/8] ^= 1 << (bit % 8)
	return rebuild(pkt, b)
}

// rebuild returns a new packet whose bytes are b (the whole frame, headers
// included) and whose header layout and metadata are those of like, so that
// a lower endpoint that looks at the link header, the egress route or the
// protocol numbers sees what it would have seen in like.
func rebuild(like *stack.PacketBuffer, b []byte) *stack.PacketBuffer {
	// Headers sit at the front of the frame in this order whether they
	// were pushed (built locally) or consumed (forwarded).
	headers := [...]func(*stack.PacketBuffer) stack.PacketHeader{
		(*stack.PacketBuffer).VirtioNetHeader,
		(*stack.PacketBuffer).LinkHeader,
		(*stack.PacketBuffer).NetworkHeader,
		(*stack.PacketBuffer).TransportHeader,
	}
	var lens [len(headers)]int
	total := 0
	for i, h := range headers {
		lens[i] = len(h(like).Slice())
		total += lens[i]
	}
	if total != like.HeaderSize() || total > len(b) {
		// A layout we do not understand: keep the bytes, drop the
		// layout.
		total = 0
		lens = [len(headers)]int{}
	}

	p := stack.NewPacketBuffer(stack.PacketBufferOptions{
		ReserveHeaderBytes: total,
		Payload:            buffer.MakeWithData(b[total:]),
		Mark:               like.Mark,
	})
	// Push from the innermost header outwards, as a stack builds a frame.
	off := total
	for i := len(headers) - 1; i >= 0; i-- {
		if lens[i] == 0 {
			continue
		}
		off -= lens[i]
		copy(headers[i](p).Push(lens[i]), b[off:off+lens[i]])
	}

	p.NetworkProtocolNumber = like.NetworkProtocolNumber
	p.TransportProtocolNumber = like.TransportProtocolNumber
	p.Hash = like.Hash
	p.Owner = like.Owner
	p.EgressRoute = like.EgressRoute
	p.GSOOptions = like.GSOOptions
	p.PktType = like.PktType
	p.NICID = like.NICID
	return p
}
