package timeline

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/usertcp/usertcp/sim"
)

// The SVG's geometry, in pixels.
const (
	svgLeft   = 110 // the time axis
	svgTop    = 56  // the hosts' names
	svgLaneW  = 170
	svgRowH   = 16
	svgGapH   = 22 // extra space where time jumps by GapMark or more
	svgBottom = 30
	svgRight  = 220 // the marks' text on the last lane
)

// GapMark is the jump of virtual time between two rows from which the
// drawings mark the gap ("+9.8s"): the rows are in order, not to scale.
const GapMark = 100 * time.Millisecond

// svgStyle colours the kinds of arrow, the fates and the bands. It is the
// only styling: the file fetches nothing.
const svgStyle = `
text { font-family: monospace; font-size: 11px; }
.lane line { stroke: #b0b0b0; stroke-width: 1; }
.lane text { font-weight: bold; font-size: 13px; text-anchor: middle; }
.axis text { fill: #555; text-anchor: end; }
.axis .gap { fill: #999; font-style: italic; }
.arrow line { stroke-width: 1.3; }
.arrow text { font-size: 10px; text-anchor: middle; }
.arrow.folded line { stroke-width: 5; stroke-opacity: 0.45; }
.syn line { stroke: #1b7f2a; } .syn text { fill: #1b7f2a; }
.fin line { stroke: #7b3fa0; } .fin text { fill: #7b3fa0; }
.rst line { stroke: #c62828; } .rst text { fill: #c62828; }
.data line { stroke: #1f5fbf; } .data text { fill: #1f5fbf; }
.ack line { stroke: #909090; } .ack text { fill: #707070; }
.other line { stroke: #a0702a; } .other text { fill: #a0702a; }
.lost line { stroke-dasharray: 4 3; }
.held line { stroke-dasharray: 1 3; }
.loss { stroke: #c62828; stroke-width: 2; }
.band rect { stroke: none; }
.band.partition rect { fill: #e53935; fill-opacity: 0.10; }
.band.hold rect { fill: #fb8c00; fill-opacity: 0.12; }
.band.down rect { fill: #616161; fill-opacity: 0.25; }
.band text { font-size: 10px; fill: #8d1c1c; }
.band.hold text { fill: #a35a00; }
.band.down text { fill: #333; }
.mark circle { stroke: #222; stroke-width: 1; fill: #fff; }
.mark.crash circle, .mark.error circle, .mark.fail circle { fill: #c62828; }
.mark.restart circle { fill: #1b7f2a; }
.mark.note circle { fill: #fdd835; }
.mark.call circle { fill: #fb8c00; }
.mark line { stroke: #555; stroke-dasharray: 6 3; }
.mark text { font-size: 10px; }
`

