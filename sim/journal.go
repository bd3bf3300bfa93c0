package sim

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/link/memlink"
)

// Fate is what became of a frame.
type Fate int

// The fates of a frame. Result.Frames holds the frames that reached the
// receiver's port (in the trace hash): Delivered, and some Down ones;
// the others are in Result.Undelivered.
const (
	// Delivered: the receiving stack took it.
	Delivered Fate = iota
	// Down: its receiver was down (crashed); no stack took it. In
	// Frames if it reached the receiver's port as it closed, in
	// Undelivered if it was sent after (At is then its send time).
	Down
	// Dropped: the link's Loss dropped it as it was sent.
	Dropped
	// Cut: a partition or a one-way cut dropped it as it was sent.
	Cut
	// Unroutable: no host has its destination (To is empty).
	Unroutable
	// Crashed: its sender crashed while it was on the way.
	Crashed
	// InFlight: it was still on the way when the run ended.
	InFlight
)

var fateNames = [...]string{"delivered", "down", "dropped", "cut", "unroutable", "crashed", "in flight"}

// String returns the fate's name: "delivered", "dropped", "in flight", ...
func (f Fate) String() string {
	if f >= 0 && int(f) < len(fateNames) {
		return fateNames[f]
	}
	return fmt.Sprintf("Fate(%d)", int(f))
}

// EventKind says what an Event is.
type EventKind int

// The kinds of Event: what the run's events and processes did besides
// moving frames.
const (
	// EventPartition: Partition or Cut; Links are the directions cut.
	EventPartition EventKind = iota + 1
	// EventHeal: Heal; Links are the directions healed.
	EventHeal
	// EventHold: Hold; Links are the directions held.
	EventHold
	// EventRelease: Release; Links are the directions released.
	EventRelease
	// EventImpair: SetLoss, SetLatency, SetFaults or SetDelay; Text says
	// what was set on Links.
	EventImpair
	// EventCrash: Host crashed (Crash, or Restart of a host that was up).
	EventCrash
	// EventRestart: Host booted again (Restart).
	EventRestart
	// EventExit: a process of Host returned (Text: which, and the error
	// it returned after a crash of its host, which is no failure).
	EventExit
	// EventError: a process of Host failed: it returned an error or
	// panicked (Text: which, and the error). An event function that
	// panicked has no Host.
	EventError
	// EventFail: Sim.Fail, from a process of Host (none from an event).
	EventFail
	// EventNote: Sim.Note.
	EventNote
	// EventCall: a gentcp call (connect, listen, accept, send, recv) of
	// a process of Host returned an error (Text: the process, the call
	// and the error: "client <0.1.0> recv #Port<0.7>: timeout"). The
	// calls that fail as their host crashes are not recorded.
	EventCall
)

var eventNames = [...]string{"", "partition", "heal", "hold", "release", "impair", "crash", "restart", "exit", "error", "fail", "note", "call"}

// String returns the kind's name: "partition", "crash", "exit", ...
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something a run did besides delivering a frame: a change of
// the network, a crash or restart, a process that ended or failed, a
// note. Events are not part of the trace hash (they follow from the seed
// as the frames do).
type Event struct {
	At   time.Duration // virtual time
	Kind EventKind     // what happened
	// Host is the host a crash, restart, process event or note is on;
	// empty for network events.
	Host string
	// Links are the directions a network event selected, as (from, to)
	// host names, in host order.
	Links [][2]string
	// Text describes the event: the selector of a network event ("n1 |
	// n2 n3", "a→b"), the impairment set, the process and its error,
	// the note.
	Text string
}

