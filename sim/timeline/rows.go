package timeline

import (
	"cmp"
	"slices"
	"time"

	"github.com/usertcp/usertcp/sim"
)

// What a row of the drawing holds, in the order rows of one instant
// come: a band that ends lets the frames of that instant through, a
// frame arrives before the answer it causes leaves, a band begins with
// the crash that begins it.
const (
	rowBandEnd = iota
	rowArrive
	rowBandStart
	rowMark
	rowSend
)

// row is one step of the drawing: each send, arrival, mark and band edge
// gets its own, so frames sent at one instant do not overlap. Time runs
// down with the rows, not in proportion: virtual time jumps over idle
// seconds and stands still while a window of segments leaves.
type row struct {
	at   time.Duration
	kind int
	ref  int // index of the arrow, mark or band
}

// rows of a timeline, and for each arrow the rows of its send and its
// arrival, for each mark its row, for each band its first and last.
type rowPlan struct {
	rows               []row
	send, arrive       []int
	mark               []int
	bandStart, bandEnd []int
}

// lostOnSend reports whether an arrow ends where it starts: a frame
// dropped, cut or unroutable as it was sent.
func lostOnSend(a Arrow) bool {
	return a.Fate == sim.Dropped || a.Fate == sim.Cut || a.Fate == sim.Unroutable
}

func (tl *Timeline) plan() rowPlan {
	var rs []row
	for i, a := range tl.Arrows {
		rs = append(rs, row{a.Sent, rowSend, i})
		if !lostOnSend(a) {
			rs = append(rs, row{a.At, rowArrive, i})
		}
	}
	for i, m := range tl.Marks {
		rs = append(rs, row{m.At, rowMark, i})
	}
	for i, b := range tl.Bands {
		rs = append(rs, row{b.Start, rowBandStart, i}, row{b.End, rowBandEnd, i})
	}
	slices.SortStableFunc(rs, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.kind, b.kind), cmp.Compare(a.ref, b.ref))
	})
	p := rowPlan{rows: rs,
		send: make([]int, len(tl.Arrows)), arrive: make([]int, len(tl.Arrows)), mark: make([]int, len(tl.Marks)),
		bandStart: make([]int, len(tl.Bands)), bandEnd: make([]int, len(tl.Bands))}
	for i, r := range rs {
		switch r.kind {
		case rowSend:
			p.send[r.ref] = i
			p.arrive[r.ref] = i // until its arrival's row, if it has one
		case rowMark:
			p.mark[r.ref] = i
		case rowBandStart:
			p.bandStart[r.ref] = i
		case rowBandEnd:
			p.bandEnd[r.ref] = i
		}
	}
	for i, r := range rs {
		if r.kind == rowArrive {
			p.arrive[r.ref] = i
		}
	}
	return p
}