// WriteSVG writes the timeline as a self-contained SVG file: lanes with
// the hosts' names, the time of each row on the left, bands, arrows
// with their labels, and marks. Every element has a <title> (a viewer
// shows it on hover: a frame's addresses, ports, flags, seq, ack, length
// and fate) and data- attributes with its hosts and virtual times in
// nanoseconds, for tools. The same timeline gives the same bytes.
func (tl *Timeline) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	p := tl.plan()
	ys := make([]int, len(p.rows))
	y := svgTop + svgRowH
	var gaps []int // rows preceded by a gap mark
	for i, r := range p.rows {
		if i > 0 && r.at-p.rows[i-1].at >= GapMark {
			y += svgGapH
			gaps = append(gaps, i)
		}
		ys[i] = y
		y += svgRowH
	}
	height := y + svgBottom
	width := svgLeft + len(tl.Lanes)*svgLaneW + svgRight
	laneX := func(h string) int {
		return svgLeft + slices.Index(tl.Lanes, h)*svgLaneW + svgLaneW/2
	}

	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" data-seed="%d" data-hash="%s" data-from="%d" data-to="%d">`+"\n",
		width, height, width, height, tl.Seed, tl.Hash, tl.From, tl.To)
	fmt.Fprintf(bw, "<title>%s</title>\n", esc(tl.caption()))
	fmt.Fprintf(bw, "<style>%s</style>\n", svgStyle)
	bw.WriteString("<defs>\n")
	for _, k := range kindNames {
		fmt.Fprintf(bw, `<marker id="head-%s" class="%s" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`+"\n", k, k, kindColor[k])
	}
	bw.WriteString("</defs>\n")
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", width, height)
	fmt.Fprintf(bw, `<text x="10" y="18">%s</text>`+"\n", esc(tl.caption()))

	// Lanes.
	bw.WriteString(`<g class="lanes">` + "\n")
	for _, h := range tl.Lanes {
		x := laneX(h)
		fmt.Fprintf(bw, `<g class="lane" data-host="%s"><title>%s</title><text x="%d" y="%d">%s</text><line x1="%d" y1="%d" x2="%d" y2="%d"/></g>`+"\n",
			esc(h), esc(h), x, svgTop-8, esc(h), x, svgTop, x, height-svgBottom)
	}
	bw.WriteString("</g>\n")

	// The time of each row where it changes, and the gaps.
	bw.WriteString(`<g class="axis">` + "\n")
	last := time.Duration(-1)
	for i, r := range p.rows {
		if r.at != last {
			fmt.Fprintf(bw, `<text class="time" x="%d" y="%d" data-at="%d">%s</text>`+"\n", svgLeft-10, ys[i]+4, r.at, r.at)
			last = r.at
		}
	}
	for _, i := range gaps {
		gap := p.rows[i].at - p.rows[i-1].at
		fmt.Fprintf(bw, `<text class="gap" x="%d" y="%d">+%s</text>`+"\n", svgLeft-10, ys[i]-svgRowH+2, gap)
	}
	bw.WriteString("</g>\n")

	// Bands, under the arrows.
	bw.WriteString(`<g class="bands">` + "\n")
	for i, b := range tl.Bands {
		y1, y2 := ys[p.bandStart[i]]-svgRowH/2, ys[max(p.bandStart[i], p.bandEnd[i])]+svgRowH/2
		x1, x2 := width, 0
		for _, h := range b.Hosts {
			x1, x2 = min(x1, laneX(h)), max(x2, laneX(h))
		}
		if b.Kind == Down {
			x1, x2 = x1-14, x2+14
		} else {
			x1, x2 = x1-svgLaneW/2+12, x2+svgLaneW/2-12
		}
		end := fmt.Sprintf("to %v", b.End)
		if b.Open {
			end = "to the end"
		}
		title := fmt.Sprintf("%s %s from %v %s", b.Kind, b.Text, b.Start, end)
		fmt.Fprintf(bw, `<g class="band %s" data-hosts="%s" data-start="%d" data-end="%d" data-open="%t"><title>%s</title><rect x="%d" y="%d" width="%d" height="%d"/><text x="%d" y="%d">%s</text></g>`+"\n",
			b.Kind, esc(strings.Join(b.Hosts, " ")), b.Start, b.End, b.Open, esc(title),
			x1, y1, x2-x1, y2-y1, x1+3, y1+10, esc(b.Kind.String()+" "+b.Text))
	}
	bw.WriteString("</g>\n")

	// Arrows.
	bw.WriteString(`<g class="arrows">` + "\n")
	for i, a := range tl.Arrows {
		x1, y1 := laneX(a.From), ys[p.send[i]]
		y2 := ys[max(p.send[i], p.arrive[i])]
		var x2 int
		if a.To == "" {
			x2 = x1 + svgLaneW/3
		} else {
			x2 = laneX(a.To)
		}
		classes := []string{"arrow", a.Kind.String(), strings.ReplaceAll(a.Fate.String(), " ", "-")}
		reached := a.Fate == sim.Delivered
		if !reached {
			classes = append(classes, "lost")
		}
		for _, fl := range []struct {
			on   bool
			name string
		}{{a.Duplicate, "duplicate"}, {a.Corrupted, "corrupted"}, {a.Held, "held"}, {a.Folded(), "folded"}} {
			if fl.on {
				classes = append(classes, fl.name)
			}
		}
		// A lost frame's line stops short, where it was lost: near the
		// sender for one dropped as it left, half way for one lost
		// later, at the lane of a host that was down.
		ex, ey := x2, y2
		switch {
		case lostOnSend(a):
			ex, ey = x1+(x2-x1)*2/5, y1
		case a.Fate == sim.Crashed || a.Fate == sim.InFlight:
			ex = x1 + (x2-x1)/2
		}
		label := a.Label
		if a.Duplicate {
			label += " dup"
		}
		if a.Corrupted {
			label += " bad"
		}
		fmt.Fprintf(bw, `<g class="%s" data-from="%s" data-to="%s" data-sent="%d" data-last="%d" data-at="%d" data-frames="%d" data-bytes="%d"><title>%s</title>`,
			strings.Join(classes, " "), esc(a.From), esc(a.To), a.Sent, a.Last, a.At, a.Frames, a.Bytes, esc(a.Title))
		head := ""
		if reached {
			head = fmt.Sprintf(` marker-end="url(#head-%s)"`, a.Kind)
		}
		fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d"%s/>`, x1, y1, ex, ey, head)
		if !reached {
			fmt.Fprintf(bw, `<path class="loss" d="M%d,%d l8,8 M%d,%d l-8,8"/>`, ex-4, ey-4, ex+4, ey-4)
		}
		lx, ly := (x1+ex)/2, (y1+ey)/2-3
		fmt.Fprintf(bw, `<text x="%d" y="%d">%s</text></g>`+"\n", lx, ly, esc(label))
	}
	bw.WriteString("</g>\n")

	// Marks, on top.
	bw.WriteString(`<g class="marks">` + "\n")
	for i, m := range tl.Marks {
		y := ys[p.mark[i]]
		text := m.Kind.String()
		if m.Text != "" {
			text += ": " + m.Text
		}
		title := fmt.Sprintf("%v %s", m.At, text)
		short := text
		if r := []rune(short); len(r) > 48 {
			short = string(r[:47]) + "…"
		}
		fmt.Fprintf(bw, `<g class="mark %s" data-host="%s" data-at="%d"><title>%s</title>`, m.Kind, esc(m.Host), m.At, esc(title))
		if m.Host == "" {
			x1, x2 := laneX(tl.Lanes[0])-20, laneX(tl.Lanes[len(tl.Lanes)-1])+20
			fmt.Fprintf(bw, `<line x1="%d" y1="%d" x2="%d" y2="%d"/><text x="%d" y="%d">%s</text></g>`+"\n", x1, y, x2, y, x1, y-3, esc(short))
			continue
		}
		x := laneX(m.Host)
		fmt.Fprintf(bw, `<circle cx="%d" cy="%d" r="5"/><text x="%d" y="%d">%s</text></g>`+"\n", x, y, x+8, y+4, esc(short))
	}
	bw.WriteString("</g>\n</svg>\n")
	return bw.Flush()
}

// kindColor is each kind's colour, for its arrowhead (a marker cannot
// take the colour of the line it ends in every viewer).
var kindColor = map[string]string{
	"syn": "#1b7f2a", "fin": "#7b3fa0", "rst": "#c62828", "data": "#1f5fbf", "ack": "#909090", "other": "#a0702a",
}

// caption is the timeline's one-line description.
func (tl *Timeline) caption() string {
	h := tl.Hash
	if len(h) > 16 {
		h = h[:16]
	}
	return fmt.Sprintf("seed %d, trace %s: %s, %v to %v of %v", tl.Seed, h, strings.Join(tl.Lanes, " "), tl.From, tl.To, tl.Elapsed)
}

// esc escapes text for XML content and attribute values.
func esc(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	return sb.String()
}
