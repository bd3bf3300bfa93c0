package stack

import (
	"sync"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
)

// synFloodGuard bounds the SYNs that wait in netstack's listener queues.
//
// netstack queues every zero-payload segment for its endpoint whatever the
// endpoint's memory: transport/tcp/segment_queue.go, enqueue (line 60),
// `allow := (used <= int(bufSz) || s.payloadSize() == 0) && !q.frozen`.
// dispatcher.queuePacket (transport/tcp/dispatcher.go:469-509) queues a SYN
// before any listener logic runs; the listener's defences (accept-queue
// drop, SYN cookies: accept.go handleListenSegment, lines 446-530) run only
// when the SYN leaves the queue. A flood faster than the listener's
// processor therefore grows the heap by some 780 bytes a SYN for as long as
// it lasts, and no netstack option limits it. The only lever is which SYNs
// reach netstack, so the guard sits in the link path.
//
// Each local port has a pool of synCredits credits. A SYN (SYN without
// ACK) to a local address takes one, or is dropped when none is left;
// netstack's answer to a SYN gives one back: the SYN-ACK a listener sends
// (cookie or not), or the RST a closed port sends inline. So at most
// synCredits SYNs per port are delivered and not yet answered, however
// fast and long the flood, and while netstack keeps up nothing is dropped.
// The guard admits exactly as fast as netstack answers; legitimate
// clients get their share of that (netstack's SYN cookies then serve them
// without state), and all of it the moment the flood ends.
//
// Some SYNs netstack handles without an answer: an accept queue that is
// full drops them (accept.go:465-470), counting each in the stack's
// ListenOverflowSynDrop, which a pool with no credit left takes as
// answers. A failed route and a few rare errors drop SYNs uncounted, so a
// pool with no credit left and no answer for synRefillAfter is refilled
// as a last resort: the only way the guard lets netstack's queue grow, by
// synCredits per synRefillAfter, is a TCP processor that answers nothing
// at all for that long. SYNs that netstack drops before queueing them (a bad
// checksum, a destination that is not local) are passed on without taking
// a credit, so a flood of them cannot starve a port.
type synFloodGuard struct {
	clock   tcpip.Clock
	isLocal func(tcpip.NetworkProtocolNumber, tcpip.Address) bool
	// synDrops counts the SYNs netstack's listeners dropped unanswered.
	synDrops *tcpip.StatCounter

	mu sync.Mutex
	// pools holds the ports with SYNs outstanding; a port with all its
	// credits is not in it.
	// +checklocks:mu
	pools map[uint16]synPool
	// busy is len(pools), read without mu on the send path.
	busy atomic.Int32
	// seenDrops is the part of synDrops already given back as credits.
	// +checklocks:mu
	seenDrops uint64

	dropped atomic.Uint64
}

type synPool struct {
	credits int
	// since is when the pool was last answered or refilled.
	since tcpip.MonotonicTime
}

const (
	// synCredits bounds the unanswered SYNs per local port: about 800 KiB
	// of netstack's queue at most. It is far above any burst of genuine
	// connects that netstack does not answer within microseconds.
	synCredits = 1024
	// synRefillAfter is how long a pool with no credit waits for an
	// answer before it is refilled (see synFloodGuard).
	synRefillAfter = time.Second
)

func newSYNFloodGuard(clock tcpip.Clock, isLocal func(tcpip.NetworkProtocolNumber, tcpip.Address) bool, synDrops *tcpip.StatCounter) *synFloodGuard {
	return &synFloodGuard{clock: clock, isLocal: isLocal, synDrops: synDrops, pools: map[uint16]synPool{}}
}

// admit reports whether the received SYN in pkt goes on to netstack.
func (g *synFloodGuard) admit(pkt *netstack.PacketBuffer, in inboundTCP) bool {
	if !g.counts(pkt, in) {
		return true
	}
	b, _ := pkt.Data().PullUp(in.ipLen + header.TCPMinimumSize)
	port := header.TCP(b[in.ipLen:]).DestinationPort()
	now := g.clock.NowMonotonic()
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.pools[port]
	if !ok {
		p = synPool{credits: synCredits, since: now}
	}
	if p.credits == 0 {
		switch drops := g.synDrops.Value(); {
		case drops > g.seenDrops:
			p = synPool{credits: int(min(drops-g.seenDrops, synCredits)), since: now}
			g.seenDrops = drops
		case now.Sub(p.since) >= synRefillAfter:
			p = synPool{credits: synCredits, since: now}
		default:
			g.dropped.Add(1)
			return false
		}
	}
	p.credits--
	g.pools[port] = p
	g.busy.Store(int32(len(g.pools)))
	return true
}

// counts reports whether netstack would queue the SYN for an endpoint, so
// that it must take a credit: it is for a local address, and its IP header
// and TCP checksum are sound (netstack checks them before it queues:
// network/ipv4/ipv4.go HandlePacket, transport/tcp/dispatcher.go:480-492).
func (g *synFloodGuard) counts(pkt *netstack.PacketBuffer, in inboundTCP) bool {
	b, ok := pkt.Data().PullUp(in.ipLen + header.TCPMinimumSize)
	if !ok {
		return false
	}
	proto, size := header.IPv4ProtocolNumber, pkt.Data().Size()
	if in.v6 {
		proto = header.IPv6ProtocolNumber
		size = min(size, header.IPv6MinimumSize+int(header.IPv6(b).PayloadLength()))
	} else {
		ip := header.IPv4(b)
		if !ip.IsValid(size) || !pkt.RXChecksumValidated && !ip.IsChecksumValid() {
			return false
		}
		size = int(ip.TotalLength()) // what follows is the link's padding
	}
	off := int(header.TCP(b[in.ipLen:]).DataOffset())
	if off < header.TCPMinimumSize || in.ipLen+off > size {
		return false
	}
	src, dst := inboundAddrs(pkt, in)
	if !pkt.RXChecksumValidated {
		seg, ok := pkt.Data().PullUp(size)
		if !ok {
			return false
		}
		th := header.TCP(seg[in.ipLen:])
		payload := seg[in.ipLen+off:]
		if !th.IsChecksumValid(src, dst, checksum.Checksum(payload, 0), uint16(len(payload))) {
			return false
		}
	}
	return g.isLocal(proto, dst)
}

// answered gives back the credit of a SYN to local port port: netstack
// sent a SYN-ACK or a RST from it.
func (g *synFloodGuard) answered(port uint16) {
	if g.busy.Load() == 0 {
		return
	}
	now := g.clock.NowMonotonic()
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.pools[port]
	if !ok {
		return
	}
	p.credits++
	p.since = now
	if p.credits >= synCredits {
		delete(g.pools, port)
	} else {
		g.pools[port] = p
	}
	g.busy.Store(int32(len(g.pools)))
}
