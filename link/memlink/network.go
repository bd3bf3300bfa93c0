package memlink

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/usertcp/usertcp/link/delay"
	"github.com/usertcp/usertcp/link/fault"
	"github.com/usertcp/usertcp/link/pcap"
)

// Errors of the Network's methods; test with errors.Is.
var (
	// ErrPortExists: AddPort was given the name of a port that is open.
	ErrPortExists = errors.New("memlink: port exists")
	// ErrAddressTaken: AddPort was given an address an open port owns
	// (or the same address twice), or an invalid one.
	ErrAddressTaken = errors.New("memlink: address taken")
	// ErrUnknownPort: a name no port of the network ever had.
	ErrUnknownPort = errors.New("memlink: unknown port")
	// ErrNetworkClosed: AddPort after Close.
	ErrNetworkClosed = errors.New("memlink: network closed")
)

// Network is an in-memory network of any number of netstack stacks, each
// attached by a Port. A frame a port sends reaches the port that owns its
// destination:
//
//   - on a network of exactly two ports every frame reaches the other
//     one, as on a cable (so a link needs no addresses).
//   - bare IP frames (the default) go to the port given the destination
//     address in AddPort; a multicast or broadcast destination goes to
//     every other port; a frame to an address no port owns is dropped
//     and counted as Unroutable.
//   - Ethernet frames (Options.Ethernet) go to the port with the
//     destination MAC; broadcast and multicast frames (ARP, NDP) go to
//     every other port, unknown unicast ones are Unroutable.
//
// Every ordered pair of ports (from, to) is a direction of its own, with
// its impairments (Options by default, SetFaults, SetDelay), its random
// streams (from Options.Seed and the two names, so that results do not
// depend on which pair carries traffic first), its counters, and its
// partition and hold state. A pair costs nothing until it carries a frame
// or is configured.
//
// Each port has one bounded inbound queue drained by one pump goroutine
// that delivers the frames to its stack in batches; a full queue makes
// the senders wait (backpressure) rather than drop. A pump never waits
// for another queue: while a port's pump is inside its stack, that
// stack's own writes (inline replies: ARP, ICMP, RST) may overflow the
// queues they go to, so no cycle of pumps waiting on each other can form,
// among any number of ports. Only the stacks' own goroutines (and the
// delay lines' timers) wait for room.
//
// All its methods are safe for concurrent use.
type Network struct {
	opts     Options
	caps     netstack.LinkEndpointCapabilities
	wireMTU  uint32
	groOn    bool
	whole    bool
	linkType pcap.LinkType
	defFault fault.Config
	defDelay delay.Config

	// capture records every frame entering the network (Options.Pcap).
	capture *pcap.Writer

	// pairSeed seeds a pair's link; gen counts the links built for the
	// pair before.
	pairSeed func(k pairKey, gen int) uint64

	// ls, on a lock-step network, holds every frame until DeliverNext.
	ls *lockstep

	// observer is Observe's function, nil without one.
	observer atomic.Pointer[func(Sent)]

	// routes is the table WritePackets reads without a lock; AddPort
	// and Close replace it.
	routes atomic.Pointer[routes]

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// ports are the open ports by name.
	// +checklocks:mu
	ports map[string]*Port
	// names holds what outlives a port of that name: its MAC (a restarted
	// host keeps its NIC) and its counters.
	// +checklocks:mu
	names map[string]*portName
	// +checklocks:mu
	nextMAC uint32
	// pairs is created lazily: a pair is here once it carried a frame or
	// was configured.
	// +checklocks:mu
	pairs map[pairKey]*pairRecord
	// groups is each port's group while the network is partitioned (nil
	// otherwise); a port in no group is in group 0.
	// +checklocks:mu
	groups map[string]int
	// +checklocks:mu
	cuts map[pairKey]bool
	// portCut and portHeld: Port.Partition and Port.Hold, which act on
	// every pair from the port, those made later included.
	// +checklocks:mu
	portCut, portHeld map[string]bool
	// portFault and portDelay: Port.SetFaults and Port.SetDelay.
	// +checklocks:mu
	portFault map[string]fault.Config
	// +checklocks:mu
	portDelay map[string]delay.Config
}

// portName is what a network keeps for a name across its ports' lives.
type portName struct {
	mac        tcpip.LinkAddress
	unroutable atomic.Uint64
}

