// Package timeline draws a simulated run (a sim.Result) as a sequence
// diagram: the hosts are lanes, virtual time runs down, every frame is an
// arrow from its sender at its send time to its receiver at its delivery
// (SYN, FIN, RST, data and pure ACKs told apart; dropped, cut,
// duplicated, corrupted and held frames marked), partitions, holds and
// the time a host is down are bands over the lanes they cover, and
// crashes, restarts, process ends, failed gentcp calls, failures and
// notes are marks on their host's lane.
//
//	res, err := sim.Run(opts, setup)
//	tl, err := timeline.New(res, timeline.Options{})
//	tl.WriteSVG(f)   // a self-contained SVG: hover an arrow for its segment
//	tl.WriteText(os.Stdout) // a plain-text diagram for terminals and CI logs
//
// Options pick a window of time and a subset of the hosts, and fold long
// runs of ordinary data and ACK exchanges into one labelled arrow.
// Rendering is deterministic: the same run gives the same bytes.
package timeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/usertcp/usertcp/sim"
)

// DefaultFold is the shortest run of data and ACK exchanges that
// Options.Fold zero folds into one arrow.
const DefaultFold = 8

// Options choose what a timeline shows. The zero value shows the whole
// run, every host, and folds runs of DefaultFold exchanges.
type Options struct {
	// From and To bound the window of virtual time: arrows sent in it,
	// marks in it, bands overlapping it (cut to it). To zero means the
	// end of the run.
	From, To time.Duration
	// Hosts are the lanes, in this order; empty means every host in the
	// run's order. A frame is shown if both its ends are (a frame to no
	// host, if its sender is).
	Hosts []string
	// Fold is the shortest run of consecutive data and pure-ACK frames
	// between two hosts, with nothing else happening to them (no other
	// frame between them, no loss, no pause of GapMark, no mark or band
	// on either lane), drawn as one arrow; zero means DefaultFold, a negative value never
	// folds.
	Fold int
}

// Kind tells frames apart on a timeline.
type Kind int

// The kinds of arrow.
const (
	// SYN: a SYN or a SYN-ACK.
	SYN Kind = iota
	// FIN: a segment with FIN (data or not).
	FIN
	// RST: a segment with RST.
	RST
	// Data: a segment carrying payload, without SYN, FIN or RST.
	Data
	// ACK: a pure ACK (no payload, no other flag but PSH).
	ACK
	// Other: not a TCP segment (ARP, ICMP, unparsable).
	Other
)

var kindNames = [...]string{"syn", "fin", "rst", "data", "ack", "other"}

// String returns the kind's name: "syn", "fin", "rst", "data", "ack",
// "other".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Arrow is one frame, or a folded run of them, from one lane to another.
type Arrow struct {
	// From and To are the hosts; To is empty for a frame no host owns.
	From, To string
	// Sent is when it left; At when it arrived or was lost (the send
	// time for a frame dropped or cut on the way out); Last when the last
	// frame of a folded run left (Sent for one frame).
	Sent, At, Last time.Duration
	Kind           Kind     // what the frame is: SYN, FIN, RST, data, ACK, other
	Fate           sim.Fate // what became of it: delivered, dropped, cut, ...
	// What else happened on the way (see sim.Frame).
	Duplicate, Corrupted, Held bool
	// Label is the short text on the arrow ("SYN", "SYN,ACK", "1420 B",
	// "ACK", "12 frames, 16.8 kB"); Title the summary a viewer shows on
	// hover: addresses and ports, flags, seq and ack, length, fate.
	Label, Title string
	// Frames is how many frames the arrow stands for: 1, or the length
	// of a folded run. Bytes is their payload.
	Frames, Bytes int
}

// Folded reports whether the arrow stands for a run of frames.
func (a Arrow) Folded() bool { return a.Frames > 1 }

// Mark is an event on a lane: a crash, restart, process exit or error, a
// gentcp call that returned an error, a failure, a note; or an event of
// the whole network (Host empty): an impairment changed, an event
// function that panicked.
type Mark struct {
	At   time.Duration // virtual time of the event
	Host string        // the host's lane, or empty for the whole network
	Kind sim.EventKind // what happened
	Text string        // the event's text: the error, the note, the change
}

// BandKind tells bands apart.
type BandKind int

// The kinds of band.
const (
	// Partition: directions cut (Partition, Cut) until healed.
	Partition BandKind = iota
	// Hold: directions held until released.
	Hold
	// Down: a host crashed, until it restarted.
	Down
)

var bandNames = [...]string{"partition", "hold", "down"}

// String returns the kind's name: "partition", "hold", "down".
func (k BandKind) String() string {
	if k >= 0 && int(k) < len(bandNames) {
		return bandNames[k]
	}
	return fmt.Sprintf("BandKind(%d)", int(k))
}

