package timeline_test

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/sim"
	"github.com/usertcp/usertcp/sim/timeline"
)

// node is any element of a parsed SVG.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []node     `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) num(t *testing.T, name string) int {
	t.Helper()
	v, err := strconv.Atoi(n.attr(name))
	require.NoError(t, err, "%s=%q of <%s class=%q>", name, n.attr(name), n.XMLName.Local, n.attr("class"))
	return v
}

func (n node) dur(t *testing.T, name string) time.Duration {
	t.Helper()
	return time.Duration(n.num(t, name))
}

func (n node) has(class string) bool {
	return slices.Contains(strings.Fields(n.attr("class")), class)
}

// child returns the first child element named name.
func (n node) child(t *testing.T, name string) node {
	t.Helper()
	for _, c := range n.Nodes {
		if c.XMLName.Local == name {
			return c
		}
	}
	t.Fatalf("<%s class=%q> has no <%s>", n.XMLName.Local, n.attr("class"), name)
	return node{}
}

// all returns every element, depth first, with the class.
func (n node) all(class string) []node {
	var out []node
	if n.has(class) {
		out = append(out, n)
	}
	for _, c := range n.Nodes {
		out = append(out, c.all(class)...)
	}
	return out
}

// drawing is a parsed SVG timeline.
type drawing struct {
	root                        node
	lanes, arrows, marks, bands []node
	laneX                       map[string]int
}

func parseSVG(t *testing.T, b []byte) drawing {
	t.Helper()
	var root node
	require.NoError(t, xml.Unmarshal(b, &root), "the SVG is well-formed XML")
	require.Equal(t, "svg", root.XMLName.Local)
	require.Equal(t, "http://www.w3.org/2000/svg", root.XMLName.Space)
	d := drawing{root: root, lanes: root.all("lane"), arrows: root.all("arrow"), marks: root.all("mark"),
		bands: root.all("band"), laneX: map[string]int{}}
	for _, l := range d.lanes {
		d.laneX[l.attr("data-host")] = l.child(t, "line").num(t, "x1")
	}
	return d
}

// render runs a scenario and draws it both ways.
func render(t *testing.T, sc scenario, opts timeline.Options) (res *sim.Result, svg []byte, text []string) {
	t.Helper()
	res, _ = sc.run()
	require.NotNil(t, res)
	tl, err := timeline.New(res, opts)
	require.NoError(t, err)
	var sb, tb bytes.Buffer
	require.NoError(t, tl.WriteSVG(&sb))
	require.NoError(t, tl.WriteText(&tb))
	return res, sb.Bytes(), strings.Split(strings.TrimSuffix(tb.String(), "\n"), "\n")
}

// checkArrowGeometry: every arrow starts on its sender's lane, runs
// down (or level, for a frame lost as it left), and a delivered one ends
// on its receiver's lane with an arrowhead.
func checkArrowGeometry(t *testing.T, d drawing) {
	t.Helper()
	for _, a := range d.arrows {
		l := a.child(t, "line")
		assert.Equal(t, d.laneX[a.attr("data-from")], l.num(t, "x1"), "%s starts on its sender's lane", a.attr("class"))
		assert.LessOrEqual(t, l.num(t, "y1"), l.num(t, "y2"), "%s runs down", a.attr("class"))
		assert.LessOrEqual(t, a.dur(t, "data-sent"), a.dur(t, "data-at"))
		if a.has("delivered") {
			assert.Equal(t, d.laneX[a.attr("data-to")], l.num(t, "x2"), "%s ends on its receiver's lane", a.attr("class"))
			assert.NotEmpty(t, l.attr("marker-end"))
			assert.Less(t, l.num(t, "y1"), l.num(t, "y2"), "a delivered frame arrives below where it left")
		}
		assert.NotEmpty(t, a.child(t, "title").Text)
	}
}