// routes is a snapshot of the open ports, for routing without a lock.
type routes struct {
	ports  []*Port
	byAddr map[tcpip.Address]*Port
	byMAC  map[tcpip.LinkAddress]*Port
}

// pairKey names an ordered pair of ports.
type pairKey struct{ from, to string }

// pairRecord is a pair's configuration and the links built for it: one
// per pair of Port values, so more than one if a port was closed and a
// new one took its name.
type pairRecord struct {
	// fault and delay, if set, are this pair's own impairments;
	// otherwise the sender's (Port.SetFaults) or the network's apply.
	fault *fault.Config
	delay *delay.Config
	held  bool
	// +checklocks:Network.mu
	links []*pair
}

// NewNetwork builds a network without ports. Options are those of New;
// its impairments are the default of every ordered pair.
func NewNetwork(opts Options) (*Network, error) {
	return newNetwork(opts, false)
}

// newNetwork is NewNetwork; with portCapture, Options.Pcap is not the
// network's capture (New gives it to end a) but still turns whole
// segments off, so that the capture shows frames of the MTU.
func newNetwork(opts Options, portCapture bool) (*Network, error) {
	if opts.MTU == 0 {
		opts.MTU = 1500
	}
	if opts.MTU < 576 || opts.MTU > MaxMTU {
		return nil, fmt.Errorf("memlink: MTU %d outside 576..%d", opts.MTU, MaxMTU)
	}
	if opts.ChecksumOffload && opts.Corrupt > 0 {
		return nil, errors.New("memlink: Corrupt needs checksums: turn ChecksumOffload off")
	}
	if opts.QueueFrames <= 0 {
		opts.QueueFrames = DefaultQueueFrames
	}
	if opts.Clock == nil {
		opts.Clock = tcpip.NewStdClock()
	}
	n := &Network{
		opts:      opts,
		wireMTU:   opts.MTU,
		linkType:  pcap.LinkTypeRaw,
		defFault:  fault.Config{Loss: opts.Loss, Duplicate: opts.Duplicate, Corrupt: opts.Corrupt},
		defDelay:  delay.Config{Latency: opts.Latency, Jitter: opts.Jitter, JitterReorders: opts.JitterReorders, Reorder: opts.Reorder, Rate: opts.Rate},
		ports:     map[string]*Port{},
		names:     map[string]*portName{},
		pairs:     map[pairKey]*pairRecord{},
		cuts:      map[pairKey]bool{},
		portCut:   map[string]bool{},
		portHeld:  map[string]bool{},
		portFault: map[string]fault.Config{},
		portDelay: map[string]delay.Config{},
	}
	if err := n.defFault.Validate(); err != nil {
		return nil, fmt.Errorf("memlink: %w", err)
	}
	if err := n.defDelay.Validate(); err != nil {
		return nil, fmt.Errorf("memlink: %w", err)
	}
	if opts.ChecksumOffload {
		n.caps |= netstack.CapabilityRXChecksumOffload | netstack.CapabilityTXChecksumOffload
	}
	if opts.Ethernet {
		n.wireMTU += 14 // the Ethernet wrapper subtracts its header
		n.linkType = pcap.LinkTypeEthernet
	}
	// GRO works on IP packets, so not under an Ethernet header. It needs
	// ChecksumOffload too: a merged packet keeps the first packet's IPv4
	// header checksum, which only a stack that trusts the link's
	// checksums accepts.
	n.groOn = !opts.NoGRO && opts.ChecksumOffload && !opts.Ethernet && !opts.LockStep
	impaired := opts.Loss > 0 || opts.Duplicate > 0 || opts.Corrupt > 0 || opts.Reorder > 0 ||
		opts.Latency > 0 || opts.Jitter > 0 || opts.Rate > 0
	n.whole = !opts.NoGSO && opts.ChecksumOffload && !impaired && opts.Pcap == nil && !opts.LockStep
	if opts.LockStep {
		n.ls = &lockstep{}
	}
	if opts.Pcap != nil && !portCapture {
		w, err := pcap.NewWriter(opts.Pcap, pcap.Options{Clock: opts.Clock, LinkType: n.linkType})
		if err != nil {
			return nil, fmt.Errorf("memlink: %w", err)
		}
		n.capture = w
	}
	n.pairSeed = func(k pairKey, gen int) uint64 { return pairSeed(opts.Seed, k, gen) }
	n.routes.Store(&routes{})
	return n, nil
}