// Band is a stretch of time over some lanes: a partition or hold of some
// directions, or a host that is down.
type Band struct {
	Kind       BandKind      // partition, hold or down
	Start, End time.Duration // virtual times; End is the run's or the window's end if Open
	// Hosts are the lanes it covers, in lane order: the hosts of its
	// directions, or the host that is down.
	Hosts []string
	// Links are the directions a partition or hold selected.
	Links [][2]string
	// Text describes it: the selector ("n1 | n2 n3"), the host.
	Text string
	// Open: it had not ended when the run (or the window) ended.
	Open bool
}

// Timeline is a run laid out for drawing.
type Timeline struct {
	Seed uint64 // the run's seed
	Hash string // the run's trace hash (sim.Result.Hash)
	// Elapsed is the run's virtual time; From and To the window shown.
	Elapsed, From, To time.Duration
	Lanes             []string // the hosts, one lane each, left to right
	// Arrows are in the order they were sent; Marks and Bands in time
	// order.
	Arrows []Arrow
	Marks  []Mark
	Bands  []Band
}

// ErrBadOptions is wrapped by New's errors: a host the run does not
// have, a window that ends before it starts. Test with errors.Is.
var ErrBadOptions = errors.New("timeline: bad options")

// New lays out res as opts say.
func New(res *sim.Result, opts Options) (*Timeline, error) {
	if res == nil {
		return nil, fmt.Errorf("%w: no result", ErrBadOptions)
	}
	tl := &Timeline{Seed: res.Seed, Hash: res.Hash, Elapsed: res.Elapsed, From: opts.From, To: opts.To}
	if tl.To <= 0 || tl.To > res.Elapsed {
		tl.To = res.Elapsed
	}
	if opts.From < 0 || tl.From > tl.To {
		return nil, fmt.Errorf("%w: window %v to %v of a run of %v", ErrBadOptions, opts.From, opts.To, res.Elapsed)
	}
	var err error
	if tl.Lanes, err = lanes(res.Hosts, opts.Hosts); err != nil {
		return nil, err
	}
	shown := func(h string) bool { return slices.Contains(tl.Lanes, h) }
	inWindow := func(t time.Duration) bool { return t >= tl.From && t <= tl.To }

	frames := append(slices.Clone(res.Frames), res.Undelivered...)
	// In send order; the deliveries' order breaks ties, then the losses'.
	slices.SortStableFunc(frames, func(a, b sim.Frame) int { return cmpDur(a.Sent, b.Sent) })
	for _, f := range frames {
		if !inWindow(f.Sent) || !shown(f.From) || (f.To != "" && !shown(f.To)) {
			continue
		}
		tl.Arrows = append(tl.Arrows, arrowOf(f))
	}
	for _, e := range res.Events {
		switch e.Kind {
		case sim.EventPartition, sim.EventHeal, sim.EventHold, sim.EventRelease:
			continue
		}
		if inWindow(e.At) && (e.Host == "" || shown(e.Host)) {
			// One line: an error joined of several is several lines.
			text := strings.ReplaceAll(e.Text, "\n", "; ")
			tl.Marks = append(tl.Marks, Mark{At: e.At, Host: e.Host, Kind: e.Kind, Text: text})
		}
	}
	for _, b := range bands(res) {
		if b.End < tl.From || b.Start > tl.To {
			continue
		}
		b.Start = max(b.Start, tl.From)
		if b.End > tl.To {
			b.End, b.Open = tl.To, true
		}
		var hosts []string
		for _, h := range tl.Lanes {
			if slices.Contains(b.Hosts, h) {
				hosts = append(hosts, h)
			}
		}
		if len(hosts) > 0 {
			b.Hosts = hosts
			tl.Bands = append(tl.Bands, b)
		}
	}
	fold := opts.Fold
	if fold == 0 {
		fold = DefaultFold
	}
	if fold > 1 {
		tl.Arrows = tl.fold(fold)
	}
	return tl, nil
}

