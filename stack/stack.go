package stack

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	randv2 "math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/loopback"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	netstack "gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// Options describes a stack. The zero value is a stack with only a loopback
// NIC and netstack's TCP defaults plus SACK.
type Options struct {
	// NICs are the stack's network interfaces, in order; NIC IDs are
	// assigned from 2 up (1 is the loopback NIC).
	NICs []NIC

	// Routes are added after the on-link routes that every NIC address
	// implies (as Linux adds a kernel route per address). A route without a
	// NIC goes out of the only non-loopback NIC; with several NICs it must
	// name one.
	Routes []Route

	// NoLoopback leaves out the loopback NIC (127.0.0.1/8 and ::1/128), so
	// "localhost" resolves to nothing reachable.
	NoLoopback bool

	// Forwarding lets the stack route packets between its NICs. Off by
	// default: a sandboxed stack answers only for its own addresses.
	Forwarding bool

	// Hosts is the host table used to resolve names. "localhost" is always
	// present (127.0.0.1 and ::1) unless the table overrides it.
	Hosts map[string][]netip.Addr

	// TCP tunes the TCP protocol.
	TCP TCPOptions

	// Clock is the stack's clock; nil means the real clock. Every netstack
	// timer and every gentcp timeout reads it.
	Clock tcpip.Clock

	// RandSource feeds netstack's non-secret randomness (e.g. jitter of
	// some timers). It must be safe for concurrent use. nil means seeded
	// from SecureRNG.
	RandSource rand.Source

	// SecureRNG feeds ephemeral ports, initial sequence numbers, timestamp
	// offsets and hash seeds. nil means crypto/rand. For reproducible runs
	// give each stack its own seeded reader (see SeededRNG).
	SecureRNG io.Reader
}

// NIC is one network interface.
type NIC struct {
	// Name identifies the NIC in routes and errors, e.g. "eth0".
	Name string
	// Link is where the NIC's frames go. The stack takes ownership: it
	// closes the link when the stack closes.
	Link netstack.LinkEndpoint
	// Addresses are the NIC's IPv4 and IPv6 addresses with prefix length.
	Addresses []netip.Prefix
	// Promiscuous accepts packets for any destination address. Only
	// useful with netstack's forwarders (transparent proxies).
	Promiscuous bool
	// Spoofing allows sending from addresses the NIC does not own.
	Spoofing bool
}

// Route sends traffic for Dest out of NIC, through Gateway when it is
// valid (a zero Gateway means on-link).
type Route struct {
	// Dest is the destination prefix; its host bits are ignored.
	Dest netip.Prefix
	// Gateway is the next hop, of Dest's IP version; the zero Addr sends
	// straight to the destination on the NIC's link.
	Gateway netip.Addr
	// NIC is the Name of the NIC to send on; it may be empty only when
	// the stack has one NIC.
	NIC string
}

// BufferRange is a socket buffer size range in bytes, as Linux's
// tcp_rmem/tcp_wmem: the minimum a socket may be shrunk to, the size new
// sockets start with, and the most autotuning may grow it to. Zero fields
// keep netstack's default.
type BufferRange struct {
	// Min, Default and Max are the smallest, initial and largest sizes,
	// in the order of netstack's own range options.
	Min, Default, Max int
}