// AddPort adds a port to the network and returns it: a netstack
// LinkEndpoint (Ethernet-framed with Options.Ethernet) to give a stack as
// a NIC's link. addrs are the addresses frames reach it by on a bare IP
// network (give the NIC the same ones); on an Ethernet network ARP and NDP
// find it and addrs only reserve the addresses. Every port has its own MAC;
// a port added under the name of a closed one (a restarted host) gets that
// port's MAC, pair settings and counters.
//
// It returns an error wrapping ErrPortExists if an open port has the name,
// ErrAddressTaken if an open port owns one of addrs, ErrNetworkClosed after
// Close.
func (n *Network) AddPort(name string, addrs ...netip.Addr) (*Port, error) {
	if name == "" {
		return nil, errors.New("memlink: a port needs a name")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrNetworkClosed
	}
	if _, ok := n.ports[name]; ok {
		return nil, fmt.Errorf("%w: %q", ErrPortExists, name)
	}
	rt := n.routes.Load()
	var own []tcpip.Address
	for _, a := range addrs {
		a = a.Unmap()
		if !a.IsValid() {
			return nil, fmt.Errorf("%w: port %q: invalid address", ErrAddressTaken, name)
		}
		ta := tcpip.AddrFromSlice(a.AsSlice())
		if p, ok := rt.byAddr[ta]; ok {
			return nil, fmt.Errorf("%w: %v is port %q's", ErrAddressTaken, a, p.name)
		}
		if slices.Contains(own, ta) {
			return nil, fmt.Errorf("%w: %v given twice", ErrAddressTaken, a)
		}
		own = append(own, ta)
	}
	pn := n.names[name]
	if pn == nil {
		n.nextMAC++
		m := n.nextMAC
		pn = &portName{mac: tcpip.LinkAddress([]byte{2, 0, byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})}
		n.names[name] = pn
	}
	p := &Port{net: n, name: name, addrs: own, stats: pn, gso: !n.opts.NoGSO, whole: n.whole}
	w := &portWire{port: p, caps: n.caps, in: newQueue(n.opts.QueueFrames),
		pumpDone: make(chan struct{}), closeDone: make(chan struct{})}
	w.mtu.Store(n.wireMTU)
	w.linkAddr.Store(pn.mac)
	w.gro.Init(n.groOn)
	p.wire = w
	p.LinkEndpoint = w
	if n.opts.Ethernet {
		p.LinkEndpoint = ethernet.New(w)
	}
	n.ports[name] = p
	n.rebuildRoutesLocked()
	return p, nil
}

// rebuildRoutesLocked publishes a new routing table for the open ports.
//
// +checklocks:n.mu
func (n *Network) rebuildRoutesLocked() {
	rt := &routes{byAddr: map[tcpip.Address]*Port{}, byMAC: map[tcpip.LinkAddress]*Port{}}
	for _, p := range n.ports {
		rt.ports = append(rt.ports, p)
	}
	// A fixed order, so that a broadcast reaches the ports in the same
	// order in every run.
	slices.SortFunc(rt.ports, func(a, b *Port) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	for _, p := range rt.ports {
		for _, a := range p.addrs {
			rt.byAddr[a] = p
		}
		rt.byMAC[p.stats.mac] = p
	}
	n.routes.Store(rt)
}

// Port returns the open port of that name, or nil.
func (n *Network) Port(name string) *Port {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ports[name]
}

// Ports returns the names of the open ports, sorted.
func (n *Network) Ports() []string {
	rt := n.routes.Load()
	out := make([]string, len(rt.ports))
	for i, p := range rt.ports {
		out[i] = p.name
	}
	return out
}

// Close closes every port (as closing their stacks does), waits for their
// pumps and refuses new ports.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	ports := make([]*Port, 0, len(n.ports))
	for _, p := range n.ports {
		ports = append(ports, p)
	}
	n.mu.Unlock()
	for _, p := range ports {
		p.Close()
	}
	for _, p := range ports {
		p.Wait()
	}
}

// knownLocked returns an error wrapping ErrUnknownPort if no port ever had
// one of the names.
//
// +checklocks:n.mu
func (n *Network) knownLocked(names ...string) error {
	for _, name := range names {
		if _, ok := n.names[name]; !ok {
			return fmt.Errorf("%w: %q", ErrUnknownPort, name)
		}
	}
	return nil
}

