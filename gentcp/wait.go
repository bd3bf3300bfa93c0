package gentcp

import (
	"context"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/waiter"
)

// Scheduler runs a node's goroutines one at a time, for deterministic
// simulation (package sim provides one). Without a scheduler, the default,
// gentcp uses ordinary goroutines and selects; with one, every goroutine
// gentcp starts goes through Go and every place where gentcp waits goes
// through Wait, so the scheduler sees each goroutine park and knows what
// can wake it. One that also implements WakeTracker is told which
// channels each step made ready.
type Scheduler interface {
	// Go starts f on a new goroutine that runs only when the scheduler
	// lets it. p is the process f acts as (Spawn), nil for gentcp's own
	// goroutines (an active socket's reader, a send queue's drain); name
	// identifies the goroutine in reports.
	Go(name string, p *Process, f func())

	// Wait parks the calling goroutine until one of chs can be received
	// from, receives from it and returns its index, as a select over
	// receives would; nil channels are never ready. Unlike select, the
	// lowest ready index wins, so the choice is reproducible. If none is
	// ready and the caller is not a goroutine the scheduler runs, Wait
	// returns an error at once: the blocking call fails with it.
	Wait(chs ...<-chan struct{}) (int, error)
}

// WakeTracker is an optional interface of a Scheduler. gentcp tells one
// that has it about every wake-up it makes, so that the scheduler can find
// the goroutines a step made runnable without polling every parked one
// (package sim's scheduler costs O(woken goroutines) a step this way).
type WakeTracker interface {
	// Woke tells the scheduler that ch, a channel gentcp may pass to
	// Wait, has just become ready: closed, or sent a value. gentcp calls
	// it on the goroutine that made ch ready, right after: a task's, or a
	// netstack or clock callback's.
	Woke(ch <-chan struct{})

	// WaitTracked is Wait(chs...) for a wait whose channels are all
	// reported to Woke except untracked (one of chs, or nil), a context's
	// Done channel, which the scheduler must poll itself.
	WaitTracked(untracked <-chan struct{}, chs ...<-chan struct{}) (int, error)
}

// waker reports wake-ups to a WakeTracker; the zero waker, the one without
// a tracking scheduler, costs a nil check.
type waker struct{ t WakeTracker }

// woke reports that ch has just become ready.
func (w waker) woke(ch <-chan struct{}) {
	if w.t != nil {
		w.t.Woke(ch)
	}
}

// waker returns the node's waker: its scheduler's WakeTracker, if any.
func (n *Node) waker() waker { return waker{n.tracker} }

// schedWait parks on the node's scheduler, through WaitTracked if it
// tracks wake-ups; untracked is the channel of chs no Woke reports.
func (n *Node) schedWait(untracked <-chan struct{}, chs ...<-chan struct{}) (int, error) {
	if n.tracker != nil {
		return n.tracker.WaitTracked(untracked, chs...)
	}
	return n.sched.Wait(chs...)
}

// channelEntry is waiter.NewChannelEntry, each notification also reported
// to the node's WakeTracker: every waiter entry a Wait may park on is made
// here.
func (n *Node) channelEntry(mask waiter.EventMask) (waiter.Entry, chan struct{}) {
	w := n.waker()
	if w.t == nil {
		return waiter.NewChannelEntry(mask)
	}
	ch := make(chan struct{}, 1)
	return waiter.NewFunctionEntry(mask, func(waiter.EventMask) {
		select {
		case ch <- struct{}{}:
		default:
		}
		w.woke(ch)
	}), ch
}

// SetScheduler makes s run the node's goroutines and waits (nil: ordinary
// goroutines). Call it before the node is used; it is not safe to change
// while sockets or processes exist.
func (n *Node) SetScheduler(s Scheduler) {
	n.sched = s
	n.tracker, _ = s.(WakeTracker)
}

// goDrain and goReader start a socket's internal goroutines, under the
// node's scheduler if it has one. Without one they cost what a go
// statement costs.
func (s *Socket) goDrain() {
	if sch := s.node.sched; sch != nil {
		sch.Go(s.String()+" drain", nil, s.drain)
		return
	}
	go s.drain()
}