// TCPOptions tunes TCP. Zero values keep netstack's defaults, except where
// a field says otherwise.
type TCPOptions struct {
	// NoSACK turns selective acknowledgements off (on by default).
	NoSACK bool
	// RACK turns on netstack's RACK-TLP loss detection (RFC 8985). It is
	// off by default, unlike Linux, because netstack's RACK recovers from
	// losses among many small segments one segment per retransmission
	// timeout: after a timeout it enters SACK recovery while every
	// unacknowledged segment above the highest SACK still counts in the
	// pipe, so a stream of 64-byte messages with {nodelay,true} that loses
	// a run of segments takes minutes instead of one timeout (sim's
	// TestSmallSegmentLossRecovery measures both). Its tail loss probe is
	// also not bounded by the retransmission timeout (integration/soak's
	// TestTailLossProbeBoundedByMaxRTO). Without it, SACK (RFC 6675) and
	// NewReno recover, and a tail loss waits for one timeout.
	//
	// The stall for good that an echo over a reordering link showed with
	// RACK on (usertcp demo --sim --seed 3 --latency 5ms --jitter 2ms
	// --jitter-reorders --rack; an outside soak with 1 % reordering) was
	// not RACK's: reordered ACKs widened netstack's send window past the
	// peer's, which the link path now repairs for every stack (staleack.go,
	// sim's TestReorderedACKWidensSendWindow: 4 of 10 seeds stalled, none
	// now). RACK still stalls where TestSmallSegmentLossRecovery shows it:
	// a run of lost small segments with thousands more in flight.
	//
	// The price of leaving it off is reordering: three duplicate ACKs
	// count as a loss, so a path that reorders much halves the congestion
	// window again and again. In sim, 16 MiB over a memlink with 5 ms of
	// latency and 2 ms of independent jitter (memlink's JitterReorders,
	// netem-like: packets overtake each other)
	// move at 8 Mbit/s without RACK and at 700 Mbit/s with it; with 1 %
	// reordering or 1 % loss, without RACK is the faster (80-90 against
	// 27-49, 67-73 against 52-55 Mbit/s). Turn it on for links that
	// reorder heavily and carry no bursts of small segments.
	RACK bool
	// KeepStaleACKWindows leaves netstack to take its send window from
	// every ACK, an ACK older than one already received included, as
	// netstack alone does. By default the link path New builds gives such
	// an ACK the window of the newer one (as Linux and RFC 9293 do), since
	// a path that reorders ACKs otherwise widens the window past what the
	// peer offered and can stall a connection for good (see staleack.go;
	// sim's TestReorderedACKWidensSendWindow). Only for showing netstack's
	// own behaviour.
	KeepStaleACKWindows bool
	// HoldReceiveBufferDrops makes the link path New builds hold a data
	// segment that netstack would drop because the connection's receive
	// buffer memory is used up, although the segment is inside the window
	// it offered (it charges some 700 bytes a segment against a window
	// counted in payload bytes, so a reader that lags behind a stream of
	// small messages has them dropped, and at a large MTU the sender
	// recovers by a retransmission timeout), and deliver it again once
	// netstack has room, on NICs whose MTU is at least 16 KiB (below, the
	// sender's SACK recovery repairs the loss at once; see rxhold.go and
	// sim's TestLaggingReaderLosesNoSegments). Off by default: it removes
	// the timeout, but on a quiet machine it nearly halves the rate of a
	// small-message stream at MTU 65520 (the sender, never cut back by a
	// loss, stops coalescing its writes; BENCHMARKS.md, held segments).
	HoldReceiveBufferDrops bool
	// CongestionControl is "reno" (netstack's default) or "cubic".
	CongestionControl string
	// SendBuffer and ReceiveBuffer bound the socket buffers.
	SendBuffer, ReceiveBuffer BufferRange
	// NoModerateReceiveBuffer turns receive-buffer autotuning off.
	NoModerateReceiveBuffer bool
	// MinRTO and MaxRTO bound the retransmission timeout (netstack: 200 ms
	// and 120 s). A smaller MinRTO speeds up lossy in-memory tests.
	MinRTO, MaxRTO time.Duration
	// SynRetries is how often a SYN is retransmitted before connect fails
	// (netstack: 6).
	SynRetries uint8
	// TimeWait is how long a closed connection stays in TIME_WAIT
	// (netstack: 60 s). Test harnesses shorten it to avoid port churn.
	TimeWait time.Duration
	// TimeWaitReuse says when a connect may take a local port whose
	// earlier connection to the same destination is in TIME_WAIT, as
	// Linux's net.ipv4.tcp_tw_reuse: only once a second has passed since
	// the last timestamp the peer sent on it (netstack's rule, as
	// Linux's), and the old endpoint is closed then. Without reuse a
	// client that connects to one server at full rate runs out of
	// ephemeral ports: 49,536 connections per TIME_WAIT period.
	//
	// The default, TimeWaitReuseOn, differs from Linux's (2, loopback
	// only) on purpose: Linux keeps reuse to loopback because there no
	// middlebox or old duplicate from the network stands between the
	// two ends, and a usertcp stack's links are usually in memory
	// (memlink, sim), the same situation under 10.x addresses that
	// netstack's loopback test would not recognise. A stack on a TAP
	// link to real networks can ask for TimeWaitReuseLoopback (Linux's
	// default) or TimeWaitReuseOff.
	TimeWaitReuse TimeWaitReuse
	// KeepaliveIdle, KeepaliveInterval and KeepaliveCount apply to every
	// socket that turns keepalive on (netstack keeps these per socket, not
	// per stack, so gentcp applies them). Zero keeps Linux's 2 h, 75 s, 9.
	KeepaliveIdle, KeepaliveInterval time.Duration
	KeepaliveCount                   int
	// Processors is how many goroutines process TCP segments. Zero means
	// 1: segments are then handled in the order they arrived, which keeps
	// Linux's backlog exact (the last ACK of one handshake is counted
	// before the next SYN is judged) and runs reproducibly. Raise it for
	// many busy connections on many cores. netstack sizes its processor
	// pool from GOMAXPROCS when the protocol is made, so New sets
	// GOMAXPROCS for that moment.
	Processors int
}