// pairLocked returns the pair's record, making it.
//
// +checklocks:n.mu
func (n *Network) pairLocked(k pairKey) *pairRecord {
	r := n.pairs[k]
	if r == nil {
		r = &pairRecord{}
		n.pairs[k] = r
	}
	return r
}

// linkFor returns the link from one open port to another, building it on
// the pair's first frame; nil if from is closed.
func (n *Network) linkFor(from, to *Port) *pair {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, ok := from.wire.links.Load(to); ok {
		return v.(*pair)
	}
	if from.wire.closed.Load() {
		return nil
	}
	k := pairKey{from.name, to.name}
	r := n.pairLocked(k)
	p, err := newPair(n, from, to, n.pairSeed(k, len(r.links)), n.faultLocked(k), n.delayLocked(k))
	if err != nil {
		// The configurations were validated when they were set.
		panic(fmt.Sprintf("memlink: pair %s→%s: %v", from.name, to.name, err))
	}
	if n.cutLocked(k) {
		p.fault.Partition()
	}
	p.setHeld(n.heldLocked(k))
	if to.wire.closed.Load() {
		// Closed since the sender routed to it: as closePort would have.
		p.wake()
	}
	r.links = append(r.links, p)
	from.wire.links.Store(to, p)
	from.wire.linksFrom = append(from.wire.linksFrom, p)
	to.wire.linksTo = append(to.wire.linksTo, p)
	return p
}

// faultLocked is the fault configuration in force for the pair.
//
// +checklocks:n.mu
func (n *Network) faultLocked(k pairKey) fault.Config {
	if r := n.pairs[k]; r != nil && r.fault != nil {
		return *r.fault
	}
	if c, ok := n.portFault[k.from]; ok {
		return c
	}
	return n.defFault
}

// delayLocked is the delay configuration in force for the pair, with the
// queue a lock-step network needs.
//
// +checklocks:n.mu
func (n *Network) delayLocked(k pairKey) delay.Config {
	c := n.defDelay
	if r := n.pairs[k]; r != nil && r.delay != nil {
		c = *r.delay
	} else if pc, ok := n.portDelay[k.from]; ok {
		c = pc
	}
	if n.ls != nil {
		// Nobody could drain a full delay line while a sender waited.
		c.QueueFrames = 1<<31 - 1
	}
	return c
}

// cutLocked reports whether the pair is cut.
//
// +checklocks:n.mu
func (n *Network) cutLocked(k pairKey) bool {
	return n.portCut[k.from] || n.cuts[k] || (n.groups != nil && n.groups[k.from] != n.groups[k.to])
}

// heldLocked reports whether the pair is held.
//
// +checklocks:n.mu
func (n *Network) heldLocked(k pairKey) bool {
	if n.portHeld[k.from] {
		return true
	}
	r := n.pairs[k]
	return r != nil && r.held
}

// applyLocked brings every link's partition and hold state in line with
// the network's, after a change.
//
// +checklocks:n.mu
func (n *Network) applyLocked() {
	for k, r := range n.pairs {
		cut, held := n.cutLocked(k), n.heldLocked(k)
		for _, p := range r.links {
			if cut {
				p.fault.Partition()
			} else {
				p.fault.Heal()
			}
			p.setHeld(held)
		}
	}
}

// SetFaults changes loss, duplication and corruption of the frames from
// one port to another at run time (the pair's random stream carries on).
// It returns an error wrapping ErrUnknownPort for a name no port ever had,
// fault.ErrInvalidConfig for an invalid cfg, and refuses Corrupt on a
// checksum-offloaded network.
func (n *Network) SetFaults(from, to string, cfg fault.Config) error {
	if err := n.checkFaults(cfg); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.knownLocked(from, to); err != nil {
		return err
	}
	r := n.pairLocked(pairKey{from, to})
	r.fault = &cfg
	for _, p := range r.links {
		_ = p.fault.SetConfig(cfg) // validated above
	}
	return nil
}

func (n *Network) checkFaults(cfg fault.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("memlink: %w", err)
	}
	if n.opts.ChecksumOffload && cfg.Corrupt > 0 {
		return errors.New("memlink: Corrupt needs checksums: turn ChecksumOffload off")
	}
	return nil
}

