package gentcp

import (
	"context"
	"sync"
	"time"
)

// deadline is one direction's deadline of the net.Conn adapter (a
// Conn's reads, its writes, a Listener's accepts). A call waits under
// the context it hands out, which is replaced (and the old one
// cancelled) when the deadline changes, so a call already waiting starts
// over with the new deadline, as Go's net promises; every context
// derives from base, which Close cancels. No goroutine is needed per
// call.
type deadline struct {
	base   context.Context
	mu     sync.Mutex
	t      time.Time
	ctx    context.Context
	cancel context.CancelFunc
}

// init makes the first context, under base.
func (d *deadline) init(base context.Context) {
	d.base = base
	d.ctx, d.cancel = context.WithCancel(base)
}

// set changes the deadline (the zero time: none) and wakes a call
// waiting under the old one.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.t = t
	d.cancel()
	d.ctx, d.cancel = context.WithCancel(d.base)
}

// wait returns the context a call waits under and the time left until
// the deadline on the stack's clock (Infinity without one); Timeout if
// the deadline has passed.
func (d *deadline) wait(now time.Time) (context.Context, time.Duration, error) {
	d.mu.Lock()
	ctx, t := d.ctx, d.t
	d.mu.Unlock()
	if t.IsZero() {
		return ctx, Infinity, nil
	}
	left := t.Sub(now)
	if left <= 0 {
		return nil, 0, Timeout
	}
	return ctx, left, nil
}