// lanes returns the hosts to show: want, or all.
func lanes(hosts, want []string) ([]string, error) {
	if len(want) == 0 {
		return slices.Clone(hosts), nil
	}
	var out []string
	for _, h := range want {
		if !slices.Contains(hosts, h) {
			return nil, fmt.Errorf("%w: the run has no host %q (its hosts: %s)", ErrBadOptions, h, strings.Join(hosts, " "))
		}
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out, nil
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// arrowOf makes the arrow of one frame.
func arrowOf(f sim.Frame) Arrow {
	a := Arrow{From: f.From, To: f.To, Sent: f.Sent, At: f.At, Last: f.Sent, Fate: f.Fate,
		Duplicate: f.Duplicate, Corrupted: f.Corrupted, Held: f.Held, Frames: 1}
	seg, what, ok := f.Segment()
	if !ok {
		a.Kind, a.Label = Other, what
		if len(a.Label) > 12 {
			a.Label = "frame"
		}
		a.Title = fmt.Sprintf("%s→%s %s, %d B", f.From, to(f.To), what, f.Len)
	} else {
		a.Kind, a.Label = classify(seg)
		a.Bytes = seg.Len
		a.Title = fmt.Sprintf("%s→%s %s", f.From, to(f.To), seg)
	}
	var notes []string
	switch f.Fate {
	case sim.Delivered:
		notes = append(notes, fmt.Sprintf("sent %v, arrived %v", f.Sent, f.At))
	case sim.Dropped, sim.Cut, sim.Unroutable:
		notes = append(notes, fmt.Sprintf("sent %v, %s", f.Sent, f.Fate))
	default:
		notes = append(notes, fmt.Sprintf("sent %v, %s at %v", f.Sent, f.Fate, f.At))
	}
	for _, fl := range []struct {
		on   bool
		name string
	}{{f.Duplicate, "duplicate"}, {f.Corrupted, "corrupted"}, {f.Held, "held"}} {
		if fl.on {
			notes = append(notes, fl.name)
		}
	}
	a.Title += " (" + strings.Join(notes, ", ") + ")"
	return a
}

func to(h string) string {
	if h == "" {
		return "?"
	}
	return h
}

// classify returns a segment's kind and label.
func classify(seg sim.Segment) (Kind, string) {
	fl := seg.Flags
	switch {
	case fl.Contains(header.TCPFlagRst):
		return RST, "RST"
	case fl.Contains(header.TCPFlagSyn) && fl.Contains(header.TCPFlagAck):
		return SYN, "SYN,ACK"
	case fl.Contains(header.TCPFlagSyn):
		return SYN, "SYN"
	case fl.Contains(header.TCPFlagFin):
		if seg.Len > 0 {
			return FIN, fmt.Sprintf("FIN %d B", seg.Len)
		}
		return FIN, "FIN"
	case seg.Len > 0:
		return Data, fmt.Sprintf("%d B", seg.Len)
	}
	return ACK, "ACK"
}

// bands finds the partitions, holds and down times of a run from its
// events. A partition or hold is one band per event, over the directions
// it cut that were not cut already; it ends when the last of them is
// healed (released). A host is down from its crash to its restart.
func bands(res *sim.Result) []Band {
	var out []Band
	cut, held := newOpenBands(), newOpenBands()
	down := map[string]int{} // host → its open Down band
	begin := func(st *openBands, kind BandKind, e sim.Event) {
		b := Band{Kind: kind, Start: e.At, Text: e.Text}
		for _, l := range e.Links {
			if _, ok := st.open[l]; !ok {
				b.Links = append(b.Links, l)
			}
		}
		if len(b.Links) == 0 {
			return
		}
		for _, l := range b.Links {
			st.open[l] = len(out)
			for _, h := range l {
				if !slices.Contains(b.Hosts, h) {
					b.Hosts = append(b.Hosts, h)
				}
			}
		}
		st.left[len(out)] = len(b.Links)
		out = append(out, b)
	}
	end := func(st *openBands, e sim.Event) {
		for _, l := range e.Links {
			i, ok := st.open[l]
			if !ok {
				continue
			}
			delete(st.open, l)
			if st.left[i]--; st.left[i] == 0 {
				out[i].End = e.At
				delete(st.left, i)
			}
		}
	}
	for _, e := range res.Events {
		switch e.Kind {
		case sim.EventPartition:
			begin(cut, Partition, e)
		case sim.EventHeal:
			end(cut, e)
		case sim.EventHold:
			begin(held, Hold, e)
		case sim.EventRelease:
			end(held, e)
		case sim.EventCrash:
			down[e.Host] = len(out)
			out = append(out, Band{Kind: Down, Start: e.At, Hosts: []string{e.Host}, Text: e.Host})
		case sim.EventRestart:
			if i, ok := down[e.Host]; ok {
				out[i].End = e.At
				delete(down, e.Host)
			}
		}
	}
	for i, b := range out {
		open := false
		switch b.Kind {
		case Partition:
			_, open = cut.left[i]
		case Hold:
			_, open = held.left[i]
		case Down:
			j, ok := down[b.Hosts[0]]
			open = ok && j == i
		}
		if open {
			out[i].End, out[i].Open = res.Elapsed, true
		}
	}
	return out
}

// openBands are the partition (or hold) bands not ended yet.
type openBands struct {
	open map[[2]string]int // direction → its band's index
	left map[int]int       // band index → how many of its directions are open
}

func newOpenBands() *openBands {
	return &openBands{open: map[[2]string]int{}, left: map[int]int{}}
}