// SetDelay changes latency, jitter, reordering and rate of the frames from
// one port to another at run time (Seed, Clock and, on a lock-step
// network, QueueFrames are the network's). Errors as SetFaults.
func (n *Network) SetDelay(from, to string, cfg delay.Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("memlink: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.knownLocked(from, to); err != nil {
		return err
	}
	k := pairKey{from, to}
	r := n.pairLocked(k)
	r.delay = &cfg
	c := n.delayLocked(k)
	for _, p := range r.links {
		_ = p.delay.SetConfig(c)
	}
	return nil
}

// Counters returns what the frames from one port to another have done,
// over every port that had the names. An empty name stands for every
// port: Counters(from, "") is all that from sent, its Unroutable frames
// included, Counters("", to) all that was sent to to, Counters("", "") the
// whole network. Unknown names count nothing.
func (n *Network) Counters(from, to string) Counters {
	n.mu.Lock()
	defer n.mu.Unlock()
	var c Counters
	for k, r := range n.pairs {
		if from != "" && k.from != from || to != "" && k.to != to {
			continue
		}
		for _, p := range r.links {
			c.add(p.counters())
		}
	}
	if to == "" {
		for name, pn := range n.names {
			if from == "" || name == from {
				c.Unroutable += pn.unroutable.Load()
			}
		}
	}
	return c
}

// Partition cuts the network into groups: every frame between ports of
// different groups is dropped (and counted in Cut) until Heal; frames
// within a group pass. Ports named in no group, and ports added later, form
// one more group together. A new Partition replaces the last one; one-way
// cuts (Cut) stay. It returns an error wrapping ErrUnknownPort for a name
// no port ever had, or an error if a name is in two groups.
func (n *Network) Partition(groups ...[]string) error {
	g := map[string]int{}
	for i, group := range groups {
		for _, name := range group {
			if _, dup := g[name]; dup {
				return fmt.Errorf("memlink: port %q is in two groups", name)
			}
			g[name] = i + 1
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for name := range g {
		if err := n.knownLocked(name); err != nil {
			return err
		}
	}
	n.groups = g
	n.applyLocked()
	return nil
}

// Cut drops every frame from one port to another until Heal: to no longer
// hears from from, while from still hears to. Errors as Partition.
func (n *Network) Cut(from, to string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.knownLocked(from, to); err != nil {
		return err
	}
	n.cuts[pairKey{from, to}] = true
	n.applyLocked()
	return nil
}

// Heal ends every partition and cut (Partition, Cut, Port.Partition).
// Holds stay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = nil
	clear(n.cuts)
	clear(n.portCut)
	n.applyLocked()
}

// Hold stops delivery of the frames from one port to another, losing
// none: they wait in order until Release. On a real-time network a held
// pair holds at most Options.QueueFrames frames and then makes its sender
// wait; on a lock-step one DeliverNext passes over its frames. Errors as
// Partition.
func (n *Network) Hold(from, to string) error {
	return n.setHeld(from, to, true)
}

// Release ends a Hold; the frames held are delivered first, in order. A
// pair stays held while its sender's Port.Hold holds it.
func (n *Network) Release(from, to string) error {
	return n.setHeld(from, to, false)
}

func (n *Network) setHeld(from, to string, held bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.knownLocked(from, to); err != nil {
		return err
	}
	n.pairLocked(pairKey{from, to}).held = held
	n.applyLocked()
	return nil
}

// DeliverNext delivers the oldest frame waiting on a lock-step network,
// skipping held pairs: the receiving stack processes it in the caller's
// goroutine. ok is false if no frame can be delivered now, or if the
// network is not lock-step. A frame to a port closed since is dropped
// and returned as delivered, with Lost set.
func (n *Network) DeliverNext() (f Frame, ok bool) {
	if n.ls == nil {
		return Frame{}, false
	}
	return n.ls.deliverNext()
}

// Waiting returns how many frames wait on a lock-step network, held ones
// included (0 if the network is not lock-step).
func (n *Network) Waiting() int {
	if n.ls == nil {
		return 0
	}
	return n.ls.len()
}

// closePort takes a closing port out of the routes, marks it closed so no
// link from it is built any more, and returns the links from it; links to
// it wake their held senders.
func (n *Network) closePort(p *Port) []*pair {
	n.mu.Lock()
	defer n.mu.Unlock()
	p.wire.closed.Store(true)
	if n.ports[p.name] == p {
		delete(n.ports, p.name)
		n.rebuildRoutesLocked()
	}
	for _, l := range p.wire.linksTo {
		l.wake()
	}
	return p.wire.linksFrom
}