// TimeWaitReuse is the TIME_WAIT reuse policy of outgoing connections
// (TCPOptions.TimeWaitReuse).
type TimeWaitReuse uint8

// The TIME_WAIT reuse policies; the zero value is TimeWaitReuseOn.
const (
	// TimeWaitReuseOn lets every connect reuse a TIME_WAIT port (Linux's
	// tcp_tw_reuse 1, netstack's TCPTimeWaitReuseGlobal).
	TimeWaitReuseOn TimeWaitReuse = iota
	// TimeWaitReuseLoopback lets only connects between two loopback
	// addresses reuse one (Linux's 2 and default; netstack's default).
	TimeWaitReuseLoopback
	// TimeWaitReuseOff never reuses a TIME_WAIT port (Linux's 0).
	TimeWaitReuseOff
)

// netstack is the policy as netstack's option.
func (r TimeWaitReuse) netstack() (tcpip.TCPTimeWaitReuseOption, bool) {
	switch r {
	case TimeWaitReuseOn:
		return tcpip.TCPTimeWaitReuseGlobal, true
	case TimeWaitReuseLoopback:
		return tcpip.TCPTimeWaitReuseLoopbackOnly, true
	case TimeWaitReuseOff:
		return tcpip.TCPTimeWaitReuseDisabled, true
	}
	return 0, false
}

// Stack is a netstack stack with the NICs, routes and host table of its
// Options. It is safe for concurrent use.
type Stack struct {
	ns    *netstack.Stack
	opts  Options
	nics  map[string]tcpip.NICID
	hosts map[string][]netip.Addr

	// flood, stamps, acks and hold repair netstack's TCP in every NIC's
	// link (nicLink).
	flood  *synFloodGuard
	stamps *synStamps
	acks   *staleACKs
	hold   *receiveHold

	closeOnce sync.Once
}

// loopbackNIC is the ID of the loopback NIC; configured NICs follow it.
const loopbackNIC tcpip.NICID = 1

