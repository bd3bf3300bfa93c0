package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/usertcp/usertcp/internal/testutil"
)

// fastProgress makes progress lines come every millisecond for a test.
func fastProgress(t *testing.T) {
	old, oldTTY := progressEvery, progressTTYEvery
	progressEvery, progressTTYEvery = time.Millisecond, time.Millisecond
	t.Cleanup(func() { progressEvery, progressTTYEvery = old, oldTTY })
}

// TestDemoProgress: while bytes move, the demo says how far it is on
// stderr, in plain lines when stderr is not a terminal; the report on
// stdout has none of it. In real time and in the simulation.
func TestDemoProgress(t *testing.T) {
	defer goleak.VerifyNone(t)
	fastProgress(t)
	for _, extra := range [][]string{nil, {"--sim"}} {
		args := append([]string{"demo", "--bytes", "2000000", "--pings", "20", "--latency", "1ms"}, extra...)
		code, out, errs := runCLI(t, args...)
		require.Equal(t, 0, code, errs)
		assert.Contains(t, out, "match: every byte came back in order")
		assert.NotContains(t, out, "demo: bulk echo:")
		assert.NotContains(t, errs, "\r", "no terminal: plain lines")
		if len(extra) == 0 {
			assert.Contains(t, errs, "demo: round trips: ")
			assert.Regexp(t, `demo: bulk echo: .* of 1.91 MiB back \([0-9]+%\)`, errs)
		} else {
			// Virtual time: the run may take less wall time than the
			// first tick; what it prints has the same shape.
			for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
				if l != "" {
					assert.Regexp(t, `^demo: (connecting|round trips: \d+ of 20|bulk echo: .* back .*)$`, l)
				}
			}
		}
	}
}

// TestProgressOnATerminal: on a terminal the line is rewritten in place
// and erased at the end.
func TestProgressOnATerminal(t *testing.T) {
	defer goleak.VerifyNone(t)
	fastProgress(t)
	var n atomic.Int64
	var b testutil.LockedBuffer
	p := startProgressOn(&b, true, func() string { return "step " + string(rune('0'+n.Add(1)%10)) })
	for n.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	p.Stop()
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "\rstep 1\x1b[K\rstep 2\x1b[K"), "%q", out)
	assert.True(t, strings.HasSuffix(out, "\r\x1b[K"), "the line is erased: %q", out)
	assert.NotContains(t, out, "\n")

	// A run that ends before the first tick prints nothing.
	progressEvery = time.Hour
	var quiet testutil.LockedBuffer
	startProgressOn(&quiet, false, func() string { return "x" }).Stop()
	assert.Empty(t, quiet.String())
}