// String describes the event in one line.
func (e Event) String() string {
	s := fmt.Sprintf("%v %s", e.At, e.Kind)
	if e.Host != "" {
		s += " " + e.Host
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// journal is what a run records besides the trace: every frame as it was
// sent, matched to its deliveries, the frames that never arrived, and
// the events. Frames are sent from the stacks' goroutines, so it has its
// own lock.
type journal struct {
	mu     sync.Mutex
	s      *Sim
	closed bool
	// down[i]: host i is down; what its closing stack sends is not a
	// frame of the run (the machine lost power).
	down []bool
	// pending are the frames on their way, in the order they were sent.
	pending     []*sending
	undelivered []Frame
	events      []Event
}

// sending is a frame on its way: copies of it are expected (two if the
// link duplicated it) and arrived so far.
type sending struct {
	frame           Frame
	copies, arrived int
	corrupt         bool
	// corruptSum is the Sum of the corrupted bytes, once a copy arrived.
	corruptSum  uint64
	corruptSeen bool
}

func newJournal(s *Sim, hosts int) *journal {
	return &journal{s: s, down: make([]bool, hosts)}
}

// frameOf makes the Frame of bytes b from one host to another (to nil for
// no host), sent and, for now, delivered at at.
func (s *Sim) frameOf(from, to *host, b []byte, at time.Duration) Frame {
	h := fnv.New64a()
	h.Write(b)
	f := Frame{At: at, Sent: at, From: from.name, Len: len(b), Sum: h.Sum64(),
		Head:     append([]byte(nil), b[:min(len(b), headLen)]...),
		Ethernet: s.opts.Link.Ethernet,
	}
	if to != nil {
		f.To = to.name
		switch {
		case from.index == 0 && to.index == 1:
			f.Dir = AtoB
		case from.index == 1 && to.index == 0:
			f.Dir = BtoA
		}
	}
	return f
}

// hostByAddr returns the host whose address a frame is sent to, nil if
// none has it or the frame is no IP packet.
func (s *Sim) hostByAddr(b []byte) *host {
	if s.opts.Link.Ethernet {
		if len(b) < header.EthernetMinimumSize {
			return nil
		}
		b = b[header.EthernetMinimumSize:]
	}
	var dst netip.Addr
	switch {
	case len(b) >= header.IPv4MinimumSize && header.IPVersion(b) == header.IPv4Version:
		dst, _ = netip.AddrFromSlice(header.IPv4(b).DestinationAddressSlice())
	case len(b) >= header.IPv6MinimumSize && header.IPVersion(b) == header.IPv6Version:
		dst, _ = netip.AddrFromSlice(header.IPv6(b).DestinationAddressSlice())
	default:
		return nil
	}
	for _, h := range s.hosts {
		if slices.Contains(h.addrs(), dst) {
			return h
		}
	}
	return nil
}

// sent is the network's observer: a frame entered the network.
func (j *journal) sent(m memlink.Sent) {
	s := j.s
	from := s.byPort[m.From]
	to := s.byPort[m.To]
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || from == nil || j.down[from.index] {
		return
	}
	if m.Unroutable {
		// To a host that is down (its port is gone): a frame to it.
		if h := s.hostByAddr(m.Bytes); h != nil && j.down[h.index] {
			f := s.frameOf(from, h, m.Bytes, s.Now())
			f.Fate = Down
			j.undelivered = append(j.undelivered, f)
			return
		}
	}
	f := s.frameOf(from, to, m.Bytes, s.Now())
	switch {
	case m.Unroutable:
		f.Fate = Unroutable
	case m.Cut:
		f.Fate = Cut
	case m.Dropped:
		f.Fate = Dropped
	default:
		sd := &sending{frame: f, copies: 1, corrupt: m.Corrupted}
		if m.Duplicated {
			sd.copies = 2
		}
		j.pending = append(j.pending, sd)
		return
	}
	j.undelivered = append(j.undelivered, f)
}

// delivered matches a frame the network delivered to the one sent: the
// oldest on its way between the same hosts with the same bytes, or, for
// a corrupted frame, the oldest corrupted one of the same length. It
// fills in the send time and what happened on the way.
func (j *journal) delivered(f *Frame, mf memlink.Frame) {
	f.Held = mf.Held
	if mf.Lost {
		f.Fate = Down
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	i := j.match(f)
	if i < 0 {
		return
	}
	sd := j.pending[i]
	f.Sent = sd.frame.Sent
	f.Corrupted = sd.corrupt
	f.Duplicate = sd.arrived == 1
	sd.arrived++
	if sd.arrived == sd.copies {
		j.pending = append(j.pending[:i], j.pending[i+1:]...)
	}
}

func (j *journal) match(f *Frame) int {
	corrupt := -1
	for i, sd := range j.pending {
		p := &sd.frame
		if p.From != f.From || p.To != f.To || p.Len != f.Len {
			continue
		}
		switch {
		case !sd.corrupt && p.Sum == f.Sum:
			return i
		case sd.corrupt && sd.corruptSeen && sd.corruptSum == f.Sum:
			return i
		case sd.corrupt && !sd.corruptSeen && p.Sum != f.Sum && corrupt < 0:
			corrupt = i
		}
	}
	if corrupt >= 0 {
		// The bytes of no frame sent: a corrupted one.
		sd := j.pending[corrupt]
		sd.corruptSeen, sd.corruptSum = true, f.Sum
	}
	return corrupt
}

// crashed records that a host went down: the frames it had on their way
// are lost with it.
func (j *journal) crashed(h *host, at time.Duration) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.down[h.index] = true
	keep := j.pending[:0]
	for _, sd := range j.pending {
		if sd.frame.From == h.name {
			f := sd.frame
			f.At, f.Fate = at, Crashed
			j.undelivered = append(j.undelivered, f)
			continue
		}
		keep = append(keep, sd)
	}
	clear(j.pending[len(keep):])
	j.pending = keep
}

// booted records that a host is up.
func (j *journal) booted(h *host) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.down[h.index] = false
}

// event records an event at the current virtual time.
func (j *journal) event(e Event) {
	e.At = j.s.Now()
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		j.events = append(j.events, e)
	}
}