// New builds a stack. On error nothing is left running.
func New(opts Options) (*Stack, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	tcpFactory := tcp.NewProtocol
	switch opts.TCP.CongestionControl {
	case "", "reno":
	case "cubic":
		tcpFactory = tcp.NewProtocolCUBIC
	}
	procs := opts.TCP.Processors
	if procs <= 0 {
		procs = 1
	}
	ns := newNetstackWithProcessors(procs, netstack.Options{
		NetworkProtocols:   []netstack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []netstack.TransportProtocolFactory{tcpFactory, icmp.NewProtocol4, icmp.NewProtocol6},
		Clock:              opts.Clock,
		RandSource:         opts.RandSource,
		SecureRNG:          opts.SecureRNG,
		// Answer pings and neighbour solicitations like a host does.
		HandleLocal: true,
	})
	s := &Stack{ns: ns, opts: opts, nics: map[string]tcpip.NICID{}}
	s.flood = newSYNFloodGuard(ns.Clock(), func(proto tcpip.NetworkProtocolNumber, a tcpip.Address) bool {
		return ns.CheckLocalAddress(0, proto, a) != 0
	}, ns.Stats().TCP.ListenOverflowSynDrop)
	s.stamps = newSYNStamps(ns.Clock(), opts.TCP.SynRetries)
	if !opts.TCP.KeepStaleACKWindows {
		s.acks = newStaleACKs()
	}
	if opts.TCP.HoldReceiveBufferDrops {
		s.hold = newReceiveHold(ns, opts.Clock != nil)
	}
	if err := s.build(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (o *Options) validate() error {
	switch o.TCP.CongestionControl {
	case "", "reno", "cubic":
	default:
		return fmt.Errorf("stack: unknown congestion control %q (want reno or cubic)", o.TCP.CongestionControl)
	}
	if _, ok := o.TCP.TimeWaitReuse.netstack(); !ok {
		return fmt.Errorf("stack: unknown TIME_WAIT reuse policy %d", o.TCP.TimeWaitReuse)
	}
	seen := map[string]bool{}
	for i, n := range o.NICs {
		if n.Name == "" {
			return fmt.Errorf("stack: NIC %d has no name", i)
		}
		if seen[n.Name] || n.Name == "lo" && !o.NoLoopback {
			return fmt.Errorf("stack: NIC name %q used twice", n.Name)
		}
		seen[n.Name] = true
		if n.Link == nil {
			return fmt.Errorf("stack: NIC %q has no link", n.Name)
		}
		for _, a := range n.Addresses {
			if !a.IsValid() {
				return fmt.Errorf("stack: NIC %q has an invalid address %v", n.Name, a)
			}
		}
	}
	for _, r := range o.Routes {
		if !r.Dest.IsValid() {
			return fmt.Errorf("stack: route with invalid destination %v", r.Dest)
		}
		if r.Gateway.IsValid() && r.Gateway.Is4() != r.Dest.Addr().Is4() {
			return fmt.Errorf("stack: route %v: gateway %v is of another IP version", r.Dest, r.Gateway)
		}
	}
	return nil
}

func (s *Stack) build() error {
	o := &s.opts
	if err := s.setTCPOptions(); err != nil {
		return err
	}
	var table []tcpip.Route
	if !o.NoLoopback {
		if err := s.addNIC(loopbackNIC, NIC{
			Name:      "lo",
			Link:      loopback.New(),
			Addresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")},
		}); err != nil {
			return err
		}
	}
	for i, n := range o.NICs {
		if err := s.addNIC(loopbackNIC+1+tcpip.NICID(i), n); err != nil {
			return err
		}
	}
	// On-link routes first, in NIC order, as the kernel's "proto kernel"
	// routes: they are the most specific, and netstack picks the first
	// matching route.
	ids := append([]string{}, "lo")
	for _, n := range o.NICs {
		ids = append(ids, n.Name)
	}
	for _, name := range ids {
		id, ok := s.nics[name]
		if !ok {
			continue
		}
		for _, a := range s.nicAddresses(name) {
			table = append(table, tcpip.Route{Destination: subnet(a.Masked()), NIC: id})
		}
	}
	for _, r := range o.Routes {
		id, err := s.routeNIC(r)
		if err != nil {
			return err
		}
		tr := tcpip.Route{Destination: subnet(r.Dest.Masked()), NIC: id}
		if r.Gateway.IsValid() {
			tr.Gateway = tcpip.AddrFromSlice(r.Gateway.AsSlice())
		}
		table = append(table, tr)
	}
	s.ns.SetRouteTable(table)
	for _, p := range []tcpip.NetworkProtocolNumber{ipv4.ProtocolNumber, ipv6.ProtocolNumber} {
		if err := s.ns.SetForwardingDefaultAndAllNICs(p, o.Forwarding); err != nil {
			return fmt.Errorf("stack: forwarding: %s", err)
		}
	}
	s.hosts = map[string][]netip.Addr{}
	if !o.NoLoopback {
		s.hosts["localhost"] = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")}
	}
	for name, addrs := range o.Hosts {
		s.hosts[strings.ToLower(name)] = append([]netip.Addr(nil), addrs...)
	}
	return nil
}

func (s *Stack) nicAddresses(name string) []netip.Prefix {
	if name == "lo" {
		return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}
	}
	for _, n := range s.opts.NICs {
		if n.Name == name {
			return n.Addresses
		}
	}
	return nil
}

func (s *Stack) routeNIC(r Route) (tcpip.NICID, error) {
	if r.NIC != "" {
		id, ok := s.nics[r.NIC]
		if !ok {
			return 0, fmt.Errorf("stack: route %v names unknown NIC %q", r.Dest, r.NIC)
		}
		return id, nil
	}
	if len(s.opts.NICs) != 1 {
		return 0, fmt.Errorf("stack: route %v must name a NIC (the stack has %d)", r.Dest, len(s.opts.NICs))
	}
	return s.nics[s.opts.NICs[0].Name], nil
}

func (s *Stack) addNIC(id tcpip.NICID, n NIC) error {
	link := n.Link
	if id != loopbackNIC {
		link = newNICLink(link, id, s.flood, s.stamps, s.acks, s.hold)
	}
	if err := s.ns.CreateNICWithOptions(id, link, netstack.NICOptions{Name: n.Name}); err != nil {
		return fmt.Errorf("stack: NIC %q: %s", n.Name, err)
	}
	s.nics[n.Name] = id
	for _, a := range n.Addresses {
		proto := ipv4.ProtocolNumber
		if a.Addr().Is6() && !a.Addr().Is4In6() {
			proto = ipv6.ProtocolNumber
		}
		pa := tcpip.ProtocolAddress{
			Protocol: proto,
			AddressWithPrefix: tcpip.AddressWithPrefix{
				Address:   tcpip.AddrFromSlice(a.Addr().Unmap().AsSlice()),
				PrefixLen: a.Bits(),
			},
		}
		if err := s.ns.AddProtocolAddress(id, pa, netstack.AddressProperties{}); err != nil {
			return fmt.Errorf("stack: NIC %q: address %v: %s", n.Name, a, err)
		}
	}
	if n.Promiscuous {
		if err := s.ns.SetPromiscuousMode(id, true); err != nil {
			return fmt.Errorf("stack: NIC %q: promiscuous: %s", n.Name, err)
		}
	}
	if n.Spoofing {
		if err := s.ns.SetSpoofing(id, true); err != nil {
			return fmt.Errorf("stack: NIC %q: spoofing: %s", n.Name, err)
		}
	}
	return nil
}

func subnet(p netip.Prefix) tcpip.Subnet {
	addr := tcpip.AddrFromSlice(p.Addr().Unmap().AsSlice())
	bits := p.Bits()
	if p.Addr().Is4In6() {
		bits -= 96
	}
	mask := tcpip.MaskFromBytes(prefixMask(addr.Len(), bits))
	sn, err := tcpip.NewSubnet(addr, mask)
	if err != nil {
		// Unreachable: p is masked, so its host bits are zero.
		panic(fmt.Sprintf("stack: subnet %v: %v", p, err))
	}
	return sn
}

func prefixMask(n, bits int) []byte {
	m := make([]byte, n)
	for i := range m {
		switch {
		case bits >= 8:
			m[i] = 0xff
			bits -= 8
		case bits > 0:
			m[i] = byte(0xff << (8 - bits))
			bits = 0
		}
	}
	return m
}

func (s *Stack) setTCPOptions() error {
	t := s.opts.TCP
	set := func(what string, o tcpip.SettableTransportProtocolOption) error {
		if err := s.ns.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			return fmt.Errorf("stack: TCP %s: %s", what, err)
		}
		return nil
	}
	sack := tcpip.TCPSACKEnabled(!t.NoSACK)
	if err := set("SACK", &sack); err != nil {
		return err
	}
	var rec tcpip.TCPRecovery
	if t.RACK {
		rec = tcpip.TCPRACKLossDetection
	}
	if err := set("RACK", &rec); err != nil {
		return err
	}
	mod := tcpip.TCPModerateReceiveBufferOption(!t.NoModerateReceiveBuffer)
	if err := set("receive buffer moderation", &mod); err != nil {
		return err
	}
	if r := t.SendBuffer; r != (BufferRange{}) {
		var cur tcpip.TCPSendBufferSizeRangeOption
		if err := s.ns.TransportProtocolOption(tcp.ProtocolNumber, &cur); err != nil {
			return fmt.Errorf("stack: TCP send buffer: %s", err)
		}
		o := tcpip.TCPSendBufferSizeRangeOption(mergeRange(BufferRange(cur), r))
		if err := set("send buffer", &o); err != nil {
			return err
		}
	}
	if r := t.ReceiveBuffer; r != (BufferRange{}) {
		var cur tcpip.TCPReceiveBufferSizeRangeOption
		if err := s.ns.TransportProtocolOption(tcp.ProtocolNumber, &cur); err != nil {
			return fmt.Errorf("stack: TCP receive buffer: %s", err)
		}
		o := tcpip.TCPReceiveBufferSizeRangeOption(mergeRange(BufferRange(cur), r))
		if err := set("receive buffer", &o); err != nil {
			return err
		}
	}
	if t.MinRTO > 0 {
		o := tcpip.TCPMinRTOOption(t.MinRTO)
		if err := set("min RTO", &o); err != nil {
			return err
		}
	}
	if t.MaxRTO > 0 {
		o := tcpip.TCPMaxRTOOption(t.MaxRTO)
		if err := set("max RTO", &o); err != nil {
			return err
		}
	}
	if t.SynRetries > 0 {
		o := tcpip.TCPSynRetriesOption(t.SynRetries)
		if err := set("SYN retries", &o); err != nil {
			return err
		}
	}
	if t.TimeWait > 0 {
		o := tcpip.TCPTimeWaitTimeoutOption(t.TimeWait)
		if err := set("TIME_WAIT", &o); err != nil {
			return err
		}
	}
	reuse, _ := t.TimeWaitReuse.netstack()
	if err := set("TIME_WAIT reuse", &reuse); err != nil {
		return err
	}
	return nil
}

