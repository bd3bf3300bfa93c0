package memlink

import "sync"

// lockstep is the one queue of a lock-step network: the frames of every
// pair in the order they reached the wire. Nothing delivers them but
// deliverNext, so whoever calls it (a simulation) decides what happens
// when, and no goroutine of the network runs.
type lockstep struct {
	mu sync.Mutex
	// +checklocks:mu
	frames []frame
}

// push appends a pair's frames; it never waits, as nobody could drain the
// queue while the sender waits. The frames of a closed sender are
// released.
func (l *lockstep) push(p *pair, fs []frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p.from.wire.closed.Load() {
		for _, f := range fs {
			f.buf.Release()
		}
		return
	}
	l.frames = append(l.frames, fs...)
}

// len returns how many frames wait, held ones included.
func (l *lockstep) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.frames)
}

// next removes the oldest frame whose pair is not held.
func (l *lockstep) next() (frame, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.frames {
		if f.pair.held.Load() {
			l.frames[i].held = true
			continue
		}
		copy(l.frames[i:], l.frames[i+1:])
		l.frames[len(l.frames)-1] = frame{}
		l.frames = l.frames[:len(l.frames)-1]
		return f, true
	}
	return frame{}, false
}

// drop releases the frames a closing port sent.
func (l *lockstep) drop(from *Port) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keep := l.frames[:0]
	for _, f := range l.frames {
		if f.pair.from == from {
			f.buf.Release()
		} else {
			keep = append(keep, f)
		}
	}
	clear(l.frames[len(keep):])
	l.frames = keep
}

// deliverNext delivers the oldest deliverable frame to the receiving
// stack, in the caller's goroutine, and returns it with a copy of its
// bytes.
func (l *lockstep) deliverNext() (Frame, bool) {
	f, ok := l.next()
	if !ok {
		return Frame{}, false
	}
	b := f.buf.Flatten()
	p := f.pair
	taken := p.to.wire.deliverNow(f)
	if taken {
		p.addDelivered(1, uint64(len(b)))
	}
	return Frame{From: p.from.name, To: p.to.name, Bytes: b, Held: f.held, Lost: !taken}, true
}