// close ends the record at the end of the run: the frames still on their
// way are InFlight. It returns the frames that never arrived and the
// events.
func (j *journal) close(at time.Duration) ([]Frame, []Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	for _, sd := range j.pending {
		if sd.arrived == 0 {
			f := sd.frame
			f.At, f.Fate = at, InFlight
			j.undelivered = append(j.undelivered, f)
		}
	}
	j.pending = nil
	return j.undelivered, j.events
}

// linkEvent records a network event on the directions ps that l
// selected.
func (s *Sim) linkEvent(kind EventKind, l Links, ps []pair, text string) {
	e := Event{Kind: kind, Text: describeLinks(s, l, ps)}
	if text != "" {
		e.Text += ": " + text
	}
	for _, p := range ps {
		e.Links = append(e.Links, [2]string{p.from.name, p.to.name})
	}
	s.journal.event(e)
}

// describeLinks names a selection of directions: "a→b", "a↔b", "n1 | n2
// n3" (groups), "everywhere".
func describeLinks(s *Sim, l Links, ps []pair) string {
	switch l := l.(type) {
	case everywhere:
		return "everywhere"
	case across:
		in := make([]bool, len(s.hosts))
		var groups []string
		for _, g := range l {
			groups = append(groups, strings.Join(g, " "))
			for _, name := range g {
				in[s.byName[name].index] = true
			}
		}
		var rest []string
		for _, h := range s.hosts {
			if !in[h.index] {
				rest = append(rest, h.name)
			}
		}
		if len(rest) > 0 {
			groups = append(groups, strings.Join(rest, " "))
		}
		return strings.Join(groups, " | ")
	}
	// A Dir or named pairs: each direction, both ways as one.
	var parts []string
	for i, p := range ps {
		both, seen := false, false
		for k, q := range ps {
			if q.from == p.to && q.to == p.from {
				both = true
				seen = k < i
			}
		}
		switch {
		case seen:
		case both:
			parts = append(parts, p.from.name+"↔"+p.to.name)
		default:
			parts = append(parts, p.from.name+"→"+p.to.name)
		}
	}
	return strings.Join(parts, ", ")
}

// callFailed returns the gentcp.CallObserver of host h's boot: it
// records a call of one of its processes that failed, while the run goes
// on and the host is in that boot (what fails as it crashes is no news).
// It runs on the calling task's goroutine, while the driver waits; a
// call from anywhere else is not recorded.
func (s *Sim) callFailed(h *host, boot uint64) func(call string, err error) {
	return func(call string, err error) {
		t := s.sched.running()
		if t == nil || t.proc == nil || t.goid.Load() != goid() || s.phase != phaseRunning || !h.up || h.boots != boot {
			return
		}
		s.journal.event(Event{Kind: EventCall, Host: h.name, Text: t.name + " " + call + ": " + err.Error()})
	}
}

// Note records text as an event on the named host's lane of the run's
// timeline (EventNote): what a process did that a frame does not show
// ("put x=1 acknowledged"). A name no host has is an error.
func (s *Sim) Note(host, text string) error {
	if _, err := s.host(host); err != nil {
		return err
	}
	s.journal.event(Event{Kind: EventNote, Host: host, Text: text})
	return nil
}