func mergeRange(cur, want BufferRange) BufferRange {
	if want.Min > 0 {
		cur.Min = want.Min
	}
	if want.Default > 0 {
		cur.Default = want.Default
	}
	if want.Max > 0 {
		cur.Max = want.Max
	}
	return cur
}

// Netstack returns the underlying netstack stack, for creating endpoints
// and for anything this package does not wrap.
func (s *Stack) Netstack() *netstack.Stack { return s.ns }

// Clock returns the clock every timer of this stack reads.
func (s *Stack) Clock() tcpip.Clock { return s.ns.Clock() }

// TCP returns the TCP options the stack was built with.
func (s *Stack) TCP() TCPOptions { return s.opts.TCP }

// NICID returns the netstack ID of the named NIC.
func (s *Stack) NICID(name string) (tcpip.NICID, bool) {
	id, ok := s.nics[name]
	return id, ok
}

// GuardStats counts what the stack's link path did to repair netstack's
// TCP.
type GuardStats struct {
	// SYNFloodDrops is the number of received SYNs dropped because netstack
	// had not yet answered as many as the flood guard lets wait for one
	// local port, or because they came fragmented.
	SYNFloodDrops uint64
	// SYNRestamps is the number of retransmitted SYNs whose timestamp was
	// advanced to the time they were sent (netstack resends a SYN with the
	// timestamp of the first, which inflates the first RTT sample).
	SYNRestamps uint64
	// StaleACKWindows is the number of received segments whose window was
	// set to that of a newer ACK received before them (they arrived
	// reordered; netstack would have widened its send window past what the
	// peer offered).
	StaleACKWindows uint64
	// HeldSegments is the number of received data segments netstack
	// refused for want of receive buffer memory that the link path held
	// to deliver again; HoldOverflows those it let drop because the
	// connection or the stack held all it may; HoldZeroWindows the
	// segments sent with a zero window while segments of their connection
	// waited.
	HeldSegments, HoldOverflows, HoldZeroWindows uint64
}

