package sim

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/link/memlink"
)

// headLen is how many bytes of each frame a Result keeps: enough for the
// Ethernet, IP and TCP headers with options.
const headLen = 128

// Frame is one frame of a run: delivered (Result.Frames) or lost on the
// way (Result.Undelivered).
type Frame struct {
	// At is the virtual time of the delivery, or of the loss of a frame
	// that never arrived: when it was sent (Dropped, Cut, Unroutable),
	// when its sender crashed, the end of the run (InFlight).
	At time.Duration
	// Sent is the virtual time its sender wrote it.
	Sent     time.Duration
	From, To string // the hosts that sent and received it
	// Dir is AtoB or BtoA for a frame between the first two hosts (A
	// and B), 0 for any other.
	Dir Dir
	Len int    // bytes on the wire
	Sum uint64 // FNV-1a of the whole frame (as delivered)
	// Head is the start of the frame (up to 128 bytes: the headers).
	Head []byte
	// Ethernet says Head starts with an Ethernet header.
	Ethernet bool

	// Fate is what became of it; what else happened on the way:
	// Duplicate (the second copy of a frame the link duplicated),
	// Corrupted (a bit flipped; Head and Sum are of the bytes
	// delivered), Held (a Hold kept it back). None of these is in the
	// trace hash.
	Fate                       Fate
	Duplicate, Corrupted, Held bool
}

// same reports whether two frames are the same delivery.
func (f Frame) same(g Frame) bool {
	return f.At == g.At && f.From == g.From && f.To == g.To && f.Len == g.Len && f.Sum == g.Sum
}

// String describes the frame in one line, tcpdump-like:
//
//	1.002001s b→a 10.0.0.2:40000 > 10.0.0.1:7 [S] seq 1234 win 65535 len 0 (60 B, fnv 1f2e…)
func (f Frame) String() string {
	s := fmt.Sprintf("%v %s→%s %s (%d B, fnv %016x)", f.At, f.From, f.To, describe(f.Head, f.Ethernet), f.Len, f.Sum)
	for _, fl := range []struct {
		on   bool
		name string
	}{{f.Fate != Delivered, f.Fate.String()}, {f.Duplicate, "duplicate"}, {f.Corrupted, "corrupted"}, {f.Held, "held"}} {
		if fl.on {
			s += " " + fl.name
		}
	}
	return s
}

// record adds a delivered frame to the trace: its virtual time, the
// hosts that sent and received it (by index) and its bytes go into the
// hash; the journal finds when it was sent and what happened on the way.
func (s *Sim) record(from, to *host, mf memlink.Frame) {
	b := mf.Bytes
	at := s.Now()
	var hdr [16]byte
	binary.BigEndian.PutUint64(hdr[0:], uint64(at))
	binary.BigEndian.PutUint16(hdr[8:], uint16(from.index))
	binary.BigEndian.PutUint16(hdr[10:], uint16(to.index))
	binary.BigEndian.PutUint32(hdr[12:], uint32(len(b)))
	s.trace.Write(hdr[:])
	s.trace.Write(b)
	f := s.frameOf(from, to, b, at)
	s.journal.delivered(&f, mf)
	s.frames = append(s.frames, f)
}

// Segment is a TCP segment's header, as a frame's Head holds it.
type Segment struct {
	Src, Dst netip.AddrPort  // the segment's addresses and ports
	Flags    header.TCPFlags // SYN, ACK, FIN, RST, PSH, ...
	Seq, Ack uint32          // Ack is meaningful with the ACK flag
	Window   uint16          // the window field as sent, unscaled
	// Len is the payload's length, from the IP header's length.
	Len int
}

// Segment returns the TCP segment the frame carries; ok is false for a
// frame that is no TCP segment (ARP, ICMP) or too short to tell, and
// then what says what it is instead ("ARP", "short IPv4 packet").
func (f Frame) Segment() (seg Segment, what string, ok bool) {
	return parseSegment(f.Head, f.Ethernet)
}

func parseSegment(b []byte, ethernet bool) (Segment, string, bool) {
	if ethernet {
		if len(b) < header.EthernetMinimumSize {
			return Segment{}, "short Ethernet frame", false
		}
		switch header.Ethernet(b).Type() {
		case header.ARPProtocolNumber:
			return Segment{}, "ARP", false
		case header.IPv4ProtocolNumber, header.IPv6ProtocolNumber:
		default:
			return Segment{}, fmt.Sprintf("ethertype %#04x", header.Ethernet(b).Type()), false
		}
		b = b[header.EthernetMinimumSize:]
	}
	if len(b) == 0 {
		return Segment{}, "empty frame", false
	}
	var src, dst netip.Addr
	var proto uint8
	var payload []byte
	var ipLen int
	switch header.IPVersion(b) {
	case header.IPv4Version:
		ip := header.IPv4(b)
		if len(b) < header.IPv4MinimumSize || int(ip.HeaderLength()) > len(b) {
			return Segment{}, "short IPv4 packet", false
		}
		src, _ = netip.AddrFromSlice(ip.SourceAddressSlice())
		dst, _ = netip.AddrFromSlice(ip.DestinationAddressSlice())
		proto = ip.Protocol()
		payload = b[ip.HeaderLength():]
		ipLen = int(ip.TotalLength()) - int(ip.HeaderLength())
	case header.IPv6Version:
		ip := header.IPv6(b)
		if len(b) < header.IPv6MinimumSize {
			return Segment{}, "short IPv6 packet", false
		}
		src, _ = netip.AddrFromSlice(ip.SourceAddressSlice())
		dst, _ = netip.AddrFromSlice(ip.DestinationAddressSlice())
		proto = ip.NextHeader()
		payload = b[header.IPv6MinimumSize:]
		ipLen = int(ip.PayloadLength())
	default:
		return Segment{}, fmt.Sprintf("IP version %d", header.IPVersion(b)), false
	}
	if proto != uint8(header.TCPProtocolNumber) {
		return Segment{}, fmt.Sprintf("%v > %v proto %d", src, dst, proto), false
	}
	if len(payload) < header.TCPMinimumSize {
		return Segment{}, fmt.Sprintf("%v > %v short TCP segment", src, dst), false
	}
	t := header.TCP(payload)
	return Segment{
		Src: netip.AddrPortFrom(src, t.SourcePort()), Dst: netip.AddrPortFrom(dst, t.DestinationPort()),
		Flags: t.Flags(), Seq: t.SequenceNumber(), Ack: t.AckNumber(), Window: t.WindowSize(),
		Len: ipLen - int(t.DataOffset()),
	}, "", true
}