func (s *Socket) goReader() {
	if sch := s.node.sched; sch != nil {
		sch.Go(s.String()+" reader", nil, func() { s.reader(false) })
		return
	}
	go s.reader(false)
}

// waitEither waits until a or b is ready (b may be nil): the wait of the
// reader and drain goroutines, which have no timeout.
func (n *Node) waitEither(a, b <-chan struct{}) {
	if n.sched != nil {
		if _, err := n.schedWait(nil, a, b); err == nil {
			return
		}
		// Refused (the scheduler has given up on its goroutines):
		// wait as without one.
	}
	select {
	case <-a:
	case <-b:
	}
}

// waitCtx is the one mechanism through which every blocking gentcp call
// waits: recv, accept, connect, send on a full queue, close draining its
// queue, Receive on a mailbox. Its timer runs on the stack's clock, never
// the wall clock, so a virtual clock drives every timeout; with a
// Scheduler, block parks through it.
type waitCtx struct {
	ctx     context.Context
	timer   tcpip.Timer
	expired chan struct{}
	node    *Node
	sched   Scheduler
}

// closedChan is the expired channel of a poll (timeout 0).
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// startWait starts the timeout of one blocking call. Infinity never
// expires (a nil channel); 0 expires at once (a poll). A nil ctx is
// context.Background(), for every call that takes a context: each waits
// here, and callers read the context back from w.ctx.
func (n *Node) startWait(ctx context.Context, timeout time.Duration) *waitCtx {
	if ctx == nil {
		ctx = context.Background()
	}
	w := &waitCtx{ctx: ctx, node: n, sched: n.sched}
	switch {
	case timeout == Infinity:
	case timeout <= 0:
		w.expired = closedChan
	default:
		expired := make(chan struct{})
		w.expired = expired
		wk := n.waker()
		w.timer = n.st.Clock().AfterFunc(timeout, func() {
			close(expired)
			wk.woke(expired)
		})
	}
	return w
}

func (w *waitCtx) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// block waits until one of chs is ready (nil), the timeout expires
// (Timeout) or the context ends (its error; Timeout for a deadline).
func (w *waitCtx) block(chs ...<-chan struct{}) error {
	var a, b, c <-chan struct{}
	switch len(chs) {
	case 3:
		c = chs[2]
		fallthrough
	case 2:
		b = chs[1]
		fallthrough
	case 1:
		a = chs[0]
	}
	if w.sched != nil {
		// The scheduler polls in index order, so which of several ready
		// channels is taken does not depend on select's random choice.
		done := w.ctx.Done()
		i, err := w.node.schedWait(done, a, b, c, w.expired, done)
		switch {
		case err != nil:
			return err
		case i == 3:
			return Timeout
		case i == 4:
			return w.ctxErr()
		}
		return nil
	}
	select {
	case <-a:
		return nil
	case <-b:
		return nil
	case <-c:
		return nil
	default:
	}
	select {
	case <-a:
	case <-b:
	case <-c:
	case <-w.expired:
		return Timeout
	case <-w.ctx.Done():
		return w.ctxErr()
	}
	return nil
}

func (w *waitCtx) ctxErr() error {
	if w.ctx.Err() == context.DeadlineExceeded {
		return Timeout
	}
	return w.ctx.Err()
}

// expiredNow reports whether the timeout has passed, for loops that must
// not block once it has.
func (w *waitCtx) expiredNow() bool {
	select {
	case <-w.expired:
		return true
	default:
		return false
	}
}

// signal is a wake-up for goroutines waiting on some state guarded by a
// mutex the caller holds for both methods. The channel is made only when
// someone waits, so a change nobody waits for allocates nothing. Its
// waker (Node.newSignal) reports each wake to a WakeTracker.
type signal struct {
	ch chan struct{}
	waker
}

// newSignal returns a signal that reports its wakes to the node's
// WakeTracker, if any.
func (n *Node) newSignal() signal { return signal{waker: n.waker()} }

// wake closes the channel of the current waiters, if any.
func (g *signal) wake() {
	if g.ch != nil {
		close(g.ch)
		g.woke(g.ch)
		g.ch = nil
	}
}

// wait returns a channel that is closed at the next wake.
func (g *signal) wait() <-chan struct{} {
	if g.ch == nil {
		g.ch = make(chan struct{})
	}
	return g.ch
}
