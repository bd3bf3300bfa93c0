package memlink

import (
	"hash/fnv"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
)

// pair is the link from one port to another: the frames the sender routes
// to the receiver go through link/fault (loss, duplication, corruption,
// partition), then link/delay (latency, jitter, reordering, rate), then
// the sink, onto the receiver's inbound queue (or a lock-step network's
// queue). The wrappers are the same that impair a TAP link.
type pair struct {
	net      *Network
	from, to *Port
	fault    *fault.Endpoint
	delay    *delay.Endpoint

	// held keeps the pair's frames back (Hold): on a real-time network
	// in backlog, on a lock-step one in the network's queue.
	held atomic.Bool

	mu   sync.Mutex
	room sync.Cond // backlog has room, the pair was released or closed
	// +checklocks:mu
	backlog []frame
	// closed: either port closed; held frames are dropped.
	// +checklocks:mu
	closed bool

	delivered, deliveredBytes atomic.Uint64

	// obsMu serializes observed writes (Network.Observe).
	obsMu sync.Mutex
}

func newPair(n *Network, from, to *Port, seed uint64, fc fault.Config, dc delay.Config) (*pair, error) {
	p := &pair{net: n, from: from, to: to}
	p.room.L = &p.mu
	dc.Seed, dc.Clock = seed, n.opts.Clock
	d, err := delay.New(&sink{p}, dc)
	if err != nil {
		return nil, err
	}
	fc.Seed = seed
	f, err := fault.New(d, fc)
	if err != nil {
		return nil, err
	}
	p.fault, p.delay = f, d
	return p, nil
}

// pairSeed derives a pair's seed from the network's and the two names, so
// that a pair's random stream does not depend on which pairs carried
// traffic before it; gen counts the links built for the pair before (a
// restarted port gets a new stream).
func pairSeed(seed uint64, k pairKey, gen int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k.from))
	h.Write([]byte{0})
	h.Write([]byte(k.to))
	return splitmix(seed^h.Sum64(), uint64(gen))
}

// splitmix derives independent seeds from one (SplitMix64).
func splitmix(seed, i uint64) uint64 {
	z := seed + (i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// setHeld holds or releases the pair. A release hands the held frames to
// the receiver, in order, before any later frame passes.
func (p *pair) setHeld(held bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if held || !p.held.Load() {
		p.held.Store(held)
		return
	}
	if len(p.backlog) > 0 && !p.closed {
		// Past the bound: the frames are already counted against the
		// pair's, and the caller (a test, a scheduler) must not wait.
		p.to.wire.in.pushAll(p.backlog)
	}
	p.backlog = nil
	p.held.Store(false)
	p.room.Broadcast()
}

// holdBack keeps frames of a held pair, waiting while the backlog is full
// unless the sender's pump is inside its stack (an inline reply must not
// wait). Frames left when the pair is released go on to the receiver.
func (p *pair) holdBack(fs []frame) {
	limit := p.net.opts.QueueFrames
	src := p.from.wire
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range fs {
		for p.held.Load() && !p.closed && len(p.backlog) >= limit && src.delivering.Load() == 0 {
			p.room.Wait()
		}
		switch {
		case p.closed:
			for _, f := range fs[i:] {
				f.buf.Release()
			}
			return
		case !p.held.Load():
			// Released while waiting: the backlog is gone already.
			p.to.wire.in.push(fs[i:], src)
			return
		}
		p.backlog = append(p.backlog, f)
	}
}

// close closes the pair's delay line and drops what it holds back.
func (p *pair) close() {
	p.fault.Close()
	p.wake()
}

// wake marks the pair closed (its receiver or sender closed), dropping the
// frames held back, and wakes senders waiting for room.
func (p *pair) wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, f := range p.backlog {
		f.buf.Release()
	}
	p.backlog = nil
	p.room.Broadcast()
}

func (p *pair) addDelivered(frames, bytes uint64) {
	if p == nil || frames == 0 {
		return
	}
	p.delivered.Add(frames)
	p.deliveredBytes.Add(bytes)
}

func (p *pair) counters() Counters {
	fc := p.fault.Counters()
	dc := p.delay.Counters()
	return Counters{
		Frames: fc.Frames, Bytes: fc.Bytes,
		Delivered: p.delivered.Load(), DeliveredBytes: p.deliveredBytes.Load(),
		Dropped: fc.Dropped, Duplicated: fc.Duplicated, Corrupted: fc.Corrupted,
		Reordered: dc.Reordered, Cut: fc.Partitioned, OutOfOrder: dc.OutOfOrder,
	}
}

// sink is the bottom of a pair's link: the LinkEndpoint the delay line
// writes to, which puts the frames on the receiver's inbound queue.
type sink struct{ p *pair }

var _ netstack.LinkEndpoint = (*sink)(nil)

// WritePackets takes its own reference to each frame's views.
func (s *sink) WritePackets(pkts netstack.PacketBufferList) (int, tcpip.Error) {
	p := s.p
	fs := make([]frame, 0, pkts.Len())
	for _, pkt := range pkts.AsSlice() {
		fs = append(fs, frame{proto: protocolOf(pkt), buf: pkt.ToBuffer(), pair: p})
	}
	switch {
	case p.net.ls != nil:
		p.net.ls.push(p, fs)
	case p.held.Load():
		p.holdBack(fs)
	default:
		p.to.wire.in.push(fs, p.from.wire)
	}
	return len(fs), nil
}

func (s *sink) MTU() uint32                                     { return s.p.from.wire.MTU() }
func (s *sink) SetMTU(uint32)                                   {}
func (s *sink) MaxHeaderLength() uint16                         { return 0 }
func (s *sink) LinkAddress() tcpip.LinkAddress                  { return s.p.from.wire.LinkAddress() }
func (s *sink) SetLinkAddress(tcpip.LinkAddress)                {}
func (s *sink) Capabilities() netstack.LinkEndpointCapabilities { return s.p.from.wire.caps }
func (s *sink) Attach(netstack.NetworkDispatcher)               {}
func (s *sink) IsAttached() bool                                { return false }
func (s *sink) Wait()                                           {}
func (s *sink) ARPHardwareType() header.ARPHardwareType         { return header.ARPHardwareNone }
func (s *sink) AddHeader(*netstack.PacketBuffer)                {}
func (s *sink) ParseHeader(*netstack.PacketBuffer) bool         { return true }
func (s *sink) Close()                                          {}
func (s *sink) SetOnCloseAction(func())                         {}