// TestSVG_HandshakeAndClose: two lanes, a and b, and the eleven frames
// of a connection that echoes one byte, in the order sent, each an arrow
// of its kind from its sender's lane at its send time to its receiver's
// at its delivery, titled with its ports, flags, seq, ack and length;
// the server's recv that found the connection closed is a mark on a's
// lane, the client's exit a mark on b's.
func TestSVG_HandshakeAndClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, svg, _ := render(t, handshakeAndClose(), timeline.Options{})
	d := parseSVG(t, svg)
	require.Len(t, d.lanes, 2)
	assert.Equal(t, "a", d.lanes[0].attr("data-host"))
	assert.Equal(t, "b", d.lanes[1].attr("data-host"))
	assert.Less(t, d.laneX["a"], d.laneX["b"])
	assert.Equal(t, strconv.FormatUint(res.Seed, 10), d.root.attr("data-seed"))
	assert.Equal(t, res.Hash, d.root.attr("data-hash"))

	type arrow struct {
		kind, from, to string
		sent, at       time.Duration
	}
	ms := time.Millisecond
	want := []arrow{
		{"syn", "b", "a", 0, ms}, {"syn", "a", "b", ms, 2 * ms},
		{"ack", "b", "a", 2 * ms, 3 * ms}, {"data", "b", "a", 2 * ms, 3 * ms},
		{"ack", "a", "b", 3 * ms, 4 * ms}, {"data", "a", "b", 3 * ms, 4 * ms},
		{"ack", "b", "a", 4 * ms, 5 * ms}, {"fin", "b", "a", 4 * ms, 5 * ms},
		{"ack", "a", "b", 5 * ms, 6 * ms}, {"fin", "a", "b", 5 * ms, 6 * ms},
		{"ack", "b", "a", 6 * ms, 7 * ms},
	}
	var got []arrow
	for _, a := range d.arrows {
		kind := strings.Fields(a.attr("class"))[1]
		got = append(got, arrow{kind, a.attr("data-from"), a.attr("data-to"), a.dur(t, "data-sent"), a.dur(t, "data-at")})
		assert.True(t, a.has("delivered"))
	}
	assert.Equal(t, want, got)
	checkArrowGeometry(t, d)

	syn := d.arrows[0]
	assert.Equal(t, "SYN", syn.child(t, "text").Text)
	title := syn.child(t, "title").Text
	assert.Regexp(t, `^b→a 10\.0\.0\.2:\d+ > 10\.0\.0\.1:7 \[S\] seq \d+ win \d+ len 0 \(sent 0s, arrived 1ms\)$`, title)
	assert.Equal(t, "SYN,ACK", d.arrows[1].child(t, "text").Text)
	assert.Regexp(t, `\[S\.\] seq \d+ ack \d+ win \d+ len 0`, d.arrows[1].child(t, "title").Text)
	assert.Equal(t, "1 B", d.arrows[3].child(t, "text").Text)
	assert.Regexp(t, `\[P\.\] seq \d+ ack \d+ win \d+ len 1 `, d.arrows[3].child(t, "title").Text)
	assert.Regexp(t, `\[F\.\]`, d.arrows[7].child(t, "title").Text)

	// Rows go down with time: a frame sent later starts lower.
	for i := 1; i < len(d.arrows); i++ {
		assert.Less(t, d.arrows[i-1].child(t, "line").num(t, "y1"), d.arrows[i].child(t, "line").num(t, "y1"))
	}
	require.Len(t, d.marks, 2)
	m := d.marks[0]
	assert.True(t, m.has("call"))
	assert.Equal(t, "a", m.attr("data-host"))
	assert.Equal(t, 5*ms, m.dur(t, "data-at"), "when b's FIN arrived")
	assert.Regexp(t, `^5ms call: a <\d+\.\d+\.\d+> recv #Port<0\.\d+>: closed$`, m.child(t, "title").Text)
	assert.Equal(t, d.laneX["a"], m.child(t, "circle").num(t, "cx"))
	m = d.marks[1]
	assert.True(t, m.has("exit"))
	assert.Equal(t, "b", m.attr("data-host"))
	assert.Equal(t, 14*ms, m.dur(t, "data-at"))
	assert.Equal(t, d.laneX["b"], m.child(t, "circle").num(t, "cx"))
	assert.Greater(t, m.child(t, "circle").num(t, "cy"), d.arrows[10].child(t, "line").num(t, "y2"), "the exit is below the last frame")
	assert.Empty(t, d.bands)
}