// GuardStats returns the counts of the stack's link-path repairs.
func (s *Stack) GuardStats() GuardStats {
	g := GuardStats{SYNFloodDrops: s.flood.dropped.Load(), SYNRestamps: s.stamps.restamped.Load()}
	if s.acks != nil {
		g.StaleACKWindows = s.acks.rewritten.Load()
	}
	if s.hold != nil {
		g.HeldSegments, g.HoldOverflows, g.HoldZeroWindows = s.hold.held.Load(), s.hold.overflowed.Load(), s.hold.closedWindows.Load()
	}
	return g
}

// ErrUnknownHost is returned by LookupHost for a name that is neither an
// address literal nor in the host table.
var ErrUnknownHost = errors.New("unknown host")

// LookupHost resolves name through the host table; an address literal
// resolves to itself. The order is the table's (IPv4 first for localhost).
func (s *Stack) LookupHost(name string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if addrs, ok := s.hosts[strings.ToLower(name)]; ok && len(addrs) > 0 {
		return append([]netip.Addr(nil), addrs...), nil
	}
	return nil, fmt.Errorf("stack: %q: %w", name, ErrUnknownHost)
}

// Addresses returns every address of every NIC, loopback included, in
// NIC order (loopback first, then Options.NICs as configured), each NIC's
// addresses sorted. netstack keeps NICs in a map, so without the sort two
// calls on the same stack could disagree.
func (s *Stack) Addresses() []netip.Prefix {
	info := s.ns.NICInfo()
	ids := make([]tcpip.NICID, 0, len(info))
	for id := range info {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var out []netip.Prefix
	for _, id := range ids {
		first := len(out)
		for _, pa := range info[id].ProtocolAddresses {
			a, _ := netip.AddrFromSlice(pa.AddressWithPrefix.Address.AsSlice())
			out = append(out, netip.PrefixFrom(a, pa.AddressWithPrefix.PrefixLen))
		}
		slices.SortFunc(out[first:], func(x, y netip.Prefix) int {
			if c := x.Addr().Compare(y.Addr()); c != 0 {
				return c
			}
			return x.Bits() - y.Bits()
		})
	}
	return out
}

// Close aborts every endpoint, stops every goroutine the stack started and
// closes its links. It waits for all of them, so no goroutine of the stack
// outlives it. Close is idempotent.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		if s.hold != nil {
			s.hold.close()
		}
		s.ns.Close()
		s.ns.Wait()
		// netstack's Wait waits for each link before it closes it (the
		// Close is deferred past the Wait in removeNICLocked), and a
		// link's Wait returns at once while the link is open: a link
		// goroutine in the middle of a delivery would outlive Close.
		// The links are closed now; wait for them again.
		for _, n := range s.opts.NICs {
			n.Link.Wait()
		}
	})
}

