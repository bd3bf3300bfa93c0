package timeline_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/sim/timeline"
)

// textLine is one line of the text diagram cut into its columns.
type textLine struct{ time, lanes, detail string }

// parseText cuts the lines after the caption and the header: the time
// (14 columns), two spaces, the lanes (24 columns each), the detail.
func parseText(t *testing.T, lines []string, lanes int) []textLine {
	t.Helper()
	require.GreaterOrEqual(t, len(lines), 2)
	width := 24 * lanes
	var out []textLine
	for _, l := range lines[2:] {
		require.GreaterOrEqual(t, len(l), 16, "line %q", l)
		tl := textLine{time: strings.TrimSpace(l[:14])}
		rest := l[16:]
		if len(rest) > width {
			tl.lanes, tl.detail = rest[:width], strings.TrimSpace(rest[width:])
		} else {
			tl.lanes = rest
		}
		out = append(out, tl)
	}
	return out
}

// TestText_HandshakeAndClose: the text form has the caption, a header
// with the lanes' names over their columns, then one line per frame at
// its send time, an arrow from the sender's column to the receiver's
// with its label, and the frame's summary; the server's recv that found
// the connection closed is a '*' on a's column, the exit one on b's.
func TestText_HandshakeAndClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	res, _, text := render(t, handshakeAndClose(), timeline.Options{})
	assert.Equal(t, "seed 1, trace "+res.Hash[:16]+": a b, 0s to 14ms of 14ms", text[0])
	assert.Equal(t, "          time              a                       b", text[1])
	want := []struct{ time, lanes, detail string }{
		{"0s", "|<---------SYN----------|", `^b→a 10\.0\.0\.2:\d+ > 10\.0\.0\.1:7 \[S\] seq \d+ win \d+ len 0 \(sent 0s, arrived 1ms\)$`},
		{"1ms", "|-------SYN,ACK-------->|", `^a→b 10\.0\.0\.1:7 > 10\.0\.0\.2:\d+ \[S\.\] seq \d+ ack \d+ .* \(sent 1ms, arrived 2ms\)$`},
		{"2ms", "|<---------ACK----------|", `\[\.\] .* len 0 `},
		{"2ms", "|<---------1 B----------|", `\[P\.\] .* len 1 `},
		{"3ms", "|---------ACK---------->|", `\[\.\] .* len 0 `},
		{"3ms", "|---------1 B---------->|", `\[P\.\] .* len 1 `},
		{"4ms", "|<---------ACK----------|", `\[\.\]`},
		{"4ms", "|<---------FIN----------|", `\[F\.\]`},
		{"5ms", "*                       |", `^call a: a <\d+\.\d+\.\d+> recv #Port<0\.\d+>: closed$`},
		{"5ms", "|---------ACK---------->|", `\[\.\]`},
		{"5ms", "|---------FIN---------->|", `\[F\.\]`},
		{"6ms", "|<---------ACK----------|", `\(sent 6ms, arrived 7ms\)$`},
		{"14ms", "|                       *", `^exit b: b <\d+\.\d+\.\d+>$`},
	}
	got := parseText(t, text, 2)
	require.Len(t, got, len(want))
	for i, w := range want {
		g := got[i]
		assert.Equal(t, w.time, g.time, "line %d", i)
		assert.Equal(t, w.lanes, strings.TrimRight(g.lanes, " ")[12:], "line %d", i)
		assert.Regexp(t, w.detail, g.detail, "line %d", i)
	}
}

// TestText_PartitionAndCrash: a partition's edges are lines with '#' on
// the lanes it covers; a frame it cut ends in 'x' short of its
// receiver; while a host is down its column is blank, and a frame sent
// to it ends in 'x' at its column; a gap of time has a line of its own.
func TestText_PartitionAndCrash(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, _, text := render(t, partitionAndHeal(), timeline.Options{})
	lines := parseText(t, text, 3)
	find := func(lines []textLine, time, detailPrefix string) textLine {
		t.Helper()
		for _, l := range lines {
			if l.time == time && strings.HasPrefix(l.detail, detailPrefix) {
				return l
			}
		}
		t.Fatalf("no line at %s starting %q", time, detailPrefix)
		return textLine{}
	}
	const three = "            #                       #                       #           "
	assert.Equal(t, three, find(lines, "1.5s", "partition n1 | n2 n3 begins").lanes)
	assert.Equal(t, three, find(lines, "4s", "partition n1 | n2 n3 ends").lanes)
	for _, at := range []string{"2s", "2.2s", "2.6s", "3.4s"} {
		l := find(lines, at, "n2→n1 ")
		assert.Equal(t, "            |              x--1 B---|                       |           ", l.lanes, "cut at %s", at)
		assert.Contains(t, l.detail, "cut)")
	}
	assert.Equal(t, "            |                       |                       *           ", find(lines, "2s", "note n3: n1 is cut off").lanes)
	gap := find(lines, "+500ms", "")
	assert.Equal(t, "            |                       |                       |", strings.TrimRight(gap.lanes, " "))

	_, _, text = render(t, crashAndRestart(), timeline.Options{})
	lines = parseText(t, text, 2)
	assert.Equal(t, "            #                       |           ", find(lines, "500ms", "down n1 begins").lanes)
	assert.Equal(t, "            *                       |           ", find(lines, "500ms", "crash n1").lanes)
	for _, at := range []string{"1s", "1.2s", "1.6s", "2.4s"} {
		l := find(lines, at, "n2→n1 ")
		assert.Equal(t, "             x---------5 B----------|           ", l.lanes, "to n1 while it is down, at %s", at)
		assert.Contains(t, l.detail, "down at "+at+")")
	}
	assert.Equal(t, "            #                       |           ", find(lines, "3s", "down n1 ends").lanes)
	assert.Equal(t, "            |---------RST---------->|           ", find(lines, "4.001s", "n1→n2 ").lanes)
	errLine := find(lines, "4.002s", "error n2: ")
	assert.Equal(t, "            |                       *           ", errLine.lanes)
	assert.Contains(t, errLine.detail, "no echo; closed", "a multi-line error on one line")
	for _, l := range text {
		assert.NotEqual(t, "closed", l)
	}
}

// TestText_FailedCalls: a failed call is a '*' on its host's column at
// the time it returned, with the process, the call and the reason.
func TestText_FailedCalls(t *testing.T) {
	defer goleak.VerifyNone(t)
	_, _, text := render(t, failedCalls(), timeline.Options{})
	var calls []textLine
	for _, l := range parseText(t, text, 2) {
		if strings.HasPrefix(l.detail, "call ") {
			calls = append(calls, l)
		}
	}
	want := []struct{ time, detail string }{
		{"2ms", `^call b: b <\d+\.\d+\.\d+> connect a:9: econnrefused$`},
		{"54ms", `^call b: b <\d+\.\d+\.\d+> recv #Port<0\.2>: timeout$`},
		{"54ms", `^call b: b <\d+\.\d+\.\d+> send #Port<0\.2>: closed$`},
	}
	require.Len(t, calls, len(want))
	for i, w := range want {
		assert.Equal(t, w.time, calls[i].time)
		assert.Equal(t, "            |                       *", strings.TrimRight(calls[i].lanes, " "))
		assert.Regexp(t, w.detail, calls[i].detail)
	}
}
