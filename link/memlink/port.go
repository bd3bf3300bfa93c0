package memlink

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
)

// Port is a network's attachment point for one stack: give it to a stack
// as a NIC's link. Its methods without a peer's name (Partition, Hold,
// SetFaults, ...) act on every pair from this port, the direction away
// from it; on a link (New) that is the direction to its peer.
type Port struct {
	netstack.LinkEndpoint
	net   *Network
	name  string
	addrs []tcpip.Address
	stats *portName
	wire  *portWire
	gso   bool
	// whole: segments larger than the MTU cross the wire whole (host
	// GSO) instead of being cut by netstack (gVisor GSO).
	whole bool
}

// Name returns the port's name ("a" or "b" on a link).
func (p *Port) Name() string { return p.name }

// Network returns the network the port is on.
func (p *Port) Network() *Network { return p.net }

// Capture records this port's frames, both ways, to w from now on: what
// its stack sends, before any impairment, and what reaches it, as it
// arrives. It writes the file header first and returns its error.
func (p *Port) Capture(w io.Writer) error {
	c, err := pcap.NewWriter(w, pcap.Options{Clock: p.net.opts.Clock, LinkType: p.net.linkType})
	if err != nil {
		return fmt.Errorf("memlink: %w", err)
	}
	p.wire.capture.Store(c)
	return nil
}

// Partition drops every frame this port sends until Heal (or the
// network's Heal).
func (p *Port) Partition() {
	n := p.net
	n.mu.Lock()
	defer n.mu.Unlock()
	n.portCut[p.name] = true
	n.applyLocked()
}

// Heal ends a Partition of this port; partitions and cuts made on the
// network stay.
func (p *Port) Heal() {
	n := p.net
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.portCut, p.name)
	n.applyLocked()
}

// Hold stops delivery of the frames this port sends: they wait, in order,
// until Release (a stalled direction; Partition loses them instead). On a
// network that is not lock-step, a held direction fills and then makes the
// sender wait.
func (p *Port) Hold() { p.setHeld(true) }

// Release ends a Hold; the frames held are delivered first, in order.
// Pairs held by the network's Hold stay held.
func (p *Port) Release() { p.setHeld(false) }

func (p *Port) setHeld(held bool) {
	n := p.net
	n.mu.Lock()
	defer n.mu.Unlock()
	if held {
		n.portHeld[p.name] = true
	} else {
		delete(n.portHeld, p.name)
	}
	n.applyLocked()
}

// SetFaults changes loss, duplication and corruption of every pair from
// this port at run time, those made later included, replacing what the
// network's SetFaults gave them (the random streams carry on).
func (p *Port) SetFaults(c fault.Config) error {
	n := p.net
	if err := n.checkFaults(c); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.portFault[p.name] = c
	for k, r := range n.pairs {
		if k.from == p.name {
			r.fault = nil
			for _, l := range r.links {
				_ = l.fault.SetConfig(c)
			}
		}
	}
	return nil
}