// TestSVG_LossyTransfer: over 10% loss, every frame of the run is on
// the drawing once (a folded arrow counts its frames); each frame lost
// as it was sent is a short level line with a cross, not reaching the
// receiver; runs of ordinary exchanges are folded into arrows labelled
// with their frames and bytes; no run folds across a loss between its
// hosts.
func TestSVG_LossyTransfer(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, svg, _ := render(t, lossyTransfer(), timeline.Options{})
	d := parseSVG(t, svg)
	checkArrowGeometry(t, d)
	frames, dropped, folded := 0, 0, 0
	var drops []time.Duration
	var folds [][2]time.Duration
	for _, a := range d.arrows {
		frames += a.num(t, "data-frames")
		l := a.child(t, "line")
		switch {
		case a.has("dropped"):
			dropped++
			drops = append(drops, a.dur(t, "data-sent"))
			assert.Equal(t, l.num(t, "y1"), l.num(t, "y2"), "a dropped frame's line is level")
			assert.Equal(t, a.dur(t, "data-sent"), a.dur(t, "data-at"))
			x1, x2, to := l.num(t, "x1"), l.num(t, "x2"), d.laneX[a.attr("data-to")]
			assert.Less(t, abs(x2-x1), abs(to-x1), "a dropped frame stops short of its receiver")
			assert.Empty(t, l.attr("marker-end"))
			a.child(t, "path") // the cross
		case a.has("folded"):
			folded++
			n := a.num(t, "data-frames")
			assert.GreaterOrEqual(t, n, timeline.DefaultFold)
			assert.Regexp(t, `^`+strconv.Itoa(n)+` frames, [0-9.]+ (B|kB)$`, a.child(t, "text").Text)
			folds = append(folds, [2]time.Duration{a.dur(t, "data-sent"), a.dur(t, "data-last")})
		}
	}
	for _, f := range folds {
		for _, dt := range drops {
			assert.False(t, dt > f[0] && dt < f[1], "a drop at %v inside the run folded from %v to %v", dt, f[0], f[1])
		}
	}
	assert.Equal(t, len(res.Frames)+len(res.Undelivered), frames, "every frame once")
	lost := 0
	for _, f := range res.Undelivered {
		if f.Fate == sim.Dropped {
			lost++
		}
	}
	assert.Equal(t, lost, dropped)
	assert.NotZero(t, dropped)
	assert.NotZero(t, folded)

	// Unfolded, every frame is an arrow of its own.
	tl, err := timeline.New(res, timeline.Options{Fold: -1})
	require.NoError(t, err)
	assert.Len(t, tl.Arrows, len(res.Frames)+len(res.Undelivered))
}

func abs(x int) int { return max(x, -x) }

