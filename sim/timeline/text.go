package timeline

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/usertcp/usertcp/sim"
)

// textLine is one line of the text diagram: an arrow at its send time, a
// mark, or a band's start or end.
type textLine struct {
	at   time.Duration
	kind int // rowSend, rowMark, rowBandStart, rowBandEnd
	ref  int
}

// WriteText writes the timeline as a plain-text sequence diagram, a line
// per frame (at its send time), mark and band edge, in time order:
//
//	time  a                 b
//	  0s  |<-------SYN------|   b→a 10.0.0.2:49152 > 10.0.0.1:7 [S] seq 1 … (sent 0s, arrived 1ms)
//	 1ms  |----SYN,ACK----->|   a→b …
//	 2ms  |-----ACK--x      |   a→b … (sent 2ms, dropped)
//	  1s  #                 #   partition a↔b begins
//
// A lane is blank while its host is down; '#' marks the lanes of a band
// where it begins and ends, '*' a mark, '=' a folded run of frames, 'x'
// where a frame was lost. A gap of GapMark or more between lines gets a
// line of its own ("+9.8s").
func (tl *Timeline) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	laneW := 24
	for _, h := range tl.Lanes {
		laneW = max(laneW, len([]rune(h))+4)
	}
	center := func(h string) int { return slices.Index(tl.Lanes, h)*laneW + laneW/2 }
	width := len(tl.Lanes) * laneW

	var lines []textLine
	for i, a := range tl.Arrows {
		lines = append(lines, textLine{a.Sent, rowSend, i})
	}
	for i, m := range tl.Marks {
		lines = append(lines, textLine{m.At, rowMark, i})
	}
	for i, b := range tl.Bands {
		lines = append(lines, textLine{b.Start, rowBandStart, i})
		if !b.Open {
			lines = append(lines, textLine{b.End, rowBandEnd, i})
		}
	}
	slices.SortStableFunc(lines, func(a, b textLine) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.kind, b.kind), cmp.Compare(a.ref, b.ref))
	})

	fmt.Fprintln(bw, tl.caption())
	head := []rune(strings.Repeat(" ", width))
	for _, h := range tl.Lanes {
		name := []rune(h)
		copy(head[center(h)-len(name)/2:], name)
	}
	fmt.Fprintf(bw, "%14s  %s\n", "time", strings.TrimRight(string(head), " "))

	// base is the lanes at time t: '|', or blank for a host that is down.
	base := func(t time.Duration) []rune {
		b := []rune(strings.Repeat(" ", width))
		for _, h := range tl.Lanes {
			if !tl.down(h, t) {
				b[center(h)] = '|'
			}
		}
		return b
	}
	emit := func(t time.Duration, lanes []rune, text string) {
		fmt.Fprintf(bw, "%14s  %s   %s\n", t, string(lanes), text)
	}
	for n, l := range lines {
		if n > 0 && l.at-lines[n-1].at >= GapMark {
			fmt.Fprintf(bw, "%14s  %s\n", "+"+(l.at-lines[n-1].at).String(), strings.TrimRight(string(base(l.at)), " "))
		}
		lanes := base(l.at)
		switch l.kind {
		case rowSend:
			a := tl.Arrows[l.ref]
			drawArrow(lanes, a, center, laneW)
			emit(l.at, lanes, a.Title)
		case rowMark:
			m := tl.Marks[l.ref]
			text := m.Kind.String()
			if m.Host != "" {
				lanes[center(m.Host)] = '*'
				text += " " + m.Host
			} else {
				for _, h := range tl.Lanes {
					lanes[center(h)] = '~'
				}
			}
			if m.Text != "" {
				text += ": " + m.Text
			}
			emit(l.at, lanes, text)
		case rowBandStart, rowBandEnd:
			b := tl.Bands[l.ref]
			for _, h := range b.Hosts {
				lanes[center(h)] = '#'
			}
			edge := "begins"
			if l.kind == rowBandEnd {
				edge = "ends"
			} else if b.Open {
				edge = "begins, to the end"
			}
			emit(l.at, lanes, fmt.Sprintf("%s %s %s", b.Kind, b.Text, edge))
		}
	}
	return bw.Flush()
}

// down reports whether host h is in a Down band at t.
func (tl *Timeline) down(h string, t time.Duration) bool {
	for _, b := range tl.Bands {
		if b.Kind == Down && b.Hosts[0] == h && t >= b.Start && (t < b.End || b.Open) {
			return true
		}
	}
	return false
}

// drawArrow draws an arrow on a line of lanes: '-' ('=' folded) from the
// sender's lane toward the receiver's, the label in the middle, '>' or
// '<' where it arrived, 'x' where it was lost.
func drawArrow(lanes []rune, a Arrow, center func(string) int, laneW int) {
	from := center(a.From)
	var to int
	switch {
	case a.To != "":
		to = center(a.To)
	case from+laneW/2 < len(lanes):
		to = from + laneW/2
	default:
		to = from - laneW/2
	}
	dir := 1
	if to < from {
		dir = -1
	}
	// end is the last position drawn: the one before the receiver's
	// lane, or where the frame was lost.
	end := to - dir
	switch {
	case a.To == "" || lostOnSend(a):
		end = from + (to-from)*2/5
	case a.Fate == sim.Crashed || a.Fate == sim.InFlight:
		end = from + (to-from)/2
	}
	shaft := '-'
	if a.Folded() {
		shaft = '='
	}
	for x := from + dir; x != end+dir; x += dir {
		lanes[x] = shaft
	}
	switch {
	case a.Fate != sim.Delivered:
		lanes[end] = 'x'
	case dir > 0:
		lanes[end] = '>'
	default:
		lanes[end] = '<'
	}
	// The label, centred between the ends, if it fits with a shaft
	// character on each side.
	lo, hi := min(from, end)+2, max(from, end)-2
	label := []rune(a.Label)
	if a.Duplicate {
		label = append(label, []rune(" dup")...)
	}
	if a.Corrupted {
		label = append(label, []rune(" bad")...)
	}
	if room := hi - lo + 1; room >= 1 {
		if len(label) > room {
			label = label[:room]
		}
		copy(lanes[lo+(room-len(label))/2:], label)
	}
}
