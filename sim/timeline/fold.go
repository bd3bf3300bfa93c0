package timeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usertcp/usertcp/sim"
)

// foldable reports whether an arrow may be part of a folded run: an
// ordinary data segment or pure ACK that arrived as sent.
func foldable(a Arrow) bool {
	return (a.Kind == Data || a.Kind == ACK) && a.Fate == sim.Delivered && !a.Duplicate && !a.Corrupted && !a.Held
}

// pairOf names the two hosts of an arrow, either way round.
func pairOf(a Arrow) [2]string {
	if a.To < a.From {
		return [2]string{a.To, a.From}
	}
	return [2]string{a.From, a.To}
}

// fold replaces every run of at least min foldable arrows between two
// hosts by one arrow. A run ends at an arrow between the same hosts that
// is not foldable, at a pause of GapMark or more between two of its
// frames, and at a mark or band edge on either host's lane (or on every
// lane).
func (tl *Timeline) fold(min int) []Arrow {
	type brk struct {
		at    time.Duration
		hosts []string // nil: every lane
	}
	var brks []brk
	for _, m := range tl.Marks {
		b := brk{at: m.At}
		if m.Host != "" {
			b.hosts = []string{m.Host}
		}
		brks = append(brks, b)
	}
	for _, b := range tl.Bands {
		brks = append(brks, brk{b.Start, b.Hosts}, brk{b.End, b.Hosts})
	}
	slices.SortStableFunc(brks, func(a, b brk) int { return cmp.Compare(a.at, b.at) })

	type placed struct {
		pos int // index of the (first) arrow in tl.Arrows
		a   Arrow
	}
	var out []placed
	runs := map[[2]string][]int{}
	flush := func(key [2]string) {
		run := runs[key]
		delete(runs, key)
		if len(run) >= min {
			out = append(out, placed{run[0], tl.folded(run)})
			return
		}
		for _, i := range run {
			out = append(out, placed{i, tl.Arrows[i]})
		}
	}
	touches := func(b brk, key [2]string) bool {
		return b.hosts == nil || slices.Contains(b.hosts, key[0]) || slices.Contains(b.hosts, key[1])
	}
	next := 0
	for i, a := range tl.Arrows {
		for ; next < len(brks) && brks[next].at <= a.Sent; next++ {
			for _, key := range sortedKeys(runs) {
				if touches(brks[next], key) {
					flush(key)
				}
			}
		}
		key := pairOf(a)
		if run := runs[key]; len(run) > 0 && a.Sent-tl.Arrows[run[len(run)-1]].Sent >= GapMark {
			flush(key) // the exchange paused
		}
		if a.To != "" && foldable(a) {
			runs[key] = append(runs[key], i)
			continue
		}
		if a.To != "" {
			flush(key)
		}
		out = append(out, placed{i, a})
	}
	for _, key := range sortedKeys(runs) {
		flush(key)
	}
	slices.SortFunc(out, func(a, b placed) int { return cmp.Compare(a.pos, b.pos) })
	arrows := make([]Arrow, len(out))
	for i, p := range out {
		arrows[i] = p.a
	}
	return arrows
}

func sortedKeys(m map[[2]string][]int) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
	return keys
}

// folded makes the one arrow of a run: from the host that sent the more
// payload (the first sender on a tie), from the first send to the last
// arrival.
func (tl *Timeline) folded(run []int) Arrow {
	first := tl.Arrows[run[0]]
	f := Arrow{From: first.From, To: first.To, Sent: first.Sent, At: first.At, Kind: ACK, Fate: sim.Delivered, Frames: len(run)}
	type side struct{ frames, bytes int }
	sides := map[string]*side{first.From: {}, first.To: {}}
	for _, i := range run {
		a := tl.Arrows[i]
		f.At = max(f.At, a.At)
		f.Last = a.Sent
		f.Bytes += a.Bytes
		sides[a.From].frames++
		sides[a.From].bytes += a.Bytes
	}
	if sides[first.To].bytes > sides[first.From].bytes {
		f.From, f.To = first.To, first.From
	}
	if f.Bytes > 0 {
		f.Kind = Data
	}
	f.Label = fmt.Sprintf("%d frames, %s", f.Frames, size(f.Bytes))
	there, back := sides[f.From], sides[f.To]
	f.Title = fmt.Sprintf("%d frames between %s and %s, sent from %v to %v, the last arrived at %v: %s→%s %d frames (%d B), %s→%s %d frames (%d B)",
		f.Frames, f.From, f.To, f.Sent, f.Last, f.At,
		f.From, f.To, there.frames, there.bytes, f.To, f.From, back.frames, back.bytes)
	return f
}

// size formats a byte count: "412 B", "16.8 kB", "2.1 MB".
func size(n int) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