// TestSVG_PartitionAndHeal: the partition of n1 from n2 and n3 is one
// band over all three lanes from 1.5 s to 4 s, covering the rows of the
// four retransmissions it cut (each a cut arrow from n2 toward n1);
// n3's note is a mark on its lane at 2 s. A host subset and a window
// keep what they select.
func TestSVG_PartitionAndHeal(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, svg, _ := render(t, partitionAndHeal(), timeline.Options{})
	d := parseSVG(t, svg)
	checkArrowGeometry(t, d)
	require.Len(t, d.lanes, 3)
	require.Len(t, d.bands, 1)
	b := d.bands[0]
	assert.True(t, b.has("partition"))
	assert.Equal(t, "n1 n2 n3", b.attr("data-hosts"))
	assert.Equal(t, 1500*time.Millisecond, b.dur(t, "data-start"))
	assert.Equal(t, 4*time.Second, b.dur(t, "data-end"))
	assert.Equal(t, "false", b.attr("data-open"))
	assert.Contains(t, b.child(t, "title").Text, "partition n1 | n2 n3 from 1.5s to 4s")
	r := b.child(t, "rect")
	top, bottom := r.num(t, "y"), r.num(t, "y")+r.num(t, "height")
	assert.Less(t, r.num(t, "x"), d.laneX["n1"])
	assert.Greater(t, r.num(t, "x")+r.num(t, "width"), d.laneX["n3"])

	var cut []time.Duration
	for _, a := range d.arrows {
		y := a.child(t, "line").num(t, "y1")
		sent := a.dur(t, "data-sent")
		inBand := y > top && y < bottom
		if a.has("cut") {
			cut = append(cut, sent)
			assert.Equal(t, "n2", a.attr("data-from"))
			assert.Equal(t, "n1", a.attr("data-to"))
		}
		assert.Equal(t, sent > 1500*time.Millisecond && sent < 4*time.Second, inBand, "arrow sent at %v inside the band", sent)
	}
	assert.Equal(t, []time.Duration{2 * time.Second, 2200 * time.Millisecond, 2600 * time.Millisecond, 3400 * time.Millisecond}, cut)

	var note node
	for _, m := range d.marks {
		if m.has("note") {
			note = m
		}
	}
	require.NotEmpty(t, note.Attrs, "a note mark")
	assert.Equal(t, "n3", note.attr("data-host"))
	assert.Equal(t, 2*time.Second, note.dur(t, "data-at"))
	assert.Equal(t, d.laneX["n3"], note.child(t, "circle").num(t, "cx"))
	assert.Contains(t, note.child(t, "title").Text, "note: n1 is cut off")

	// Two lanes of three, in the order asked; a window of the partition.
	_, svg, _ = render(t, partitionAndHeal(), timeline.Options{Hosts: []string{"n2", "n1"}, From: 1500 * time.Millisecond, To: 4 * time.Second})
	d = parseSVG(t, svg)
	require.Len(t, d.lanes, 2)
	assert.Equal(t, "n2", d.lanes[0].attr("data-host"))
	assert.Greater(t, d.laneX["n1"], d.laneX["n2"])
	require.Len(t, d.bands, 1)
	assert.Equal(t, "n2 n1", d.bands[0].attr("data-hosts"), "in lane order")
	assert.Empty(t, d.marks, "n3's note and exit are not on the lanes shown")
	require.Len(t, d.arrows, 4, "the four cut retransmissions")
	for _, a := range d.arrows {
		assert.True(t, a.has("cut"))
	}
}

