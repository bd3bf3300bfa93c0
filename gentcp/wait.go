package gentcp

import (
	"context"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
)

// waitCtx is the one mechanism through which every blocking gentcp call
// waits: recv, accept, connect, send on a full queue, close draining its
// queue, Receive on a mailbox. Its timer runs on the stack's clock, never
// the wall clock, so a virtual clock drives every timeout; a scheduler for
// deterministic simulation replaces only this file's logic.
type waitCtx struct {
	ctx     context.Context
	timer   tcpip.Timer
	expired chan struct{}
}

// startWait starts the timeout of one blocking call. Infinity never
// expires; 0 expires at once (a poll).
func (n *Node) startWait(ctx context.Context, timeout time.Duration) *waitCtx {
	w := &waitCtx{ctx: ctx, expired: make(chan struct{})}
	switch {
	case timeout == Infinity:
	case timeout <= 0:
		close(w.expired)
	default:
		w.timer = n.st.Clock().AfterFunc(timeout, func() { close(w.expired) })
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
		if w.ctx.Err() == context.DeadlineExceeded {
			return Timeout
		}
		return w.ctx.Err()
	}
	return nil
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