// FlagString returns the flags as tcpdump shows them: "S", "S.", "P.",
// "F.", "R".
func (g Segment) FlagString() string {
	var flags strings.Builder
	for _, fl := range []struct {
		bit  header.TCPFlags
		name byte
	}{{header.TCPFlagSyn, 'S'}, {header.TCPFlagFin, 'F'}, {header.TCPFlagRst, 'R'}, {header.TCPFlagPsh, 'P'}, {header.TCPFlagUrg, 'U'}, {header.TCPFlagAck, '.'}} {
		if g.Flags.Contains(fl.bit) {
			flags.WriteByte(fl.name)
		}
	}
	return flags.String()
}

// String describes the segment tcpdump-like: "10.0.0.2:40000 >
// 10.0.0.1:7 [S] seq 1234 win 65535 len 0".
func (g Segment) String() string {
	s := fmt.Sprintf("%v > %v [%s] seq %d", g.Src, g.Dst, g.FlagString(), g.Seq)
	if g.Flags.Contains(header.TCPFlagAck) {
		s += fmt.Sprintf(" ack %d", g.Ack)
	}
	return s + fmt.Sprintf(" win %d len %d", g.Window, g.Len)
}

func describe(b []byte, ethernet bool) string {
	seg, what, ok := parseSegment(b, ethernet)
	if !ok {
		return what
	}
	return seg.String()
}

// FirstDivergence returns the index of the first frame where two runs
// differ (time, direction, length or bytes); ok is false if their traces
// are the same.
func FirstDivergence(a, b *Result) (i int, ok bool) {
	n := min(len(a.Frames), len(b.Frames))
	for i := range n {
		if !a.Frames[i].same(b.Frames[i]) {
			return i, true
		}
	}
	if len(a.Frames) != len(b.Frames) {
		return n, true
	}
	return 0, false
}

// Divergence describes where two runs differ: the first divergent frame
// of each, with the frame before it for context. It is empty if the
// traces are the same.
func Divergence(a, b *Result) string {
	i, ok := FirstDivergence(a, b)
	if !ok {
		return ""
	}
	frame := func(r *Result, i int) string {
		if i < len(r.Frames) {
			return r.Frames[i].String()
		}
		return fmt.Sprintf("(none: the run delivered %d frames)", len(r.Frames))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "traces diverge at frame %d of %d/%d (seed %d)\n", i, len(a.Frames), len(b.Frames), a.Seed)
	if i > 0 {
		fmt.Fprintf(&sb, "  both:  #%d %s\n", i-1, frame(a, i-1))
	}
	fmt.Fprintf(&sb, "  first: #%d %s\n", i, frame(a, i))
	fmt.Fprintf(&sb, "  other: #%d %s", i, frame(b, i))
	return sb.String()
}

// TB is the part of testing.TB that Repeat uses.
type TB interface {
	Helper()                           // as testing.TB.Helper
	Logf(format string, args ...any)   // as testing.TB.Logf
	Fatalf(format string, args ...any) // as testing.TB.Fatalf
}

// Repeat runs the same simulation n times (opts and setup as for Run) and
// fails tb, naming the seed and the first divergent frame, unless every
// run has the first run's trace hash and error. It returns the first
// run's result and error, for the caller to check.
func Repeat(tb TB, opts Options, n int, setup func(s *Sim)) (*Result, error) {
	tb.Helper()
	var first *Result
	var firstErr error
	for i := range n {
		res, err := Run(opts, setup)
		if res == nil {
			tb.Fatalf("sim seed %d, run %d: %v", opts.Seed, i+1, err)
			return nil, err
		}
		if i == 0 {
			first, firstErr = res, err
			continue
		}
		if res.Hash != first.Hash {
			tb.Fatalf("sim seed %d: run %d of %d gave trace %s, run 1 gave %s\n%s",
				opts.Seed, i+1, n, res.Hash[:16], first.Hash[:16], Divergence(first, res))
		}
		if errText(err) != errText(firstErr) {
			tb.Fatalf("sim seed %d: run %d of %d failed differently from run 1 (same trace):\nrun 1: %s\nrun %d: %s",
				opts.Seed, i+1, n, errText(firstErr), i+1, errText(err))
		}
	}
	return first, firstErr
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