// TestSVG_CrashAndRestart: n1 is down from its crash at 500 ms to its
// restart at 3 s, a down band on its lane between the two marks; n2's
// retransmissions meanwhile end at n1's lane with a cross; after the
// restart n1 answers n2's segment with a RST, and n2's failed recv and
// its error are marks (the calls on n1 that fail as it crashes are not).
func TestSVG_CrashAndRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, svg, _ := render(t, crashAndRestart(), timeline.Options{})
	d := parseSVG(t, svg)
	checkArrowGeometry(t, d)
	require.Len(t, d.bands, 1)
	b := d.bands[0]
	assert.True(t, b.has("down"))
	assert.Equal(t, "n1", b.attr("data-hosts"))
	assert.Equal(t, 500*time.Millisecond, b.dur(t, "data-start"))
	assert.Equal(t, 3*time.Second, b.dur(t, "data-end"))
	r := b.child(t, "rect")
	assert.Less(t, r.num(t, "x"), d.laneX["n1"])
	assert.Greater(t, r.num(t, "x")+r.num(t, "width"), d.laneX["n1"])
	assert.Less(t, r.num(t, "x")+r.num(t, "width"), d.laneX["n2"], "the band covers n1's lane only")

	type mark struct {
		kind, host string
		at         time.Duration
	}
	var marks []mark
	for _, m := range d.marks {
		marks = append(marks, mark{strings.Fields(m.attr("class"))[1], m.attr("data-host"), m.dur(t, "data-at")})
	}
	assert.Equal(t, []mark{
		{"crash", "n1", 500 * time.Millisecond}, {"exit", "n1", 500 * time.Millisecond},
		{"restart", "n1", 3 * time.Second}, {"call", "n2", 4002 * time.Millisecond}, {"error", "n2", 4002 * time.Millisecond},
	}, marks)

	var down, rst int
	for _, a := range d.arrows {
		sent := a.dur(t, "data-sent")
		if sent > 500*time.Millisecond && sent < 3*time.Second {
			down++
			assert.True(t, a.has("down"), "a frame sent to n1 while it is down: %s", a.attr("class"))
			assert.Equal(t, d.laneX["n1"], a.child(t, "line").num(t, "x2"))
			a.child(t, "path")
		}
		if a.has("rst") {
			rst++
			assert.Equal(t, "n1", a.attr("data-from"))
			assert.Greater(t, sent, 3*time.Second)
		}
	}
	assert.Equal(t, 4, down)
	assert.Equal(t, 1, rst)
}

// TestSVG_SameSeedSameBytes: two runs of a seed draw byte-identical SVGs
// and texts.
func TestSVG_SameSeedSameBytes(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, sc := range []scenario{lossyTransfer(), partitionAndHeal(), crashAndRestart()} {
		_, svg1, text1 := render(t, sc, timeline.Options{})
		_, svg2, text2 := render(t, sc, timeline.Options{})
		assert.True(t, bytes.Equal(svg1, svg2), "seed %d: the SVGs differ", sc.opts.Seed)
		assert.Equal(t, text1, text2)
	}
}

// TestSVG_NothingFetched: the SVG is self-contained: no script, no
// reference to anything outside the file.
func TestSVG_NothingFetched(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, svg, _ := render(t, partitionAndHeal(), timeline.Options{})
	s := string(svg)
	assert.NotContains(t, s, "<script")
	assert.NotContains(t, s, "href")
	assert.NotContains(t, s, "@import")
	assert.Equal(t, 1, strings.Count(s, "http://"), "only the SVG namespace")
}

// TestSVG_FailedCalls: each gentcp call of a process that returned an
// error is a mark on its host's lane at the virtual time it returned,
// titled with the process, the call and the reason: a refused connect
// when the RST arrives, a recv's timeout, a send on the closed socket.
func TestSVG_FailedCalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, svg, _ := render(t, failedCalls(), timeline.Options{})
	d := parseSVG(t, svg)
	type mark struct {
		kind, host string
		at         time.Duration
		title      string
	}
	var got []mark
	for _, m := range d.marks {
		title := regexp.MustCompile(`<\d+\.\d+\.\d+>`).ReplaceAllString(m.child(t, "title").Text, "<pid>")
		got = append(got, mark{strings.Fields(m.attr("class"))[1], m.attr("data-host"), m.dur(t, "data-at"), title})
		assert.Equal(t, d.laneX["b"], m.child(t, "circle").num(t, "cx"))
	}
	ms := time.Millisecond
	assert.Equal(t, []mark{
		{"call", "b", 2 * ms, "2ms call: b <pid> connect a:9: econnrefused"},
		{"call", "b", 54 * ms, "54ms call: b <pid> recv #Port<0.2>: timeout"},
		{"call", "b", 54 * ms, "54ms call: b <pid> send #Port<0.2>: closed"},
		{"exit", "b", 54 * ms, "54ms exit: b <pid>"},
	}, got)
	rst := d.arrows[1]
	require.True(t, rst.has("rst"))
	assert.Greater(t, d.marks[0].child(t, "circle").num(t, "cy"), rst.child(t, "line").num(t, "y2"), "the refusal is marked below the RST's arrival")
}
