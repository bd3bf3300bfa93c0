package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// progressEvery is how often a progress line is printed when stderr is
// not a terminal; a variable for tests. On a terminal the line is
// rewritten every progressTTYEvery.
var (
	progressEvery    = time.Second
	progressTTYEvery = 200 * time.Millisecond
)

// progress prints a status line on w while a long run moves bytes, as
// bench does: on a terminal one line rewritten in place (and erased at the
// end), otherwise a plain line every progressEvery. A run that ends before
// the first tick prints nothing.
type progress struct {
	w      io.Writer
	tty    bool
	status func() string
	stop   chan struct{}
	done   chan struct{}
}

// startProgress starts printing status() on w; Stop ends it.
func startProgress(w io.Writer, status func() string) *progress {
	return startProgressOn(w, isTerminal(w), status)
}

// startProgressOn is startProgress with the kind of output given.
func startProgressOn(w io.Writer, tty bool, status func() string) *progress {
	p := &progress{w: w, tty: tty, status: status, stop: make(chan struct{}), done: make(chan struct{})}
	every := progressEvery
	if p.tty {
		every = progressTTYEvery
	}
	go p.run(every)
	return p
}

func (p *progress) run(every time.Duration) {
	defer close(p.done)
	t := time.NewTicker(every)
	defer t.Stop()
	printed := false
	for {
		select {
		case <-p.stop:
			if printed && p.tty {
				fmt.Fprint(p.w, "\r\x1b[K")
			}
			return
		case <-t.C:
			if p.tty {
				// \x1b[K erases what a longer line left behind.
				fmt.Fprintf(p.w, "\r%s\x1b[K", p.status())
			} else {
				fmt.Fprintln(p.w, p.status())
			}
			printed = true
		}
	}
}

// Stop ends the progress line and waits until nothing more is printed.
func (p *progress) Stop() {
	close(p.stop)
	<-p.done
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// demoProgress is what the demo's client has done so far, updated as it
// goes and read by the progress line.
type demoProgress struct {
	pings, pingsWant int
	bytes            int64
	pinged           atomic.Int64
	echoed           atomic.Int64
	bulkStart        atomic.Int64 // wall-clock UnixNano when the bulk echo started; 0 before
}

// status is the progress line: the phase and how far it is.
func (d *demoProgress) status() string {
	if start := d.bulkStart.Load(); start != 0 {
		n := d.echoed.Load()
		s := fmt.Sprintf("demo: bulk echo: %s of %s back (%d%%)", humanBytes(float64(n)), humanBytes(float64(d.bytes)), n*100/max(d.bytes, 1))
		if secs := time.Since(time.Unix(0, start)).Seconds(); secs > 0 {
			s += fmt.Sprintf(", %s/s", humanBytes(float64(n)/secs))
		}
		return s
	}
	if d.pinged.Load() > 0 || d.pingsWant > 0 {
		return fmt.Sprintf("demo: round trips: %d of %d", d.pinged.Load(), d.pingsWant)
	}
	return "demo: connecting"
}