// processorsMu serializes the GOMAXPROCS change of stack creation.
var processorsMu sync.Mutex

// newNetstackWithProcessors creates a netstack stack whose TCP protocol
// has procs processor goroutines. The count is read from GOMAXPROCS inside
// tcp.NewProtocol and has no option of its own.
func newNetstackWithProcessors(procs int, o netstack.Options) *netstack.Stack {
	processorsMu.Lock()
	defer processorsMu.Unlock()
	prev := runtime.GOMAXPROCS(procs)
	defer runtime.GOMAXPROCS(prev)
	return netstack.New(o)
}

// SeededRNG returns a reader of pseudo-random bytes determined by seed and
// safe for concurrent use, for Options.SecureRNG in reproducible runs
// (tests, simulation). It is not secret: ISNs and ports become guessable.
// Give each stack its own seed, or two stacks pick the same ports and
// sequence numbers.
func SeededRNG(seed uint64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "usertcp SecureRNG")
	return &lockedReader{r: randv2.NewChaCha8(key)}
}

// SeededSource returns a math/rand source determined by seed and safe for
// concurrent use, for Options.RandSource in reproducible runs.
func SeededSource(seed uint64) rand.Source {
	return &lockedSource{src: rand.NewSource(int64(seed))}
}

type lockedReader struct {
	mu sync.Mutex
	r  *randv2.ChaCha8
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

type lockedSource struct {
	mu  sync.Mutex
	src rand.Source
}

func (s *lockedSource) Int63() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src.Int63()
}

func (s *lockedSource) Seed(seed int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src.Seed(seed)
}