// SetDelay changes latency, jitter, reordering and rate of every pair
// from this port at run time, as SetFaults does.
func (p *Port) SetDelay(c delay.Config) error {
	n := p.net
	if err := c.Validate(); err != nil {
		return fmt.Errorf("memlink: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.portDelay[p.name] = c
	for k, r := range n.pairs {
		if k.from == p.name {
			r.delay = nil
			dc := n.delayLocked(k)
			for _, l := range r.links {
				_ = l.delay.SetConfig(dc)
			}
		}
	}
	return nil
}

// Counters returns what this port has sent: the network's Counters(name, "").
func (p *Port) Counters() Counters { return p.net.Counters(p.name, "") }

// DeliverNext is the network's DeliverNext: any port of a lock-step
// network may be used.
func (p *Port) DeliverNext() (Frame, bool) { return p.net.DeliverNext() }

// Waiting is the network's Waiting.
func (p *Port) Waiting() int { return p.net.Waiting() }

// GSOMaxSize implements netstack.GSOEndpoint: the largest segment TCP
// hands down before cutting it into frames.
func (p *Port) GSOMaxSize() uint32 {
	switch {
	case !p.gso:
		return 0
	case p.whole:
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
func (p *Port) SupportedGSO() netstack.SupportedGSO {
	switch {
	case !p.gso:
		return netstack.GSONotSupported
	case p.whole:
		return netstack.HostGSOSupported
	}
	return netstack.GVisorGSOSupported
}

// WholeSegments reports whether segments larger than the MTU cross this
// port whole (see Options.NoGSO).
func (p *Port) WholeSegments() bool { return p.whole }

// portWire is a port's bare end of the network: a netstack LinkEndpoint
// without a link header of its own (the Ethernet wrapper goes on top when
// asked) whose WritePackets routes each frame to the link of its
// destination's pair, and whose pump delivers the frames that reach the
// port to its stack.
type portWire struct {
	port     *Port
	mtu      atomic.Uint32
	caps     netstack.LinkEndpointCapabilities
	linkAddr atomic.Value // tcpip.LinkAddress

	// in is the inbound queue, drained by the pump.
	in *queue

	// delivering is non-zero while the pump is inside the stack's
	// DeliverNetworkPacket: the stack's writes then may be inline replies
	// and must not wait for room (see Network).
	delivering atomic.Int32

	// links caches the link to each destination port (*Port → *pair).
	links sync.Map
	// linksFrom and linksTo are the links from and to this port, so that
	// closing it touches only its own pairs. Guarded by Network.mu.
	linksFrom, linksTo []*pair

	// capture is Port.Capture's writer, nil until then.
	capture atomic.Pointer[pcap.Writer]

	// gro, when enabled, coalesces the in-order TCP segments of one flow
	// that arrive in one batch of the pump into one packet before the
	// stack sees them, as a NIC's receive offload does. Used only by the
	// pump goroutine.
	gro gro.GRO

	mu         sync.RWMutex
	dispatcher netstack.NetworkDispatcher
	onClose    func()

	pumpStarted sync.Once
	pumpDone    chan struct{}
	closeOnce   sync.Once
	closed      atomic.Bool
	// closeDone is closed once Close has closed the links from this
	// port, closedLinks; Wait waits for them.
	closeDone   chan struct{}
	closedLinks []*pair
}

var _ netstack.LinkEndpoint = (*portWire)(nil)

// WritePackets implements netstack.LinkWriter: it routes each frame to
// its destination's link. It copies nothing: the frame's views are shared
// by reference count until the receiver consumes them. Frames without a
// destination count as written, as on a wire.
func (w *portWire) WritePackets(pkts netstack.PacketBufferList) (int, tcpip.Error) {
	if w.closed.Load() {
		return 0, &tcpip.ErrClosedForSend{}
	}
	n := w.port.net
	rt := n.routes.Load()
	all := pkts.AsSlice()
	netCap, portCap := n.capture, w.capture.Load()
	// Consecutive frames to one port go down its link in one batch; the
	// usual batch, all to one port, goes down as it came.
	var runTo *Port
	start := 0
	flush := func(end int) {
		if runTo == nil || end == start {
			return
		}
		if start == 0 && end == len(all) {
			w.send(runTo, pkts)
			return
		}
		var run netstack.PacketBufferList
		for _, pkt := range all[start:end] {
			run.PushBack(pkt)
		}
		w.send(runTo, run)
	}
	for i, pkt := range all {
		if netCap != nil {
			netCap.Record(pkt)
		}
		if portCap != nil {
			portCap.Record(pkt)
		}
		to, everyone := n.route(rt, w.port, pkt)
		if to != runTo || everyone {
			flush(i)
			runTo, start = to, i
		}
		switch {
		case everyone:
			for _, q := range rt.ports {
				if q != w.port {
					var one netstack.PacketBufferList
					one.PushBack(pkt)
					w.send(q, one)
				}
			}
			start = i + 1
		case to == nil:
			w.port.stats.unroutable.Add(1)
			n.observeUnroutable(w.port, pkt)
			start = i + 1
		}
	}
	flush(len(all))
	return len(all), nil
}

// send writes frames to the link to a port. The list holds the caller's
// references, which stay the caller's.
func (w *portWire) send(to *Port, pkts netstack.PacketBufferList) {
	var l *pair
	if v, ok := w.links.Load(to); ok {
		l = v.(*pair)
	} else if l = w.port.net.linkFor(w.port, to); l == nil {
		return
	}
	if f := w.port.net.observer.Load(); f != nil {
		l.observedWrite(pkts, *f)
		return
	}
	// Errors are a closed link: its frames are lost, as on a cable
	// pulled out.
	_, _ = l.fault.WritePackets(pkts)
}

// pump delivers the frames that reach this port to its stack until the
// queue closes.
func (w *portWire) pump() {
	defer close(w.pumpDone)
	csumOK := w.caps&netstack.CapabilityRXChecksumOffload != 0
	var spare []frame
	for {
		batch := w.in.popAll(spare)
		if batch == nil {
			return
		}
		w.mu.RLock()
		d := w.dispatcher
		w.mu.RUnlock()
		capture := w.capture.Load()
		w.delivering.Add(1)
		w.gro.Dispatcher = d
		var from *pair
		var frames, bytes uint64
		for i, f := range batch {
			if f.pair != from {
				from.addDelivered(frames, bytes)
				from, frames, bytes = f.pair, 0, 0
			}
			if d != nil {
				frames++
				bytes += uint64(f.buf.Size())
				pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: f.buf})
				if capture != nil {
					capture.Record(pkt)
				}
				// GRO reads both fields; the NIC would set them itself.
				pkt.NetworkProtocolNumber = f.proto
				pkt.RXChecksumValidated = csumOK
				w.gro.Enqueue(pkt)
				pkt.DecRef()
			} else {
				f.buf.Release()
			}
			batch[i] = frame{}
		}
		from.addDelivered(frames, bytes)
		if d != nil {
			w.gro.Flush()
		}
		w.gro.Dispatcher = nil
		w.delivering.Add(-1)
		spare = batch
	}
}

// deliverNow delivers one frame to the stack in the caller's goroutine (a
// lock-step network), and reports whether a stack took it.
func (w *portWire) deliverNow(f frame) bool {
	w.mu.RLock()
	d := w.dispatcher
	w.mu.RUnlock()
	if d == nil {
		f.buf.Release()
		return false
	}
	pkt := netstack.NewPacketBuffer(netstack.PacketBufferOptions{Payload: f.buf})
	if c := w.capture.Load(); c != nil {
		c.Record(pkt)
	}
	d.DeliverNetworkPacket(f.proto, pkt)
	pkt.DecRef()
	return true
}

// Attach implements netstack.NetworkLinkEndpoint. The pump starts with the
// first attach, so an unused port runs no goroutine.
func (w *portWire) Attach(d netstack.NetworkDispatcher) {
	w.mu.Lock()
	w.dispatcher = d
	w.mu.Unlock()
	if d != nil && w.port.net.ls == nil {
		w.pumpStarted.Do(func() { go w.pump() })
	}
}

func (w *portWire) IsAttached() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.dispatcher != nil
}

func (w *portWire) MTU() uint32                                     { return w.mtu.Load() }
func (w *portWire) SetMTU(mtu uint32)                               { w.mtu.Store(mtu) }
func (w *portWire) MaxHeaderLength() uint16                         { return 0 }
func (w *portWire) LinkAddress() tcpip.LinkAddress                  { return w.linkAddr.Load().(tcpip.LinkAddress) }
func (w *portWire) SetLinkAddress(a tcpip.LinkAddress)              { w.linkAddr.Store(a) }
func (w *portWire) Capabilities() netstack.LinkEndpointCapabilities { return w.caps }
func (w *portWire) ARPHardwareType() header.ARPHardwareType         { return header.ARPHardwareNone }
func (w *portWire) AddHeader(*netstack.PacketBuffer)                {}
func (w *portWire) ParseHeader(*netstack.PacketBuffer) bool         { return true }

func (w *portWire) SetOnCloseAction(f func()) {
	w.mu.Lock()
	w.onClose = f
	w.mu.Unlock()
}

// Close takes the port off the network: its pump stops, the frames queued
// to it are dropped, and so are those sent to it from then on; the links
// from it close, losing what their delay lines held. Its name and
// addresses are free again.
func (w *portWire) Close() {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		f := w.onClose
		w.dispatcher = nil
		w.mu.Unlock()
		if f != nil {
			f()
		}
		n := w.port.net
		w.closedLinks = n.closePort(w.port)
		w.in.close()
		for _, l := range w.closedLinks {
			l.close()
		}
		close(w.closeDone)
		if n.ls != nil {
			n.ls.drop(w.port)
			close(w.pumpDone) // there is no pump
			return
		}
		// Started here if it never was, so Wait can always wait on it.
		w.pumpStarted.Do(func() { go w.pump() })
	})
}

// Wait waits for the pump goroutine and the links' delay lines to stop
// once Close was called; before that it returns at once.
func (w *portWire) Wait() {
	if !w.closed.Load() {
		return
	}
	<-w.closeDone
	<-w.pumpDone
	for _, l := range w.closedLinks {
		l.fault.Wait()
	}
}
